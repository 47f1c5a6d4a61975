"""DNS checks: ask a resolver for one record and judge the answer.

The query goes straight to the resolver (``resolver:``, or each of the
system's in /etc/resolv.conf in turn) through dnspython's asyncio transport,
never through the C library's cache, so the time measured is the resolver's
answer time and the response code is seen: NXDOMAIN, SERVFAIL and silence are
different failures with different causes. UDP answers that come back
truncated are asked again over TCP.
"""

from __future__ import annotations

import errno
import ipaddress
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from time import perf_counter
from typing import Any

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver

from sitewatch.checker.result import CheckResult, Timings
from sitewatch.checker.tcp import classify_os_error
from sitewatch.config.models import resolver_address

MAX_ANSWERS = 50  # values kept with a result
_NAMES = frozenset({"CNAME", "NS", "MX", "SOA"})  # whose values hold domain names
_SYSTEM_TTL = 60.0  # seconds to trust what /etc/resolv.conf said


@dataclass(frozen=True, slots=True)
class DnsTarget:
    domain: str
    record: str
    resolver: tuple[str, int] | None  # None: the system's resolvers
    tcp: bool
    expect: frozenset[str]  # normalised (``normalise``)
    exact: bool
    max_time: float | None  # seconds

    @classmethod
    def of(
        cls,
        domain: str,
        record: str,
        resolver: str | None = None,
        protocol: str = "udp",
        expect: Iterable[str] = (),
        exact: bool = False,
        max_time: float | None = None,
    ) -> DnsTarget:
        return cls(
            domain=domain,
            record=record,
            resolver=resolver_address(resolver) if resolver else None,
            tcp=protocol == "tcp",
            expect=frozenset(normalise(record, v) for v in expect),
            exact=exact,
            max_time=max_time,
        )


class SystemResolvers:
    """The system's resolvers, re-read from /etc/resolv.conf once a minute (one
    per ``Prober``)."""

    def __init__(self) -> None:
        self._at = -_SYSTEM_TTL
        self._servers: list[tuple[str, int]] = []

    def servers(self) -> list[tuple[str, int]]:
        now = time.monotonic()
        if now - self._at >= _SYSTEM_TTL:
            try:
                conf = dns.resolver.Resolver()
                self._servers = [(str(s), int(conf.port)) for s in conf.nameservers]
            except dns.resolver.NoResolverConfiguration:
                self._servers = []
            self._at = now
        return self._servers


def _name(text: str) -> str:
    return text.lower().rstrip(".") if text != "." else "."


def normalise(record: str, value: str) -> str:
    """A value as written in ``expect`` or as answered, in one comparable form:
    addresses canonical, domain names lower-case without the final dot, TXT as is
    (one pair of surrounding quotes removed), CAA without quotes."""
    text = " ".join(value.split())
    if record in ("A", "AAAA"):
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            return text
    if record in _NAMES:
        return " ".join(_name(token) for token in text.split(" "))
    if record == "TXT":
        stripped = value.strip()
        if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
            return stripped[1:-1]
        return stripped
    if record == "CAA":
        parts = text.replace('"', "").split(" ", 2)
        if len(parts) == 3:
            return f"{parts[0]} {parts[1].lower()} {parts[2]}"
        return text.replace('"', "")
    return text


def answer_values(record: str, response: dns.message.Message) -> tuple[list[str], int | None]:
    """The answer's values of type ``record`` (normalised), and their smallest TTL."""
    rdtype = dns.rdatatype.from_text(record)
    values: list[str] = []
    ttl: int | None = None
    for rrset in response.answer:
        if rrset.rdtype != rdtype:
            continue  # the CNAME chain that led to the A records, say
        ttl = rrset.ttl if ttl is None else min(ttl, rrset.ttl)
        for rdata in rrset:
            if record == "TXT":
                text = b"".join(rdata.strings).decode("utf-8", "replace")
            elif record == "CAA":
                text = (
                    f"{rdata.flags} {rdata.tag.decode('ascii', 'replace')} "
                    f"{rdata.value.decode('utf-8', 'replace')}"
                )
            else:
                text = rdata.to_text()
            values.append(normalise(record, text))
    return values, ttl


