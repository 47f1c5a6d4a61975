"""Alerting end to end on a real database, a real SMTP server (aiosmtpd) and a
real webhook receiver: results go through the result writer (the alert engine
runs in its transaction), the dispatcher delivers the outbox."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from sitewatch.alerts.channels.email import EmailChannel
from sitewatch.alerts.channels.webhook import WebhookChannel
from sitewatch.alerts.dispatcher import RetryPolicy
from sitewatch.alerts.engine import EngineOptions
from sitewatch.alerts.guard import GuardPolicy
from sitewatch.alerts.service import Alerting
from sitewatch.checker.result import CheckResult, Timings
from sitewatch.checker.writer import ResultWriter
from sitewatch.reconcile.service import Reconciler
from sitewatch.store import alerting as store
from sitewatch.store import catalog
from sitewatch.store.incidents import IncidentQuery
from sitewatch.store.incidents import timeline as incident_timeline
from tests.receivers import SmtpSink, WebhookReceiver
from tests.targets import make_ca
from tests.waiting import eventually

FAST = RetryPolicy(first=0.1, factor=2, cap=0.4)

MONITORS = """
    websites:
      - name: Shop
        url: http://127.0.0.1:9/shop
        alerts: [mail, hook]
"""


def write_config(folder: Path, monitors: str, alerts: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "monitors.yaml").write_text(textwrap.dedent(monitors))
    (folder / "alerts.yaml").write_text(textwrap.dedent(alerts))
    return folder


async def apply_config(engine: AsyncEngine, folder: Path, monitors: str, alerts: str) -> None:
    run = await Reconciler(engine, write_config(folder, monitors, alerts), {}).reconcile(
        "test", force=True
    )
    assert run is not None and run.ok, run


async def ids(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return await catalog.key_ids(conn, "websites")


class Harness:
    """The writer -> engine -> outbox -> dispatcher path, driven by the test."""

    def __init__(self, engine: AsyncEngine, alerting: Alerting) -> None:
        self.engine = engine
        self.alerting = alerting
        self.writer = ResultWriter(engine)
        self.writer.in_transaction.append(alerting.apply)
        self.writer.listeners.append(alerting.committed)

    async def results(self, *results: CheckResult) -> None:
        for r in results:
            self.writer.add(r)
        assert await self.writer.flush()

    async def deliver(self) -> int:
        return await self.alerting.dispatcher.deliver_due()

    async def outbox(self) -> list[dict[str, object]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(store.outbox).order_by(store.outbox.c.id))
            return [dict(r._mapping) for r in rows]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def harness(
    engine: AsyncEngine, session: aiohttp.ClientSession, *, guard: GuardPolicy | None = None
) -> Harness:
    alerting = Alerting(
        engine,
        {},
        {"email": EmailChannel(), "webhook": WebhookChannel(session)},
        EngineOptions(dashboard_url="http://sitewatch.test", guard=guard or GuardPolicy(1.0, 1000)),
        retry=FAST,
    )
    return Harness(engine, alerting)


async def ready(
    engine: AsyncEngine,
    session: aiohttp.ClientSession,
    folder: Path,
    alerts: str,
    *,
    monitors: str = MONITORS,
    guard: GuardPolicy | None = None,
) -> tuple[Harness, dict[str, int]]:
    """Apply the config, start the alerting service's book: (harness, website ids)."""
    await apply_config(engine, folder, monitors, alerts)
    h = harness(engine, session, guard=guard)
    await h.alerting.reload()
    return h, await ids(engine)


def result(website_id: int, at: datetime, ok: bool, *, unreachable: bool = False) -> CheckResult:
    if ok:
        return CheckResult(website_id, at, True, status_code=200, timings=Timings(total_ms=12.0))
    if unreachable:  # what every check sees when sitewatch's own network is gone
        return CheckResult(website_id, at, False, "refused", "connection refused")
    return CheckResult(
        website_id, at, False, "status", "got 503, expected 2xx", 503, Timings(total_ms=9.0)
    )


