"""``sitewatch check URL``: one probe, printed with its timing breakdown."""

from __future__ import annotations

import asyncio
import re
import sys

from tests.targets import TargetServer


async def sitewatch(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sitewatch",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_check_prints_timings_and_passes() -> None:
    async with TargetServer() as server:
        code, out, _ = await sitewatch(
            "check", server.url("/text", host="localhost"), "--contains", "hello"
        )
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"GET {server.url('/text', host='localhost')} -> 200 OK"
    for label in ("DNS", "connect", "first byte", "total"):
        assert any(re.fullmatch(rf"  {label} +\d+\.\d ms", line) for line in lines), (label, out)
    assert "TLS" not in out
    assert lines[-1] == "OK: every expectation holds"


async def test_check_fails_with_kind_and_message() -> None:
    async with TargetServer() as server:
        code, out, _ = await sitewatch(
            "check", server.url("/status/503"), "--expect", "200,301", "--method", "head"
        )
    assert code == 1
    assert out.splitlines()[0].endswith("-> 503 Service Unavailable")
    assert out.splitlines()[-1] == "FAIL status: got 503, expected 200 or 301"


async def test_check_rejects_bad_arguments() -> None:
    code, _, err = await sitewatch("check", "http://127.0.0.1/", "--timeout", "soon")
    assert code == 2
    assert "timeout: expected a duration such as 30s, 5m or 1h" in err
    code, _, err = await sitewatch("check", "http://127.0.0.1/", "--header", "novalue")
    assert code == 2 and "expected Name: value" in err
