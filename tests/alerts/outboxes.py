"""The writer -> engine -> outbox -> dispatcher path with every channel, on a
config written by the test: what the Apprise and pager tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from sitewatch.alerts.channels import Channel
from sitewatch.alerts.channels.apprise import AppriseChannel
from sitewatch.alerts.channels.email import EmailChannel
from sitewatch.alerts.channels.opsgenie import OpsgenieChannel
from sitewatch.alerts.channels.pagerduty import PagerDutyChannel
from sitewatch.alerts.channels.webhook import WebhookChannel
from sitewatch.alerts.engine import EngineOptions
from sitewatch.alerts.guard import GuardPolicy
from sitewatch.alerts.service import Alerting
from sitewatch.config.secrets import ConfigEnv
from sitewatch.reconcile.service import Reconciler
from tests.alerts.test_delivery import FAST, Harness, ids, write_config

MONITORS = """
    websites:
      - name: Shop
        url: http://127.0.0.1:9/shop
"""


async def configure(
    engine: AsyncEngine, folder: Path, alerts: str, environ: ConfigEnv, monitors: str = MONITORS
) -> None:
    run = await Reconciler(engine, write_config(folder, monitors, alerts), environ).reconcile(
        "test", force=True
    )
    assert run is not None and run.ok, run


@asynccontextmanager
async def instance(engine: AsyncEngine, environ: ConfigEnv) -> AsyncIterator[Harness]:
    """One sitewatch instance's alerting (its own channels, engine and dispatcher)
    on the shared database: a second one is a second instance, a new one after
    the first is gone is a restart."""
    apprise = AppriseChannel()
    async with aiohttp.ClientSession() as session:
        channels: dict[str, Channel] = {
            "apprise": apprise,
            "webhook": WebhookChannel(session),
            "email": EmailChannel(),
            "pagerduty": PagerDutyChannel(session),
            "opsgenie": OpsgenieChannel(session),
        }
        alerting = Alerting(
            engine,
            environ,
            channels,
            EngineOptions(dashboard_url="http://sitewatch.test", guard=GuardPolicy(1.0, 1000)),
            retry=FAST,
        )
        await alerting.reload()
        try:
            yield Harness(engine, alerting)
        finally:
            apprise.close()


@asynccontextmanager
async def outbox(
    engine: AsyncEngine, folder: Path, alerts: str, environ: dict[str, str] | None = None
) -> AsyncIterator[tuple[Harness, int]]:
    """The config applied and one instance: (harness, the website's id)."""
    env = ConfigEnv(environ or {})
    await configure(engine, folder, alerts, env)
    async with instance(engine, env) as h:
        yield h, (await ids(engine))["shop"]
