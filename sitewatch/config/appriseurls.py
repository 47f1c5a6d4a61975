"""Apprise URLs: which service one names, checked offline, and what of it is secret.

Apprise parses a URL into its service's plugin without sending anything, which is
how ``validate`` checks each URL and names the service. Apprise URLs carry
their tokens (``tgram://BOT_TOKEN/CHAT``), and Apprise's own messages quote the
URL, so every text taken from Apprise goes through ``Scrubber`` before it is
stored, shown or logged: the URL's user, password, path segments and query
values become ``…``, as Apprise's own privacy form writes them.
"""

from __future__ import annotations

import difflib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from urllib.parse import unquote

import apprise

from sitewatch.errors import SitewatchError

# Parts of a URL shorter than this are not scrubbed: "/" or "#a" protect nothing,
# and replacing them everywhere would garble every message.
_MIN_PIECE = 4


@dataclass(frozen=True, slots=True)
class Service:
    name: str  # as Apprise names it: "Telegram", "ntfy", "Pager Duty"
    scheme: str
    shown: str  # the URL in Apprise's privacy form, tokens shortened (t...n)


class AppriseUrlError(SitewatchError, ValueError):
    """Not a URL Apprise can use; the message names the service and never quotes
    the URL's secrets."""


@cache
def schemes() -> frozenset[str]:
    """Every scheme Apprise knows (``tgram``, ``ntfys``, ``mailto``...)."""
    return frozenset(s.lower() for s in apprise.NotificationManager().schemas())  # type: ignore[no-untyped-call]


class _ThreadLog(logging.Handler):
    """Collects the ``apprise`` logger's records of one thread at a time, so that
    parallel sends (each in its own worker thread) each get their own reasons."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._lines: dict[int, list[tuple[int, str]]] = {}
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        lines = self._lines.get(threading.get_ident())
        if lines is not None:
            try:
                lines.append((record.levelno, record.getMessage()))
            except Exception:  # a record that cannot be formatted is not a reason
                lines.append((record.levelno, str(record.msg)))

    @contextmanager
    def capture(self) -> Iterator[list[tuple[int, str]]]:
        lines: list[tuple[int, str]] = []
        ident = threading.get_ident()
        with self._guard:
            self._lines[ident] = lines
        try:
            yield lines
        finally:
            with self._guard:
                self._lines.pop(ident, None)


@cache
def apprise_log() -> _ThreadLog:
    """The one handler on Apprise's logger. Apprise's records do not propagate to
    sitewatch's logs: they quote URLs with their tokens; what they say reaches the
    delivery log through ``Scrubber``."""
    handler = _ThreadLog()
    logger = logging.getLogger("apprise")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler


def reason(lines: list[tuple[int, str]], fallback: str) -> str:
    """The most telling thing Apprise said: its last warning or error."""
    worst = [text for level, text in lines if level >= logging.WARNING]
    text = worst[-1] if worst else fallback
    return text.strip().rstrip(".")


class Scrubber:
    """Replaces the secret parts of some URLs in a text by ``…``."""

    def __init__(self, urls: list[str]) -> None:
        pieces: set[str] = set()
        for url in urls:
            pieces.update(_pieces(url))
        self._pieces = sorted((p for p in pieces if len(p) >= _MIN_PIECE), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for piece in self._pieces:
            if piece in text:
                text = text.replace(piece, "…")
        return text


def _pieces(url: str) -> Iterator[str]:
    """Everything in a URL that may be a token: userinfo, path segments, query
    values and the fragment (a host name is not a secret, and stays readable)."""
    _, _, rest = url.partition("://")
    base, _, query = rest.partition("?")
    base, _, fragment = base.partition("#")
    query, _, tail = query.partition("#")
    netloc, _, path = base.partition("/")
    userinfo, _, host = netloc.rpartition("@")
    raw = [*userinfo.split(":"), *path.split("/"), fragment, tail]
    raw += [pair.partition("=")[2] for pair in query.split("&")]
    if ":" in host and not host.rpartition(":")[2].isdigit():
        # tgram://123456:ABC-token/...: what stands where a host would is a token
        raw.append(host)
    for value in raw:
        yield value
        yield unquote(value)


def inspect(url: str) -> Service:
    """The service ``url`` names, parsed offline; ``AppriseUrlError`` if Apprise cannot
    use it (an unknown scheme, a token in the wrong shape, a missing part)."""
    log = apprise_log()  # before Apprise loads its plugins (and logs)
    text = url.strip()
    scheme, sep, _ = text.partition("://")
    if not sep or not scheme:
        raise AppriseUrlError(
            "not an Apprise URL: expected service://..., e.g. tgram://BOT_TOKEN/CHAT_ID "
            "(see https://appriseit.com/services/)"
        )
    scheme = scheme.lower()
    native = scheme in ("http", "https")  # a service's own webhook URL (Slack, Discord...)
    if not native and scheme not in schemes():
        close = difflib.get_close_matches(scheme, sorted(schemes()), n=3)
        hint = f" (did you mean {' or '.join(c + '://' for c in close)}?)" if close else ""
        raise AppriseUrlError(
            f"unknown Apprise service {scheme}://{hint}; the services are listed at "
            "https://appriseit.com/services/"
        )
    with log.capture() as lines:
        plugin = apprise.Apprise.instantiate(text, suppress_exceptions=True)
    if plugin is None and native:
        raise AppriseUrlError(
            f"Apprise knows no service at this {scheme}:// URL: give a service's own webhook "
            "URL (https://hooks.slack.com/services/..., https://discord.com/api/webhooks/...) "
            "or its service://... form (see https://appriseit.com/services/); for a plain "
            "webhook, use type: webhook"
        )
    if plugin is None:
        service = _service_name(scheme)
        why = Scrubber([text])(reason(lines, "Apprise cannot parse it"))
        raise AppriseUrlError(f"not a valid {service} URL ({scheme}://): {why}")
    shown = str(plugin.url(privacy=True)).split("?")[0]  # type: ignore[no-untyped-call]
    # (without the query: Apprise spells out every default there)
    own, _, rest = shown.partition("://")  # a native https:// URL shows as slack://...
    return Service(str(plugin.service_name), scheme, f"{own}://{Scrubber([text])(rest)}")


@cache
def _service_name(scheme: str) -> str:
    try:
        plugin = apprise.NotificationManager()[scheme]  # type: ignore[no-untyped-call]
    except KeyError:
        return scheme
    return str(getattr(plugin, "service_name", scheme))


def services(urls: list[str]) -> list[str]:
    """The services ``urls`` name, as Apprise calls them (for pages and ``validate``)."""
    names = []
    for url in urls:
        try:
            names.append(inspect(url).name)
        except AppriseUrlError:
            names.append("an invalid URL")
    return names
