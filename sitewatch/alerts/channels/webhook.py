"""Webhooks: POST the event as sitewatch JSON, or as a Slack / Discord message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from sitewatch.alerts.channels import DeliveryError
from sitewatch.alerts.payload import body_discord, body_json, body_slack, sign
from sitewatch.config.models import WebhookAlert

FORMATS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "json": body_json,
    "slack": body_slack,
    "discord": body_discord,
}


def request(alert: WebhookAlert, event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of the POST (pure, so tests can check the signature)."""
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

    async def send(self, alert: WebhookAlert, event: dict[str, Any]) -> str:
        body, headers = request(alert, event)
        try:
            async with self.session.post(
                str(alert.url),
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=alert.timeout),
                allow_redirects=False,
            ) as response:
                snippet = (await response.content.read(300)).decode("utf-8", "replace").strip()
                if 200 <= response.status < 300:
                    return f"HTTP {response.status}"
                raise DeliveryError(f"HTTP {response.status}: {snippet[:200]}".rstrip(": "))
        except (aiohttp.ClientError, OSError) as exc:
            raise DeliveryError(f"POST {alert.url}: {str(exc) or type(exc).__name__}") from None
        except TimeoutError:
            raise DeliveryError(f"POST {alert.url}: no answer within {alert.timeout:g}s") from None
