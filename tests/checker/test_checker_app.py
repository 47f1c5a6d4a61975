"""The checker inside the app: follows the reconciler, stores results."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from sitewatch.app import create_app
from sitewatch.checker.schedule import next_slot, phase
from sitewatch.checker.service import Checker
from sitewatch.keys import CHECKER, ENGINE, RECONCILER
from sitewatch.settings import Settings
from sitewatch.store import status as status_store
from sitewatch.store import tables
from tests.appclient import record_check, start_client
from tests.factories import website_yaml, write
from tests.gitservers import SmartHttp, Upstream
from tests.targets import TargetServer, closed_port
from tests.waiting import eventually


async def history_count(app: object, key: str) -> int:
    engine = app[ENGINE]  # type: ignore[index]
    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                select(func.count())
                .select_from(tables.history.join(tables.websites))
                .where(tables.websites.c.key == key)
            )
            or 0
        )


async def test_checker_follows_config(database_url: str, config_dir: Path) -> None:
    async with TargetServer() as target:
        ok, bad = target.url("/status/200"), target.url("/status/500")
        write(
            config_dir,
            "monitors.yaml",
            "websites:\n" + website_yaml("alpha", url=ok, interval="5s", extra="timeout: 2s"),
        )
        settings = Settings(config_dir=config_dir, database_url=database_url, watch=False)
        app = create_app(settings, environ={})
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            # started: checked (generous bounds: a busy machine starts checks late)
            await eventually(lambda: _positive(app, "alpha"))
            # a new website is scheduled as soon as it is applied, and checked
            write(
                config_dir,
                "monitors.yaml",
                "websites:\n"
                + website_yaml("alpha", url=ok, interval="5s", extra="timeout: 2s")
                + website_yaml("beta", url=bad, interval="5s", extra="timeout: 2s"),
            )
            run = await app[RECONCILER].reconcile("test")
            assert run is not None and run.created == 1
            await eventually(lambda: _positive(app, "beta"))
            async with app[ENGINE].connect() as conn:
                status = {s.key: s for s in await status_store.current_status(conn)}
            first_check = status["beta"].last_checked_at
            assert first_check is not None
            # Due at once, not on its 5 s grid (how late it started is load, not logic).
            assert first_check >= run.finished_at
            assert status["beta"].state == "down" and status["beta"].last_error_kind == "status"
            assert status["alpha"].state == "up"
            # a deleted website is never checked again
            write(
                config_dir,
                "monitors.yaml",
                "websites:\n" + website_yaml("beta", url=bad, interval="5s", extra="timeout: 2s"),
            )
            await app[RECONCILER].reconcile("test")

            async def settled() -> bool:  # alpha out of the scheduler, nothing in flight
                sched = app[CHECKER].scheduler
                return sched.stats().websites == 1 and sched.in_flight == 0

            await eventually(settled)
            await app[CHECKER].writer.flush()
            before = await history_count(app, "alpha")
            await asyncio.sleep(5.5)
            assert await history_count(app, "alpha") == before
            assert app[CHECKER].scheduler.stats().websites == 1
        finally:
            await server.close()


async def _positive(app: object, key: str) -> bool:
    return await history_count(app, key) > 0


async def test_the_heap_is_frozen_again_after_the_first_round_of_checks(
    database_url: str, config_dir: Path
) -> None:
    """What the first results create (metric series, alert states) lives as long
    as the website: it is frozen out of the cyclic collector once every website
    has been checked, or each full collection walks it (seconds at 35,000)."""
    async with TargetServer() as target:
        write(
            config_dir,
            "monitors.yaml",
            "websites:\n"
            + "".join(
                website_yaml(
                    name, url=target.url("/status/200"), interval="5s", extra="timeout: 2s"
                )
                for name in ("alpha", "beta", "gamma")
            ),
        )
        settings = Settings(config_dir=config_dir, database_url=database_url, watch=False)
        app = create_app(settings, environ={})
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            checker = app[CHECKER]

            async def loaded() -> bool:
                return len(checker.keys) == 3

            await eventually(loaded)
            # An object that lives on, made before the first round ends: the
            # collector walks it (gc.get_objects lists it) until the heap is frozen
            # again. (Not the freeze count: frozen objects that die lower it.)
            survivor: list[object] = []
            assert any(o is survivor for o in gc.get_objects())
            assert checker.scheduler.checks_total < 3  # the first round spreads over 5 s

            async def first_round() -> bool:
                return checker.scheduler.checks_total >= 3

            await eventually(first_round)
            assert not any(o is survivor for o in gc.get_objects())
        finally:
            await server.close()
            gc.unfreeze()


async def test_paused_websites_are_not_checked(database_url: str, config_dir: Path) -> None:
    """active: false keeps a website in the config and its history, and sends
    it no request at all, while its neighbour is checked round after round."""
    from aiohttp import web

    hits: dict[str, int] = {}

    async def count(request: web.Request) -> web.Response:
        hits[request.path] = hits.get(request.path, 0) + 1
        return web.Response(text="ok")

    target = web.Application()
    target.router.add_get("/{name}", count)
    runner = web.AppRunner(target, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    write(
        config_dir,
        "monitors.yaml",
        "websites:\n"
        + website_yaml("live", url=f"{base}/live", interval="5s", extra="timeout: 2s")
        + website_yaml(
            "paused", url=f"{base}/paused", interval="5s", extra="timeout: 2s\nactive: false"
        ),
    )
    app = create_app(
        Settings(config_dir=config_dir, database_url=database_url, watch=False), environ={}
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        await eventually(lambda: hits.get("/live", 0) >= 3, what="three rounds of checks")
        assert await history_count(app, "live") >= 2
        assert hits.get("/paused", 0) == 0
        assert await history_count(app, "paused") == 0
        assert app[CHECKER].scheduler.stats().websites == 1
    finally:
        await server.close()
        await runner.cleanup()


async def test_not_ready_until_the_schedule_is_loaded(
    database_url: str, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A running checker whose first load has not finished checks nothing: /ready
    says so (at 100,000 websites the load takes seconds)."""
    url = f"http://127.0.0.1:{closed_port()}/"
    write(config_dir, "monitors.yaml", "websites:\n" + website_yaml("alpha", url=url))
    gate = asyncio.Event()
    real = Checker.reload

    async def held(self: Checker) -> tuple[int, int, int]:
        await gate.wait()
        return await real(self)

    monkeypatch.setattr(Checker, "reload", held)
    settings = Settings(config_dir=config_dir, database_url=database_url, watch=False)
    app = create_app(settings, environ={})
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        ready_url = f"http://127.0.0.1:{server.port}/ready"
        async with aiohttp.ClientSession() as session:

            async def reasons() -> list[str]:
                async with session.get(ready_url) as response:
                    body = await response.json()
                    assert (response.status == 200) is body["ready"]
                    return list(body.get("reasons", []))

            async def waiting() -> bool:
                return "the schedule is not loaded yet" in await reasons()

            await eventually(waiting, what="/ready waiting for the schedule")
            gate.set()

            async def ready() -> bool:
                return await reasons() == []

            await eventually(ready, what="/ready once the schedule is loaded")
        assert app[CHECKER].scheduled
    finally:
        gate.set()
        await server.close()


