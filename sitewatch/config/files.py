"""File discovery: the config folder's files, read safely, and their revision.

Layout of a config folder::

    monitors.yaml        defaults:, websites:, allow_empty:
    monitors.d/*.yaml    more websites (a team's own file), same shape
    alerts.yaml          alerts:
    alerts.d/*.yaml      more alerts
    status-pages.yaml    status_pages:
    status-pages.d/*.yaml  more status pages
    incidents/*.md       incident notes: a YAML front matter, then Markdown
    *.svg, *.png, ...    images beside the config (and in assets/): status pages' logos
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sitewatch.config.problems import Problem
from sitewatch.errors import ConfigError, SitewatchError

KINDS = ("monitors", "alerts", "status-pages")
_SUFFIXES = (".yaml", ".yml")
DEFAULT_MAX_FILE_BYTES = 16 << 20
NOTES = "incidents"
NOTE_SUFFIX = ".md"
ASSET_FOLDER = "assets"
ASSET_SUFFIXES = (".svg", ".png", ".jpg", ".jpeg", ".webp", ".gif")
MAX_ASSET_BYTES = 512 << 10


@dataclass(frozen=True, slots=True)
class ConfigFile:
    kind: str  # one of KINDS, "incidents" (a Markdown note) or "asset" (an image)
    relpath: str  # relative to the config folder, e.g. "monitors.d/team-a.yaml"
    display: str  # as shown in messages, e.g. "config/monitors.d/team-a.yaml"
    content: bytes

    @property
    def is_main(self) -> bool:
        return "/" not in self.relpath


def list_files(config_dir: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> list[ConfigFile]:
    """Read every config file of the folder, in a stable order.

    Only regular files inside the folder are read (a symlink may point to
    another file in it). A FIFO, a device, a directory named ``*.yaml``, a
    symlink leading out of the folder or round in a loop, or a file over
    ``max_bytes`` is a problem naming the file: never a hang, never unbounded
    memory. Every such problem is reported at once.
    """
    if not config_dir.is_dir():
        raise ConfigError([Problem(str(config_dir), 0, 0, (), "config folder not found")])
    try:
        root = config_dir.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise ConfigError([Problem(str(config_dir), 0, 0, (), f"cannot open: {exc}")]) from None
    found: list[ConfigFile] = []
    problems: list[Problem] = []
    for kind in KINDS:
        mains = [config_dir / f"{kind}{suffix}" for suffix in _SUFFIXES]
        present = [p for p in mains if os.path.lexists(p)]
        if len(present) > 1:
            raise ConfigError(
                [
                    Problem(
                        _display(config_dir, present[1]),
                        0,
                        0,
                        (),
                        f"both {kind}.yaml and {kind}.yml exist: keep one",
                    )
                ]
            )
        fragments = config_dir / f"{kind}.d"
        paths = list(present)
        if fragments.is_dir() and _inside(root, fragments):
            try:
                paths += sorted(
                    p
                    for p in fragments.iterdir()
                    if p.suffix in _SUFFIXES and not p.name.startswith(".")
                )
            except OSError as exc:
                problems.append(
                    Problem(_display(config_dir, fragments), 0, 0, (), _os_message(exc))
                )
        elif os.path.lexists(fragments) and fragments.is_dir():
            problems.append(
                Problem(
                    _display(config_dir, fragments),
                    0,
                    0,
                    (),
                    "leads outside the config folder: only files inside it are read",
                )
            )
        for path in paths:
            display = _display(config_dir, path)
            try:
                content = read_config_file(root, path, max_bytes)
            except ConfigFileError as exc:
                problems.append(Problem(display, 0, 0, (), str(exc)))
                continue
            found.append(
                ConfigFile(kind, path.relative_to(config_dir).as_posix(), display, content)
            )
    for folder, suffixes, kind, cap in (
        (None, ASSET_SUFFIXES, "asset", MAX_ASSET_BYTES),
        (ASSET_FOLDER, ASSET_SUFFIXES, "asset", MAX_ASSET_BYTES),
        (NOTES, (NOTE_SUFFIX,), NOTES, max_bytes),
    ):
        where = config_dir / folder if folder else config_dir
        if folder and not (where.is_dir() and _inside(root, where)):
            continue
        try:
            paths = sorted(
                p
                for p in where.iterdir()
                if p.suffix.lower() in suffixes and not p.name.startswith(".")
            )
        except OSError as exc:
            problems.append(Problem(_display(config_dir, where), 0, 0, (), _os_message(exc)))
            continue
        for path in paths:
            try:
                content = read_config_file(root, path, min(cap, max_bytes))
            except ConfigFileError as exc:
                problems.append(Problem(_display(config_dir, path), 0, 0, (), str(exc)))
                continue
            relpath = path.relative_to(config_dir).as_posix()
            found.append(ConfigFile(kind, relpath, _display(config_dir, path), content))
    if problems:
        raise ConfigError(problems)
    return found


class ConfigFileError(SitewatchError):
    """A config file that is not read, and why (the message names no path)."""


def _inside(root: Path, path: Path) -> bool:
    try:
        return path.resolve(strict=True).is_relative_to(root)
    except (OSError, RuntimeError):
        return False


def _os_message(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symlink loop: cannot be read"
    return f"cannot read: {exc.strerror or exc}"


def read_config_file(root: Path, path: Path, max_bytes: int) -> bytes:
    """The bytes of one config file, if it is a regular file inside ``root``.

    Opened without blocking (a FIFO would otherwise wait for a writer forever)
    and read up to ``max_bytes`` (a symlink to ``/dev/zero`` never ends)."""
    try:
        resolved = path.resolve(strict=True)
    except RuntimeError:  # Python < 3.13 reports a loop this way
        raise ConfigFileError("a symlink loop: cannot be read") from None
    except OSError as exc:
        raise ConfigFileError(_os_message(exc)) from None
    if not resolved.is_relative_to(root):
        raise ConfigFileError(
            f"a symlink to {resolved}, outside the config folder: only files inside it are read"
        )
    try:
        fd = os.open(resolved, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigFileError(_os_message(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = "a directory" if stat.S_ISDIR(info.st_mode) else _special(info.st_mode)
            raise ConfigFileError(f"{what}, not a regular file: only regular files are read")
        if info.st_size > max_bytes:
            raise ConfigFileError(_too_large(max_bytes))
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:  # it grew while being read
                raise ConfigFileError(_too_large(max_bytes))
        return b"".join(chunks)
    except OSError as exc:
        raise ConfigFileError(_os_message(exc)) from None
    finally:
        os.close(fd)


def _too_large(max_bytes: int) -> str:
    return (
        f"larger than {max_bytes:,} bytes (SITEWATCH_CONFIG_MAX_FILE_BYTES): "
        "split it into fragments or raise the limit"
    )


def _special(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _display(config_dir: Path, path: Path) -> str:
    return (config_dir / path.relative_to(config_dir)).as_posix()


def revision_of(files: Iterable[ConfigFile]) -> str:
    """sha256 over the names and contents of the files: the config's identity."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relpath.encode() + b"\0" + str(len(f.content)).encode() + b"\0" + f.content)
    return digest.hexdigest()
