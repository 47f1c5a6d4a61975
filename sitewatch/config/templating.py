"""Message templates: Jinja2 in its immutable sandbox, ``StrictUndefined``, bounded.

An alert's templates come from a config file, and a config file is not trusted
to run code or to hang sitewatch: templates render in Jinja2's sandbox (no
attribute of Python's internals, no mutation), an unknown variable is an error
rather than an empty string, the output is capped at ``MAX_OUTPUT`` characters
and a render that runs longer than ``MAX_SECONDS`` is stopped (a trace function
watches the template's own frames, which is where a runaway loop spins).

The context is built from the stored event (``context_of``) and is the same for
every channel; ``SAMPLES`` hold one event of each kind, which ``validate``
renders every template against, so a typo is refused when the config is read,
with its ``file:line:col``, and not at 3 a.m. when the site goes down.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import json
import select
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import cache, lru_cache
from types import FrameType
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError
from jinja2 import TemplateError as JinjaError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from sitewatch.errors import SitewatchError

MAX_OUTPUT = 64 * 1024  # characters of one rendered template
MAX_SECONDS = 0.5  # of one render (a real template takes milliseconds)
MAX_SOURCE = 16 * 1024  # characters of one template
MAX_MEMORY = 256 << 20  # address space of the worker process templates render in
WORKER_TIMEOUT = 5.0  # seconds a batch may take beyond MAX_SECONDS per template
EVENT_KINDS = ("down", "reminder", "up", "test")
TITLES = {"down": "DOWN", "up": "UP", "reminder": "STILL DOWN", "test": "TEST"}
_FILENAME = "<template>"  # what Jinja names compiled templates
# What a template can name at its top level (the documented context).
VARIABLES = ("event", "alert", "website", "incident", "result", "links")


class TemplateError(SitewatchError, ValueError):
    """A template that does not compile or render; the message says where (its line)."""


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with the operators that build huge values checked as well:
    ``"x" * 10**9`` is refused before it allocates."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError("exponent too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(times, int)
                    and len(seq) * times > MAX_OUTPUT
                ):
                    raise SecurityError(f"the result would be longer than {MAX_OUTPUT} characters")
        return super().call_binop(context, operator, left, right)


def _finalize(value: Any) -> Any:
    """``None`` prints as nothing (a TCP check has no status code), not as "None"."""
    return "" if value is None else value


@cache
def _environment(html: bool) -> _Sandbox:
    env = _Sandbox(
        undefined=StrictUndefined,
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        finalize=_finalize,
    )
    # Only what the docs list: no lipsum(), cycler(), joiner() or dict().
    env.globals = {"range": env.globals["range"]}
    env.filters["duration"] = human_duration
    return env


@lru_cache(maxsize=512)
def compile_template(source: str, html: bool = False) -> Template:
    """The compiled template (cached by its text), or ``TemplateError``."""
    if len(source) > MAX_SOURCE:
        raise TemplateError(f"the template is longer than {MAX_SOURCE} characters")
    try:
        return _environment(html).from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"line {exc.lineno}: {exc.message}") from None


class _Limits:
    """Stops a render that runs too long: a trace function on the template's frames."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.perf_counter() + seconds

    def trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename != _FILENAME:
            return None  # a filter or the sandbox: not traced line by line
        return self.local

    def local(self, frame: FrameType, event: str, arg: Any) -> Any:
        if time.perf_counter() > self.deadline:
            raise TemplateError(f"the template ran longer than {MAX_SECONDS:g}s")
        return self.local


