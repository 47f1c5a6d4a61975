"""Writes check results to the database in batches.

Results queue in memory and go out every ``flush_interval`` seconds, or sooner
when ``batch_size`` are waiting: one transaction per batch, never one per check.
When the database is unreachable the batch stays queued (up to ``max_pending``
results; beyond that the oldest are dropped, and counted) and is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sitewatch.checker.result import CheckResult
from sitewatch.store import results as result_store
from sitewatch.store.engine import Connection, DatabaseError, Engine, begin_write

log = logging.getLogger("sitewatch.checker")


def history_row(result: CheckResult) -> dict[str, Any]:
    t = result.timings
    return {
        "website_id": result.website_id,
        "checked_at": result.checked_at,
        "ok": result.ok,
        "status_code": result.status_code,
        "response_time_ms": t.total_ms if t else None,
        "error_kind": result.error_kind,
        "error_message": result.error_message,
        "dns_ms": t.dns_ms if t else None,
        "connect_ms": t.connect_ms if t else None,
        "tls_ms": t.tls_ms if t else None,
        "first_byte_ms": t.first_byte_ms if t else None,
        "size_bytes": result.size_bytes,
        "final_url": result.final_url,
        "cert_expires_at": result.cert_expires_at,
        "details": (
            json.dumps(result.details, separators=(",", ":"), default=str)
            if result.details
            else None
        ),
    }


class ResultWriter:
    def __init__(
        self,
        engine: Engine,
        *,
        batch_size: int = 2000,
        flush_interval: float = 1.0,
        max_pending: int = 500_000,
    ) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        # Called after each commit with the results it stored.
        self.listeners: list[Callable[[list[CheckResult]], None]] = []
        # Called inside each batch's transaction (alerting: state changes and the
        # notifications they cause commit together with the results).
        self.in_transaction: list[Callable[[Connection, list[CheckResult]], Awaitable[None]]] = []
        self._pending: list[dict[str, Any]] = []
        self._results: list[CheckResult] = []
        self._full = asyncio.Event()
        self.written_total = 0
        self.dropped_total = 0
        self.failed_flushes = 0

    def add(self, result: CheckResult) -> None:
        self._pending.append(history_row(result))
        self._results.append(result)
        if len(self._pending) >= self.batch_size:
            self._full.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self, stop: asyncio.Event) -> None:
        """Flush on time or size until ``stop``; then flush what is left."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.flush_interval)
            self._full.clear()
            await self.flush()
        await self.flush()

    @staticmethod
    async def _run_hook(
        conn: Connection,
        hook: Callable[[Connection, list[CheckResult]], Awaitable[None]],
        results: list[CheckResult],
    ) -> None:
        """A hook's database errors fail the batch (it is retried whole); a bug in
        a hook is logged and rolled back to a savepoint, and the results are kept."""
        savepoint = await conn.begin_nested()
        try:
            await hook(conn, results)
        except (DatabaseError, OSError):
            raise
        except Exception:
            log.exception("a result hook failed; the results are stored without it")
            await savepoint.rollback()
        else:
            await savepoint.commit()

    async def flush(self) -> bool:
        """Write everything queued; ``False`` (and kept queued) when the database fails."""
        if not self._pending:
            return True
        rows, self._pending = self._pending, []
        results, self._results = self._results, []
        done = 0
        try:
            while done < len(rows):
                chunk = rows[done : done + self.batch_size]
                chunk_results = results[done : done + len(chunk)]
                async with begin_write(self.engine) as conn:
                    await result_store.record(conn, chunk)
                    for hook in self.in_transaction:
                        await self._run_hook(conn, hook, chunk_results)
                self.written_total += len(chunk)
                done += len(chunk)
                self._notify(chunk_results)
        except Exception as exc:
            # Kept and retried whole: a database error, or a bug of ours in the
            # statement (logged with its traceback). Either way nothing is lost.
            self.failed_flushes += 1
            self._pending = rows[done:] + self._pending
            self._results = results[done:] + self._results
            excess = len(self._pending) - self.max_pending
            if excess > 0:
                self.dropped_total += excess
                del self._pending[:excess], self._results[:excess]
            log.error(
                "could not store %d check results (kept, will retry): %s",
                len(rows) - done,
                exc,
                exc_info=not isinstance(exc, DatabaseError | OSError),
            )
            return False
        return True

    def _notify(self, results: list[CheckResult]) -> None:
        """After the commit: each listener on its own, so one that raises neither
        loses the batch (it is stored) nor stops the writer nor starves the others."""
        for listener in self.listeners:
            try:
                listener(results)
            except Exception:
                log.exception("a listener of stored results failed (the results are stored)")
