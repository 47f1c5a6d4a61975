"""Shared fixtures: real databases (SQLite files and PostgreSQL), config folders.

PostgreSQL tests use the server at ``SITEWATCH_TEST_POSTGRES`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``); every test gets its own
database, created and dropped here. Without a server they skip with the reason,
unless ``--require-postgres`` is given (CI gives it), which turns the skip into
a failure.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from sitewatch.store.engine import create_engine
from sitewatch.store.migrate import upgrade

PG_ADMIN_URL = os.environ.get(
    "SITEWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-postgres",
        action="store_true",
        help="fail (instead of skip) the PostgreSQL tests when no server answers",
    )
    parser.addoption(
        "--require-tools",
        action="store_true",
        help="fail (instead of skip) the tests whose tool is missing: chromium, promtool,"
        " prometheus, caddy, nginx, systemd-analyze, git, sshd, tinyproxy, unshare (.ci/run gives it)",
    )
    parser.addoption(
        "--screenshots",
        default="build/screenshots",
        help="where the browser tests save their screenshots (docs/screenshots refreshes"
        " the ones the README shows)",
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> object:
    """looptime's hook asks the policy for the event loop even around a plain
    (sync) test, which makes a new loop that nobody closes; garbage-collected
    during a later test, its socket pair fails that test with a ResourceWarning.
    Close a loop that appeared during the call of a sync test."""
    local = getattr(asyncio.get_event_loop_policy(), "_local", None)
    before = getattr(local, "_loop", None)
    try:
        return (yield)
    finally:
        after = getattr(local, "_loop", None)
        if (
            not inspect.iscoroutinefunction(pyfuncitem.obj)
            and after is not None
            and after is not before
            and not after.is_running()
        ):
            after.close()
            asyncio.set_event_loop(before)


def find_tool(name: str) -> Path | None:
    found = shutil.which(name)
    for folder in ("/usr/bin", "/usr/sbin"):
        if found is None and Path(folder, name).exists():
            found = str(Path(folder, name))
    return Path(found) if found else None


@pytest.fixture
def require_tool(request: pytest.FixtureRequest) -> Callable[[str, str], Path]:
    """``require_tool("promtool", "prometheus")``: the tool's path, or skip saying
    which Debian package brings it (a failure with ``--require-tools``)."""

    def need(name: str, package: str) -> Path:
        path = find_tool(name)
        if path is None:
            reason = f"{name} is not installed (Debian package {package}; the README's test command installs it)"
            if request.config.getoption("--require-tools"):
                pytest.fail(reason + " (--require-tools is set)")
            pytest.skip(reason)
        return path

    return need


@pytest.fixture(scope="session")
def postgres_admin(request: pytest.FixtureRequest) -> str:
    """A libpq URL of a reachable PostgreSQL server, or skip/fail with the reason."""
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {str(exc).strip()}"
        if request.config.getoption("--require-postgres"):
            pytest.fail(reason + " (--require-postgres is set)")
        pytest.skip(reason)
    return PG_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_admin: str) -> Iterator[str]:
    """A fresh, empty database for one test; dropped afterwards."""
    name = f"sitewatch_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(postgres_admin).set(drivername="postgresql+psycopg", database=name)
    yield url.render_as_string(hide_password=False)
    with psycopg.connect(postgres_admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every storage test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'sitewatch.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated database."""
    eng = create_engine(database_url)
    await upgrade(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    path = tmp_path / "config"
    path.mkdir()
    return path
