"""Webhooks: POST the event as sitewatch JSON, or as a Slack / Discord message."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from sitewatch.alerts import messages
from sitewatch.alerts.channels import Progress
from sitewatch.alerts.channels.httppost import post
from sitewatch.alerts.messages import Rendered
from sitewatch.alerts.payload import body_discord, body_json, body_slack, sign
from sitewatch.config.models import WebhookAlert

FORMATS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "json": body_json,
    "slack": body_slack,
    "discord": body_discord,
}


def request(
    alert: WebhookAlert, event: dict[str, Any], rendered: Rendered | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of the POST (pure, so tests can check the signature);
    ``rendered``: the alert's templates' output, made by the caller off the loop."""
    custom = rendered.parts if rendered is not None else {}
    if "body" in custom:
        body = custom["body"].encode()
    elif "message" in custom and alert.format == "slack":
        body = body_slack(event, custom["message"])
    elif "message" in custom and alert.format == "discord":
        body = body_discord(event, custom["message"])
    else:
        body = FORMATS[alert.format](event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "sitewatch",
        "X-Sitewatch-Event": event["type"],
        "X-Sitewatch-Event-Id": event["event_id"],
        **alert.headers,
    }
    if alert.secret:
        headers["X-Sitewatch-Signature"] = sign(alert.secret, body)
    return body, headers


class WebhookChannel:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def send(self, alert: WebhookAlert, event: dict[str, Any], progress: Progress) -> str:
        rendered = None
        if alert.templates is not None:
            rendered = await asyncio.to_thread(
                messages.webhook,
                event,
                alert.templates,
                as_json="json" in alert.content_type.lower(),
            )
        note = rendered.note if rendered is not None else str
        body, headers = request(alert, event, rendered)
        status, _ = await post(self.session, str(alert.url), body, headers, alert.timeout)
        return note(f"HTTP {status}")
