"""Alert channels: one module per kind, behind one small interface.

A channel renders an event (see ``alerts.payload``) for its medium and delivers
it once. It returns a short note of what the receiver said, or raises
``DeliveryError`` -- the outbox decides about retries, never the channel.
"""

from __future__ import annotations

from typing import Any, Protocol

from sitewatch.config.models import EmailAlert, WebhookAlert
from sitewatch.errors import SitewatchError

AnyAlert = EmailAlert | WebhookAlert


class DeliveryError(SitewatchError):
    """One attempt failed; the message says why (it is recorded and shown)."""


class Channel(Protocol):
    async def send(self, alert: Any, event: dict[str, Any]) -> str: ...
