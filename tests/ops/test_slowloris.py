"""A slowloris against a real ``sitewatch serve`` that starts at the common
default of 1,024 open files: 1,100 connections that never finish their request
head must neither make /health unreachable nor make checks fail."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sitewatch.web.guard import raise_open_file_limit
from tests.factories import write
from tests.serveproc import Serve
from tests.targets import TargetServer
from tests.waiting import eventually

pytestmark = pytest.mark.slow
SLOW = 1100


async def test_a_slowloris_neither_blocks_health_nor_fails_checks(
    config_dir: Path, tmp_path: Path
) -> None:
    assert raise_open_file_limit() > SLOW + 100, "this test needs room for its own sockets"
    async with TargetServer() as target:
        write(
            config_dir,
            "monitors.yaml",
            f"websites:\n  - name: Target\n    url: {target.url('/status/200')}\n    interval: 5s\n"
            "    timeout: 2s\n",
        )
        serve = Serve(
            config_dir,
            f"sqlite:///{tmp_path / 'sw.db'}",
            {"SITEWATCH_HEADER_TIMEOUT": "3"},
            open_files=1024,
        )
        slow: list[socket.socket] = []
        try:
            await serve.until("/ready", 200)
            for _ in range(SLOW):
                sock = socket.create_connection(("127.0.0.1", serve.port))
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")  # never finished
                slow.append(sock)
            # The server still answers, and keeps checking without running out of files.
            assert (await serve.get("/health"))[0] == 200
            limit = next(
                line
                for line in (await serve.get("/metrics"))[1].splitlines()
                if line.startswith("process_max_fds ")
            )
            assert float(limit.split()[1]) > 1024  # raised to the hard limit at start

            async def checked_fine_since() -> bool:
                status, body = await serve.get("/api/websites/target/status")
                return status == 200 and body.get("state") == "up"

            await eventually(checked_fine_since)
            history = (await serve.get("/api/websites/target/history?limit=50"))[1]["items"]
            # (A check may time out on a busy machine; none may fail for want of files.)
            starved = [
                i["error_message"]
                for i in history
                if i["error_kind"] == "internal" or "open files" in (i["error_message"] or "")
            ]
            assert starved == []

            def closed(sock: socket.socket) -> bool:
                sock.setblocking(False)
                try:
                    return sock.recv(1) == b""
                except BlockingIOError:
                    return False
                except OSError:
                    return True

            # Connections that sent no complete request head within 3 s are closed.
            await eventually(
                lambda: all(closed(s) for s in slow), what="the slow connections closing"
            )
            assert "Too many open files" not in serve.log.read_text()
        finally:
            for sock in slow:
                sock.close()
            serve.stop()
