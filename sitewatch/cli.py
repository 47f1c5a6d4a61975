"""The ``sitewatch`` command: serve, validate, plan, check, schema, migrate.

argv -> Settings (flags win over ``SITEWATCH_*`` variables) -> one function per
subcommand. Exit codes are part of the interface and documented per command.

Only the standard library is imported here: each command imports what it needs,
so ``sitewatch --version`` and ``sitewatch check URL`` start at once instead of
loading the web server, the database layer and every config model first.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sitewatch import __version__, logs

if TYPE_CHECKING:
    import asyncio

    from sitewatch.config.entries import Snapshot
    from sitewatch.settings import Settings

log = logging.getLogger("sitewatch")


def settings_epilog() -> str:
    """Every setting's variable, from the settings model itself (so the help
    cannot fall behind it). Built only when help is printed: it loads pydantic."""
    import textwrap

    from sitewatch.settings import Settings

    names = ", ".join(f"SITEWATCH_{name.upper()}" for name in Settings.model_fields)
    listed = textwrap.fill(names, width=78, initial_indent="  ", subsequent_indent="  ")
    return (
        "environment (flags win over the environment):\n"
        f"{listed}\n\n"
        "docs: docs/configuration.md, docs/gitops.md; every setting: README.md"
    )


class _Parser(argparse.ArgumentParser):
    """The top-level parser: its epilog is built when help is shown."""

    def format_help(self) -> str:
        if self.epilog is None:
            self.epilog = settings_epilog()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sitewatch",
        description="Declarative website monitoring: websites and alerts live in YAML in git.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sitewatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help_text,
            description=description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    def config_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config",
            dest="config_dir",
            metavar="DIR",
            type=Path,
            help="config folder (default: ./config, or SITEWATCH_CONFIG_DIR)",
        )

    def database_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--database-url",
            metavar="URL",
            help="postgresql://user@host/db or sqlite:///file.db "
            "(default: sqlite:///sitewatch.db, or SITEWATCH_DATABASE_URL)",
        )

    def log_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--log-level", choices=["debug", "info", "warning", "error"], help="default: info"
        )

    serve = add(
        "serve",
        "run the monitor and its web server",
        "Load the config, apply it to the database, keep applying every saved change,\n"
        "and serve GET /health. Stops cleanly on Ctrl-C or SIGTERM (exit 0).",
    )
    config_flag(serve)
    database_flag(serve)
    serve.add_argument("--host", help="listen address (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: 8080)")
    serve.add_argument(
        "--role",
        choices=["all", "web", "checker"],
        help="all (default), web (API and dashboard), checker (checks and notifications)",
    )
    serve.add_argument(
        "--git-url",
        metavar="URL",
        help="follow this git remote instead of a config folder (or SITEWATCH_GIT_URL)",
    )
    serve.add_argument("--git-branch", metavar="BRANCH", help="the branch to follow (main)")
    serve.add_argument(
        "--git-path", metavar="PATH", help="the config folder inside the repository (.)"
    )
    serve.add_argument(
        "--git-poll", metavar="SECONDS", type=float, help="seconds between fetches (60)"
    )
    serve.add_argument(
        "--no-watch",
        dest="watch",
        action="store_const",
        const=False,
        help="apply the config at start only; do not watch the folder",
    )
    log_flag(serve)

    validate = add(
        "validate",
        "check the config files; touches no database and no network",
        "Validate monitors.yaml, alerts.yaml, status-pages.yaml, their *.d/ fragments\n"
        "and the incident notes (incidents/*.md).\n"
        "Exit 0 when valid (warnings allowed), 1 with every error when not.\n"
        "Made for the config repository's own CI.",
    )
    config_flag(validate)
    validate.add_argument(
        "--format", choices=["text", "json"], default="text", help="output format"
    )

    plan = add(
        "plan",
        "show what applying the config would change; writes nothing",
        "Compare the config with the database and print what a reconcile would create,\n"
        "update (with a field diff), delete (archive) and restore.\n"
        "Exit 0 when there is nothing to do, 1 when there are changes, 2 on error.",
    )
    config_flag(plan)
    database_flag(plan)

    schema = add(
        "schema",
        "print the JSON Schema of a config file",
        "Print the JSON Schema of one config file (or of an incident note's front\n"
        "matter), for editors:\n"
        "  # yaml-language-server: $schema=monitors.schema.json\n"
        "With --out DIR, write every schema there ({name}.schema.json).",
    )
    schema.add_argument(
        "file",
        nargs="?",
        choices=["monitors", "alerts", "status-pages", "incident"],
        help="which file's schema",
    )
    schema.add_argument("--out", metavar="DIR", type=Path, help="write every schema into DIR")

    check = add(
        "check",
        "probe one URL, port, certificate, DNS record or host now and print the result",
        "Check once, as the monitor would, and print the result with its timing\n"
        "breakdown and what the check found. The type comes from --type or the URL:\n"
        "  http(s)://...            an HTTP check (--expect, --method, --contains ...)\n"
        "  tcp://host:port          a TCP port (--send, --reply)\n"
        "  tls://host[:port]        a TLS handshake and certificate (--server-name ...)\n"
        "  dns://name[/TYPE]        a DNS record (--record, --resolver, --answer ...)\n"
        "  icmp://host              ping (--count, --ping-interval)\n"
        "or --type tcp|tls|dns|icmp with host:port, a name or a host.\n"
        "Exit 0 when the expectations hold, 1 when they do not, 2 on invalid arguments.",
    )
    check.add_argument(
        "url", help="a URL (http, https, tcp, tls, dns, icmp) or, with --type, a host"
    )
    check.add_argument(
        "--type",
        choices=["http", "tcp", "tls", "dns", "icmp"],
        help="the check's type (default: from the URL's scheme)",
    )
    check.add_argument(
        "--expect", default="2xx", help="accepted status: 200, 2xx, 200-299 or a list 200,301"
    )
    check.add_argument("--timeout", default="10s", help="give up after this long (default 10s)")
    check.add_argument("--method", default="GET", help="HTTP method (default GET)")
    check.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="K:V",
        help="request header, repeatable",
    )
    check.add_argument("--contains", help="the body must contain this text")
    check.add_argument(
        "--insecure", action="store_true", help="do not verify the TLS certificate (http, tls)"
    )
    check.add_argument("--no-redirects", action="store_true", help="do not follow redirects")
    check.add_argument("--send", help="tcp: text to send once connected")
    check.add_argument("--reply", metavar="REGEX", help="tcp: the reply must match this (RE2)")
    check.add_argument("--server-name", help="tls: the name for SNI and the certificate")
    check.add_argument(
        "--min-version", choices=["1.0", "1.1", "1.2", "1.3"], help="tls: lowest TLS version"
    )
    check.add_argument(
        "--expiry-days", type=int, help="tls: fail when the certificate expires within N days"
    )
    check.add_argument(
        "--record",
        type=str.upper,
        help="dns: A (default), AAAA, CNAME, MX, TXT, NS, SOA or CAA",
    )
    check.add_argument("--resolver", help="dns: the resolver to ask (address[:port])")
    check.add_argument("--protocol", choices=["udp", "tcp"], help="dns: udp (default) or tcp")
    check.add_argument(
        "--answer",
        action="append",
        default=[],
        metavar="VALUE",
        help="dns: a value the answer must hold, repeatable",
    )
    check.add_argument("--exact", action="store_true", help="dns: exactly the --answer values")
    check.add_argument("--count", type=int, help="icmp: echo requests (default 3)")
    check.add_argument("--ping-interval", help="icmp: time between requests (default 200ms)")

    migrate = add(
        "migrate",
        "upgrade the database schema",
        "Run the database migrations (serve does this at start unless\n"
        "SITEWATCH_AUTO_MIGRATE=false). Exit 0 on success, 2 on error.",
    )
    database_flag(migrate)
    migrate.add_argument("--revision", default="head", help="target revision (default: head)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command: str = args.command
    if command == "check":  # needs no settings: the flags say everything
        logs.setup("warning")
        return check_url(args, sys.stdout)
    if command == "schema":
        return schema(args.file, args.out, sys.stdout)
    import asyncio

    from pydantic import ValidationError

    from sitewatch.settings import Settings

    overrides = {
        k: v for k, v in vars(args).items() if v is not None and k in Settings.model_fields
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            field = ".".join(str(p) for p in err["loc"])
            print(f"sitewatch: invalid setting {field}: {err['msg']}", file=sys.stderr)
        return 2
    logs.setup(settings.log_level, settings.log_format)
    if command == "serve":
        return serve(settings)
    if command == "validate":
        return validate(settings, args.format, sys.stdout)
    if command == "plan":
        return asyncio.run(plan(settings, sys.stdout))
    return asyncio.run(migrate(settings, args.revision))


def serve(settings: Settings) -> int:
    from sitewatch.app import create_app, run
    from sitewatch.errors import SettingsError

    if not settings.config_dir.is_dir():
        print(
            f"sitewatch: config folder {settings.config_dir} not found (--config DIR)",
            file=sys.stderr,
        )
        return 2
    lock = _single_instance(settings.database_url)
    if isinstance(lock, str):
        print(f"sitewatch: {lock}", file=sys.stderr)
        return 2
    try:
        app = create_app(settings)
    except SettingsError as exc:
        print(f"sitewatch: {exc}", file=sys.stderr)
        return 2
    log.info(
        "sitewatch %s serving on http://%s:%d, config %s",
        __version__,
        settings.host,
        settings.port,
        settings.config_dir,
    )
    run(app, new_event_loop())
    log.info("sitewatch stopped")
    if lock is not None:
        lock.close()
    # Everything is written and closed by now. Tearing the interpreter down would
    # free every object one at a time (1.2 s at 30,000 websites), time a restart
    # spends with no website checked: leave at once instead.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _single_instance(database_url: str) -> TextIO | str | None:
    """SQLite is for one instance: hold a lock next to the file for the process's
    life; a second ``serve`` on the same file is refused, saying why."""
    import fcntl

    from sitewatch.store.engine import sqlite_path

    file = sqlite_path(database_url)
    if file is None:
        return None
    path = file.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(f"{path}.lock", "w")  # noqa: SIM115 -- held until the process ends
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return (
            f"another sitewatch already uses {path}: SQLite is for one instance."
            " To run several instances, share a PostgreSQL database"
            " (SITEWATCH_DATABASE_URL=postgresql://...)"
        )
    return handle


def validate(settings: Settings, fmt: str, out: TextIO) -> int:
    from sitewatch.config.loader import load_config
    from sitewatch.config.secrets import ConfigEnv
    from sitewatch.errors import ConfigError

    try:
        snapshot = load_config(
            settings.config_dir,
            ConfigEnv(os.environ, settings.config_env.split(",")),
            max_file_bytes=settings.config_max_file_bytes,
        )
    except ConfigError as exc:
        errors = [p for p in exc.problems if p.severity == "error"]
        if fmt == "json":
            json.dump(
                {
                    "valid": False,
                    "revision": exc.revision,
                    "problems": [p.to_dict() for p in exc.problems],
                },
                out,
                indent=2,
            )
            out.write("\n")
        else:
            for p in exc.problems:
                out.write(p.format() + "\n")
            out.write(
                f"{len(errors)} error{'s' if len(errors) != 1 else ''} in {settings.config_dir}\n"
            )
        return 1
    channels = _channels(snapshot)
    if fmt == "json":
        json.dump(
            {
                "valid": True,
                "revision": snapshot.revision,
                "websites": len(snapshot.websites),
                "alerts": len(snapshot.alerts),
                "channels": channels,
                "problems": [p.to_dict() for p in snapshot.warnings],
            },
            out,
            indent=2,
        )
        out.write("\n")
    else:
        for p in snapshot.warnings:
            out.write(p.format() + "\n")
        out.write(
            f"{settings.config_dir} is valid: {len(snapshot.websites)} websites, "
            f"{len(snapshot.alerts)} alerts{_published(snapshot)} "
            f"(revision {snapshot.revision[:12]})\n"
        )
        for name, reaches in channels.items():
            out.write(f"  alert {name} ({reaches['type']}): {', '.join(reaches['services'])}\n")
    return 0


def _channels(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    """Which services each alert reaches, as Apprise names them (parsed offline)."""
    from sitewatch.config.appriseurls import services
    from sitewatch.config.models import AppriseAlert

    named = {
        "email": "Email (SMTP)",
        "webhook": "Webhook",
        "pagerduty": "PagerDuty",
        "opsgenie": "Opsgenie",
    }
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(snapshot.alerts):
        model = snapshot.alerts[name].model
        reaches = services(model.urls) if isinstance(model, AppriseAlert) else [named[model.type]]
        out[name] = {"type": model.type, "services": reaches}
    return out


async def plan(settings: Settings, out: TextIO) -> int:
    from sitewatch.config.loader import load_config
    from sitewatch.config.secrets import ConfigEnv
    from sitewatch.errors import ConfigError
    from sitewatch.reconcile.apply import preview
    from sitewatch.reconcile.render import render_preview
    from sitewatch.store.engine import DatabaseError, create_engine

    try:
        snapshot = load_config(
            settings.config_dir,
            ConfigEnv(os.environ, settings.config_env.split(",")),
            max_file_bytes=settings.config_max_file_bytes,
        )
    except ConfigError as exc:
        for p in exc.problems:
            out.write(p.format() + "\n")
        out.write("the config is invalid: nothing would be applied\n")
        return 2
    try:
        engine = create_engine(settings.database_url, create_file=False)
    except ValueError as exc:
        print(f"sitewatch: {exc}", file=sys.stderr)
        return 2
    try:
        result = await preview(engine, snapshot)
    except (DatabaseError, OSError) as exc:
        print(f"sitewatch: cannot read the database: {exc}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    out.write(render_preview(snapshot, result))
    if result.refused:
        return 2
    return 0 if result.plan.is_empty else 1


def schema(which: str | None, out_dir: Path | None, out: TextIO) -> int:
    from sitewatch.config.schema import json_schemas

    schemas = json_schemas()
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, document in schemas.items():
            (out_dir / f"{name}.schema.json").write_text(_dump(document))
        return 0
    if which is None:
        print(
            "sitewatch schema: name a file (monitors, alerts, status-pages or incident) or give "
            "--out DIR",
            file=sys.stderr,
        )
        return 2
    out.write(_dump(schemas[which]))
    return 0


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (about twice the checks per core), else asyncio's."""
    import asyncio

    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


