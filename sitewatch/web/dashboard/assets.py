"""Where the dashboard's templates and static files are, and how they are served.

The templates live at the top of the repository (``dashboard/templates``) and are
copied into the package when the wheel is built; from a source checkout (an
editable install) they are read where they are. Static files carry a hash of
their content in their name, so they are served with a one-year immutable cache
header and a new build can never be mixed with an old stylesheet.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

log = logging.getLogger("sitewatch.dashboard")

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
CACHE_FOREVER = "public, max-age=31536000, immutable"
_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


def templates_dir() -> Path:
    packaged = HERE / "templates"
    if packaged.is_dir():
        return packaged
    checkout = HERE.parents[2] / "dashboard" / "templates"
    if checkout.is_dir():
        return checkout
    raise RuntimeError(f"the dashboard templates are missing (looked in {packaged}, {checkout})")


@dataclass(frozen=True, slots=True)
class Asset:
    path: Path
    content: bytes
    content_type: str


class Assets:
    """The fingerprinted static files: logical name -> URL, and the files by URL name."""

    def __init__(self, static: Path = STATIC) -> None:
        self.urls: dict[str, str] = {}
        self.files: dict[str, Asset] = {}
        manifest = static / "manifest.json"
        if manifest.exists():
            for logical, name in json.loads(manifest.read_text()).items():
                self._add(logical, static / name, fingerprinted=True)
        else:
            log.warning(
                "the dashboard's CSS is not built (no %s): pages render unstyled; "
                "run `pip install -e .` or `python hatch_build.py`",
                manifest,
            )
        for script in sorted(static.glob("*.js")):
            self._add(script.name, script, fingerprinted=False)

    def _add(self, logical: str, path: Path, *, fingerprinted: bool) -> None:
        content = path.read_bytes()
        name = path.name
        if not fingerprinted:
            digest = hashlib.sha256(content).hexdigest()[:12]
            name = f"{path.stem}.{digest}{path.suffix}"
        self.files[name] = Asset(path, content, _TYPES.get(path.suffix, "application/octet-stream"))
        self.urls[logical] = f"/static/{name}"

    def url(self, logical: str) -> str | None:
        return self.urls.get(logical)

    async def handle(self, request: web.Request) -> web.Response:
        asset = self.files.get(request.match_info["name"])
        if asset is None:
            raise web.HTTPNotFound(text="no such file")
        return web.Response(
            body=asset.content,
            content_type=asset.content_type,
            charset="utf-8",
            headers={"Cache-Control": CACHE_FOREVER},
        )
