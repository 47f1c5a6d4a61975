"""Alert channels: one module per kind, behind one small interface.

A channel renders an event (see ``alerts.payload``, ``alerts.messages``) for its
medium and delivers it once. It returns a short note of what the receiver said,
or raises ``DeliveryError`` -- the outbox decides about retries, never the
channel. A channel with several targets (Apprise's URLs) records in
``Progress.sent`` those that have the message, so a retry sends only to the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sitewatch.config.models import AnyAlertModel
from sitewatch.errors import SitewatchError

AnyAlert = AnyAlertModel


class DeliveryError(SitewatchError):
    """One attempt failed; the message says why (it is recorded and shown)."""


@dataclass(slots=True)
class Progress:
    """What an attempt knows beyond the alert and the event: the alert as stored
    (``${VAR}`` references unresolved: they name targets without secrets), and
    the targets earlier attempts delivered to. Kept with the outbox row."""

    stored: Mapping[str, Any] = field(default_factory=dict)
    sent: set[str] = field(default_factory=set)


class Channel(Protocol):
    async def send(self, alert: Any, event: dict[str, Any], progress: Progress) -> str: ...