async def test_an_instance_that_falls_behind_says_so_and_by_how_much(
    database_url: str, config_dir: Path
) -> None:
    """More work than it can do (one check at a time, each 4 s, four websites due
    every 5 s): the metric, /health and a banner on every page say how far behind."""
    async with TargetServer() as target:
        slow = target.url("/delay/4000")
        write(
            config_dir,
            "monitors.yaml",
            "websites:\n"
            + "".join(
                website_yaml(f"slow{i}", url=slow, interval="5s", extra="timeout: 5s")
                for i in range(4)
            ),
        )
        settings = Settings(
            config_dir=config_dir, database_url=database_url, watch=False, check_concurrency=1
        )
        app = create_app(settings, environ={})
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            async with aiohttp.ClientSession(str(server.make_url("/"))) as http:

                async def behind() -> float:
                    async with http.get("/metrics") as r:
                        text = await r.text()
                    (line,) = [
                        x
                        for x in text.splitlines()
                        if x.startswith("sitewatch_scheduler_behind_seconds ")
                    ]
                    return float(line.split()[1])

                assert await behind() < 5  # nothing is due yet: checks spread over 5 s

                async def far_behind() -> bool:
                    return await behind() >= 6

                await eventually(far_behind, what="the scheduler to fall 6 s behind")
                async with http.get("/health") as r:
                    health = await r.json()
                assert health["status"] == "degraded"
                assert health["checker"]["behind_seconds"] >= 6
                assert health["checker"]["in_flight"] == 1
                async with http.get("/") as r:
                    page = await r.text()
                assert 'id="checks-behind"' in page and "Checks are behind by" in page
        finally:
            await server.close()


