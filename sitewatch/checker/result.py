"""What one check produced: the data every later stage (store, alerts, API) reads.

A failed check is a result with an error kind and a human message, never an
exception: monitored sites failing is the normal business of a monitor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

ErrorKind = Literal[
    "dns",  # the host name does not resolve
    "refused",  # nothing listens on the port
    "timeout",  # no complete answer within the website's timeout
    "tls",  # bad, expired or soon-expiring certificate, or a failed handshake
    "connection",  # the connection broke: closed or reset before a full response
    "http",  # not a valid HTTP answer, or too many redirects
    "status",  # the status code is not one of expected_status
    "assertion",  # body_contains, body_regex or json_assertions did not hold
    "slow",  # answered, but later than max_response_time
    "too_large",  # the body is larger than the limit and a body check needs it
    "nxdomain",  # DNS checks: the name does not exist
    "servfail",  # DNS checks: the resolver failed to answer (SERVFAIL)
    "loss",  # ping checks: more echo requests went unanswered than max_loss allows
    "late",  # heartbeats: no ping within the period (or schedule) and the grace
    "failed",  # heartbeats: the job reported a failure (a fail ping, an exit status)
    # sitewatch's own fault, not the website's: its stored spec no longer validates
    # here, a bug in the probe, no file descriptors left. Stored and shown, never
    # an alert for the website.
    "internal",
]
ERROR_KINDS: tuple[str, ...] = ErrorKind.__args__  # type: ignore[attr-defined]


@dataclass(slots=True)
class Timings:
    """Durations in milliseconds; ``None`` for a phase that did not happen
    (no DNS for an IP address, no TLS for http://)."""

    dns_ms: float | None = None
    connect_ms: float | None = None
    tls_ms: float | None = None
    first_byte_ms: float | None = None
    total_ms: float | None = None


@dataclass(slots=True)
class CheckResult:
    website_id: int
    checked_at: datetime  # UTC, when the check started
    ok: bool
    error_kind: ErrorKind | None = None
    error_message: str | None = None
    status_code: int | None = None
    timings: Timings | None = None
    size_bytes: int | None = None
    final_url: str | None = None  # set only when redirects led elsewhere
    cert_expires_at: datetime | None = None  # HTTPS and TLS checks
    # What a check type found beyond the common fields, shown on its page and kept
    # with the result: a certificate's issuer, a DNS answer, ping round trips, a
    # heartbeat's last ping. Small (a few hundred bytes), JSON-able, never a secret.
    details: dict[str, Any] | None = None
    lag_seconds: float = 0.0  # how late the check started after it was due

    @property
    def internal(self) -> bool:
        """sitewatch could not check: says nothing about the website."""
        return self.error_kind == "internal"


def internal_result(website_id: int, checked_at: datetime, message: str) -> CheckResult:
    return CheckResult(
        website_id, checked_at, ok=False, error_kind="internal", error_message=message
    )
