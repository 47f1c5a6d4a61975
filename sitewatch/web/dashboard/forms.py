"""The dashboard's create/edit forms: form fields <-> config entries (pure).

A form edits the entry *as written* in the YAML: fields the form does not show
(headers, JSON assertions, ...) are kept, a field left blank is removed (so the
defaults apply again), and a value is written only when the entry had it or it
differs from the default. Validation is not done here: the entry goes through
the same ``ConfigEditor`` as the API, and its problems come back to the fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sitewatch.config.models import ALERT_TYPES, CHECK_TYPES
from sitewatch.config.problems import Problem

Kind = Literal["text", "url", "number", "select", "checkbox", "list", "lines", "secret", "choices"]


@dataclass(frozen=True, slots=True)
class FormField:
    name: str  # the YAML key
    label: str
    kind: Kind = "text"
    help: str = ""
    required: bool = False
    options: tuple[str, ...] = ()  # select: the values
    default: bool | None = None  # checkbox: the model's default
    # The types the field belongs to (a website's check type, an alert's channel);
    # none: every type. Fields of other types are hidden, and removed on save.
    groups: tuple[str, ...] = ()
    placeholder: str = ""
    alias: str = ""  # the input's name when two types use one YAML key differently

    @property
    def form_name(self) -> str:
        return self.alias or self.name


CHECK_TYPE_NAMES = tuple(CHECK_TYPES)
CHECKED = tuple(t for t in CHECK_TYPES if t != "heartbeat")  # the types sitewatch probes

WEBSITE_FIELDS: tuple[FormField, ...] = (
    FormField("name", "Name", required=True, placeholder="Shop front page"),
    FormField(
        "key",
        "Key",
        help="Stable id; defaults to the slug of the name. "
        "Keep it when renaming to keep the history.",
    ),
    FormField(
        "type",
        "Type",
        "select",
        "http: a web page or API; tcp: a port; tls: a certificate; dns: a record; "
        "icmp: ping; heartbeat: a job that pings sitewatch.",
        True,
        options=CHECK_TYPE_NAMES,
    ),
    # -- http
    FormField(
        "url",
        "URL",
        "url",
        "http:// or https://; ${VAR} references work.",
        True,
        groups=("http",),
        placeholder="https://shop.example.com/",
    ),
    FormField(
        "method",
        "Method",
        "select",
        options=("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"),
        groups=("http",),
    ),
    FormField(
        "expected_status",
        "Expected status",
        help="A code (200), a class (2xx), a range (200-299) or several, comma-separated.",
        groups=("http",),
        placeholder="2xx",
    ),
    # -- tcp, tls, icmp
    FormField(
        "host",
        "Host",
        help="A host name or an IP address.",
        required=True,
        groups=("tcp", "tls", "icmp"),
        placeholder="db.internal",
    ),
    FormField("port", "Port", "number", groups=("tcp", "tls"), placeholder="5432"),
    FormField(
        "send",
        "Send",
        help="Text to send once connected (tcp).",
        groups=("tcp",),
    ),
    FormField(
        "expect",
        "Reply must match (regex)",
        help="RE2 pattern the reply must match, e.g. ^220 (tcp).",
        groups=("tcp",),
        alias="tcp_expect",
    ),
    FormField(
        "server_name",
        "Server name (SNI)",
        help="Checked against the certificate; default: the host.",
        groups=("tls",),
    ),
    FormField(
        "min_version",
        "Lowest TLS version",
        "select",
        options=("1.0", "1.1", "1.2", "1.3"),
        groups=("tls",),
    ),
    # -- dns
    FormField(
        "domain",
        "Domain",
        help="The name to query.",
        required=True,
        groups=("dns",),
        placeholder="example.org",
    ),
    FormField(
        "record",
        "Record",
        "select",
        options=("A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "CAA"),
        groups=("dns",),
    ),
    FormField(
        "resolver",
        "Resolver",
        help="An address[:port]; blank: the system's.",
        groups=("dns",),
    ),
    FormField("protocol", "Protocol", "select", options=("udp", "tcp"), groups=("dns",)),
    FormField(
        "expect",
        "Answer must hold",
        "lines",
        "One value per line, as dig prints it (10 mail.example.org for MX).",
        groups=("dns",),
        alias="dns_expect",
    ),
    FormField("exact", "Exactly these values", "checkbox", default=False, groups=("dns",)),
    # -- icmp
    FormField("count", "Echo requests", "number", groups=("icmp",), placeholder="3"),
    FormField("ping_interval", "Between requests", groups=("icmp",), placeholder="200ms"),
    FormField("max_loss", "Most loss", help="e.g. 20%.", groups=("icmp",), placeholder="0%"),
    FormField("max_rtt", "Slowest round trip", help="e.g. 100ms.", groups=("icmp",)),
    # -- heartbeat
    FormField(
        "period",
        "Period",
        help="The job pings at least this often: 1h, 1d. Or give a schedule.",
        groups=("heartbeat",),
    ),
    FormField(
        "schedule",
        "Cron schedule",
        help="As in crontab, e.g. 0 3 * * *. Or give a period.",
        groups=("heartbeat",),
    ),
    FormField(
        "tz", "Time zone", help="Of the schedule, e.g. Europe/Berlin.", groups=("heartbeat",)
    ),
    FormField(
        "grace",
        "Grace",
        help="How late a ping may be before DOWN, e.g. 1h.",
        groups=("heartbeat",),
        placeholder="1h",
    ),
    # -- every type sitewatch probes
    FormField(
        "interval",
        "Interval",
        help="How often to check: 30s, 5m, 1h (5s to 7d).",
        groups=CHECKED,
        placeholder="60s",
    ),
    FormField(
        "timeout",
        "Timeout",
        help="Give up after this long: 10s, 500ms.",
        groups=CHECKED,
        placeholder="10s",
    ),
    FormField(
        "max_response_time",
        "Slowest acceptable response",
        help="Fail a check slower than this, e.g. 2s.",
        groups=("http", "dns"),
    ),
    FormField(
        "body_contains", "Body must contain", "lines", "One text per line.", groups=("http",)
    ),
    FormField("body_regex", "Body must match (regex)", groups=("http",)),
    FormField(
        "tls_expiry_days",
        "Certificate expiry warning (days)",
        "number",
        "Fail when the TLS certificate expires within this many days.",
        groups=("http", "tls"),
    ),
    FormField("tags", "Tags", "list", "Comma-separated, e.g. shop, eu."),
    FormField("alerts", "Alerts", "choices", "Alerts this website uses."),
    FormField(
        "active",
        "Active (checks run)",
        "checkbox",
        "Unticked: paused, kept in the config.",
        default=True,
    ),
    FormField("follow_redirects", "Follow redirects", "checkbox", default=True, groups=("http",)),
    FormField(
        "verify_tls",
        "Verify the TLS certificate",
        "checkbox",
        default=True,
        groups=("http", "tls"),
    ),
)

ALERT_FIELDS: tuple[FormField, ...] = (
    FormField(
        "name",
        "Name",
        required=True,
        help="Unique; websites list it in alerts:.",
        placeholder="oncall-email",
    ),
    FormField(
        "type",
        "Type",
        "select",
        "apprise: Telegram, Teams, ntfy, Pushover, Matrix, Gotify and 100+ more by URL.",
        required=True,
        options=tuple(ALERT_TYPES),
    ),
    FormField("description", "Description"),
    FormField(
        "enabled", "Enabled", "checkbox", "Unticked: defined but sends nothing.", default=True
    ),
    FormField("failure_threshold", "Failures before DOWN", "number", placeholder="3"),
    FormField("success_threshold", "Successes before UP", "number", placeholder="2"),
    FormField("send_on_resolved", "Notify on recovery", "checkbox", default=True),
    FormField("reminder_interval", "Remind while down every", help="e.g. 1h; blank: never."),
    FormField("websites", "Websites", "list", "Keys, comma-separated, or * for all."),
    FormField("tags", "Websites with tags", "list", "Comma-separated."),
    # webhook
    FormField("url", "Webhook URL", "url", required=True, groups=("webhook",)),
    FormField(
        "secret", "Signing secret", "secret", "HMAC-SHA256 key; use ${VAR}.", groups=("webhook",)
    ),
    FormField(
        "format", "Format", "select", options=("json", "slack", "discord"), groups=("webhook",)
    ),
    # email
    FormField("host", "SMTP host", required=True, groups=("email",)),
    FormField("port", "SMTP port", "number", groups=("email",)),
    FormField("tls", "TLS", "select", options=("starttls", "tls", "none"), groups=("email",)),
    FormField("username", "SMTP user", groups=("email",)),
    FormField("password", "SMTP password", "secret", "Use ${VAR}.", groups=("email",)),
    FormField(
        "from", "From", required=True, groups=("email",), placeholder="sitewatch@example.com"
    ),
    FormField("to", "To", "list", "Recipients, comma-separated.", True, groups=("email",)),
    FormField("subject_prefix", "Subject prefix", groups=("email",)),
    # apprise
    FormField(
        "urls",
        "Apprise URLs",
        "lines",
        "One per line, e.g. ${TELEGRAM_URL}: they carry tokens, so use ${VAR}.",
        True,
        groups=("apprise",),
    ),
    FormField(
        "format",
        "Message format",
        "select",
        options=("text", "markdown", "html"),
        groups=("apprise",),
        alias="message_format",
    ),
    # pagers
    FormField(
        "routing_key",
        "Routing key",
        "secret",
        "An Events API v2 integration key; use ${VAR}.",
        True,
        groups=("pagerduty",),
    ),
    FormField(
        "severity",
        "Severity",
        "select",
        options=("critical", "error", "warning", "info"),
        groups=("pagerduty",),
    ),
    FormField("api_key", "API key", "secret", "Use ${VAR}.", True, groups=("opsgenie",)),
    FormField(
        "priority",
        "Priority",
        "select",
        options=("P3", "P1", "P2", "P4", "P5"),
        groups=("opsgenie",),
    ),
    FormField("teams", "Teams", "list", "Responders, comma-separated.", groups=("opsgenie",)),
    FormField("region", "Region", "select", options=("us", "eu"), groups=("pagerduty", "opsgenie")),
)

_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _scalar(text: str) -> Any:
    """A number where the text is one (YAML would read it so), else the text."""
    if _NUMBER.fullmatch(text):
        return float(text) if "." in text else int(text)
    return text


def display(value: Any, kind: Kind) -> Any:
    """An entry's value as the form shows it."""
    if kind == "checkbox":
        return value
    if value is None:
        return [] if kind == "choices" else ""
    if kind == "choices":
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    if isinstance(value, list):
        joiner = "\n" if kind == "lines" else ", "
        return joiner.join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def form_values(fields: Sequence[FormField], entry: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        if f.kind == "checkbox":
            raw = entry.get(f.name, f.default)
            out[f.form_name] = raw if isinstance(raw, bool) else bool(f.default)
        else:
            out[f.form_name] = display(entry.get(f.name), f.kind)
    return out


def _parse(f: FormField, raw: str) -> Any:
    text = raw.strip()
    if f.kind == "list":
        items = [t.strip() for t in text.split(",") if t.strip()]
        return items or None
    if f.kind == "lines":
        items = [t.strip() for t in text.splitlines() if t.strip()]
        return items or None
    if not text:
        return None
    if f.name == "expected_status" and "," in text:
        return [_scalar(t.strip()) for t in text.split(",") if t.strip()]
    if f.kind in ("number",) or f.name == "expected_status":
        return _scalar(text)
    return text


def entry_from_form(
    fields: Sequence[FormField],
    form: Mapping[str, str],
    chosen: Iterable[str],
    original: Mapping[str, Any] | None,
    group: str | None = None,
) -> dict[str, Any]:
    """The entry to write: ``original`` (as written) with the form's fields applied.

    ``form`` maps input names to submitted text (checkboxes: present or not);
    ``chosen`` are the ticked values of a "choices" field; ``group`` keeps only
    the fields of that type (a website's check type, an alert's channel).
    """
    entry: dict[str, Any] = dict(original or {})
    mine = {f.name for f in fields if group is None or not f.groups or group in f.groups}
    for f in fields:
        if group is not None and f.groups and group not in f.groups:
            if f.name not in mine:
                entry.pop(f.name, None)  # the other types' fields
            continue
        if f.kind == "checkbox":
            value = f.form_name in form
            if f.name in entry or value != f.default:
                entry[f.name] = value
            continue
        parsed = (
            list(chosen) or None if f.kind == "choices" else _parse(f, form.get(f.form_name, ""))
        )
        if parsed is None:
            entry.pop(f.name, None)
        else:
            entry[f.name] = parsed
    # The order people expect to read: name first, like the example config.
    firsts = [k for k in ("name", "key", "type", "url") if k in entry]
    return {**{k: entry[k] for k in firsts}, **{k: v for k, v in entry.items() if k not in firsts}}


# The model's defaults, as a form shows them when no ``defaults:`` entry applies.
BUILTIN_DEFAULTS = {
    "interval": "60s",
    "timeout": "10s",
    "expected_status": "2xx",
    "method": "GET",
    "retry_interval": "",
}


def placeholders(defaults: Mapping[str, Any]) -> dict[str, str]:
    """What a blank field means: the ``defaults:`` in effect, else the built-in one."""
    out = dict(BUILTIN_DEFAULTS)
    for name, value in defaults.items():
        if name in out:
            out[name] = display(value, "text")
    return out


def pin_key(entry: dict[str, Any], current_key: str, slug: str) -> dict[str, Any]:
    """Keep the website's key when the form renames it.

    A website without ``key:`` is identified by the slug of its name: renaming it
    would archive it (with its history) and start a new one. The form means an
    edit, so the current key is written out, unless the person set one."""
    if entry.get("key") or slug == current_key:
        return entry
    pinned = {"name": entry.get("name"), "key": current_key}
    return {**pinned, **{k: v for k, v in entry.items() if k not in pinned}}


@dataclass(frozen=True, slots=True)
class FormErrors:
    by_field: dict[str, list[str]]
    general: list[str]  # not about one field of the form
    lines: list[str]  # every problem, worded as `sitewatch validate` prints it

    def __bool__(self) -> bool:
        return bool(self.lines or self.general)


def form_errors(
    problems: Sequence[Problem], fields: Sequence[FormField], message: str = ""
) -> FormErrors:
    """Problems of the edited entry, put next to the fields they are about."""
    names = {f.name for f in fields}
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for p in problems:
        name = str(p.path[2]) if len(p.path) > 2 else None
        if name in names:
            by_field.setdefault(name, []).append(p.message)
        else:
            general.append(p.format())
    if not problems and message:
        general.append(message)
    return FormErrors(by_field, general, [p.format() for p in problems])
