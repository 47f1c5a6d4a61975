"""A website prepared for probing: URL parsed, headers and expectations compiled once.

Targets are built from the specs the reconciler stored, with ``${VAR}``
references resolved from this process's environment, so secrets never sit in
the database and several instances sharing one database each use their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yarl
from pydantic import ValidationError

from sitewatch.checker.dns import DnsTarget
from sitewatch.checker.expectations import Expectations
from sitewatch.checker.heartbeat import HeartbeatTarget
from sitewatch.checker.icmp import IcmpTarget
from sitewatch.checker.tcp import TcpTarget
from sitewatch.checker.tls import TlsTarget
from sitewatch.config.envsubst import EnvError, resolve
from sitewatch.config.models import (
    AnyCheck,
    DnsCheck,
    HeartbeatCheck,
    IcmpCheck,
    TcpCheck,
    TlsCheck,
    Website,
    check_model,
    check_type,
)
from sitewatch.config.regex import compile_regex
from sitewatch.config.types import parse_duration

# What a check of a type other than HTTP needs (``Target.service``).
ServiceTarget = TcpTarget | TlsTarget | DnsTarget | IcmpTarget | HeartbeatTarget


@dataclass(frozen=True, slots=True)
class Target:
    website_id: int
    key: str
    url: yarl.URL
    method: str
    headers: Mapping[str, str]
    body: bytes | None
    timeout: float
    interval: float
    retry_interval: float | None
    follow_redirects: bool
    verify_tls: bool
    expect: Expectations
    # Why this website cannot be checked here (its spec does not validate with
    # this process's environment): every check is then an ``internal`` result.
    broken: str | None = None
    # Set for every type but HTTP (``url`` is then how lists show it: tcp://host:port).
    service: ServiceTarget | None = None
    broken_type: str = ""  # the type of a ``broken`` target (it has no service)
    http_version: str = "auto"  # auto, 1.1 or 2
    proxy: str | None = None  # a proxy URL (credentials resolved from ${VAR})
    reuse_connection: bool = False  # keep-alive between checks instead of a fresh one

    @property
    def type(self) -> str:
        return self.broken_type or _TYPE_OF.get(type(self.service), "http")

    @classmethod
    def of(cls, website: AnyCheck, website_id: int = 0) -> Target:
        if not isinstance(website, Website):
            return cls.of_service(website, website_id)
        return cls(
            website_id=website_id,
            key=website.key,
            url=yarl.URL(website.url, encoded="%" in website.url),
            method=website.method,
            headers=dict(website.headers),
            body=website.body.encode() if website.body is not None else None,
            timeout=website.timeout,
            interval=website.interval,
            retry_interval=website.retry_interval,
            follow_redirects=website.follow_redirects,
            verify_tls=website.verify_tls,
            expect=Expectations.of(website),
            http_version=website.http_version,
            proxy=website.proxy,
            reuse_connection=website.reuse_connection,
        )

    @classmethod
    def of_service(
        cls, check: TcpCheck | TlsCheck | DnsCheck | IcmpCheck | HeartbeatCheck, website_id: int = 0
    ) -> Target:
        if isinstance(check, HeartbeatCheck):
            timeout, interval, retry = 5.0, check.interval, None
        else:
            timeout, interval, retry = check.timeout, check.interval, check.retry_interval
        return cls(
            website_id=website_id,
            key=check.key,
            url=yarl.URL(check.target),
            method="",
            headers={},
            body=None,
            timeout=timeout,
            interval=interval,
            retry_interval=retry,
            follow_redirects=False,
            verify_tls=getattr(check, "verify_tls", True),
            expect=Expectations(),
            service=service_target(check),
        )


def service_target(
    check: TcpCheck | TlsCheck | DnsCheck | IcmpCheck | HeartbeatCheck,
) -> ServiceTarget:
    """What the probe of ``check``'s type needs, compiled once."""
    if isinstance(check, TcpCheck):
        return TcpTarget(
            host=check.host,
            port=check.port,
            send=check.send.encode() if check.send is not None else None,
            expect=compile_regex(check.expect) if check.expect is not None else None,
        )
    if isinstance(check, TlsCheck):
        return TlsTarget(
            host=check.host,
            port=check.port,
            server_name=check.sni,
            min_version=check.min_version,
            verify=check.verify_tls,
            expiry_days=check.tls_expiry_days,
        )
    if isinstance(check, DnsCheck):
        return DnsTarget.of(
            check.domain,
            check.record,
            check.resolver,
            check.protocol,
            check.expect,
            check.exact,
            check.max_response_time,
        )
    if isinstance(check, IcmpCheck):
        return IcmpTarget(
            host=check.host,
            count=check.count,
            interval=check.ping_interval,
            max_loss=check.max_loss,
            max_rtt=check.max_rtt,
        )
    return HeartbeatTarget(
        period=check.period, schedule=check.schedule, tz=check.tz, grace=check.grace
    )


_TYPE_OF: dict[type, str] = {
    TcpTarget: "tcp",
    TlsTarget: "tls",
    DnsTarget: "dns",
    IcmpTarget: "icmp",
    HeartbeatTarget: "heartbeat",
}


def spec_problem(exc: ValidationError | EnvError) -> str:
    """One line: the first error, with where it is (never the input value: a resolved secret)."""
    if isinstance(exc, EnvError):
        return str(exc).splitlines()[0]
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0] if errors else None
    if first is None:
        return "its stored spec does not validate"
    where = ".".join(str(p) for p in first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"its stored spec does not validate: {where}: {first['msg']}{more}"


def unusable_target(website_id: int, key: str, stored: Mapping[str, Any], reason: str) -> Target:
    """A placeholder checked on the website's own interval, producing ``internal``
    results that say why: a website sitewatch cannot check is never silent."""
    try:
        interval = max(parse_duration(stored.get("interval", 60)), 5.0)
    except ValueError:
        interval = 60.0
    return Target(
        website_id=website_id,
        key=key,
        url=yarl.URL("http://unusable.invalid/"),
        method="GET",
        headers={},
        body=None,
        timeout=1.0,
        interval=interval,
        retry_interval=None,
        follow_redirects=False,
        verify_tls=True,
        expect=Expectations(),
        broken=reason,
        broken_type=check_type(stored) if check_model(stored) else "http",
    )


def target_from_spec(website_id: int, stored: dict[str, Any], environ: Mapping[str, str]) -> Target:
    """``ValidationError`` or ``EnvError`` when the stored spec no longer validates here."""
    resolved = resolve(stored, environ)
    model = check_model(resolved) or Website  # an unknown type fails Website's validation
    return Target.of(model.model_validate(resolved), website_id)
