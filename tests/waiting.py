"""The one way tests wait for real processes and servers: ``eventually``.

A bounded wait for a condition, never a timing assertion: the deadline is
generous (CI shares two cores, and the suite must pass with both kept busy), and
a test that needs time to pass for a *negative* ("never checked again") says so
with the interval it waits, not with a fixed sleep standing in for a condition.
"""

from __future__ import annotations

import asyncio
import inspect
import subprocess
from collections.abc import Awaitable, Callable

DEADLINE = 30.0


async def eventually(
    predicate: Callable[[], bool | Awaitable[bool]],
    limit: float = DEADLINE,
    step: float = 0.05,
    what: str = "the condition",
) -> None:
    """Wait until ``predicate()`` (plain or async) holds; fail after ``limit`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not hold within {limit}s")
        await asyncio.sleep(step)


async def listening(
    port: int, process: subprocess.Popen[bytes] | None = None, why: Callable[[], str] = str
) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port``; fail at once,
    with ``why()``, if ``process`` (the server) exits first."""

    async def up() -> bool:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the server on port {port} exited: {why()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    await eventually(up, what=f"a server listening on port {port}")
