"""Apprise: 100+ services (Telegram, Teams, ntfy, Pushover, Matrix, Gotify...)
behind one URL each, delivered through the outbox like every channel.

Apprise's plugins block (``requests``), so every send runs in this channel's
worker threads, never on the event loop. An alert's URLs are sent in parallel,
each is one *target*: a retry sends only to the targets that do not have the
message yet (``Progress.sent``), so one service being down never makes the
others receive it twice. Each alert may keep at most ``per_alert`` threads busy:
a service that hangs past every timeout ties up its own alert's threads, not
the pool that the other alerts share (its further sends wait for a free slot,
and fail when none frees up in time).

Apprise quotes URLs (with their tokens) in what it logs: its records are kept
from sitewatch's log and only their scrubbed reason reaches the delivery log.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import apprise

from sitewatch.alerts import messages
from sitewatch.alerts.channels import DeliveryError, Progress
from sitewatch.config.appriseurls import AppriseUrlError, Scrubber, apprise_log, inspect, reason
from sitewatch.config.models import AppriseAlert

NOTIFY_TYPES = {
    "down": apprise.NotifyType.FAILURE,
    "reminder": apprise.NotifyType.WARNING,
    "up": apprise.NotifyType.SUCCESS,
    "test": apprise.NotifyType.INFO,
}
FORMATS = {
    "text": apprise.NotifyFormat.TEXT,
    "markdown": apprise.NotifyFormat.MARKDOWN,
    "html": apprise.NotifyFormat.HTML,
}


def target_ids(stored: Mapping[str, Any], count: int) -> list[str]:
    """A stable name for each URL, from the alert as stored: its ``${VAR}`` text
    (or the literal, which the database holds anyway), so no resolved secret is
    hashed into the outbox. A retry after a config change that reordered the
    URLs still skips exactly those that have the message."""
    urls = stored.get("urls")
    written = [urls] if isinstance(urls, str) else list(urls or [])
    if len(written) != count:  # the stored form is not this config's: by position
        return [f"#{i}" for i in range(count)]
    return [hashlib.sha256(str(u).strip().encode()).hexdigest()[:16] for u in written]


class AppriseChannel:
    def __init__(self, *, workers: int = 32, per_alert: int = 4) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="sitewatch-apprise")
        self.per_alert = per_alert
        # Alert name -> its threads: at most per_alert busy, those abandoned after a
        # timeout included, so a service that hangs ties up its own alert only.
        self._slots: dict[str, asyncio.Semaphore] = {}
        apprise_log()  # installed before any plugin logs

    def close(self) -> None:
        """Stop taking work; threads still inside a plugin finish on their own."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def send(self, alert: AppriseAlert, event: dict[str, Any], progress: Progress) -> str:
        rendered = await asyncio.to_thread(messages.chat, event, alert.templates)
        ids = target_ids(progress.stored, len(alert.urls))
        pending = [(tid, url) for tid, url in zip(ids, alert.urls, strict=True)]
        pending = [(tid, url) for tid, url in pending if tid not in progress.sent]
        scrub = Scrubber(list(alert.urls))
        if not pending:
            return "every service has it already"
        outcomes = await asyncio.gather(
            *(self._one(alert, url, rendered, str(event["type"])) for _, url in pending)
        )
        notes: list[str] = []
        failed = 0
        for (tid, _), (ok, note) in zip(pending, outcomes, strict=True):
            notes.append(scrub(note))
            if ok:
                progress.sent.add(tid)
            else:
                failed += 1
        skipped = len(ids) - len(pending)
        if skipped:
            notes.append(f"{skipped} had it from an earlier attempt")
        summary = "; ".join(notes)
        if failed:
            raise DeliveryError(f"{failed} of {len(pending)} failed: {summary}")
        return rendered.note(summary)

    async def _one(
        self, alert: AppriseAlert, url: str, rendered: messages.Rendered, kind: str
    ) -> tuple[bool, str]:
        scheme = url.partition("://")[0]
        # Apprise's own timeouts apply per request; this bounds the whole send (a
        # plugin may make several requests, such as a Matrix login and a post).
        limit = 3 * alert.timeout + 5
        slots = self._slots.setdefault(alert.name, asyncio.Semaphore(self.per_alert))
        try:
            await asyncio.wait_for(slots.acquire(), limit)
        except TimeoutError:
            return False, f"{scheme}://: earlier sends of this alert still hang in Apprise"
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(
            self._pool,
            _notify,
            url,
            rendered["title"],
            rendered["message"],
            NOTIFY_TYPES[kind],
            FORMATS[alert.format],
            alert.timeout,
        )
        # The slot is free when the thread is, even if this attempt gave up on it.
        job.add_done_callback(lambda _: slots.release())
        try:
            return await asyncio.wait_for(asyncio.shield(job), limit)
        except TimeoutError:
            return False, f"{scheme}://: no answer within {limit:g}s"


def _notify(
    url: str,
    title: str,
    body: str,
    notify_type: apprise.NotifyType,
    body_format: apprise.NotifyFormat,
    timeout: float,
) -> tuple[bool, str]:
    """One service, in a worker thread: (sent, "Service (url): what Apprise said")."""
    try:
        service = inspect(url)
    except AppriseUrlError as exc:
        return False, str(exc)
    label = f"{service.name} ({service.shown})"
    asset = apprise.AppriseAsset(
        storage_mode=apprise.PersistentStoreMode.MEMORY,
        service_timeout=3 * timeout,
        allow_templates=False,
        app_id="sitewatch",
        app_desc="sitewatch",
        app_url="https://github.com/sitewatch/sitewatch",
    )
    with apprise_log().capture() as lines:
        try:
            plugin = apprise.Apprise.instantiate(url, asset=asset, suppress_exceptions=True)
            if plugin is None:
                return False, f"{label}: " + reason(lines, "Apprise cannot parse the URL")
            plugin.socket_connect_timeout = min(timeout, 10.0)
            plugin.socket_read_timeout = timeout
            ok = bool(
                plugin.notify(
                    body=body or title,
                    title=title,
                    notify_type=notify_type,
                    body_format=body_format,
                )
            )
        except Exception as exc:  # a plugin's bug: a failed attempt, retried
            return False, f"{label}: Apprise failed: {type(exc).__name__}: {exc}"
    return ok, f"{label}: " + ("sent" if ok else reason(lines, "failed (Apprise gave no reason)"))