def judge(target: DnsTarget, values: list[str]) -> str | None:
    """Why an answer fails the check's ``expect``, or None."""
    got = set(values)
    missing = sorted(target.expect - got)
    shown = ", ".join(sorted(got)[:10]) or "nothing"
    if missing:
        return f"the {target.record} answer lacks {', '.join(missing)} (got {shown})"
    if target.exact:
        extra = sorted(got - target.expect)
        if extra:
            return f"the {target.record} answer holds more than expected: {', '.join(extra)}"
    return None


def _where(server: tuple[str, int]) -> str:
    address, port = server
    host = f"[{address}]" if ":" in address else address
    return f"{host}:{port}"


async def _ask(
    query: dns.message.Message, server: tuple[str, int], tcp: bool, seconds: float
) -> tuple[dns.message.Message, bool]:
    address, port = server
    if tcp:
        return await dns.asyncquery.tcp(query, address, timeout=seconds, port=port), True
    return await dns.asyncquery.udp_with_fallback(query, address, timeout=seconds, port=port)


async def check_dns(
    website_id: int,
    target: DnsTarget,
    seconds: float,
    checked_at: datetime,
    system: SystemResolvers,
) -> CheckResult:
    """One check of ``target``, all of it within ``seconds`` (``system``: the
    resolvers to ask when the target names none)."""
    timings = Timings()
    started = perf_counter()
    result = CheckResult(website_id, checked_at, ok=False, timings=timings)
    servers = [target.resolver] if target.resolver else system.servers()
    details: dict[str, Any] = {"record": target.record}
    result.details = details
    if not servers:
        result.error_kind = "internal"
        result.error_message = "no resolver: /etc/resolv.conf names none; set resolver:"
        return result
    query = dns.message.make_query(target.domain, target.record)
    deadline = started + seconds
    problems: list[str] = []
    response: dns.message.Message | None = None
    for n, server in enumerate(servers):
        left = deadline - perf_counter()
        if left <= 0:
            break
        share = left / (len(servers) - n)  # the rest of the time, shared by those left
        details["resolver"] = _where(server)
        begun = perf_counter()
        try:
            response, used_tcp = await _ask(query, server, target.tcp, share)
        except dns.exception.Timeout:
            problems.append(f"no answer from {_where(server)} within {share:.3g}s")
            continue
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                raise  # sitewatch's own fault: the prober reports it as internal
            kind, message = classify_os_error(exc, server[1])
            problems.append(f"{_where(server)}: {message}")
            result.error_kind = kind
            continue
        except dns.exception.DNSException as exc:
            problems.append(f"{_where(server)}: invalid answer: {exc}")
            result.error_kind = "dns"
            continue
        timings.dns_ms = (perf_counter() - begun) * 1000
        details["protocol"] = "tcp" if used_tcp else "udp"
        break
    timings.total_ms = (perf_counter() - started) * 1000
    if response is None:
        if result.error_kind is None:
            result.error_kind = "timeout"
        result.error_message = "; ".join(problems) or f"no answer within {seconds:g}s"
        return result
    rcode = response.rcode()
    details["rcode"] = dns.rcode.to_text(rcode)
    if rcode == dns.rcode.NXDOMAIN:
        result.error_kind = "nxdomain"
        result.error_message = (
            f"{target.domain} does not exist (NXDOMAIN from {details['resolver']})"
        )
        return result
    if rcode == dns.rcode.SERVFAIL:
        result.error_kind = "servfail"
        result.error_message = f"{details['resolver']} failed to resolve {target.domain} (SERVFAIL)"
        return result
    if rcode != dns.rcode.NOERROR:
        result.error_kind = "dns"
        result.error_message = (
            f"{details['resolver']} answered {dns.rcode.to_text(rcode)} for {target.domain}"
        )
        return result
    values, ttl = answer_values(target.record, response)
    details["answers"] = values[:MAX_ANSWERS]
    details["ttl"] = ttl
    if not values:
        result.error_kind = "dns"
        result.error_message = f"{target.domain} has no {target.record} record"
        return result
    problem = judge(target, values)
    if problem is not None:
        result.error_kind, result.error_message = "assertion", problem
        return result
    slow = target.max_time is not None and (timings.dns_ms or 0.0) > target.max_time * 1000
    if slow:
        result.error_kind = "slow"
        result.error_message = (
            f"answered in {timings.dns_ms:.0f} ms, more than max_response_time "
            f"({(target.max_time or 0.0) * 1000:.0f} ms)"
        )
        return result
    result.ok = True
    return result
