"""PagerDuty, Events API v2: one PagerDuty incident per sitewatch incident.

A DOWN triggers with the incident's dedup key (``sitewatch/<website>/<incident
id>``, the same on every instance and after a restart), a reminder triggers with
the same key (PagerDuty adds it to the open alert, no new incident), an UP
resolves it. A test triggers an ``info`` event and resolves it at once, under a
key of its own. Apprise's ``pagerduty://`` works too, but keys incidents by the
message text, so a reminder or a changed cause would open another one.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from sitewatch.alerts import messages
from sitewatch.alerts.channels import Progress
from sitewatch.alerts.channels.httppost import post
from sitewatch.config.models import PagerDutyAlert
from sitewatch.config.templating import context_of, pager_key


def events(
    alert: PagerDutyAlert, event: dict[str, Any], rendered: messages.Rendered
) -> list[dict[str, Any]]:
    """The Events API bodies one notification takes, in order (pure)."""
    kind = str(event["type"])
    context = context_of(event)
    key = pager_key(event)
    if kind == "up":
        return [{"routing_key": alert.routing_key, "event_action": "resolve", "dedup_key": key}]
    site = context["website"] or {}
    incident = context["incident"] or {}
    result = context["result"] or {}
    details = {
        "message": rendered["message"],
        "website": site.get("name"),
        "url": site.get("url"),
        "cause": (incident.get("cause") or {}).get("message"),
        "down_since": incident.get("started_at_iso"),
        "last_check": result.get("checked_at_iso"),
        "status_code": result.get("status_code"),
        "response_time_ms": result.get("response_time_ms"),
        "event": kind,
        "event_id": event["event_id"],
    }
    trigger: dict[str, Any] = {
        "routing_key": alert.routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "client": "sitewatch",
        "payload": {
            "summary": rendered["title"][:1024] or kind,
            "source": str(site.get("url") or "sitewatch")[:255],
            "severity": "info" if kind == "test" else alert.severity,
            "timestamp": event.get("occurred_at"),
            "component": site.get("key"),
            "class": (incident.get("cause") or {}).get("kind"),
            "custom_details": {k: v for k, v in details.items() if v not in (None, "")},
        },
    }
    link = context["links"]["website"] or context["links"]["dashboard"]
    if link:
        trigger["client_url"] = link
        trigger["links"] = [{"href": link, "text": "sitewatch"}]
    trigger["payload"] = {k: v for k, v in trigger["payload"].items() if v is not None}
    if kind == "test":
        return [
            trigger,
            {"routing_key": alert.routing_key, "event_action": "resolve", "dedup_key": key},
        ]
    return [trigger]


class PagerDutyChannel:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def send(self, alert: PagerDutyAlert, event: dict[str, Any], progress: Progress) -> str:
        rendered = await asyncio.to_thread(messages.chat, event, alert.templates)
        notes = []
        for index, body in enumerate(events(alert, event, rendered)):
            step = f"{index}:{body['event_action']}"
            if step in progress.sent:  # a test's trigger went out before its resolve failed
                continue
            _, answer = await post(
                self.session,
                alert.endpoint,
                json.dumps(body).encode(),
                {"Content-Type": "application/json", "User-Agent": "sitewatch"},
                alert.timeout,
            )
            progress.sent.add(step)
            notes.append(f"{body['event_action']} {body['dedup_key']}: {_said(answer)}")
        return rendered.note("PagerDuty " + "; ".join(notes))


def _said(answer: str) -> str:
    try:
        data = json.loads(answer)
    except ValueError:
        return answer[:100] or "accepted"
    return str(data.get("message") or data.get("status") or "accepted")[:100]