def signed(secret: str, body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def alerts_yaml(smtp_port: int, hook_url: str, extra: str = "") -> str:
    return f"""
    alerts:
      - name: mail
        type: email
        host: 127.0.0.1
        port: {smtp_port}
        tls: none
        from: sitewatch@example.com
        to: [oncall@example.com]
        failure_threshold: 2
        success_threshold: 1
        reminder_interval: 1m
      - name: hook
        type: webhook
        url: {hook_url}
        secret: s3cret
        failure_threshold: 2
        success_threshold: 1
        reminder_interval: 1m
    {extra}
    """


async def test_down_reminder_recovery_once_each_by_email_and_webhook(
    engine: AsyncEngine, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    smtp = SmtpSink().start()
    try:
        async with WebhookReceiver() as hook:
            h, site_ids = await ready(
                engine, session, tmp_path / "config", alerts_yaml(smtp.port, hook.url())
            )
            shop = site_ids["shop"]
            t0 = datetime.now(UTC) - timedelta(minutes=10)
            pattern = [
                (0, False),
                (30, False),
                (60, False),
                (95, False),
                (120, False),
                (150, True),
                (180, True),
            ]
            for seconds, ok in pattern:
                await h.results(result(shop, t0 + timedelta(seconds=seconds), ok))
                await h.deliver()
            await eventually(lambda: len(hook.received) == 3 and len(smtp.subjects()) == 3)
            for _ in range(3):  # nothing more comes, however often the outbox is read
                assert await h.deliver() == 0
    finally:
        smtp.stop()
    assert hook.types() == ["down", "reminder", "up"]
    assert [s.split(":")[0] for s in smtp.subjects()] == [
        "[sitewatch] DOWN",
        "[sitewatch] STILL DOWN",
        "[sitewatch] UP",
    ]
    for d in hook.received:
        assert signed("s3cret", d.body, d.headers["X-Sitewatch-Signature"])
    down, _reminder, up = (d.json for d in hook.received)
    assert down["incident"]["started_at"] == (t0).isoformat().replace("+00:00", "Z")
    assert up["incident"]["id"] == down["incident"]["id"]
    assert up["incident"]["duration_seconds"] == 150.0
    assert len({d.json["event_id"] for d in hook.received}) == 3
    async with engine.connect() as conn:
        incidents = await store.incidents_of(conn, shop)
    assert len(incidents) == 2  # one per alert
    assert all(i["resolved_at"] == t0 + timedelta(seconds=150) and i["notified"] for i in incidents)
    rows = await h.outbox()
    assert {r["status"] for r in rows} == {"delivered"} and len(rows) == 6


async def test_email_waits_out_an_smtp_outage(
    engine: AsyncEngine, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    smtp = SmtpSink()
    async with WebhookReceiver() as hook:
        h, site_ids = await ready(
            engine, session, tmp_path / "config", alerts_yaml(smtp.port, hook.url())
        )
        shop = site_ids["shop"]
        t0 = datetime.now(UTC) - timedelta(minutes=5)
        await h.results(result(shop, t0, False), result(shop, t0 + timedelta(seconds=30), False))
        # The SMTP server is down: the webhook goes out, the email is retried.
        await eventually(_delivering(h, hook, 1))
        for _ in range(3):
            await h.deliver()
            await asyncio.sleep(0.2)
        smtp.start()
        try:

            async def delivered() -> bool:
                await h.deliver()
                return len(smtp.subjects()) == 1

            await eventually(delivered)
        finally:
            smtp.stop()
        async with engine.connect() as conn:
            mail = [r for r in await h.outbox() if r["payload"]["alert"] == "mail"]
            log = await store.deliveries(conn, int(mail[0]["alert_id"]))
    (row,) = log
    assert row["status"] == "delivered" and row["attempts"] >= 2
    assert [a["ok"] for a in row["attempt_log"]][-1] is True
    first = row["attempt_log"][0]
    assert not first["ok"] and "Error connecting" in first["detail"]
    assert smtp.subjects()[0].startswith("[sitewatch] DOWN: Shop")


async def test_webhook_retried_until_the_receiver_recovers(
    engine: AsyncEngine, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with WebhookReceiver(fail_next=3) as hook:
        h, site_ids = await ready(engine, session, tmp_path / "config", alerts_yaml(9, hook.url()))
        shop = site_ids["shop"]
        t0 = datetime.now(UTC) - timedelta(minutes=5)
        await h.results(result(shop, t0, False), result(shop, t0 + timedelta(seconds=30), False))

        async def got_it() -> bool:
            await h.deliver()
            return len(hook.received) == 1

        await eventually(got_it)
    assert hook.refused == 3 and hook.types() == ["down"]
    (row,) = [r for r in await h.outbox() if r["payload"]["alert"] == "hook"]
    assert row["status"] == "delivered" and row["attempts"] == 4


async def test_maintenance_window_across_dst_holds_then_notifies(
    engine: AsyncEngine, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    window = """
    maintenance:
      - name: sunday-night
        timezone: Europe/Berlin
        days: [sun]
        start: "01:00"
        duration: 3h
        websites: [shop]
    """
    async with WebhookReceiver() as hook:
        extra = textwrap.indent(textwrap.dedent(window), "    ")
        h, site_ids = await ready(
            engine, session, tmp_path / "config", alerts_yaml(9, hook.url(), extra)
        )
        shop = site_ids["shop"]

        def at(hour: int, minute: int) -> datetime:
            return (
                datetime(2026, 10, 25, hour, minute, tzinfo=UTC)
                if hour < 12
                else datetime(2026, 10, 24, hour, minute, tzinfo=UTC)
            )

        # The window: Sun 01:00 CEST (Sat 23:00 UTC) to 02:00 UTC, through the
        # hour that happens twice when the clocks go back.
        inside = [at(23, 30), at(0, 30), at(1, 10), at(1, 50)]
        await h.results(*(result(shop, t, False) for t in inside))
        await h.deliver()
        assert await h.outbox() == []  # incident open, notification held
        await h.results(result(shop, at(2, 5), False))  # the window is over
        await eventually(_delivering(h, hook, 1))
    (down,) = hook.received
    assert down.json["type"] == "down"
    assert down.json["incident"]["started_at"] == "2026-10-24T23:30:00Z"
    assert down.json["occurred_at"] == "2026-10-25T02:05:00Z"


def _delivering(h: Harness, hook: WebhookReceiver, count: int) -> object:
    async def check() -> bool:
        await h.deliver()
        return len(hook.received) >= count

    return check


def _many_sites(count: int) -> str:
    """``count`` websites on a port nothing listens on (their results are fed in)."""
    return "websites:\n" + "".join(
        f"  - name: Site {i}\n    url: http://127.0.0.1:9/{i}\n" for i in range(count)
    )


# One webhook for every website, DOWN and UP after a single check ("URL" is replaced).
HOOK_FOR_ALL = """
alerts:
  - name: hook
    type: webhook
    url: URL
    websites: "*"
    failure_threshold: 1
    success_threshold: 1
"""


async def test_connectivity_guard_holds_a_storm_and_then_notifies_real_outages(
    engine: AsyncEngine,
    tmp_path: Path,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monitors, alerts = _many_sites(10), HOOK_FOR_ALL
    async with WebhookReceiver() as hook:
        h, site_ids = await ready(
            engine,
            session,
            tmp_path / "config",
            alerts.replace("URL", hook.url()),
            monitors=monitors,
            guard=GuardPolicy(failure_ratio=0.5, min_websites=5),
        )
        sites = sorted(site_ids.values())
        t0 = datetime.now(UTC) - timedelta(minutes=5)
        with caplog.at_level(logging.WARNING, logger="sitewatch.alerts"):
            # every website at once, none answering
            await h.results(*(result(w, t0, False, unreachable=True) for w in sites))
        assert h.alerting.offline is not None and "10 of 10" in h.alerting.offline
        assert h.alerting.alerts.held_total == 10
        async with engine.connect() as conn:
            held = await incident_timeline(conn, IncidentQuery(alert="hook", held_only=True))
        assert len(held) == 10
        assert all("10 of 10 websites are unreachable" in (i.held_reason or "") for i in held)
        assert "own network looks down" in caplog.text
        await h.deliver()
        assert await h.outbox() == []
        # The network is back: nine recover, one is really down.
        later = t0 + timedelta(seconds=30)
        await h.results(*(result(w, later, w != sites[0]) for w in sites))
        assert h.alerting.offline is None
        await h.results(result(sites[0], later + timedelta(seconds=30), False))
        await eventually(_delivering(h, hook, 1))
    assert [(d.json["type"], d.json["website"]["id"]) for d in hook.received] == [
        ("down", sites[0])
    ]
    async with engine.connect() as conn:
        count = await conn.scalar(select(func.count()).select_from(store.incidents))
    assert count == 10  # every incident is recorded; only the real one was notified


@pytest.mark.parametrize(
    ("failing", "total", "unreachable", "held"),
    [
        (4, 7, True, False),  # a small installation: 4 real outages are 4 real outages
        (10, 10, False, False),  # all answered (503): the network works
        (9, 10, True, True),  # nine unreachable of ten, with the defaults: it's us
        (7, 10, True, False),  # below the default ratio (0.8)
    ],
)
async def test_the_guard_defaults_hold_only_when_it_looks_like_our_network(
    engine: AsyncEngine,
    tmp_path: Path,
    session: aiohttp.ClientSession,
    failing: int,
    total: int,
    unreachable: bool,
    held: bool,
) -> None:
    monitors, alerts = _many_sites(total), HOOK_FOR_ALL
    async with WebhookReceiver() as hook:
        h, site_ids = await ready(
            engine,
            session,
            tmp_path / "config",
            alerts.replace("URL", hook.url()),
            monitors=monitors,
            guard=GuardPolicy(),  # the defaults
        )
        sites = sorted(site_ids.values())
        t0 = datetime.now(UTC) - timedelta(minutes=5)
        await h.results(
            *(result(w, t0, i >= failing, unreachable=unreachable) for i, w in enumerate(sites))
        )
        assert (h.alerting.offline is not None) is held
        if not held:
            await eventually(_delivering(h, hook, failing))
            assert len(hook.received) == failing


async def test_test_notification_goes_through_the_outbox(
    engine: AsyncEngine, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with WebhookReceiver() as hook:
        h, _ = await ready(engine, session, tmp_path / "config", alerts_yaml(9, hook.url()))
        event_id = await h.alerting.send_test("hook")
        await eventually(_delivering(h, hook, 1))
    (test,) = hook.received
    assert test.json["type"] == "test" and test.json["event_id"] == event_id
    assert test.json["website"] is None


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_email_over_starttls_and_implicit_tls_with_login(
    engine: AsyncEngine, tmp_path: Path, session: aiohttp.ClientSession, mode: str
) -> None:
    ca = make_ca(tmp_path)
    server = ca.server_context(tmp_path, not_after=datetime.now(UTC) + timedelta(days=30))
    smtp = SmtpSink(tls=mode, server_context=server, login=("sw", "pw")).start()
    try:
        alerts = f"""
        alerts:
          - name: mail
            type: email
            host: 127.0.0.1
            port: {smtp.port}
            tls: {mode}
            username: sw
            password: pw
            from: sitewatch@example.com
            to: oncall@example.com
            websites: "*"
        """
        await apply_config(
            engine, tmp_path / "config", MONITORS.replace("alerts: [mail, hook]", ""), alerts
        )
        alerting = Alerting(engine, {}, {"email": EmailChannel(ca.client_context())}, retry=FAST)
        await alerting.reload()
        await alerting.send_test("mail")
        await eventually(_mail_delivered(alerting, smtp))
    finally:
        smtp.stop()
    assert smtp.subjects() == ["[sitewatch] TEST: test notification from sitewatch for alert mail"]
    assert smtp.logins == 1


def _mail_delivered(alerting: Alerting, smtp: SmtpSink) -> object:
    async def check() -> bool:
        await alerting.dispatcher.deliver_due()
        return len(smtp.subjects()) == 1

    return check


async def test_a_reload_keeps_streaks_and_a_canary_failure_holds_downs(
    engine: AsyncEngine, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with WebhookReceiver() as hook:
        alerts = alerts_yaml(9, hook.url())
        h, site_ids = await ready(engine, session, tmp_path / "config", alerts)
        shop = site_ids["shop"]
        t0 = datetime.now(UTC) - timedelta(minutes=5)
        await h.results(result(shop, t0, False))  # 1 of 2 failures
        # A reload that does not touch the website or its alert (a new website).
        more = MONITORS + "      - name: Blog\n        url: http://127.0.0.1:9/blog\n"
        await apply_config(engine, tmp_path / "config", more, alerts)
        await h.alerting.reload()
        # The canary fails: sitewatch's own network is suspect, DOWN is held.
        h.alerting.alerts.canary_ok = False
        await h.results(result(shop, t0 + timedelta(seconds=30), False))  # 2 of 2
        assert h.alerting.offline == "the canary URL fails"
        assert await h.outbox() == []
        h.alerting.alerts.canary_ok = True
        await h.results(result(shop, t0 + timedelta(seconds=60), False))
        await eventually(_delivering(h, hook, 1))
    (down,) = hook.received
    # The streak survived the reload: the incident began at the first failure.
    assert down.json["incident"]["started_at"] == t0.isoformat().replace("+00:00", "Z")


async def test_gives_up_after_the_retry_period_and_records_every_attempt(
    engine: AsyncEngine, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with WebhookReceiver(fail_next=1000, fail_status=503) as hook:
        await apply_config(engine, tmp_path / "config", MONITORS, alerts_yaml(9, hook.url()))
        alerting = Alerting(
            engine,
            {},
            {"webhook": WebhookChannel(session)},
            EngineOptions(retry_for=1.0),
            retry=FAST,
        )
        await alerting.reload()
        await alerting.send_test("hook")

        async def settled() -> bool:
            await alerting.dispatcher.deliver_due()
            async with engine.connect() as conn:
                return await store.pending_count(conn) == 0

        await eventually(settled)
    async with engine.connect() as conn:
        rows = await conn.execute(select(store.outbox.c.alert_id))
        (row,) = await store.deliveries(conn, int(rows.scalar_one()))
    assert row["status"] == "failed" and row["attempts"] == hook.refused >= 2
    assert all(not a["ok"] and a["detail"] == "HTTP 503: not now" for a in row["attempt_log"])