async def test_after_a_restart_a_slot_missed_while_stopped_is_checked_at_once(
    database_url: str, config_dir: Path
) -> None:
    """The previous run's last checks are in the database: a website whose next
    slot passed while sitewatch was stopped is checked as soon as it starts (not
    an interval later), one whose slot is still ahead keeps its grid."""
    now = time.time()
    ahead = [
        k for k in (f"site{i}" for i in range(200)) if next_slot(now, 120, phase(k, 120)) - now > 60
    ]
    missed, kept = ahead[:6], ahead[6:12]
    async with TargetServer() as target:
        ok = target.url("/status/200")
        write(
            config_dir,
            "monitors.yaml",
            "websites:\n"
            + "".join(
                website_yaml(k, url=ok, interval="120s", extra="timeout: 2s") for k in missed + kept
            ),
        )
        before = await start_client(config_dir, database_url)  # the previous run, stopped
        try:
            for key in missed + kept:
                last_slot = next_slot(now, 120, phase(key, 120)) - 120  # in the past
                # missed: checked at the slot before, so last_slot went by unchecked
                ago = now - last_slot + (120 if key in missed else 0)
                await record_check(before, key, ok=True, ago=ago)
        finally:
            await before.close()
        app = create_app(
            Settings(config_dir=config_dir, database_url=database_url, watch=False), environ={}
        )
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:

            async def all_missed_checked() -> bool:
                counts = [await history_count(app, k) for k in missed]
                return all(c >= 2 for c in counts)

            # Their next slot is more than a minute away: only the catch-up can do it.
            await eventually(all_missed_checked, limit=45, what="the missed slots to run")
            assert [await history_count(app, k) for k in kept] == [1] * len(kept)
        finally:
            await server.close()


