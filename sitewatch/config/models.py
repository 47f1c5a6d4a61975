"""The configuration schema: pydantic models for monitors.yaml and alerts.yaml.

Each model forbids unknown keys (a typo must never be silently ignored) and
carries the descriptions that ``sitewatch schema`` publishes to editors.
Durations are seconds (floats) in Python and ``"30s"``-style strings in JSON.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, time
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic import (
    Tag as UnionTag,
)
from pydantic_core import PydanticCustomError

from sitewatch.config.appriseurls import AppriseUrlError, inspect
from sitewatch.config.jsonpath import parse_json_path
from sitewatch.config.regex import RegexError, compile_regex
from sitewatch.config.templating import MAX_SOURCE, TemplateError, check_template
from sitewatch.config.types import (
    KEY_PATTERN,
    RESERVED_KEYS,
    DurationRange,
    HostName,
    HttpUrl,
    Key,
    Secret,
    StatusSet,
    Tag,
    check_key,
    format_duration,
    host_in_url,
    one_or_many,
    slugify,
)

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

Timeout = Annotated[float, DurationRange(0.1, 300)]
Interval = Annotated[float, DurationRange(5, 7 * 86400)]
ResponseTime = Annotated[float, DurationRange(0.001, 300)]
Reminder = Annotated[float, DurationRange(60, 30 * 86400)]
# A delivery must end well within the outbox's claim (60 s): past it, another
# instance would send the same notification again.
DeliveryTimeout = Annotated[float, DurationRange(0.1, 50)]


class StrictModel(BaseModel):
    """Unknown keys are errors; values are validated on assignment too."""

    # NaN and infinities are never meaningful in a config (``.nan`` compares
    # false with every bound, so it would slip past ge/le checks).
    # defer_build: a model's validator is built at its first use, so a command
    # that validates one website (``sitewatch check``) does not build them all.
    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        populate_by_name=True,
        allow_inf_nan=False,
        defer_build=True,
    )


JsonScalar = str | int | float | bool | None


class JsonAssertion(StrictModel):
    """One check on a JSON response body, addressed by a JSONPath-style path.

    Exactly one condition per assertion: ``equals``, ``contains``, ``matches``,
    ``exists``, ``less_than`` or ``greater_than``.
    """

    path: str = Field(
        min_length=1,
        description="Where to look: $.status, $.items[0].id, $['odd key'], $.items[*].state.",
    )
    equals: JsonScalar | list[JsonScalar] | dict[str, JsonScalar] = Field(
        None, description="The value must equal this (numbers compare by value)."
    )
    contains: str | None = Field(None, description="The value, as text, must contain this.")
    matches: str | None = Field(
        None, description="The value, as text, must match this regular expression (RE2 syntax)."
    )
    exists: bool | None = Field(None, description="true: the path must exist; false: must not.")
    less_than: float | None = Field(None, description="The value must be a number below this.")
    greater_than: float | None = Field(None, description="The value must be a number above this.")

    @field_validator("path")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            parse_json_path(value)
        except ValueError as exc:
            raise PydanticCustomError("json_path", "{error}", {"error": str(exc)}) from None
        return value

    @field_validator("matches")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return _check_regex(value)

    @model_validator(mode="after")
    def _one_condition(self) -> JsonAssertion:
        given = [name for name in JSON_CONDITIONS if name in self.model_fields_set]
        if len(given) != 1:
            raise PydanticCustomError(
                "json_condition",
                "give exactly one of {names} (got {count})",
                {"names": ", ".join(JSON_CONDITIONS), "count": len(given)},
            )
        return self

    @property
    def condition(self) -> str:
        return next(name for name in JSON_CONDITIONS if name in self.model_fields_set)

    @model_serializer(mode="wrap")
    def _only_the_condition(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The path and the one condition given: dumping the five others as ``null``
        would make the stored spec fail its own validation ("exactly one")."""
        data: dict[str, Any] = handler(self)
        condition = self.condition
        return {k: v for k, v in data.items() if k == "path" or k == condition}


JSON_CONDITIONS = ("equals", "contains", "matches", "exists", "less_than", "greater_than")


def _check_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            compile_regex(value)
        except RegexError as exc:
            raise PydanticCustomError("regex", "{error}", {"error": str(exc)}) from None
    return value


def _no_default(schema: dict[str, Any]) -> None:
    """A default the schema should not show (it is computed after validation)."""
    schema.pop("default", None)