SCHEMES = {
    "http": "http",
    "https": "http",
    "tcp": "tcp",
    "tls": "tls",
    "dns": "dns",
    "icmp": "icmp",
}


def check_url(args: argparse.Namespace, out: TextIO) -> int:
    scheme = args.url.split("://", 1)[0].lower() if "://" in args.url else ""
    if scheme == "heartbeat":
        print(
            "sitewatch: a heartbeat is not probed: it waits for its job's pings "
            "(its ping URL is on its dashboard page and in GET /api/websites/KEY)",
            file=sys.stderr,
        )
        return 2
    kind = args.type or SCHEMES.get(scheme)
    if kind is None:
        print(
            f"sitewatch: {args.url}: expected an http(s)://, tcp://, tls://, dns:// or "
            "icmp:// URL, or --type",
            file=sys.stderr,
        )
        return 2
    if scheme and SCHEMES.get(scheme) not in (None, kind):
        print(f"sitewatch: {args.url} is not a {kind} URL", file=sys.stderr)
        return 2
    build = {
        "http": _http_spec,
        "tcp": _tcp_spec,
        "tls": _tls_spec,
        "dns": _dns_spec,
        "icmp": _icmp_spec,
    }[kind]
    spec = build(args, args.url.split("://", 1)[1] if scheme else args.url)
    if isinstance(spec, int):
        return spec
    return _probe_once(spec, out)


