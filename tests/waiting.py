"""The one way tests wait for real processes and servers: ``eventually``.

A bounded wait for a condition, never a timing assertion: the deadline is
generous (CI shares two cores, and the suite must pass with both kept busy), and
a test that needs time to pass for a *negative* ("never checked again") says so
with the interval it waits, not with a fixed sleep standing in for a condition.
"""

from __future__ import annotations

import asyncio
import inspect
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
