"""One supervisor for every long-lived task: a monitor that stops without saying
so is the worst failure it can have.

A supervised task is a coroutine function that runs until its ``stop`` event is
set. When it raises (or returns while not asked to stop), the supervisor logs
the traceback, counts the failure, marks the task down with its last error, and
starts it again after a backoff (1 s, doubling up to a minute; reset once the
task has run a minute without failing). ``/ready``, ``/health``, the metrics and
the dashboard read ``Supervisor.states`` to say what is down and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sitewatch.store.types import utcnow
from sitewatch.times import iso_z

log = logging.getLogger("sitewatch.supervisor")

Run = Callable[[asyncio.Event], Awaitable[None]]


@dataclass
class TaskState:
    """What is known of one supervised task (read by /health, /ready, the dashboard)."""

    name: str
    core: bool  # down -> not ready
    running: bool = False
    failures: int = 0
    last_error: str | None = None
    last_failure_at: datetime | None = None
    restart_at: float | None = None  # monotonic time of the next start, while down

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "core": self.core,
            "running": self.running,
            "failures": self.failures,
            "last_error": self.last_error,
            "last_failure_at": iso_z(self.last_failure_at),
        }


@dataclass
class Supervisor:
    initial_backoff: float = 1.0
    max_backoff: float = 60.0
    healthy_after: float = 60.0  # a run this long resets the backoff
    clock: Callable[[], float] = time.monotonic
    states: dict[str, TaskState] = field(default_factory=dict)
    # Called with the task's name after each failure (metrics).
    failure_listeners: list[Callable[[str], None]] = field(default_factory=list)
    # Errors are shown on /health and the dashboard: never with a resolved secret.
    redact: Callable[[str], str] = field(default=lambda text: text)

    def spawn(
        self, name: str, run: Run, stop: asyncio.Event, *, core: bool = True
    ) -> asyncio.Task[None]:
        """Run ``run(stop)`` until ``stop`` is set, restarting it when it fails."""
        state = self.states.setdefault(name, TaskState(name, core))
        state.core = core
        return asyncio.create_task(self._supervise(state, run, stop), name=f"sitewatch-{name}")

    def down(self, *, core_only: bool = True) -> list[TaskState]:
        return [s for s in self.states.values() if not s.running and (s.core or not core_only)]

    async def _supervise(self, state: TaskState, run: Run, stop: asyncio.Event) -> None:
        delay = self.initial_backoff
        while not stop.is_set():
            started = self.clock()
            state.running, state.restart_at = True, None
            try:
                await run(stop)
                if stop.is_set():
                    break
                raise RuntimeError("it returned without being asked to stop")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.clock() - started >= self.healthy_after:
                    delay = self.initial_backoff
                self._failed(state, exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, self.max_backoff)
        state.running = False

    def _failed(self, state: TaskState, exc: Exception, delay: float) -> None:
        state.running = False
        state.failures += 1
        text = str(exc).splitlines()[0] if str(exc) else ""
        error = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        state.last_error = self.redact(error)[:500]
        state.last_failure_at = utcnow()
        state.restart_at = self.clock() + delay
        log.error(
            "task %s failed (failure %d, restarting in %.0fs): %s",
            state.name,
            state.failures,
            delay,
            state.last_error,
            exc_info=exc,
        )
        for listener in self.failure_listeners:
            try:
                listener(state.name)
            except Exception:
                log.exception("a supervisor listener failed")
