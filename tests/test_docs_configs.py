"""The reverse-proxy and service snippets of docs/deployment.md are valid for
the tools they are written for: ``caddy validate``, ``nginx -t`` and
``systemd-analyze verify`` (Debian's caddy, nginx-light and systemd)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.targets import make_ca

DOC = Path(__file__).resolve().parents[1] / "docs" / "deployment.md"


def _block(language: str) -> str:
    found = re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)
    assert len(found) == 1, f"one {language} block in {DOC.name}"
    return str(found[0])


@pytest.fixture
def tools(require_tool: Callable[[str, str], Path]) -> Callable[[str], str]:
    packages = {"caddy": "caddy", "nginx": "nginx-light", "systemd-analyze": "systemd"}
    return lambda name: str(require_tool(name, packages[name]))


def test_the_caddyfile_is_valid(tmp_path: Path, tools: Callable[[str], str]) -> None:
    (tmp_path / "Caddyfile").write_text(_block("caddyfile"))
    done = subprocess.run(
        [
            tools("caddy"),
            "validate",
            "--config",
            str(tmp_path / "Caddyfile"),
            "--adapter",
            "caddyfile",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "HOME": str(tmp_path),
            "XDG_DATA_HOME": str(tmp_path),
            "XDG_CONFIG_HOME": str(tmp_path),
        },
    )
    assert done.returncode == 0 and "Valid configuration" in done.stdout + done.stderr, done.stderr


def test_the_nginx_server_block_is_valid(tmp_path: Path, tools: Callable[[str], str]) -> None:
    server = _block("nginx")
    # The certificate paths are the reader's: stand in a real certificate and key.
    make_ca(tmp_path).server_context(
        tmp_path, not_after=datetime.now(UTC) + timedelta(days=30), name="status.example.com"
    )
    crt, key = next(tmp_path.glob("leaf-*.crt")), next(tmp_path.glob("leaf-*.key"))
    server = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {crt};", server)
    server = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", server)
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\n"
        f"events {{}}\nhttp {{\naccess_log off;\n{server}}}\n"
    )
    done = subprocess.run(
        [tools("nginx"), "-t", "-q", "-p", str(tmp_path), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_the_systemd_unit_is_valid(tmp_path: Path, tools: Callable[[str], str]) -> None:
    unit = _block("ini")
    # /opt/sitewatch is where the reader installs it; here it is this virtualenv.
    installed = Path(sys.executable).parent / "sitewatch"
    assert installed.exists()
    unit = unit.replace("/opt/sitewatch/bin/sitewatch", str(installed))
    (tmp_path / "sitewatch.service").write_text(unit)
    done = subprocess.run(
        [tools("systemd-analyze"), "verify", str(tmp_path / "sitewatch.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sitewatch.service" not in done.stderr, done.stderr


@pytest.mark.parametrize("language", ["caddyfile", "nginx", "ini"])
def test_each_snippet_is_found(language: str) -> None:
    assert _block(language).strip()