def render_here(
    source: str, context: Mapping[str, Any], *, html: bool = False, as_json: bool = False
) -> str:
    """``source`` rendered with ``context`` in this process: for sitewatch's own
    templates (the defaults), and inside the worker. A config's templates go
    through ``render``. ``TemplateError`` says what and where (the template's line)."""
    template = compile_template(source, html)
    limits = _Limits(MAX_SECONDS)
    previous = sys.gettrace()
    parts: list[str] = []
    size = 0
    sys.settrace(limits.trace)
    try:
        for part in template.generate(dict(context)):
            size += len(part)
            if size > MAX_OUTPUT:
                raise TemplateError(f"the output is longer than {MAX_OUTPUT} characters")
            parts.append(part)
    except TemplateError:
        raise
    except (JinjaError, SecurityError) as exc:
        raise TemplateError(_where(exc) + _explain(exc)) from None
    except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as exc:
        raise TemplateError(_where(exc) + f"{type(exc).__name__}: {exc}") from None
    except RecursionError:
        raise TemplateError("the template recurses too deeply") from None
    finally:
        sys.settrace(previous)
    text = "".join(parts)
    if as_json:
        try:
            json.loads(text)
        except ValueError as exc:
            raise TemplateError(
                f"the output is not JSON ({exc}); the tojson filter quotes values"
            ) from None
    return text


# One template to render: (source, context, html, as_json).
Job = tuple[str, dict[str, Any], bool, bool]


class _Worker:
    """The child process a config's templates render in.

    The sandbox keeps a template from Python's internals, and the time and output
    limits stop a runaway loop, but a few lines of Jinja can still build a value
    of gigabytes in one step (a join, a padded format, a block ``set`` doubling a
    string) before any check sees it. So templates render in a separate process
    with its address space capped (``templateworker``): such a template costs
    that process a ``MemoryError`` (or its life: it is started again), never
    sitewatch's memory. One worker per sitewatch process, started on first use,
    shared by every thread (one request at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    def run(self, jobs: list[Job]) -> list[str | TemplateError]:
        if not jobs:
            return []
        payload = json.dumps([list(job) for job in jobs], default=str).encode() + b"\n"
        limit = WORKER_TIMEOUT + MAX_SECONDS * len(jobs)
        with self._lock:
            process = self._started()
            assert process.stdin is not None
            assert process.stdout is not None
            try:
                process.stdin.write(payload)
                process.stdin.flush()
                ready, _, _ = select.select([process.stdout], [], [], limit)
                line = process.stdout.readline() if ready else b""
            except OSError:
                line = b""
            if not line:
                why = self._why_ended(process, limit)
                self._stop()
                return [TemplateError(why) for _ in jobs]
        answers = json.loads(line)
        if len(answers) != len(jobs):  # the batch itself did not fit in memory
            why = f"rendering needed more than {MAX_MEMORY >> 20} MiB of memory"
            return [TemplateError(why) for _ in jobs]
        return [text if ok else TemplateError(text) for ok, text in answers]

    @staticmethod
    def _why_ended(process: subprocess.Popen[bytes], limit: float) -> str:
        if process.poll() is None:
            return f"rendering took longer than {limit:g}s"
        said = b""
        if process.stderr is not None:
            with contextlib.suppress(OSError):
                said = process.stderr.read()[-2000:]
        if b"MemoryError" in said or not said:
            return f"rendering needed more than {MAX_MEMORY >> 20} MiB of memory"
        last = said.decode("utf-8", "replace").strip().splitlines()[-1]
        return f"the template worker ended (exit status {process.returncode}): {last}"

    def _started(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self._stop()
            self._process = subprocess.Popen(
                [sys.executable, "-m", "sitewatch.config.templateworker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,  # read only once it has ended: why it did
            )
        return self._process

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            process.kill()
        process.wait()
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def close(self) -> None:
        with self._lock:
            self._stop()


_WORKER = _Worker()
atexit.register(_WORKER.close)


def render_many(jobs: list[Job]) -> list[str | TemplateError]:
    """Each job rendered in the worker process: its text, or why it cannot be."""
    return _WORKER.run(jobs)


def render(
    source: str, context: Mapping[str, Any], *, html: bool = False, as_json: bool = False
) -> str:
    """A config's template rendered (in the worker process); ``TemplateError``."""
    (out,) = render_many([(source, dict(context), html, as_json)])
    if isinstance(out, TemplateError):
        raise out
    return out


def _where(exc: BaseException) -> str:
    """``line N: `` of the template line the error came from (Jinja rewrites the
    traceback to name the template's lines)."""
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == _FILENAME:
            line = lineno
    return f"line {line}: " if line else ""


