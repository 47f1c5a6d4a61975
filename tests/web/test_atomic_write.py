"""A crash (SIGKILL) while the API writes a YAML file leaves the old file or the
new one, never a torn or empty one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sitewatch.services.configedit import write_atomic

WRITER = """
import sys
from pathlib import Path
from sitewatch.services.configedit import write_atomic
path = Path(sys.argv[1])
old, new = Path(sys.argv[2]).read_bytes(), Path(sys.argv[3]).read_bytes()
print("ready", flush=True)
n = 0
while True:
    write_atomic(path, new if n % 2 else old)
    n += 1
"""


def test_write_keeps_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "monitors.yaml"
    path.write_text("websites: []\n")
    path.chmod(0o640)
    write_atomic(path, b"websites:\n  - name: A\n")
    assert path.read_bytes() == b"websites:\n  - name: A\n"
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["monitors.yaml"]  # no temp file left


@pytest.mark.slow
def test_sigkill_mid_write_leaves_old_or_new(tmp_path: Path) -> None:
    old = b"websites:\n" + b"".join(
        b"  - name: Old %d\n    url: http://o/\n" % i for i in range(3000)
    )
    new = b"websites:\n" + b"".join(
        b"  - name: New %d\n    url: http://n/\n" % i for i in range(3000)
    )
    (tmp_path / "old").write_bytes(old)
    (tmp_path / "new").write_bytes(new)
    path = tmp_path / "config" / "monitors.yaml"
    path.parent.mkdir()
    path.write_bytes(old)
    for round_ in range(20):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(tmp_path / "old"), str(tmp_path / "new")],
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        time.sleep(0.01 + 0.013 * round_)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        content = path.read_bytes()
        assert content in (old, new), f"torn file after kill {round_}: {len(content)} bytes"
    leftovers = [p.name for p in path.parent.iterdir() if p.name != "monitors.yaml"]
    # A kill can leave a temp file; it is hidden, so the loader never reads it.
    assert all(name.startswith(".monitors.yaml.") for name in leftovers)


def test_stale_temp_files_are_removed_and_nothing_else(tmp_path: Path) -> None:
    from sitewatch.services.configedit import remove_stale_temp_files

    (tmp_path / "monitors.d").mkdir()
    keep = [
        tmp_path / "monitors.yaml",
        tmp_path / ".hidden-notes",
        tmp_path / "monitors.d" / "a.yaml",
    ]
    stale = [tmp_path / ".monitors.yaml.k3j2_x.tmp", tmp_path / "monitors.d" / ".a.yaml.abc.tmp"]
    for path in keep + stale:
        path.write_text("x")
    assert sorted(remove_stale_temp_files(tmp_path)) == sorted(stale)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in stale)