def _common(args: argparse.Namespace, kind: str) -> dict[str, Any]:
    return {
        "type": kind,
        "name": "check",
        "key": "check",
        "timeout": args.timeout,
        "interval": "7d",
    }


def _bad(text: str, expected: str) -> int:
    print(f"sitewatch: {text}: expected {expected}", file=sys.stderr)
    return 2


def _host_port(rest: str, default: int | None) -> tuple[str, int | None] | None:
    """``host``, ``host:port``, ``[v6]:port`` -> (host, port); None if garbled."""
    import yarl

    try:
        url = yarl.URL(f"tcp://{rest}")
        port = url.explicit_port if url.explicit_port is not None else default
    except ValueError:
        return None
    if not url.host or url.path not in ("", "/") or url.query_string:
        return None
    return url.host, port


def _http_spec(args: argparse.Namespace, _rest: str) -> dict[str, Any] | int:
    headers: dict[str, str] = {}
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            return _bad(f"--header {item!r}", "Name: value")
        headers[name.strip()] = value.strip()
    expect: object = args.expect.split(",") if "," in args.expect else args.expect
    spec = {
        **_common(args, "http"),
        "url": args.url,
        "method": args.method,
        "expected_status": expect,
        "headers": headers,
        "verify_tls": not args.insecure,
        "follow_redirects": not args.no_redirects,
    }
    del spec["type"]
    if args.contains:
        spec["body_contains"] = args.contains
    return spec


