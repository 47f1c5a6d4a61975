"""The README's "Five minutes with git" works end to end, exactly as written: its
shell block runs as one script in a fresh folder holding the example config and
the virtualenv, with a local bare repository as the remote, in a network
namespace of its own (so that port 8080 is free and nothing reaches out)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

pytestmark = pytest.mark.slow


def five_minutes() -> str:
    text = README.read_text()
    section = text[text.index("## Five minutes with git") : text.index("## Commands")]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "one sh block in the README's Five minutes with git"
    return str(blocks[0])


def test_the_readme_walkthrough_runs_as_written(
    require_tool: Callable[[str, str], Path], tmp_path: Path
) -> None:
    for tool, package in (("git", "git"), ("curl", "curl"), ("unshare", "util-linux")):
        require_tool(tool, package)
    require_tool("ip", "iproute2")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    shutil.copytree(ROOT / "config", tmp_path / "config")
    (tmp_path / "walkthrough.sh").write_text(five_minutes())
    home = tmp_path / "home"
    home.mkdir()
    # A reader's git knows their name (the README says so).
    (home / ".gitconfig").write_text("[user]\n\tname = Ada\n\temail = ada@example.com\n")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", "ip link set lo up && exec bash -e walkthrough.sh"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,  # a generous bound for a busy machine; it takes ~15 s
    )
    log = done.stdout + "\n--- stderr (the server's log) ---\n" + done.stderr[-6000:]
    assert done.returncode == 0, log
    lines = done.stdout.splitlines()
    assert json.loads(lines[0]) == {"ready": True, "reasons": []}, log
    # 3: valid, then applied once pushed.
    assert lines[1].startswith("monitoring/config is valid: 3 websites"), log
    docs = [json.loads(line) for line in lines if line.startswith('{"id"')]
    assert docs[0]["key"] == "docs" and docs[0]["interval_seconds"] == 30.0, log
    # 4: the API's edit is applied and is a commit in the remote.
    assert docs[1]["interval_seconds"] == 60.0 and re.fullmatch(r"[0-9a-f]{40}", docs[1]["commit"])
    assert "sitewatch API: sitewatch API: update website docs in monitors.d/docs.yaml" in lines
    # 5: CI's check and the refused commit, with its file:line; the docs website stays.
    assert (
        "monitoring/config/monitors.d/docs.yaml:4:15: websites[0].interval: must be at least "
        '5s (got "1s")'
    ) in lines
    assert "CI would stop here" in lines
    health = json.loads(next(line for line in lines if line.startswith('{"status"')))
    git = health["config"]["git"]
    assert health["status"] == "degraded", log
    assert git["applied_commit"] == docs[1]["commit"], log
    assert git["attempted_errors"] == [
        'config/monitors.d/docs.yaml:4:15: websites[0].interval: must be at least 5s (got "1s")'
    ]
    assert docs[-1]["key"] == "docs" and docs[-1]["interval_seconds"] == 60.0
    # Nothing secret or local in the remote: the remote has the four commits.
    remote = tmp_path / "monitoring.git"
    subjects = subprocess.run(
        ["git", "--git-dir", str(remote), "log", "--format=%s", "main"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.splitlines()
    assert subjects == [
        "Check the docs every second",
        "sitewatch API: update website docs in monitors.d/docs.yaml",
        "Watch the docs",
        "Watch the examples",
    ]
