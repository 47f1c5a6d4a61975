"""Pagers keep one incident per outage: PagerDuty (Events API v2) and Opsgenie
(Alert API) stood up on loopback with the de-duplication each documents, driven
through the outbox: DOWN -> reminders -> restart -> a second instance -> UP."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from sitewatch.alerts import messages
from sitewatch.alerts.channels.opsgenie import requests as opsgenie_requests
from sitewatch.alerts.channels.pagerduty import events as pagerduty_events
from sitewatch.config.models import OpsgenieAlert, PagerDutyAlert
from sitewatch.config.secrets import ConfigEnv
from sitewatch.config.templating import sample_event
from sitewatch.store import alerting as store
from sitewatch.store import tables
from tests.alerts.outboxes import configure, instance
from tests.alerts.test_delivery import ids, result
from tests.receivers import Request, ServiceReceiver
from tests.waiting import eventually

ROUTING_KEY = "R0ut1ngKey0123456789abcdef012345"
GENIE_KEY = "9f3c2a1e-0000-4000-8000-00000000abcd"


@dataclass
class PagerDuty:
    """Events API v2 as documented (developer.pagerduty.com/docs/events-api-v2):
    a trigger with the dedup key of an open alert is added to it; without one
    open, it opens a new alert; a resolve closes it. 202 on success."""

    opened: list[str] = field(default_factory=list)
    open: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    resolved: list[str] = field(default_factory=list)

    def __call__(self, req: Request) -> web.Response:
        body = req.json
        if req.path != "/v2/enqueue" or body.get("routing_key") != ROUTING_KEY:
            return web.json_response(
                {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": ["routing key"],
                },
                status=400,
            )
        key = body["dedup_key"]
        if body["event_action"] == "trigger":
            if key not in self.open:
                self.opened.append(key)
                self.open[key] = []
            self.open[key].append(body)
        elif body["event_action"] == "resolve" and key in self.open:
            del self.open[key]
            self.resolved.append(key)
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": key}, status=202
        )


@dataclass
class Opsgenie:
    """The Alert API as documented (docs.opsgenie.com/docs/alert-api): a create with
    the alias of an open alert de-duplicates into it (its count goes up), notes and
    close address the alert by alias. 202 "Request will be processed"."""

    created: list[str] = field(default_factory=list)
    count: dict[str, int] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    closed: list[str] = field(default_factory=list)

    def __call__(self, req: Request) -> web.Response:
        if req.headers.get("Authorization") != f"GenieKey {GENIE_KEY}":
            return web.json_response(
                {"message": "Key format is not valid!", "took": 0.0}, status=422
            )
        body = req.json
        if req.path == "/v2/alerts":
            alias = body["alias"]
            if alias not in self.count:
                self.created.append(alias)
                self.count[alias] = 0
            self.count[alias] += 1
        else:
            assert req.query == {"identifierType": "alias"}
            alias, action = unquote(req.path.removeprefix("/v2/alerts/")).rsplit("/", 1)
            if action == "notes":
                self.notes.setdefault(alias, []).append(body["note"])
            elif action == "close" and alias in self.count:
                del self.count[alias]
                self.closed.append(alias)
        return web.json_response(
            {"result": "Request will be processed", "took": 0.01, "requestId": str(uuid.uuid4())},
            status=202,
        )


def pager_alerts(pd_url: str, og_url: str) -> str:
    return f"""
    alerts:
      - name: pd
        type: pagerduty
        routing_key: ${{PD_KEY}}
        url: {pd_url}
        severity: error
        failure_threshold: 1
        success_threshold: 1
        reminder_interval: 1m
        websites: "*"
      - name: og
        type: opsgenie
        api_key: ${{OG_KEY}}
        url: {og_url}
        priority: P2
        teams: [web]
        failure_threshold: 1
        success_threshold: 1
        reminder_interval: 1m
        websites: "*"
    """


async def test_one_incident_from_down_through_reminders_a_restart_and_two_instances_to_up(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    pd, og = PagerDuty(), Opsgenie()
    env = ConfigEnv({"PD_KEY": ROUTING_KEY, "OG_KEY": GENIE_KEY})
    async with ServiceReceiver(pd) as pd_server, ServiceReceiver(og) as og_server:
        await configure(
            engine,
            tmp_path / "config",
            pager_alerts(f"http://{pd_server.address}/v2/enqueue", f"http://{og_server.address}"),
            env,
        )
        shop = (await ids(engine))["shop"]
        t0 = datetime.now(UTC) - timedelta(minutes=30)
        async with instance(engine, env) as first:
            await first.results(result(shop, t0, False))
            assert await first.deliver() == 2
            await first.results(result(shop, t0 + timedelta(seconds=70), False))
            assert await first.deliver() == 2  # the first reminder
            # PagerDuty's server is away for a moment: the next trigger is retried.
            pd_server.fail_next = 1
        async with instance(engine, env) as restarted, instance(engine, env) as second:
            await restarted.results(result(shop, t0 + timedelta(seconds=140), False))
            assert await second.deliver() == 2  # the second reminder, by the other instance

            async def drained() -> bool:  # both instances deliver what is due
                await restarted.deliver()
                await second.deliver()
                return not await pending(engine)

            await eventually(drained)  # the refused trigger, retried after its backoff
            await second.results(result(shop, t0 + timedelta(seconds=170), True))
            assert await restarted.deliver() == 2
    async with engine.connect() as conn:
        # An incident is a (website, alert) pair's: each pager has its own.
        incident = dict(
            (
                await conn.execute(
                    select(tables.alerts.c.key, store.incidents.c.id).join(
                        tables.alerts, tables.alerts.c.id == store.incidents.c.alert_id
                    )
                )
            ).all()
        )
    key = f"sitewatch/shop/{incident['pd']}"
    # PagerDuty: one alert, triggered by the DOWN and both reminders, then resolved.
    assert pd.opened == [key]
    assert pd.resolved == [key]
    assert pd_server.refused == 1
    triggers = [q.json for q in pd_server.requests if q.json["event_action"] == "trigger"]
    assert [t["dedup_key"] for t in triggers] == [key, key, key]
    assert [t["payload"]["summary"] for t in triggers] == [
        "DOWN: Shop",
        "STILL DOWN: Shop",
        "STILL DOWN: Shop",
    ]
    first_trigger = triggers[0]
    assert first_trigger["payload"]["severity"] == "error"
    assert first_trigger["payload"]["source"] == "http://127.0.0.1:9/shop"
    assert first_trigger["payload"]["custom_details"]["cause"] == "got 503, expected 2xx"
    assert first_trigger["links"] == [
        {"href": "http://sitewatch.test/websites/shop", "text": "sitewatch"}
    ]
    # Opsgenie: one alert with the incident's key as its alias, a note per
    # reminder, closed by the UP.
    key = f"sitewatch/shop/{incident['og']}"
    assert og.created == [key]
    assert [len(n) for n in og.notes.values()] == [2]
    assert og.notes[key][0].startswith("Shop is still down")
    assert og.closed == [key]
    create = og_server.requests[0].json
    assert create["message"] == "DOWN: Shop"
    assert create["priority"] == "P2"
    assert create["responders"] == [{"type": "team", "name": "web"}]
    assert create["description"].startswith("Shop is down: got 503, expected 2xx")
    # Nothing of the keys reached a stored text.
    async with engine.connect() as conn:
        stored = [str(r) for r in (await conn.execute(select(store.attempts))).all()]
        stored += [str(r) for r in (await conn.execute(select(store.outbox))).all()]
    assert not [s for s in stored if ROUTING_KEY in s or GENIE_KEY in s]


async def pending(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return await store.pending_count(conn)


@pytest.mark.parametrize("kind", ["down", "reminder", "up", "test"])
def test_each_event_is_one_documented_pagerduty_request(kind: str) -> None:
    alert = PagerDutyAlert.model_validate(
        {"name": "pd", "type": "pagerduty", "routing_key": ROUTING_KEY}
    )
    event = sample_event(kind, "pd")
    bodies = pagerduty_events(alert, event, messages.chat(event, None))
    actions = [b["event_action"] for b in bodies]
    assert (
        actions
        == {
            "down": ["trigger"],
            "reminder": ["trigger"],
            "up": ["resolve"],
            "test": ["trigger", "resolve"],
        }[kind]
    )
    keys = {b["dedup_key"] for b in bodies}
    assert keys == (
        {f"sitewatch/test/{event['event_id']}"} if kind == "test" else {"sitewatch/example/0"}
    )
    for body in bodies:
        assert body["routing_key"] == ROUTING_KEY
        if body["event_action"] == "trigger":
            payload = body["payload"]
            assert set(payload) >= {"summary", "source", "severity"}
            assert payload["severity"] == ("info" if kind == "test" else "critical")
            assert len(payload["summary"]) <= 1024
        else:  # a resolve names the alert only
            assert set(body) == {"routing_key", "event_action", "dedup_key"}
    assert alert.endpoint == "https://events.pagerduty.com/v2/enqueue"
    eu = alert.model_copy(update={"region": "eu"})
    assert eu.endpoint == "https://events.eu.pagerduty.com/v2/enqueue"


@pytest.mark.parametrize("kind", ["down", "reminder", "up", "test"])
def test_each_event_is_the_documented_opsgenie_calls(kind: str) -> None:
    alert = OpsgenieAlert.model_validate(
        {"name": "og", "type": "opsgenie", "api_key": GENIE_KEY, "region": "eu"}
    )
    event = sample_event(kind, "og")
    calls = opsgenie_requests(alert, event, messages.chat(event, None))
    base = "https://api.eu.opsgenie.com/v2/alerts"
    alias = "sitewatch%2Fexample%2F0"
    expected = {
        "down": [("create", base)],
        "reminder": [("note", f"{base}/{alias}/notes?identifierType=alias")],
        "up": [("close", f"{base}/{alias}/close?identifierType=alias")],
        "test": [
            ("create", base),
            ("close", f"{base}/sitewatch%2Ftest%2F{event['event_id']}/close?identifierType=alias"),
        ],
    }[kind]
    assert [(step, url) for step, url, _ in calls] == expected
    for step, _, body in calls:
        if step == "create":
            assert len(body["message"]) <= 130
            assert body["priority"] == ("P5" if kind == "test" else "P3")
            assert body["alias"].startswith("sitewatch/")
        else:
            assert set(body) == {"source", "user", "note"}