def _tcp_spec(args: argparse.Namespace, rest: str) -> dict[str, Any] | int:
    found = _host_port(rest, None)
    if found is None or found[1] is None:
        return _bad(args.url, "tcp://host:port")
    host, port = found
    return {
        **_common(args, "tcp"),
        "host": host,
        "port": port,
        "send": args.send,
        "expect": args.reply,
    }


def _tls_spec(args: argparse.Namespace, rest: str) -> dict[str, Any] | int:
    found = _host_port(rest, 443)
    if found is None:
        return _bad(args.url, "tls://host[:port]")
    spec: dict[str, Any] = {**_common(args, "tls"), "host": found[0], "port": found[1]}
    spec["verify_tls"] = not args.insecure
    for name, value in (
        ("server_name", args.server_name),
        ("min_version", args.min_version),
        ("tls_expiry_days", args.expiry_days),
    ):
        if value is not None:
            spec[name] = value
    return spec


def _dns_spec(args: argparse.Namespace, rest: str) -> dict[str, Any] | int:
    domain, _, record = rest.partition("/")
    if not domain or "/" in record:
        return _bad(args.url, "dns://name[/TYPE] or --type dns NAME")
    spec: dict[str, Any] = {
        **_common(args, "dns"),
        "domain": domain,
        "record": args.record or record.upper() or "A",
        "expect": args.answer,
        "exact": args.exact,
    }
    for name, value in (("resolver", args.resolver), ("protocol", args.protocol)):
        if value is not None:
            spec[name] = value
    return spec


