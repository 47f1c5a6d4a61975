"""TCP checks against real listeners on loopback: one that answers, one that is
closed, one that accepts and never answers, hostile replies; the config's
``type: tcp`` with file:line:col errors; and the running checker storing them."""

from __future__ import annotations

import asyncio
import re
import socket
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from sitewatch.checker.probe import Prober
from sitewatch.checker.result import CheckResult
from sitewatch.checker.target import Target
from sitewatch.config.loader import load_config
from sitewatch.config.models import TcpCheck, parse_check
from sitewatch.errors import ConfigError
from sitewatch.keys import ENGINE
from sitewatch.store import status as status_store
from tests.appclient import page_text, start_client
from tests.factories import write
from tests.waiting import eventually

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def listen() -> AsyncIterator[Callable[[Handler], Awaitable[int]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def check(port: int, **fields: object) -> CheckResult:
    spec = {"type": "tcp", "name": "t", "host": "127.0.0.1", "port": port, **fields}
    async with Prober() as prober:
        return await prober.check(Target.of(parse_check(spec)))


async def banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 mail.example ESMTP ready\r\n")
    await writer.drain()
    request = await reader.readline()
    if request == b"PING\r\n":
        writer.write(b"+PONG\r\n")
        await writer.drain()
    writer.close()


async def test_a_port_that_answers(listen: Callable[[Handler], Awaitable[int]]) -> None:
    port = await listen(banner)
    plain = await check(port)
    assert plain.ok and plain.error_kind is None
    assert plain.timings is not None and plain.timings.connect_ms is not None
    assert plain.timings.dns_ms is None  # an IP address: nothing to resolve
    greeted = await check(port, expect=r"^220 \S+ ESMTP")
    assert greeted.ok and greeted.timings is not None
    assert greeted.timings.first_byte_ms is not None
    ponged = await check(port, send="PING\r\n", expect=r"\+PONG")
    assert ponged.ok, ponged.error_message


async def test_a_reply_that_does_not_match(listen: Callable[[Handler], Awaitable[int]]) -> None:
    port = await listen(banner)  # the peer says its banner, then waits for us
    result = await check(port, expect="^SSH-2\\.0", timeout="300ms", interval="5s")
    assert not result.ok and result.error_kind == "timeout"
    assert result.error_message == (
        "no reply matching '^SSH-2\\\\.0' within 0.3s (got '220 mail.example ESMTP ready')"
    )

    async def says_and_goes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-1.99-old\r\n")
        writer.close()

    closed = await check(await listen(says_and_goes), expect="^SSH-2\\.0")
    assert closed.error_kind == "assertion"
    assert closed.error_message == "the reply does not match '^SSH-2\\\\.0': got 'SSH-1.99-old'"


async def test_a_closed_port_is_refused() -> None:
    result = await check(closed_port())
    assert result.error_kind == "refused"
    assert result.error_message is not None and "connection refused" in result.error_message


async def test_a_peer_that_accepts_and_never_answers_times_out(
    listen: Callable[[Handler], Awaitable[int]],
) -> None:
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # keep it open, say nothing

    port = await listen(silent)
    connected = await check(port)  # no expect: connecting is enough
    assert connected.ok
    result = await check(port, expect="^220", timeout="300ms", interval="5s")
    assert result.error_kind == "timeout"
    assert result.error_message == "no reply matching '^220' within 0.3s"
    for writer in held:
        writer.close()


async def test_hostile_replies_are_bounded_and_shown_printable(
    listen: Callable[[Handler], Awaitable[int]],
) -> None:
    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"\x1b[31m\x00evil\x07" + b"A" * 200_000)
        await writer.drain()
        writer.close()

    port = await listen(flood)
    result = await check(port, expect="never-there")
    assert result.error_kind == "assertion"
    message = result.error_message or ""
    assert "\x1b" not in message and "\x00" not in message and len(message) < 200

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    closed = await check(await listen(hang_up), expect="x")
    assert closed.error_kind == "connection"
    assert closed.error_message == "the connection closed without a reply to match 'x'"


# -- the config ---------------------------------------------------------------------------


def errors(config_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, {})
    return [p.format() for p in info.value.problems if p.severity == "error"]


MONITORS = """\
defaults:
  interval: 30s
  method: HEAD
  expected_status: 2xx
websites:
  - name: Database
    type: tcp
    host: db.internal
    port: 5432
  - name: Shop
    url: https://shop.example/
"""


def test_a_tcp_entry_validates_and_takes_only_the_defaults_it_has(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", MONITORS)
    snapshot = load_config(config_dir, {})
    database = snapshot.websites["database"]
    assert isinstance(database.model, TcpCheck)
    assert database.model.interval == 30  # a common default applies
    assert database.model.target == "tcp://db.internal:5432"
    assert database.stored["type"] == "tcp" and "method" not in database.stored
    assert "type" not in snapshot.websites["shop"].stored  # http: as stored before


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("    port: 5432\n", ""), "monitors.yaml:6:5: websites[0].port: missing required key"),
        (("port: 5432", "port: 70000"), "monitors.yaml:9:11: websites[0].port: should be less"),
        (
            ("type: tcp", "type: smtp"),
            "monitors.yaml:7:11: websites[0].type: unknown check type 'smtp': expected one of http, tcp, tls, dns, icmp, heartbeat",
        ),
        (
            ("host: db.internal", "host: tcp://db"),
            "monitors.yaml:8:11: websites[0].host: a host is a name",
        ),
        (
            ("    port: 5432\n", "    port: 5432\n    url: https://x/\n"),
            "monitors.yaml:10:5: websites[0].url: unknown key",
        ),
        (
            ("    port: 5432\n", "    port: 5432\n    expect: '(a'\n"),
            "monitors.yaml:10:13: websites[0].expect: invalid regular expression",
        ),
    ],
)
def test_tcp_errors_say_where(config_dir: Path, change: tuple[str, str], expected: str) -> None:
    write(config_dir, "monitors.yaml", MONITORS.replace(*change))
    found = errors(config_dir)
    assert any(f"{config_dir}/{expected}" in e for e in found), found


