"""The reconciler with the real file watcher: edit, rename, delete and corrupt files
on disk and watch the database follow, or hold the last good state."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from sitewatch.reconcile.service import Reconciler
from sitewatch.store import runs, tables
from tests.factories import monitors_yaml, write
from tests.waiting import eventually

pytestmark = pytest.mark.slow


@pytest.fixture
async def running(engine: AsyncEngine, config_dir: Path) -> AsyncIterator[Reconciler]:
    write(config_dir, "monitors.yaml", monitors_yaml(["a", "b"]))
    reconciler = Reconciler(
        engine, config_dir, {}, debounce_ms=500, step_ms=30, resync_seconds=3600
    )
    stop = asyncio.Event()
    task = asyncio.create_task(reconciler.run(stop))
    await eventually(lambda: reconciler.status.last is not None)
    yield reconciler
    stop.set()
    await asyncio.wait_for(task, 5)


async def live_keys(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        result = await conn.execute(
            select(tables.websites.c.key).where(tables.websites.c.archived_at.is_(None))
        )
        return {r[0] for r in result}


async def eventually_keys(engine: AsyncEngine, expected: set[str]) -> None:
    async def same() -> bool:
        return await live_keys(engine) == expected

    await eventually(same, what=f"the database holding {sorted(expected)}")


async def test_database_follows_the_files(
    running: Reconciler, engine: AsyncEngine, config_dir: Path
) -> None:
    assert await live_keys(engine) == {"a", "b"}

    # 1. A plain in-place edit: applied within a second.
    write(config_dir, "monitors.yaml", monitors_yaml(["a", "b", "c"]))
    await eventually_keys(engine, {"a", "b", "c"})  # latency is measured in bench/reconcile.py

    # 2. An editor's save: write a temp file, rename over the original.
    tmp = config_dir / ".monitors.yaml.swp"
    tmp.write_text(monitors_yaml(["a", "c"]))
    os.replace(tmp, config_dir / "monitors.yaml")
    await eventually_keys(engine, {"a", "c"})

    # 3. A fragment appears, then is deleted.
    write(config_dir, "monitors.d/team.yaml", monitors_yaml(["t1", "t2"]))
    await eventually_keys(engine, {"a", "c", "t1", "t2"})
    (config_dir / "monitors.d" / "team.yaml").unlink()
    await eventually_keys(engine, {"a", "c"})

    # 4. A corrupt file changes nothing; the error is recorded; a fix applies.
    applied = running.status.applied_revision
    write(config_dir, "monitors.yaml", "websites:\n  - name: a\n    url: [broken\n")
    await eventually(
        lambda: running.status.last is not None and running.status.last.status == "failed"
    )
    assert running.status.last is not None
    assert "YAML syntax error" in running.status.last.errors[0]
    assert running.status.applied_revision == applied
    await asyncio.sleep(0.2)
    assert await live_keys(engine) == {"a", "c"}
    async with engine.connect() as conn:
        last = await runs.latest(conn)
    assert last is not None and last.status == "failed"

    # 5. One bad entry rejects the whole revision: the good new entry is not applied either.
    write(
        config_dir,
        "monitors.yaml",
        monitors_yaml(["a", "c", "d"]) + "  - name: bad\n    url: ftp://x\n",
    )
    await eventually(
        lambda: (
            running.status.last is not None and "ftp://x" in " ".join(running.status.last.errors)
        )
    )
    assert await live_keys(engine) == {"a", "c"}

    # 6. Deleting the main file (zero websites) is refused: nothing is pruned.
    (config_dir / "monitors.yaml").unlink()
    await eventually(
        lambda: running.status.last is not None and running.status.last.status == "refused"
    )
    assert await live_keys(engine) == {"a", "c"}

    # 7. The file comes back (git checkout): applied again.
    write(config_dir, "monitors.yaml", monitors_yaml(["a", "c", "e"]))
    await eventually_keys(engine, {"a", "c", "e"})


async def test_unchanged_content_is_not_applied_twice(
    running: Reconciler, config_dir: Path
) -> None:
    before = running.status.last
    # Touch the file without changing it: the content hash matches, nothing runs.
    text = (config_dir / "monitors.yaml").read_text()
    (config_dir / "monitors.yaml").write_text(text)
    await asyncio.sleep(0.5)
    assert running.status.last is before


async def test_restart_keeps_the_applied_state(engine: AsyncEngine, config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["a"]))
    first = Reconciler(engine, config_dir, {})
    run = await first.reconcile("startup", force=True)
    assert run is not None and run.status == "applied"
    second = Reconciler(engine, config_dir, {})
    await second.restore_status()
    assert second.status.applied_revision == run.revision
    run2 = await second.reconcile("startup", force=True)
    assert run2 is not None and run2.status == "unchanged"


async def test_git_commit_is_recorded(
    engine: AsyncEngine, config_dir: Path, require_tool: Callable[[str, str], Path]
) -> None:
    import subprocess

    require_tool("git", "git")

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(config_dir), *args],
            check=True,
            capture_output=True,
            text=True,
            env={
                "GIT_AUTHOR_NAME": "t",
                "GIT_AUTHOR_EMAIL": "t@example.com",
                "GIT_COMMITTER_NAME": "t",
                "GIT_COMMITTER_EMAIL": "t@example.com",
                "PATH": os.environ["PATH"],
                "HOME": str(config_dir),
            },
        ).stdout.strip()

    write(config_dir, "monitors.yaml", monitors_yaml(["a"]))
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    head = git("rev-parse", "HEAD")
    reconciler = Reconciler(engine, config_dir, {})
    run = await reconciler.reconcile("test", force=True)
    assert run is not None and run.git_commit == head
    write(config_dir, "monitors.yaml", monitors_yaml(["a", "b"]))
    run = await reconciler.reconcile("test")
    assert run is not None and run.git_commit == f"{head}+dirty"
    # Committing the content that is live: the files' hash does not change, the
    # commit does; the watcher sees the branch move and +dirty goes.
    stop = asyncio.Event()
    watching = Reconciler(engine, config_dir, {}, debounce_ms=300, step_ms=30, resync_seconds=3600)
    task = asyncio.create_task(watching.run(stop))
    try:
        await eventually(lambda: watching.status.applied is not None)
        assert watching.status.applied is not None
        assert watching.status.applied.git_commit == f"{head}+dirty"
        git("add", ".")
        git("commit", "-qm", "second")
        second = git("rev-parse", "HEAD")

        def committed() -> bool:
            applied = watching.status.applied
            return applied is not None and applied.git_commit == second

        await eventually(committed, what="the applied revision's commit re-read after git commit")
        assert watching.status.last is not None and watching.status.last.git_commit == second
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_a_start_on_the_applied_files_reads_them_through_once_settled(
    engine: AsyncEngine, config_dir: Path
) -> None:
    """``resume``: the files are the revision the database holds, so the start
    does not read them through; ``run`` does once ``settle`` returns."""
    write(config_dir, "monitors.yaml", monitors_yaml(["a", "b"]))
    run = await Reconciler(engine, config_dir, {}).reconcile("startup", force=True)
    assert run is not None and run.status == "applied"
    second = Reconciler(engine, config_dir, {}, resync_seconds=3600)
    await second.restore_status()
    assert await second.resume()
    assert second.status.snapshot is None  # nothing read through yet
    gate = asyncio.Event()
    stop = asyncio.Event()
    task = asyncio.create_task(second.run(stop, watch_files=False, settle=gate.wait))
    await asyncio.sleep(0.3)
    assert second.status.snapshot is None  # waits for settle
    gate.set()
    await eventually(lambda: second.status.snapshot is not None, what="the read-through")
    assert second.status.snapshot is not None
    assert sorted(second.status.snapshot.websites) == ["a", "b"]
    assert second.status.last is not None and second.status.last.revision == run.revision
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_a_start_reads_the_files_through_unless_they_are_as_applied(
    engine: AsyncEngine, config_dir: Path
) -> None:
    fresh = Reconciler(engine, config_dir, {})
    await fresh.restore_status()
    write(config_dir, "monitors.yaml", monitors_yaml(["a"]))
    assert not await fresh.resume()  # nothing applied yet
    write(
        config_dir,
        "monitors.yaml",
        monitors_yaml(["a"]) + "    headers:\n      X-Token: ${TOKEN}\n",
    )
    run = await Reconciler(engine, config_dir, {"TOKEN": "s"}).reconcile("startup", force=True)
    assert run is not None and run.status == "applied"

    async def resumes(environ: dict[str, str]) -> bool:
        reconciler = Reconciler(engine, config_dir, environ)
        await reconciler.restore_status()
        return await reconciler.resume()

    assert await resumes({"TOKEN": "s"})
    # The same files, rejected since (the variable left the environment): read through.
    failed = await Reconciler(engine, config_dir, {}).reconcile("startup", force=True)
    assert failed is not None and failed.status == "failed" and failed.revision == run.revision
    assert not await resumes({"TOKEN": "s"})
    await Reconciler(engine, config_dir, {"TOKEN": "s"}).reconcile("startup", force=True)
    assert await resumes({"TOKEN": "s"})
    # Files edited while stopped: read through.
    write(config_dir, "monitors.yaml", monitors_yaml(["a", "b"]))
    assert not await resumes({"TOKEN": "s"})


@pytest.mark.parametrize("watch_files", [False, True])
async def test_a_failing_read_through_fails_the_run_for_the_supervisor(
    engine: AsyncEngine, config_dir: Path, watch_files: bool
) -> None:
    """A part of ``run`` that fails (here the wait before the read-through) is not
    swallowed: ``run`` raises it, so the supervisor restarts and reports it."""
    write(config_dir, "monitors.yaml", monitors_yaml(["a"]))
    reconciler = Reconciler(engine, config_dir, {}, debounce_ms=300, step_ms=30)

    async def broken() -> None:
        await asyncio.sleep(0.05)
        raise RuntimeError("the checker went away")

    stop = asyncio.Event()
    with pytest.raises(RuntimeError, match="the checker went away"):
        await asyncio.wait_for(reconciler.run(stop, watch_files=watch_files, settle=broken), 30)
    # Stopping ends a run that nothing failed, at once.
    run = asyncio.create_task(reconciler.run(stop, watch_files=watch_files, initial=False))
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(run, 10)


async def test_a_change_while_the_read_through_waits_is_applied(
    engine: AsyncEngine, config_dir: Path
) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["a"]))
    await Reconciler(engine, config_dir, {}).reconcile("startup", force=True)
    reconciler = Reconciler(engine, config_dir, {}, debounce_ms=300, step_ms=30)
    await reconciler.restore_status()
    assert await reconciler.resume()
    gate, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(reconciler.run(stop, settle=gate.wait))
    try:
        await asyncio.sleep(0.2)  # the watcher is set up
        write(config_dir, "monitors.yaml", monitors_yaml(["a", "b"]))
        await eventually_keys(engine, {"a", "b"})  # settle has not returned
        assert not gate.is_set()
    finally:
        stop.set()
        gate.set()
        await asyncio.wait_for(task, 10)