def _icmp_spec(args: argparse.Namespace, rest: str) -> dict[str, Any] | int:
    host = rest.rstrip("/")
    if not host or "/" in host:
        return _bad(args.url, "icmp://host or --type icmp HOST")
    spec: dict[str, Any] = {**_common(args, "icmp"), "host": host}
    for name, value in (("count", args.count), ("ping_interval", args.ping_interval)):
        if value is not None:
            spec[name] = value
    return spec


def _probe_once(spec: dict[str, Any], out: TextIO) -> int:
    """Validate ``spec`` as an entry of ``websites:``, check it once, print the result."""
    from pydantic import ValidationError

    from sitewatch.checker.probe import Prober
    from sitewatch.checker.target import Target
    from sitewatch.config.models import parse_check

    try:
        target = Target.of(parse_check(spec))
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            where = ".".join(str(p) for p in err["loc"]) or "url"
            print(f"sitewatch: {where}: {err['msg']}", file=sys.stderr)
        return 2

    async def probe() -> Any:
        async with Prober() as prober:
            return await prober.check(target)

    result = _run(probe())
    label = spec.get("method", "GET").upper() if target.type == "http" else target.type
    out.write(render_check(label, str(spec.get("url") or target.url), result))
    return 0 if result.ok else 1


def _run(coro: Any) -> Any:
    import asyncio

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(coro)