def _explain(exc: BaseException) -> str:
    text = str(exc)
    if text.endswith("is undefined") and text.count("'") == 2:
        return f"{text} (the variables are {', '.join(VARIABLES)})"
    if "has no attribute" in text:
        return f"{text} (see the template context in docs/alerts.md)"
    return text


def render_json(source: str, context: Mapping[str, Any]) -> str:
    """A config's template whose output must be JSON (a webhook body)."""
    return render(source, context, as_json=True)


# -- the context -------------------------------------------------------------------


def human_duration(seconds: float | int | None) -> str:
    """``95`` -> ``1m 35s``; ``7260`` -> ``2h 1m``: short, for a phone's screen."""
    if seconds is None:
        return ""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {secs}s" if secs and minutes < 10 else f"{minutes}m"
    return f"{secs}s"


def _parse(moment: str | None) -> datetime | None:
    if not moment:
        return None
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def _short(moment: datetime | None) -> str | None:
    """``2026-12-03 14:05 UTC``: readable, and unambiguous about the zone."""
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def dedup_key(website_key: str, incident_id: int | None) -> str:
    """The key that ties every notification of one incident together at a pager
    (PagerDuty's ``dedup_key``, Opsgenie's ``alias``): the same on every instance
    and across restarts, since the incident id is the database's."""
    return f"sitewatch/{website_key}/{incident_id}"


def pager_key(event: Mapping[str, Any]) -> str:
    """The key a pager files an event under: its incident's (``dedup_key``), or for a
    test (no incident) one of its own, ``sitewatch/test/<event id>``."""
    incident = event.get("incident") or {}
    if event["type"] == "test" or not incident.get("key"):
        return f"sitewatch/test/{event['event_id']}"
    return str(incident["key"])


def context_of(event: Mapping[str, Any]) -> dict[str, Any]:
    """What a template sees of an event (``sitewatch.alert.v1``, as stored).

    A test event has no website: it is shown with ``SAMPLE_WEBSITE`` so that a
    template that names the website renders (and previews) as it will for real."""
    kind = str(event["type"])
    at = _parse(event.get("occurred_at")) or datetime.now(UTC)
    site = event.get("website") or (SAMPLE_WEBSITE if kind == "test" else None)
    incident = event.get("incident") or (SAMPLE_INCIDENT if kind == "test" else None)
    last = event.get("last_result") or (SAMPLE_RESULT if kind == "test" else None)
    started = _parse((incident or {}).get("started_at"))
    resolved = _parse((incident or {}).get("resolved_at"))
    elapsed = None
    if started is not None:
        elapsed = ((resolved or at) - started).total_seconds()
    cause = (incident or {}).get("cause") or {}
    website = None
    if site is not None:
        website = {
            "key": site["key"],
            "name": site["name"],
            "url": site["url"],
            "type": site.get("type", "http"),
            "tags": list(site.get("tags") or []),
        }
    return {
        "event": {
            "kind": kind,
            "title": TITLES.get(kind, kind.upper()),
            "id": event["event_id"],
            "at": _short(at),
            "at_iso": event.get("occurred_at"),
            "is_test": kind == "test",
        },
        "alert": {"name": event["alert"]},
        "website": website,
        "incident": None
        if incident is None
        else {
            "id": incident.get("id"),
            "key": incident.get("key")
            or dedup_key(website["key"] if website else "test", incident.get("id")),
            "started_at": _short(started),
            "started_at_iso": incident.get("started_at"),
            "resolved_at": _short(resolved),
            "resolved_at_iso": incident.get("resolved_at"),
            "duration_seconds": None if elapsed is None else round(elapsed, 3),
            "duration": human_duration(elapsed),
            "cause": {
                "kind": cause.get("kind"),
                "message": cause.get("message"),
                "text": cause.get("message") or cause.get("kind"),
            },
        },
        "result": None if last is None else _result(last),
        "links": {
            "website": event.get("dashboard_url") if event.get("website") else None,
            "dashboard": _dashboard_root(event),
        },
    }