class EntrySettings(StrictModel):
    """What every entry of ``websites:`` has, whatever its type (a heartbeat included)."""

    tags: Annotated[list[Tag], one_or_many()] = Field(
        default_factory=list, description="Labels for grouping, filtering and alert selection."
    )
    active: bool = Field(
        True, description="false pauses checks but keeps the website and its history."
    )
    badge: bool = Field(
        False,
        description="true publishes its badges (state, uptime, response time) at "
        "/badge/{key}/..., without a token.",
    )
    alerts: Annotated[list[Key], one_or_many()] = Field(
        default_factory=list,
        description="Names of alerts (alerts.yaml) that apply to this website.",
    )

    @field_validator("tags", "alerts")
    @classmethod
    def _unique_names(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class CheckSettings(EntrySettings):
    """What every check sitewatch runs itself has (all types but heartbeat)."""

    timeout: Timeout = Field(10.0, description="Give up on a check after this long (100ms to 5m).")
    interval: Interval = Field(60.0, description="How often to check (5s to 7d).")
    retry_interval: Interval | None = Field(
        None, description="While the website is failing, check at this shorter interval."
    )


PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")


def _http_version_text(value: object) -> object:
    """``http_version: 2`` and ``1.1`` (YAML numbers) read as "2" and "1.1"."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "2" if value == 2 else f"{float(value):.1f}"
    return value


class WebsiteSettings(CheckSettings):
    """The settings an HTTP check shares with the ``defaults:`` block."""

    method: Method = Field("GET", description="HTTP method of the check.")
    headers: Annotated[dict[str, str], Secret(by_name=True)] = Field(
        default_factory=dict,
        description="Request headers. In defaults they are merged key by key with the website's.",
    )
    body: str | None = Field(None, description="Request body, sent as is.")
    expected_status: StatusSet = Field(
        default_factory=lambda: ["2xx"],
        description="Accepted status codes: a code (200), a class (2xx), a range (200-299) "
        "or a list of them.",
    )
    follow_redirects: bool = Field(True, description="Follow 3xx redirects (up to 10).")
    verify_tls: bool = Field(True, description="Verify the server's TLS certificate.")
    body_contains: Annotated[list[str], one_or_many()] = Field(
        default_factory=list, description="Text (or list of texts) the response body must contain."
    )
    body_regex: str | None = Field(
        None,
        description="Regular expression (RE2 syntax: linear time, no backreferences or "
        "lookaround) the response body must match.",
    )
    json_assertions: list[JsonAssertion] = Field(
        default_factory=list,
        description="Checks on a JSON response body; every one must hold.",
    )
    max_response_time: ResponseTime | None = Field(
        None, description="Fail when the response takes longer than this."
    )
    tls_expiry_days: int | None = Field(
        None, ge=0, le=3650, description="Fail when the certificate expires within this many days."
    )
    http_version: Annotated[Literal["auto", "1.1", "2"], BeforeValidator(_http_version_text)] = (
        Field(
            "auto",
            description="HTTP version: auto (HTTP/2 where the server offers it over TLS, else "
            "HTTP/1.1), 1.1, or 2 (the check fails when the server does not speak HTTP/2).",
        )
    )
    proxy: Annotated[str | None, Secret()] = Field(
        None,
        description="Proxy to check through: http://, https://, socks5:// or socks5h:// with "
        "host and port; credentials in the URL, from ${VAR} (user:${PROXY_PASSWORD}@...).",
    )
    reuse_connection: bool = Field(
        False,
        description="Keep the connection between checks (keep-alive): the timings are then "
        "those of a reused connection, mostly without DNS, connect and TLS.",
    )

    @field_validator("proxy")
    @classmethod
    def _proxy_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme, _, rest = value.partition("://")
        if scheme.lower() not in PROXY_SCHEMES or not rest.strip("/"):
            raise PydanticCustomError(
                "proxy",
                "a proxy URL such as http://proxy.example.com:3128 (schemes: {schemes})",
                {"schemes": ", ".join(PROXY_SCHEMES)},
            )
        return value

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("body_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return _check_regex(value)

    @field_validator("body_contains")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class WebsiteDefaults(WebsiteSettings):
    """``defaults:`` in monitors.yaml: fills what a website leaves out."""


KEY_DESCRIPTION = (
    "Stable identifier (slug). Defaults to the slug of name; keep it when renaming to keep "
    "the history."
)


def _without_null_key(data: Any) -> Any:
    """``key: null`` (or ``key:``) reads as no key: derived from the name."""
    if isinstance(data, dict) and "key" in data and data["key"] is None:
        return {k: v for k, v in data.items() if k != "key"}
    return data


def _derive_key(check: _Entry) -> None:
    """Set the key from the name when the YAML gives none; check timeout <= interval."""
    if not check.key:  # not given in the YAML
        derived = slugify(check.name)
        if derived.isdigit():
            raise PydanticCustomError(
                "key_missing",
                "name {name} gives the all-digit key {key}, which the API would read "
                "as a numeric id: set key explicitly",
                {"name": repr(check.name), "key": repr(derived)},
            )
        if derived in RESERVED_KEYS:
            raise PydanticCustomError(
                "key_missing",
                "name {name} gives the key {key}, which the dashboard's own pages use: "
                "set key explicitly",
                {"name": repr(check.name), "key": repr(derived)},
            )
        if not derived:
            raise PydanticCustomError(
                "key_missing",
                "cannot derive a key from name {name}: set key explicitly",
                {"name": repr(check.name)},
            )
        object.__setattr__(check, "key", derived)
    if isinstance(check, CheckSettings) and check.timeout > check.interval:
        raise PydanticCustomError(
            "timeout",
            "timeout ({timeout}) must not be longer than interval ({interval})",
            {
                "timeout": format_duration(check.timeout),
                "interval": format_duration(check.interval),
            },
        )


class _Entry(EntrySettings):
    """What every entry of ``websites:`` has: a name and a stable key."""

    name: str = Field(min_length=1, max_length=200, description="Display name.")
    # Never empty once validated: ``_derive`` sets the slug of ``name`` when the
    # YAML gives no key (the empty default is not validated, and not in the schema).
    key: Key = Field("", description=KEY_DESCRIPTION, json_schema_extra=_no_default)

    @model_validator(mode="before")
    @classmethod
    def _no_key(cls, data: Any) -> Any:
        return _without_null_key(data)

    @model_validator(mode="after")
    def _derive(self) -> Self:
        _derive_key(self)
        return self

    @property
    def target(self) -> str:
        """How lists, the API and the dashboard show the check: its URL, or
        tcp://host:port, dns://name/TYPE and so on (``display_url``)."""
        return display_url(self.model_dump(mode="json"))


class Website(_Entry, WebsiteSettings):
    """One website to watch (an entry of ``websites:``): an HTTP(S) check."""

    # Not stored (``exclude``): a spec without ``type`` is an HTTP check, so specs
    # stored before other types existed keep their identity (and hash).
    type: Literal["http"] = Field(
        "http",
        exclude=True,
        description="The check's type: http (the default), tcp, tls, dns, icmp or heartbeat.",
    )
    url: HttpUrl = Field(description="The http:// or https:// URL to check.")


class TcpCheck(_Entry, CheckSettings):
    """A TCP service: connect to ``host:port``; optionally send a line and expect a
    reply (a banner: SMTP's ``220``, SSH's ``SSH-2.0``, Redis's ``+PONG``)."""

    type: Literal["tcp"] = Field(description="tcp: connect to host:port.")
    host: HostName = Field(description="Host name or IP address.")
    port: int = Field(ge=1, le=65535, description="TCP port.")
    send: str | None = Field(
        None,
        min_length=1,
        max_length=65536,
        description='Text to send once connected, as written (use "\\r\\n" in a double-quoted '
        "YAML string for a line end).",
    )
    expect: str | None = Field(
        None,
        description="Regular expression (RE2) the reply must match, read until it does, the "
        "connection closes, 64 KiB or the timeout.",
    )

    @field_validator("expect")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return _check_regex(value)


TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")


def _version_text(value: object) -> object:
    """``min_version: 1.3`` (a YAML number) reads as "1.3"."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{float(value):.1f}"
    return value


class TlsCheck(_Entry, CheckSettings):
    """Any TLS service (HTTPS, SMTPS, IMAPS, LDAPS, a database): the handshake, the
    certificate chain, the host name, the protocol version and the expiry."""

    type: Literal["tls"] = Field(description="tls: a TLS handshake with host:port.")
    host: HostName = Field(description="Host name or IP address to connect to.")
    port: int = Field(443, ge=1, le=65535, description="TCP port of the TLS service.")
    server_name: HostName | None = Field(
        None,
        description="Name sent in SNI and checked against the certificate (default: host).",
    )
    min_version: Annotated[Literal["1.0", "1.1", "1.2", "1.3"], BeforeValidator(_version_text)] = (
        Field("1.2", description="Lowest TLS version accepted: 1.0, 1.1, 1.2 or 1.3.")
    )
    verify_tls: bool = Field(
        True,
        description="Verify the chain and the host name (false: only the handshake, the "
        "version and the expiry count).",
    )
    tls_expiry_days: int = Field(
        14, ge=0, le=3650, description="Fail when the certificate expires within this many days."
    )

    @property
    def sni(self) -> str:
        return self.server_name or self.host


DNS_RECORDS = ("A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "CAA")
DnsRecord = Literal["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "CAA"]


def _check_resolver(value: str | None) -> str | None:
    """An IP address, optionally with a port: 10.0.0.53, 10.0.0.53:5353, [::1]:53."""
    if value is None:
        return None
    try:
        resolver_address(value)
    except ValueError as exc:
        raise PydanticCustomError("resolver", "{error}", {"error": str(exc)}) from None
    return value


def resolver_address(value: str) -> tuple[str, int]:
    """The address and port of a ``resolver:`` (port 53 when it gives none)."""
    text = value.strip()
    host, port = text, "53"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"invalid resolver {value!r}: expected [address]:port")
            port = rest[1:]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError(
            f"a resolver is an IP address, optionally with a port (10.0.0.53, "
            f"10.0.0.53:5353, [::1]:53), got {value!r}"
        ) from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid port in resolver {value!r}")
    return address, int(port)


class DnsCheck(_Entry, CheckSettings):
    """A DNS record that must resolve, and optionally hold given values."""

    type: Literal["dns"] = Field(description="dns: query a record.")
    domain: HostName = Field(
        description="The name to query (example.org, _dmarc.example.org). "
        "(name: is the check's display name, as for every type.)"
    )
    record: DnsRecord = Field(
        "A", description="Record type: A, AAAA, CNAME, MX, TXT, NS, SOA or CAA."
    )
    resolver: Annotated[str | None, AfterValidator(_check_resolver)] = Field(
        None,
        description="Resolver to ask: an IP address, optionally with a port "
        "(default: the system's, from /etc/resolv.conf).",
    )
    protocol: Literal["udp", "tcp"] = Field("udp", description="udp or tcp.")
    expect: Annotated[list[str], one_or_many()] = Field(
        default_factory=list,
        description="Values the answer must hold, written as dig prints them "
        '("10 mail.example.org." for MX, the text of a TXT record without quotes).',
    )
    exact: bool = Field(
        False, description="true: the answer must be exactly the expect values, no more."
    )
    max_response_time: ResponseTime | None = Field(
        None, description="Fail when the answer takes longer than this."
    )

    @model_validator(mode="after")
    def _exact_needs_values(self) -> Self:
        if self.exact and not self.expect:
            raise PydanticCustomError(
                "exact", "exact: true needs the expected values in expect", {}
            )
        return self


def _percent(value: object) -> object:
    """``20%``, ``20`` or ``20.5`` -> 20.0 (a share in percent, 0 to 100)."""
    text = value.strip().removesuffix("%") if isinstance(value, str) else value
    try:
        number = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise PydanticCustomError(
            "percent", "expected a percentage such as 20% (got {got})", {"got": repr(value)}
        ) from None
    if not 0 <= number <= 100:
        raise PydanticCustomError(
            "percent", "a percentage is between 0% and 100% (got {got})", {"got": repr(value)}
        )
    return number


Percent = Annotated[float, BeforeValidator(_percent)]


class IcmpCheck(_Entry, CheckSettings):
    """A host that must answer ping (ICMP echo)."""

    type: Literal["icmp"] = Field(description="icmp: ping a host.")
    host: HostName = Field(description="Host name or IP address.")
    count: int = Field(3, ge=1, le=100, description="Echo requests per check.")
    ping_interval: Annotated[float, DurationRange(0.01, 10)] = Field(
        0.2,
        description="Time between the echo requests of one check. "
        "(interval: is how often the check runs, as for every type.)",
    )
    max_loss: Percent = Field(
        0.0,
        description="Fail when more than this share of the requests gets no reply (20%); "
        "every request lost is always a failure.",
        json_schema_extra={"type": ["number", "string"]},
    )
    max_rtt: ResponseTime | None = Field(
        None, description="Fail when the average round trip takes longer than this."
    )

    @model_validator(mode="after")
    def _fits(self) -> Self:
        needed = self.ping_interval * (self.count - 1)
        if needed >= self.timeout:
            raise PydanticCustomError(
                "count",
                "count ({count}) requests ping_interval ({every}) apart need more than the "
                "timeout ({timeout})",
                {
                    "count": self.count,
                    "every": format_duration(self.ping_interval),
                    "timeout": format_duration(self.timeout),
                },
            )
        return self


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone",
            "unknown time zone {got}: use an IANA name such as Europe/Berlin or UTC",
            {"got": repr(value)},
        ) from None
    return value


def _check_cron(value: str | None) -> str | None:
    if value is None:
        return None
    from cronsim import CronSim, CronSimError

    try:
        CronSim(value, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise PydanticCustomError(
            "cron", "invalid cron schedule {got}: {error}", {"got": repr(value), "error": str(exc)}
        ) from None
    return " ".join(value.split())


class HeartbeatCheck(_Entry):
    """A job that must check in (a cron job, a backup): sitewatch serves its ping URL
    and says DOWN when a ping is late by more than ``grace`` or reports a failure."""

    type: Literal["heartbeat"] = Field(description="heartbeat: a job pings sitewatch.")
    period: Interval | None = Field(
        None, description="The job pings at least this often (5s to 7d). Or give schedule."
    )
    schedule: Annotated[str | None, AfterValidator(_check_cron)] = Field(
        None,
        description='The job runs on this cron schedule ("0 3 * * *": five fields, as in '
        "crontab). Or give period.",
    )
    tz: Annotated[str, AfterValidator(_check_zone)] = Field(
        "UTC", description="Time zone of the schedule, an IANA name such as Europe/Berlin."
    )
    grace: Annotated[float, DurationRange(1, 30 * 86400)] = Field(
        3600.0,
        description="How late a ping may be (and how long a started run may take) before "
        "the check is DOWN.",
    )

    @model_validator(mode="after")
    def _one_timing(self) -> Self:
        if (self.period is None) == (self.schedule is None):
            raise PydanticCustomError(
                "heartbeat_timing",
                "a heartbeat needs either period (how often the job pings) or schedule "
                "(its cron schedule), not " + ("both" if self.period is not None else "neither"),
                {},
            )
        return self

    @property
    def interval(self) -> float:
        """How often sitewatch judges the pings (not a field: the job sets the pace):
        often enough to see a late ping well within its grace. A fail ping is
        judged at once by the instance that checks the heartbeat."""
        return min(max(self.grace / 4, 5.0), 60.0)


AnyCheck = Website | TcpCheck | TlsCheck | DnsCheck | IcmpCheck | HeartbeatCheck
CheckModel = (
    type[Website]
    | type[TcpCheck]
    | type[TlsCheck]
    | type[DnsCheck]
    | type[IcmpCheck]
    | type[HeartbeatCheck]
)
CHECK_TYPES: dict[str, CheckModel] = {
    "http": Website,
    "tcp": TcpCheck,
    "tls": TlsCheck,
    "dns": DnsCheck,
    "icmp": IcmpCheck,
    "heartbeat": HeartbeatCheck,
}


def check_type(data: object) -> str:
    """The type an entry says it is (``http`` when it says none)."""
    if isinstance(data, _Entry):
        return str(data.type)  # type: ignore[attr-defined]
    kind = data.get("type", "http") if isinstance(data, dict) else "http"
    return kind if isinstance(kind, str) else ""


def check_model(data: object) -> CheckModel | None:
    """The model of an entry of ``websites:`` by its ``type``; None if unknown."""
    return CHECK_TYPES.get(check_type(data))


def parse_check(data: object) -> AnyCheck:
    """Validate one entry of ``websites:`` (as written, or as stored)."""
    model = check_model(data)
    if model is None:
        raise ValueError(f"unknown check type {check_type(data)!r}")
    return model.model_validate(data)


def display_url(spec: Mapping[str, Any]) -> str:
    """What lists show and store as a check's URL, from its (stored) spec: built
    from the fields as written (a ``${VAR}`` stays a reference), never validated."""
    kind = check_type(spec)
    if kind == "http":
        return str(spec.get("url", ""))
    if kind in ("tcp", "tls"):
        port = spec.get("port", 443 if kind == "tls" else "")
        return f"{kind}://{host_in_url(str(spec.get('host', '')))}:{port}"
    if kind == "dns":
        where = f"@{spec['resolver']}" if spec.get("resolver") else ""
        return f"dns://{spec.get('domain', '')}/{spec.get('record', 'A')}{where}"
    if kind == "icmp":
        return f"icmp://{host_in_url(str(spec.get('host', '')))}"
    return f"{kind}://{spec.get('key', '')}"


# An entry of ``websites:`` as the schema publishes it: one model per type.
Check = Annotated[
    Annotated[Website, UnionTag("http")]
    | Annotated[TcpCheck, UnionTag("tcp")]
    | Annotated[TlsCheck, UnionTag("tls")]
    | Annotated[DnsCheck, UnionTag("dns")]
    | Annotated[IcmpCheck, UnionTag("icmp")]
    | Annotated[HeartbeatCheck, UnionTag("heartbeat")],
    Discriminator(check_type),
]


class MonitorsFile(StrictModel):
    """monitors.yaml (and every monitors.d/*.yaml fragment)."""

    defaults: WebsiteDefaults | None = Field(
        None,
        description="Values for every website of this file (and, in monitors.yaml, of all files).",
    )
    websites: list[Check] = Field(
        default_factory=list, description="The websites (and other services) to watch."
    )
    allow_empty: bool = Field(
        False,
        description="Allow a config with zero websites to delete every website (main file only).",
    )


def _check_selector(value: list[str]) -> list[str]:
    if "*" in value:
        if len(value) > 1:
            raise PydanticCustomError(
                "selector", '"*" selects every website: list no keys beside it'
            )
        return value
    for item in value:
        check_key(item)
    return list(dict.fromkeys(value))


WebsiteSelector = Annotated[
    list[str],
    one_or_many(),
    AfterValidator(_check_selector),
    WithJsonSchema(
        {
            "oneOf": [
                {"const": "*"},
                {"type": "string", "pattern": KEY_PATTERN},
                {"type": "array", "items": {"type": "string", "pattern": KEY_PATTERN}},
            ]
        }
    ),
]


class AlertRule(StrictModel):
    """What every alert has, whatever its channel."""

    name: Key = Field(description="Unique name; websites refer to it in their alerts: list.")
    description: str | None = Field(None, description="Free text for people.")
    enabled: bool = Field(True, description="false keeps the alert defined but sends nothing.")
    failure_threshold: int = Field(3, ge=1, le=100, description="Consecutive failures before DOWN.")
    success_threshold: int = Field(2, ge=1, le=100, description="Consecutive successes before UP.")
    send_on_resolved: bool = Field(True, description="Notify when the website is UP again.")
    reminder_interval: Reminder | None = Field(
        None, description="Repeat the DOWN notification this often while it lasts (at least 1m)."
    )
    websites: WebsiteSelector = Field(
        default_factory=list,
        description='Website keys this alert applies to, or "*" for every website.',
    )
    tags: Annotated[list[Tag], one_or_many()] = Field(
        default_factory=list, description="Apply to every website with any of these tags."
    )

    @property
    def all_websites(self) -> bool:
        return self.websites == ["*"]


_EMAIL = re.compile(r"^[^@\s<>,]+@[^@\s<>,]+\.[^@\s<>,]+$")
_NAMED_EMAIL = re.compile(r"^[^<>]*<([^<>]+)>$")


def _check_email(value: str) -> str:
    named = _NAMED_EMAIL.match(value.strip())
    address = named.group(1) if named else value.strip()
    if not _EMAIL.match(address):
        raise PydanticCustomError("email", "not an email address: {got}", {"got": repr(value)})
    return value.strip()


def _template(kind: str) -> Any:
    def check(value: str) -> str:
        try:
            return check_template(value, html=kind == "html")
        except TemplateError as exc:
            raise PydanticCustomError("template", "{problem}", {"problem": str(exc)}) from None

    return AfterValidator(check)


# A Jinja2 template (sandboxed, StrictUndefined), rendered against a sample of
# every event kind when the config is read: see docs/alerts.md#message-templates.
TemplateText = Annotated[str, Field(min_length=1, max_length=MAX_SOURCE), _template("text")]
HtmlTemplateText = Annotated[str, Field(min_length=1, max_length=MAX_SOURCE), _template("html")]


class ChatTemplates(StrictModel):
    """Templates of a chat or pager message (Apprise, PagerDuty, Opsgenie)."""

    title: TemplateText | None = Field(
        None, description="The title: a chat message's heading, a pager's summary."
    )
    message: TemplateText | None = Field(None, description="The message body.")


class EmailTemplates(StrictModel):
    """Templates of an email."""

    subject: TemplateText | None = Field(None, description="The subject (one line).")
    text: TemplateText | None = Field(None, description="The plain-text body.")
    html: HtmlTemplateText | None = Field(
        None, description="The HTML body (values are HTML-escaped); without it, text only."
    )

    @field_validator("subject")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and "\n" in value.strip():
            raise PydanticCustomError("subject", "a subject is one line")
        return value


class WebhookTemplates(StrictModel):
    """Templates of a webhook's POST."""

    message: TemplateText | None = Field(
        None, description="format slack or discord: the message text."
    )
    body: TemplateText | None = Field(
        None,
        description="The whole body, replacing the format's (JSON unless headers set "
        "another Content-Type: checked to render as JSON).",
    )


class EmailAlert(AlertRule):
    """Notifications by email over SMTP."""

    type: Literal["email"]
    host: str = Field(min_length=1, description="SMTP server host name.")
    port: int | None = Field(
        None, ge=1, le=65535, description="SMTP port; default 25, 587 (starttls) or 465 (tls)."
    )
    tls: Literal["none", "starttls", "tls"] = Field(
        "starttls", description="none, starttls (upgrade after connecting) or tls (implicit TLS)."
    )
    username: str | None = Field(None, description="SMTP user name; set with password.")
    password: Annotated[str | None, Secret()] = Field(
        None, description="SMTP password; use ${VAR}."
    )
    sender: str = Field(alias="from", description="From address, e.g. sitewatch@example.com.")
    to: Annotated[list[str], one_or_many()] = Field(min_length=1, description="Recipients.")
    subject_prefix: str = Field("[sitewatch]", description="Put before every subject.")
    timeout: Timeout = Field(30.0, description="SMTP connection and command timeout.")
    templates: EmailTemplates | None = Field(
        None, description="Jinja2 templates of the subject and body (defaults: docs/alerts.md)."
    )

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _check_email(value)

    @field_validator("to")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        return [_check_email(v) for v in value]

    @model_validator(mode="after")
    def _credentials(self) -> EmailAlert:
        if (self.username is None) != (self.password is None):
            raise PydanticCustomError(
                "credentials", "username and password go together: set both or neither"
            )
        return self

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"none": 25, "starttls": 587, "tls": 465}[self.tls]


class WebhookAlert(AlertRule):
    """Notifications as an HTTP POST with a JSON body."""

    type: Literal["webhook"]
    url: HttpUrl = Field(description="Where to POST.")
    secret: Annotated[str | None, Secret()] = Field(
        None, description="Signs each body: X-Sitewatch-Signature: sha256=<HMAC-SHA256 hex>."
    )
    headers: Annotated[dict[str, str], Secret(by_name=True)] = Field(
        default_factory=dict, description="Extra request headers."
    )
    format: Literal["json", "slack", "discord"] = Field(
        "json", description="Payload: sitewatch's own json, or a Slack / Discord incoming webhook."
    )
    timeout: Timeout = Field(10.0, description="Request timeout.")
    templates: WebhookTemplates | None = Field(
        None, description="Jinja2 templates of the message text or the whole body."
    )

    @property
    def content_type(self) -> str:
        for name, value in self.headers.items():
            if name.lower() == "content-type":
                return value
        return "application/json"

    @model_validator(mode="after")
    def _json_body(self) -> WebhookAlert:
        body = self.templates.body if self.templates else None
        if body is not None and "json" in self.content_type.lower():
            try:
                check_template(body, as_json=True)
            except TemplateError as exc:
                raise PydanticCustomError(
                    "template_body", "{problem}", {"problem": str(exc)}
                ) from None
        return self


def _apprise_url(value: str) -> str:
    try:
        inspect(value)
    except AppriseUrlError as exc:
        raise PydanticCustomError("apprise_url", "{problem}", {"problem": str(exc)}) from None
    return value  # as written: the stored form puts ${VAR} back where it matches


AppriseUrl = Annotated[
    str,
    AfterValidator(_apprise_url),
    WithJsonSchema({"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9+.-]*://"}),
]


class AppriseAlert(AlertRule):
    """Notifications through Apprise: Telegram, Teams, ntfy, Pushover, Matrix, Gotify,
    Mattermost and 100+ more services, each named by one URL."""

    type: Literal["apprise"]
    urls: Annotated[list[AppriseUrl], one_or_many(), Secret()] = Field(
        min_length=1,
        max_length=20,
        description="Apprise URLs (https://appriseit.com/services/); they carry tokens, "
        "so write each as ${VAR}.",
    )
    format: Literal["text", "markdown", "html"] = Field(
        "text", description="What the message (the templates' output) is written in."
    )
    timeout: DeliveryTimeout = Field(
        10.0, description="Per service: connect and read timeout (at most 50s)."
    )
    templates: ChatTemplates | None = Field(
        None, description="Jinja2 templates of the title and message (defaults: docs/alerts.md)."
    )


class _PagerAlert(AlertRule):
    """What the pagers share: a region, a request timeout, chat templates."""

    region: Literal["us", "eu"] = Field("us", description="us or eu: which API.")
    timeout: DeliveryTimeout = Field(10.0, description="Request timeout (at most 50s).")
    templates: ChatTemplates | None = Field(
        None,
        description="title: the incident's summary (Opsgenie: its message, 130 characters); "
        "message: its details (Opsgenie: its description).",
    )


class PagerDutyAlert(_PagerAlert):
    """PagerDuty, Events API v2: one incident per outage (triggered on DOWN,
    resolved on UP, deduplicated by the sitewatch incident)."""

    type: Literal["pagerduty"]
    routing_key: Annotated[str, Secret()] = Field(
        min_length=1, description="The integration (routing) key of an Events API v2 service."
    )
    url: HttpUrl | None = Field(
        None,
        description="The Events API endpoint, when not PagerDuty's own for the region "
        "(a proxy, a compatible service).",
    )
    severity: Literal["critical", "error", "warning", "info"] = Field(
        "critical", description="Severity of a DOWN."
    )

    @property
    def endpoint(self) -> str:
        if self.url is not None:
            return str(self.url)
        host = "events.eu.pagerduty.com" if self.region == "eu" else "events.pagerduty.com"
        return f"https://{host}/v2/enqueue"


class OpsgenieAlert(_PagerAlert):
    """Opsgenie (Alert API): one alert per outage (created on DOWN, noted on
    reminders, closed on UP), keyed by the sitewatch incident as its alias."""

    type: Literal["opsgenie"]
    api_key: Annotated[str, Secret()] = Field(
        min_length=1, description="An API integration's key (GenieKey)."
    )
    url: HttpUrl | None = Field(
        None, description="The API's base URL, when not Opsgenie's own for the region."
    )
    priority: Literal["P1", "P2", "P3", "P4", "P5"] = Field(
        "P3", description="Priority of the alert."
    )
    teams: Annotated[list[str], one_or_many()] = Field(
        default_factory=list, description="Teams to route the alert to (responders), by name."
    )

    @property
    def base(self) -> str:
        if self.url is not None:
            return str(self.url).rstrip("/")
        return "https://api.eu.opsgenie.com" if self.region == "eu" else "https://api.opsgenie.com"


AnyAlertModel = EmailAlert | WebhookAlert | AppriseAlert | PagerDutyAlert | OpsgenieAlert
Alert = Annotated[AnyAlertModel, Field(discriminator="type")]
ALERT_TYPES: dict[str, type[AnyAlertModel]] = {
    "email": EmailAlert,
    "webhook": WebhookAlert,
    "apprise": AppriseAlert,
    "pagerduty": PagerDutyAlert,
    "opsgenie": OpsgenieAlert,
}


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MaintenanceLength = Annotated[float, DurationRange(60, 30 * 86400)]
_LOCAL_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _local_time(value: object) -> object:
    """``HH:MM`` -> a ``time`` (a ``time`` passes: a model built in code)."""
    if isinstance(value, time):
        return value
    if not isinstance(value, str) or not _LOCAL_TIME.match(value):
        raise PydanticCustomError(
            "local_time",
            "expected a time of day as HH:MM, e.g. 02:30 (got {got})",
            {"got": repr(value)},
        )
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


def _local_datetime(value: object) -> object:
    """``YYYY-MM-DDTHH:MM`` (no offset: ``timezone:`` says which zone) -> a naive datetime."""
    if isinstance(value, datetime):
        return value
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise PydanticCustomError(
            "local_datetime",
            "expected a local date-time as YYYY-MM-DDTHH:MM (got {got})",
            {"got": repr(value)},
        )
    if moment.tzinfo is not None:
        raise PydanticCustomError(
            "local_datetime", "give the time without an offset: timezone: says which zone"
        )
    return moment


def _minutes(moment: datetime) -> str:
    """As written: ``2026-12-24T22:00`` (seconds only when there are some)."""
    if moment.second or moment.microsecond:
        return moment.isoformat()
    return moment.strftime("%Y-%m-%dT%H:%M")


LocalTime = Annotated[
    time,
    BeforeValidator(_local_time),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": _LOCAL_TIME.pattern}),
]
LocalDateTime = Annotated[
    datetime,
    BeforeValidator(_local_datetime),
    PlainSerializer(_minutes, return_type=str),
    WithJsonSchema({"type": "string", "description": "YYYY-MM-DDTHH:MM, local"}),
]


class _Window(StrictModel):
    """What weekly and one-off maintenance windows share: a name, a zone, the
    websites they cover. Notifications of those websites are held while a window
    is open (checks go on)."""

    name: Key = Field(description="Unique name of the window.")
    description: str | None = Field(None, description="Free text for people.")
    announce: bool | Annotated[str, Field(min_length=1, max_length=200)] = Field(
        True,
        description="On the status pages that show a website it covers: true announces it "
        'as "Scheduled maintenance", a text as that title, false not at all.',
    )
    timezone: Annotated[str, AfterValidator(_check_zone)] = Field(
        "UTC", description="IANA time zone the times are in, e.g. Europe/Berlin."
    )
    websites: WebsiteSelector = Field(
        default_factory=list, description='Website keys it covers, or "*" for every website.'
    )
    tags: Annotated[list[Tag], one_or_many()] = Field(
        default_factory=list, description="Cover every website with any of these tags."
    )

    @model_validator(mode="after")
    def _selects(self) -> Self:
        if not self.websites and not self.tags:
            raise PydanticCustomError(
                "selector", 'say which websites it covers: websites: (keys or "*") or tags:'
            )
        return self

    @property
    def all_websites(self) -> bool:
        return self.websites == ["*"]


class WeeklyWindow(_Window):
    """Every week on ``days`` at ``start`` (local time in ``timezone``, following
    its daylight-saving changes), for ``duration`` (elapsed time)."""

    days: Annotated[list[Weekday], one_or_many()] = Field(
        min_length=1, description="Weekly: the days it starts on (mon..sun)."
    )
    start: LocalTime = Field(description="Weekly: the local time it starts (HH:MM).")
    duration: MaintenanceLength = Field(
        description="Weekly: how long it lasts (elapsed time, e.g. 2h; 1m to 30d)."
    )

    @model_validator(mode="before")
    @classmethod
    def _weekly(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if data.get("end") is not None:
                raise PydanticCustomError(
                    "end", "end: is for one-off windows; a weekly window takes duration:"
                )
            if data.get("duration") is None:
                raise PydanticCustomError("duration", "a weekly window needs duration: (e.g. 2h)")
        return data


class OneOffWindow(_Window):
    """Once, from ``start`` to ``end`` (local date-times in ``timezone``)."""

    start: LocalDateTime = Field(description="One-off: the local date-time it starts.")
    end: LocalDateTime = Field(description="One-off: the local date-time it ends.")

    @model_validator(mode="before")
    @classmethod
    def _one_off(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if data.get("end") is None:
                raise PydanticCustomError(
                    "one_off",
                    "give days: (weekly, with start: HH:MM and duration:) or end: (one-off, "
                    "with start: and end: as YYYY-MM-DDTHH:MM)",
                )
            if data.get("duration") is not None:
                raise PydanticCustomError("duration", "a one-off window takes end:, not duration:")
            if "days" in data and data["days"] in (None, []):
                data = {k: v for k, v in data.items() if k != "days"}  # "no days": one-off
        return data

    @model_validator(mode="after")
    def _ordered(self) -> OneOffWindow:
        if self.end <= self.start:
            raise PydanticCustomError("end", "end: must be after start:")
        return self


AnyWindow = WeeklyWindow | OneOffWindow


def window_model(data: object) -> type[WeeklyWindow] | type[OneOffWindow]:
    """Which kind of window an entry is: weekly when it has ``days:``."""
    if isinstance(data, WeeklyWindow | OneOffWindow):
        return type(data)
    days = data.get("days") if isinstance(data, dict) else None
    return WeeklyWindow if days not in (None, []) else OneOffWindow


def _window_tag(data: object) -> str:
    return "weekly" if window_model(data) is WeeklyWindow else "one-off"


# A window in alerts.yaml, as the schema publishes it: weekly or one-off.
MaintenanceWindow = Annotated[
    Annotated[WeeklyWindow, UnionTag("weekly")] | Annotated[OneOffWindow, UnionTag("one-off")],
    Discriminator(_window_tag),
]


def parse_window(data: object) -> AnyWindow:
    """Validate one window (as written, or as stored)."""
    return window_model(data).model_validate(data)


def stored_windows(
    specs: Iterable[Mapping[str, Any]],
) -> tuple[tuple[AnyWindow, ...], list[tuple[str, str]]]:
    """The stored windows that validate, and (name, why) of those that do not (rows
    an older version wrote): left out, so one bad row never stops the alerts or
    the status pages that read them."""
    windows: list[AnyWindow] = []
    refused: list[tuple[str, str]] = []
    for spec in specs:
        try:
            windows.append(parse_window(spec))
        except ValidationError as exc:
            refused.append((str(spec.get("name")), str(exc)))
    return tuple(windows), refused


class AlertsFile(StrictModel):
    """alerts.yaml (and every alerts.d/*.yaml fragment)."""

    alerts: list[Alert] = Field(default_factory=list, description="Alert channels and their rules.")
    maintenance: list[MaintenanceWindow] = Field(
        default_factory=list,
        description="Maintenance windows: notifications of the websites they cover are held.",
    )