def render_check(method: str, url: str, result: Any) -> str:
    from http import HTTPStatus

    lines: list[str] = []
    if result.status_code is not None:
        try:
            phrase = HTTPStatus(result.status_code).phrase
        except ValueError:
            phrase = ""
        lines.append(f"{method} {url} -> {result.status_code} {phrase}".rstrip())
    elif method in _HEADLINES:
        lines.append(f"{method.upper()} {url} -> {_HEADLINES[method](result)}")
    else:
        lines.append(f"{method} {url} -> no response")
    t = result.timings
    if t is not None:
        for label, value in (
            ("query" if method == "dns" else "DNS", t.dns_ms),
            ("connect", t.connect_ms),
            ("TLS", t.tls_ms),
            ("first byte", t.first_byte_ms),
            ("round trip" if method == "icmp" else "total", t.total_ms),
        ):
            if value is not None:
                lines.append(f"  {label:<11}{value:9.1f} ms")
    lines += _facts(method, result.details or {})
    if result.size_bytes is not None:
        lines.append(f"  size       {result.size_bytes:9d} bytes")
    if result.final_url:
        lines.append(f"  redirected to {result.final_url}")
    if result.cert_expires_at is not None:
        from datetime import UTC, datetime

        days = (result.cert_expires_at - datetime.now(UTC)).total_seconds() / 86400
        when = f"{result.cert_expires_at:%Y-%m-%d %H:%M} UTC"
        if days >= 0:
            lines.append(f"  certificate expires in {int(days)} days ({when})")
        else:
            lines.append(f"  certificate expired {int(-days)} days ago ({when})")
    if result.ok:
        lines.append("OK: every expectation holds")
    else:
        lines.append(f"FAIL {result.error_kind}: {result.error_message}")
    return "\n".join(lines) + "\n"


def _connected(result: Any) -> str:
    up = result.timings is not None and result.timings.connect_ms is not None
    return "connected" if up else "no connection"


def _handshake(result: Any) -> str:
    version = (result.details or {}).get("version")
    return f"handshake {version}" if version else "no handshake"


def _answered(result: Any) -> str:
    facts = result.details or {}
    if "rcode" not in facts:
        return "no answer"
    count = len(facts.get("answers") or ())
    return f"{facts['rcode']}, {count} answer{'' if count == 1 else 's'}"


def _replies(result: Any) -> str:
    facts = result.details or {}
    if "sent" not in facts:
        return "not sent"
    return f"{facts['received']}/{facts['sent']} replies from {facts['address']}"


_HEADLINES = {"tcp": _connected, "tls": _handshake, "dns": _answered, "icmp": _replies}


def _facts(kind: str, facts: dict[str, Any]) -> list[str]:
    """What a check of ``kind`` found, one line each."""
    lines: list[str] = []
    if kind == "tls":
        for name in ("subject", "issuer"):
            if facts.get(name):
                lines.append(f"  {name:<11}{facts[name]}")
        if facts.get("names"):
            lines.append(f"  {'names':<11}{', '.join(facts['names'])}")
    elif kind == "dns":
        if facts.get("resolver"):
            lines.append(f"  {'resolver':<11}{facts['resolver']} ({facts.get('protocol', 'udp')})")
        lines += [f"  {'answer':<11}{value}" for value in facts.get("answers") or ()]
    elif kind == "icmp" and facts.get("min_ms") is not None:
        lines.append(
            f"  min/avg/max {facts['min_ms']:.2f}/{facts['avg_ms']:.2f}/{facts['max_ms']:.2f} ms,"
            f" {facts['loss']:g}% loss"
        )
    return lines


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


async def migrate(settings: Settings, revision: str) -> int:
    from sitewatch.store.engine import DatabaseError, create_engine
    from sitewatch.store.migrate import upgrade

    try:
        engine = create_engine(settings.database_url)
    except ValueError as exc:
        print(f"sitewatch: {exc}", file=sys.stderr)
        return 2
    try:
        current = await upgrade(engine, revision)
    except (DatabaseError, OSError) as exc:
        print(f"sitewatch: migration failed: {exc}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    print(f"database at schema revision {current}")
    return 0


def _published(snapshot: Snapshot) -> str:
    """ ", 1 status page, 2 incident notes" (nothing when there are none)."""
    parts = []
    for count, what in (
        (len(snapshot.status_pages), "status page"),
        (len(snapshot.incidents), "incident note"),
    ):
        if count:
            parts.append(f", {count} {what}{'' if count == 1 else 's'}")
    return "".join(parts)