# -- the running checker --------------------------------------------------------------------


@pytest.mark.slow
async def test_the_checker_checks_a_tcp_entry_and_stores_it(
    config_dir: Path, database_url: str, listen: Callable[[Handler], Awaitable[int]]
) -> None:
    port = await listen(banner)
    (config_dir / "monitors.yaml").write_text(
        textwrap.dedent(
            f"""\
            websites:
              - name: Mail
                type: tcp
                host: 127.0.0.1
                port: {port}
                expect: "^220 "
                interval: 5s
                timeout: 2s
            """
        )
    )
    client = await start_client(config_dir, database_url, check=True)
    try:
        engine = client.server.app[ENGINE]

        async def checked() -> bool:
            async with engine.connect() as conn:
                (found,) = await status_store.current_status(conn, "mail")
            return found.state == "up"

        await eventually(checked, what="the TCP check stored as up")
        async with engine.connect() as conn:
            (found,) = await status_store.current_status(conn, "mail")
        assert found.url == f"tcp://127.0.0.1:{port}"
        page = await page_text(client, "/websites/mail")
        assert f"tcp://127.0.0.1:{port}" in page
        form = await page_text(client, "/websites/mail/edit")
        assert '<option value="tcp" selected>' in form
        assert 'name="tcp_expect"' in form and 'value="^220 "' in form
        token = re.search(r'name="csrf" value="([^"]+)"', form)
        assert token is not None
        saved = await client.post(
            "/websites/mail/edit",
            data={
                "csrf": token.group(1),
                "name": "Mail",
                "type": "tcp",
                "host": "127.0.0.1",
                "port": str(port),
                "tcp_expect": "^220 mail",
                "interval": "5s",
                "timeout": "2s",
                "active": "true",
            },
            allow_redirects=False,
        )
        assert saved.status == 303, await saved.text()
        written = (config_dir / "monitors.yaml").read_text()
        assert 'expect: "^220 mail"' in written and "url:" not in written
        api = await (await client.get("/api/websites/mail")).json()
        assert api["entry"]["type"] == "tcp" and api["url"] == f"tcp://127.0.0.1:{port}"
    finally:
        await client.close()
