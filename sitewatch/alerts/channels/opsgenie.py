"""Opsgenie, Alert API: one Opsgenie alert per sitewatch incident.

The incident's key (``sitewatch/<website>/<incident id>``) is the alert's
``alias``: a DOWN creates the alert (Opsgenie de-duplicates an open alias, so a
DOWN sent twice after a crash does not open a second one), a reminder adds a
note to it, an UP closes it. A test creates a P5 alert and closes it at once.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import aiohttp

from sitewatch.alerts import messages
from sitewatch.alerts.channels import Progress
from sitewatch.alerts.channels.httppost import post
from sitewatch.config.models import OpsgenieAlert
from sitewatch.config.templating import context_of, pager_key


def requests(
    alert: OpsgenieAlert, event: dict[str, Any], rendered: messages.Rendered
) -> list[tuple[str, str, dict[str, Any]]]:
    """(step, URL, body) of the API calls one notification takes, in order (pure)."""
    kind = str(event["type"])
    context = context_of(event)
    site = context["website"] or {}
    incident = context["incident"] or {}
    test = kind == "test"
    alias = pager_key(event)
    by_alias = f"{alert.base}/v2/alerts/{quote(alias, safe='')}"
    note = {"source": "sitewatch", "user": "sitewatch", "note": rendered["message"][:25000]}
    if kind == "reminder":
        return [("note", f"{by_alias}/notes?identifierType=alias", note)]
    if kind == "up":
        return [("close", f"{by_alias}/close?identifierType=alias", note)]
    create: dict[str, Any] = {
        "message": rendered["title"][:130] or kind,
        "alias": alias[:512],
        "description": rendered["message"][:15000],
        "source": "sitewatch",
        "entity": str(site.get("name") or "sitewatch")[:512],
        "tags": ["sitewatch", *site.get("tags", [])][:20],
        "priority": "P5" if test else alert.priority,
        "details": {
            k: str(v)
            for k, v in {
                "url": site.get("url"),
                "cause": (incident.get("cause") or {}).get("message"),
                "down_since": incident.get("started_at_iso"),
                "dashboard": context["links"]["website"] or context["links"]["dashboard"],
                "event_id": event["event_id"],
            }.items()
            if v
        },
    }
    if alert.teams:
        create["responders"] = [{"type": "team", "name": team} for team in alert.teams]
    steps = [("create", f"{alert.base}/v2/alerts", create)]
    if test:
        steps.append(("close", f"{by_alias}/close?identifierType=alias", note))
    return steps


class OpsgenieChannel:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def send(self, alert: OpsgenieAlert, event: dict[str, Any], progress: Progress) -> str:
        rendered = await asyncio.to_thread(messages.chat, event, alert.templates)
        notes = []
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "sitewatch",
            "Authorization": f"GenieKey {alert.api_key}",
        }
        for step, url, body in requests(alert, event, rendered):
            if step in progress.sent:
                continue
            status, _ = await post(
                self.session,
                url,
                json.dumps(body).encode(),
                headers,
                alert.timeout,
                shown=url.split("?")[0],
            )
            progress.sent.add(step)
            notes.append(f"{step} HTTP {status}")
        return rendered.note("Opsgenie " + "; ".join(notes))
