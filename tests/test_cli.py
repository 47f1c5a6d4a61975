"""The command line, in process (exit codes, output) and as a real process (serve)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sitewatch.cli import main
from tests.factories import ALERTS, monitors_yaml, write

ROOT = Path(__file__).parents[1]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_validate_ok(capsys: pytest.CaptureFixture[str], config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["a", "b"]))
    code, out = run(capsys, "validate", "--config", str(config_dir))
    assert code == 0
    assert out.startswith(f"{config_dir} is valid: 2 websites, 0 alerts (revision ")


def test_validate_names_the_services_each_alert_reaches(
    capsys: pytest.CaptureFixture[str], config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NTFY_URL", "ntfys://ntfy.sh/shop-alerts-x7q2")
    write(config_dir, "monitors.yaml", monitors_yaml(["a"]))
    write(
        config_dir,
        "alerts.yaml",
        "alerts:\n"
        "  - name: phone\n    type: apprise\n    websites: '*'\n    urls:\n"
        "      - tgram://123456789:AAbbCCddEEffGGhh/12345\n"
        "      - ${NTFY_URL}\n"
        "      - pagerduty://integrationkey@apikey\n"
        "  - name: pd\n    type: pagerduty\n    routing_key: abc\n    websites: '*'\n",
    )
    code, out = run(capsys, "validate", "--config", str(config_dir))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == (
        f"{config_dir}/alerts.yaml:8:9: warning: alerts[0].urls[2]: pagerduty:// through Apprise "
        "keys incidents by the message text, so a reminder or an UP does not find the incident "
        "its DOWN opened; type: pagerduty keeps one incident per outage"
    )
    assert lines[-2:] == [
        "  alert pd (pagerduty): PagerDuty",
        "  alert phone (apprise): Telegram, ntfy, Pager Duty",
    ]
    assert "shop-alerts-x7q2" not in out


def test_validate_errors_exit_1_and_list_them_all(
    capsys: pytest.CaptureFixture[str], config_dir: Path
) -> None:
    write(
        config_dir,
        "monitors.yaml",
        "websites:\n  - name: a\n    url: ftp://a\n  - name: b\n    url: https://b\n    interval: 1s\n",
    )
    code, out = run(capsys, "validate", "--config", str(config_dir))
    assert code == 1
    assert out.splitlines() == [
        f'{config_dir}/monitors.yaml:3:10: websites[0].url: must be an http:// or https:// URL (got "ftp://a")',
        f'{config_dir}/monitors.yaml:6:15: websites[1].interval: must be at least 5s (got "1s")',
        f"2 errors in {config_dir}",
    ]


def test_validate_json(capsys: pytest.CaptureFixture[str], config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", "websites:\n  - name: a\n    url: ftp://a\n")
    code, out = run(capsys, "validate", "--config", str(config_dir), "--format", "json")
    assert code == 1
    body = json.loads(out)
    assert body["valid"] is False
    assert body["problems"][0] | {"message": None} == {
        "file": f"{config_dir}/monitors.yaml",
        "line": 3,
        "column": 10,
        "path": "websites[0].url",
        "message": None,
        "severity": "error",
    }


def test_validate_touches_no_database(
    capsys: pytest.CaptureFixture[str],
    config_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    write(config_dir, "monitors.yaml", monitors_yaml(["a"]))
    assert run(capsys, "validate", "--config", str(config_dir))[0] == 0
    assert not list(tmp_path.glob("*.db"))


def test_plan_exit_codes(
    capsys: pytest.CaptureFixture[str], config_dir: Path, database_url: str
) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["a", "b"]))
    write(config_dir, "alerts.yaml", ALERTS)
    args = ("--config", str(config_dir), "--database-url", database_url)
    code, out = run(capsys, "plan", *args)
    assert code == 1
    assert "  + a  (" in out and "  + b  (" in out and "Plan: 2 to create" in out

    assert run(capsys, "migrate", "--database-url", database_url)[0] == 0
    import asyncio

    from sitewatch.config.loader import load_config
    from sitewatch.reconcile.apply import apply_snapshot
    from sitewatch.store.engine import create_engine

    async def apply() -> None:
        engine = create_engine(database_url)
        await apply_snapshot(engine, load_config(config_dir, {}), trigger="test")
        await engine.dispose()

    asyncio.run(apply())
    code, out = run(capsys, "plan", *args)
    assert code == 0 and "No changes" in out

    write(
        config_dir, "monitors.yaml", monitors_yaml(["a"]).replace("interval: 30s", "interval: 1m")
    )
    code, out = run(capsys, "plan", *args)
    assert code == 1
    assert '  ~ a\n      interval: "30s" -> "1m"' in out
    assert "  - b  (archived: monitoring stops, history is kept)" in out

    write(config_dir, "monitors.yaml", "websites:\n  - name: a\n    url: nope\n")
    code, out = run(capsys, "plan", *args)
    assert code == 2 and "nothing would be applied" in out


def test_plan_on_a_missing_sqlite_file_creates_nothing(
    capsys: pytest.CaptureFixture[str], config_dir: Path, tmp_path: Path
) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["a"]))
    db = tmp_path / "none.db"
    code, _ = run(capsys, "plan", "--config", str(config_dir), "--database-url", f"sqlite:///{db}")
    assert code == 1 and not db.exists()


def test_schema(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run(capsys, "schema", "monitors")
    assert code == 0 and json.loads(out)["title"] == "sitewatch monitors.yaml"
    assert run(capsys, "schema", "--out", str(tmp_path))[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "alerts.schema.json",
        "incident.schema.json",
        "monitors.schema.json",
        "status-pages.schema.json",
    ]
    code, out = run(capsys, "schema", "incident")
    assert code == 0 and "body" not in json.loads(out)["properties"]


def test_bad_database_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--database-url", "mysql://x/y"]) == 2
    assert "unsupported database URL scheme 'mysql'" in capsys.readouterr().err


def test_help_is_complete() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sitewatch", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("serve", "validate", "plan", "schema", "migrate"):
        assert command in out
    from sitewatch.settings import Settings

    listed = " ".join(out.split())  # the epilog wraps lines
    for name in Settings.model_fields:  # every setting, from the model itself
        assert f"SITEWATCH_{name.upper()}" in listed, name
    for command in ("serve", "validate", "plan", "schema", "migrate"):
        sub = subprocess.run(
            [sys.executable, "-m", "sitewatch", command, "--help"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert sub.startswith(f"usage: sitewatch {command}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serve_applies_config_serves_health_and_stops_on_sigterm(
    config_dir: Path, database_url: str, tmp_path: Path
) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["a", "b"]))
    port = free_port()
    env = {**os.environ, "SITEWATCH_DATABASE_URL": database_url}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sitewatch",
            "serve",
            "--config",
            str(config_dir),
            "--port",
            str(port),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/health", timeout=2
                ) as response:
                    body = json.loads(response.read())
                    break
            except OSError:
                time.sleep(0.1)
        assert body is not None, "serve did not answer /health"
        assert body["status"] == "ok"
        assert body["database"]["reachable"] is True
        assert body["config"]["last_reconcile"]["created"] == 2
        assert body["config"]["applied_revision"] == body["config"]["last_reconcile"]["revision"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out
    assert "applied revision" in out and "sitewatch stopped" in out


def test_plan_compares_content_not_the_folders_path(
    capsys: pytest.CaptureFixture[str], config_dir: Path, database_url: str, tmp_path: Path
) -> None:
    """CI checks out the config somewhere else than the server keeps it: the same
    files at another path (or the same path spelt another way) are no change."""
    import asyncio
    import shutil

    from sitewatch.config.loader import load_config
    from sitewatch.reconcile.apply import apply_snapshot
    from sitewatch.store.engine import create_engine

    write(config_dir, "monitors.yaml", monitors_yaml(["a", "b"]))
    write(config_dir, "alerts.yaml", ALERTS)
    (config_dir / "monitors.d").mkdir()
    write(config_dir / "monitors.d", "team.yaml", monitors_yaml(["c"]))
    assert run(capsys, "migrate", "--database-url", database_url)[0] == 0

    async def apply(folder: Path) -> tuple[int, int, int]:
        engine = create_engine(database_url)
        try:
            record = await apply_snapshot(engine, load_config(folder, {}), trigger="test")
        finally:
            await engine.dispose()
        return record.created, record.updated, record.unchanged

    assert asyncio.run(apply(config_dir)) == (3, 0, 0)
    elsewhere = tmp_path / "checkout" / "deep" / "config"
    shutil.copytree(config_dir, elsewhere)
    (config_dir.parent / "x").mkdir()
    for folder in (elsewhere, config_dir.parent / "x" / ".." / "config"):
        code, out = run(capsys, "plan", "--config", str(folder), "--database-url", database_url)
        assert code == 0, out
        assert "No changes" in out
    # serve restarted with another spelling of the same folder writes nothing
    assert asyncio.run(apply(config_dir.parent / "x" / ".." / "config")) == (0, 0, 3)
    assert asyncio.run(apply(elsewhere)) == (0, 0, 3)


def test_the_sqlite_files_and_their_lock_are_ignored_by_git(tmp_path: Path) -> None:
    """A fresh clone that ran ``sitewatch serve`` shows a clean ``git status``."""
    import shutil

    if shutil.which("git") is None:
        pytest.skip("git is not installed (Debian package git)")
    root = Path(__file__).resolve().parent.parent
    names = ["sitewatch.db", "sitewatch.db-wal", "sitewatch.db-shm", "sitewatch.db.lock"]
    done = subprocess.run(
        ["git", "-C", str(root), "check-ignore", "--no-index", *names],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout.split() == names, done.stderr