def _result(last: Mapping[str, Any]) -> dict[str, Any]:
    timings = dict.fromkeys(("dns_ms", "connect_ms", "tls_ms", "first_byte_ms", "total_ms"))
    timings.update(last.get("timings") or {})
    if timings["total_ms"] is None:
        timings["total_ms"] = last.get("response_time_ms")
    return {
        "checked_at": _short(_parse(last.get("checked_at"))),
        "checked_at_iso": last.get("checked_at"),
        "ok": bool(last.get("ok")),
        "status_code": last.get("status_code"),
        "response_time_ms": last.get("response_time_ms"),
        "error_kind": last.get("error_kind"),
        "error_message": last.get("error_message"),
        "timings": timings,
    }


def _dashboard_root(event: Mapping[str, Any]) -> str | None:
    link = event.get("dashboard_url")
    if not link:
        return None
    if event.get("website"):
        return str(link).rsplit("/websites/", 1)[0] or None
    return str(link)


# -- samples (validation and previews) -----------------------------------------------

SAMPLE_WEBSITE: dict[str, Any] = {
    "id": 0,
    "key": "example",
    "name": "Example",
    "url": "https://example.com/",
    "type": "http",
    "tags": ["sample"],
}
SAMPLE_INCIDENT: dict[str, Any] = {
    "id": 0,
    "started_at": "2026-01-01T11:48:00Z",
    "resolved_at": None,
    "duration_seconds": None,
    "cause": {"kind": "status", "message": "got 503, expected 2xx"},
}
SAMPLE_RESULT: dict[str, Any] = {
    "checked_at": "2026-01-01T12:00:00Z",
    "ok": False,
    "status_code": 503,
    "response_time_ms": 84.2,
    "error_kind": "status",
    "error_message": "got 503, expected 2xx",
    "timings": {
        "dns_ms": 1.2,
        "connect_ms": 10.4,
        "tls_ms": 22.9,
        "first_byte_ms": 80.1,
        "total_ms": 84.2,
    },
}


def sample_event(
    kind: str, alert: str = "example-alert", base_url: str | None = None
) -> dict[str, Any]:
    """A stored event of ``kind`` about ``SAMPLE_WEBSITE`` (a test event has none)."""
    up = kind == "up"
    at = "2026-01-01T12:12:00Z" if up else "2026-01-01T12:00:00Z"
    base = (base_url or "https://sitewatch.example.com").rstrip("/")
    test = kind == "test"
    return copy.deepcopy(
        {
            "schema": "sitewatch.alert.v1",
            "event_id": "00000000-0000-4000-8000-000000000000",
            "type": kind,
            "occurred_at": at,
            "alert": alert,
            "website": None if test else SAMPLE_WEBSITE,
            "incident": None
            if test
            else {
                **SAMPLE_INCIDENT,
                "key": dedup_key(SAMPLE_WEBSITE["key"], SAMPLE_INCIDENT["id"]),
                "resolved_at": at if up else None,
                "duration_seconds": 1440.0 if up else None,
            },
            "last_result": None
            if test
            else (
                {
                    **SAMPLE_RESULT,
                    "checked_at": at,
                    "ok": True,
                    "status_code": 200,
                    "error_kind": None,
                    "error_message": None,
                }
                if up
                else {**SAMPLE_RESULT, "checked_at": at}
            ),
            "dashboard_url": base if test else f"{base}/websites/{SAMPLE_WEBSITE['key']}",
        }
    )  # a copy: a caller may change it (the samples stay as documented)


def samples() -> Iterator[dict[str, Any]]:
    """One sample context per event kind."""
    for kind in EVENT_KINDS:
        yield context_of(sample_event(kind))


def check_template(source: str, *, html: bool = False, as_json: bool = False) -> str:
    """``source`` if it renders for every kind of event; ``TemplateError`` (naming
    the event kind when only some fail) otherwise. The config models call this."""
    compile_template(source, html)  # a syntax error, without a round trip
    contexts = list(samples())
    outs = render_many([(source, c, html, as_json) for c in contexts])
    for context, out in zip(contexts, outs, strict=True):
        if isinstance(out, TemplateError):
            raise TemplateError(f"{out} (rendering a {context['event']['kind']} event)")
    return source