async def test_after_a_restart_the_stored_websites_are_checked_while_the_config_is_read(
    database_url: str, tmp_path: Path
) -> None:
    """The startup reconcile (here: the fetch of a followed remote, which hangs)
    does not hold the checks: the checker starts on the state applied before the
    restart, and the server waits for the reconcile (ready after it)."""
    now = time.time()
    missed = [
        k for k in (f"site{i}" for i in range(200)) if next_slot(now, 120, phase(k, 120)) - now > 60
    ][:3]
    up = Upstream(tmp_path / "remote")
    async with TargetServer() as target, SmartHttp(tmp_path / "remote", "git", "t0ken") as http:
        ok = target.url("/status/200")
        up.commit(
            {
                "monitors.yaml": "websites:\n"
                + "".join(
                    website_yaml(k, url=ok, interval="120s", extra="timeout: 2s") for k in missed
                )
            },
            "three websites",
        )
        settings: dict[str, Any] = {
            "git_url": http.url("shop.git"),
            "git_token": "t0ken",
            "git_dir": tmp_path / "sw",
        }
        before = await start_client(tmp_path / "unused", database_url, **settings)
        try:
            for key in missed:  # checked two slots ago: the last slot went by unchecked
                last_slot = next_slot(now, 120, phase(key, 120)) - 120
                await record_check(before, key, ok=True, ago=now - last_slot + 120)
        finally:
            await before.close()
        http.open.clear()  # the remote hangs from now on
        app = create_app(
            Settings(
                config_dir=tmp_path / "unused", database_url=database_url, watch=False, **settings
            ),
            environ={},
        )
        server = TestServer(app, host="127.0.0.1")
        starting = asyncio.create_task(server.start_server())
        try:

            async def all_missed_checked() -> bool:
                if CHECKER not in app:  # still starting up to the checker
                    return False
                return all([await history_count(app, k) >= 2 for k in missed])

            await eventually(all_missed_checked, limit=45, what="the stored websites' checks")
            assert http.requests >= 1 and not starting.done()  # the fetch still hangs
            http.open.set()
            await asyncio.wait_for(starting, 60)
            async with aiohttp.ClientSession() as session:

                async def ready() -> bool:
                    async with session.get(server.make_url("/ready")) as r:
                        return r.status == 200

                await eventually(ready, what="/ready")
                # Ready only once the schedule holds what the reconcile applied.
                checker = app[CHECKER]
                checker.hold_ready()
                assert not checker.scheduled  # what /ready asks
                await eventually(lambda: checker.scheduled, what="the reload")
        finally:
            http.open.set()
            await asyncio.gather(starting, return_exceptions=True)
            await server.close()


async def test_a_restart_on_the_applied_files_reads_them_through_once_caught_up(
    database_url: str, config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The files are the revision the database holds: the start checks at once
    and reads the config through only once the checker has caught up (at
    120,000 websites, seconds of CPU the catch-up of the missed slots needs)."""
    url = f"http://127.0.0.1:{closed_port()}/"
    write(config_dir, "monitors.yaml", "websites:\n" + website_yaml("alpha", url=url))
    before = await start_client(config_dir, database_url)
    applied = before.server.app[RECONCILER].status.applied
    await before.close()
    assert applied is not None
    caplog.set_level("INFO", logger="sitewatch.reconcile")
    app = create_app(
        Settings(config_dir=config_dir, database_url=database_url, watch=False), environ={}
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        assert "is the one applied: checking its websites, read through later" in caplog.text
        reconciler = app[RECONCILER]
        assert reconciler.status.applied == applied
        await eventually(lambda: reconciler.status.snapshot is not None, what="the read-through")
        assert app[CHECKER].scheduled and app[CHECKER].behind() < 1
        assert reconciler.status.last is not None
        assert reconciler.status.last.revision == applied.revision
    finally:
        await server.close()


class Progress:
    def __init__(self) -> None:
        self.scheduled = False
        self.late = 0.0

    def behind(self) -> float:
        return self.late


@pytest.mark.looptime
async def test_caught_up_waits_for_calm_polls_or_gives_up() -> None:
    from sitewatch.checker.service import caught_up

    loop = asyncio.get_running_loop()
    progress = Progress()
    waiting = asyncio.create_task(caught_up(progress, calm=3, poll=1.0, wait=300))
    await asyncio.sleep(10.5)
    assert not waiting.done()  # not loaded yet
    progress.scheduled, progress.late = True, 40.0
    await asyncio.sleep(10)
    assert not waiting.done()  # behind
    progress.late = 0.2
    start = loop.time()
    await waiting
    assert 2 <= loop.time() - start <= 3.5  # three calm polls
    progress.late = 99.0
    start = loop.time()
    await caught_up(progress, calm=3, poll=1.0, wait=300)
    assert 299 <= loop.time() - start <= 301  # never caught up: gives up at the bound
