"""One HTTP check: request, timing breakdown, certificate expiry, judgement.

A ``Prober`` owns one aiohttp ``ClientSession``. By default every check opens a
fresh connection (``force_close``, no DNS cache), so DNS, connect and TLS times
are what a first-time visitor pays, not a pooled connection's zero.

Timings come from aiohttp's tracing signals, plus one hook aiohttp has no
signal for: the moment the TCP connection is up and the TLS handshake starts.
asyncio calls the connector's protocol factory exactly then (before the
handshake, for both the default loop and uvloop), so ``_TimingConnector`` wraps
that factory; ``tests/checker/test_probe.py`` pins the behaviour.
"""

from __future__ import annotations

import codecs
import errno
import logging
import ssl
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from types import SimpleNamespace, TracebackType
from typing import Any

import aiohttp
from aiohttp import ClientTimeout, TraceConfig, client_exceptions

from sitewatch import __version__
from sitewatch.checker.dns import DnsTarget, SystemResolvers, check_dns
from sitewatch.checker.expectations import evaluate
from sitewatch.checker.heartbeat import PingReader, check_heartbeat
from sitewatch.checker.icmp import IcmpTarget, NoIcmpSocketError, Sockets, check_icmp
from sitewatch.checker.result import CheckResult, ErrorKind, Timings, internal_result
from sitewatch.checker.target import ServiceTarget, Target
from sitewatch.checker.tcp import TcpTarget, check_tcp
from sitewatch.checker.tls import TlsTarget, check_tls
from sitewatch.config.secrets import Redactor
from sitewatch.config.types import format_duration

DEFAULT_MAX_BODY_BYTES = 1 << 20
MAX_REDIRECTS = 10
USER_AGENT = f"sitewatch/{__version__} (+https://github.com/sitewatch)"

_clock = time.perf_counter
log = logging.getLogger("sitewatch.checker")


class _Trace:
    """Marks of one check, filled by the trace callbacks (perf_counter seconds)."""

    __slots__ = (
        "conn_start",
        "connect",
        "connected",
        "dns",
        "dns_before",
        "dns_start",
        "first_byte",
        "peer_cert",
        "protocol",
        "resolved",
        "responded",
        "sent",
        "tcp_up",
        "tls",
    )

    def __init__(self) -> None:
        self.dns = 0.0
        self.dns_start = 0.0
        self.dns_before = 0.0
        self.connect = 0.0
        self.conn_start = 0.0
        self.tcp_up = 0.0
        self.tls = 0.0
        self.sent = 0.0
        self.first_byte = 0.0
        self.resolved = self.connected = self.responded = False
        self.protocol: Any = None  # the connection's protocol, to read its TLS session
        self.peer_cert: bytes | None = None  # DER of the last server certificate seen

    def timings(self, total: float, secure: bool) -> Timings:
        """Phases that did not complete (or did not apply) are ``None``."""
        return Timings(
            dns_ms=self.dns * 1000 if self.resolved else None,
            connect_ms=self.connect * 1000 if self.connected else None,
            tls_ms=self.tls * 1000 if secure and self.connected else None,
            first_byte_ms=self.first_byte * 1000 if self.responded else None,
            total_ms=total * 1000,
        )


_current: ContextVar[_Trace | None] = ContextVar("sitewatch_probe_trace", default=None)


class _TimingConnector(aiohttp.TCPConnector):
    """A TCPConnector that notes when the TCP connection is up (see module doc)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        make: Callable[[], Any] = self._factory

        def factory() -> Any:
            trace = _current.get()
            protocol = make()
            if trace is not None:
                trace.tcp_up = _clock()
                trace.protocol = protocol
            return protocol

        self._factory = factory  # type: ignore[assignment]


async def _dns_start(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    ctx.trace_request_ctx.dns_start = _clock()


async def _dns_end(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    t: _Trace = ctx.trace_request_ctx
    t.dns += _clock() - t.dns_start
    t.resolved = True


async def _conn_start(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    t: _Trace = ctx.trace_request_ctx
    t.conn_start = _clock()
    t.tcp_up = 0.0
    t.dns_before = t.dns


async def _conn_end(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    t: _Trace = ctx.trace_request_ctx
    now = _clock()
    up = t.tcp_up or now
    # Name resolution happens inside connection setup: take it out of connect.
    t.connect += max(up - t.conn_start - (t.dns - t.dns_before), 0.0)
    t.tls += now - up
    t.connected = True
    # The certificate is read here: with fresh connections, the connection is
    # gone by the time a small response has been read.
    transport = getattr(t.protocol, "transport", None)
    sslobj = transport.get_extra_info("ssl_object") if transport is not None else None
    if isinstance(sslobj, ssl.SSLObject | ssl.SSLSocket):
        t.peer_cert = sslobj.getpeercert(binary_form=True)


async def _headers_sent(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    ctx.trace_request_ctx.sent = _clock()


async def _response(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    t: _Trace = ctx.trace_request_ctx
    if t.sent:
        t.first_byte += _clock() - t.sent
        t.sent = 0.0
        t.responded = True


def trace_config() -> TraceConfig:
    config = TraceConfig()
    config.on_dns_resolvehost_start.append(_dns_start)
    config.on_dns_resolvehost_end.append(_dns_end)
    config.on_connection_create_start.append(_conn_start)
    config.on_connection_create_end.append(_conn_end)
    config.on_request_headers_sent.append(_headers_sent)
    config.on_request_redirect.append(_response)
    config.on_request_end.append(_response)
    return config


class Prober:
    """Runs checks; use as ``async with Prober() as prober: await prober.check(t)``."""

    def __init__(
        self,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        fresh_connections: bool = True,
        timings: bool = True,
        limit: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] | None = None,
        redact: Redactor | None = None,
        pings: PingReader | None = None,
    ) -> None:
        self.redact = redact or Redactor(None)
        self.pings = pings  # how heartbeat checks read their pings (None: not here)
        self.icmp = Sockets()
        self.resolvers = SystemResolvers()  # for DNS checks that name no resolver
        self.max_body_bytes = max_body_bytes
        self.fresh_connections = fresh_connections
        self.trace_timings = timings
        self.limit = limit
        self.ssl_context = ssl_context  # None: the system's trusted CAs
        # The same CAs for TLS checks, which build a context per check (DER).
        self._cadata = (
            b"".join(ssl_context.get_ca_certs(binary_form=True)) or None
            if ssl_context is not None
            else None
        )
        self.now = clock or (lambda: datetime.now(UTC))
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Prober:
        connector = _TimingConnector(
            force_close=self.fresh_connections,
            use_dns_cache=not self.fresh_connections,
            limit=self.limit,
            enable_cleanup_closed=False,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # websites never share cookies
            headers={"User-Agent": USER_AGENT},
            trace_configs=[trace_config()] if self.trace_timings else None,
            trust_env=False,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def check(self, target: Target) -> CheckResult:
        """Probe ``target`` once. Never raises: what the website does is a failure of
        its own kind, and a fault of sitewatch's is a result of kind ``internal``."""
        checked_at = self.now()
        try:
            result = await self._check(target, checked_at)
        except Exception as exc:  # sitewatch's fault: say so, never blame the website
            if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
                message = (
                    "sitewatch has no file descriptors left (too many open files): raise its "
                    "open-file limit or lower SITEWATCH_CHECK_CONCURRENCY"
                )
                log.error("cannot check %s: %s", target.key, message)
            else:
                message = f"internal error in sitewatch: {_describe(exc)}"
                log.exception("internal error checking %s", target.key)
            result = internal_result(target.website_id, checked_at, message)
        result.error_message = self.redact.optional(result.error_message)
        result.final_url = self.redact.optional(result.final_url)
        if result.details:
            result.details = self.redact.tree(result.details)
        return result

    async def _check(self, target: Target, checked_at: datetime) -> CheckResult:
        if target.broken is not None:
            return internal_result(target.website_id, checked_at, target.broken)
        if target.service is not None:
            return await self._check_service(target, target.service, checked_at)
        session = self._session
        assert session is not None, "use Prober as an async context manager"
        trace = _Trace()
        token = _current.set(trace)
        started = _clock()
        secure = target.url.scheme == "https"
        result = CheckResult(target.website_id, checked_at, ok=False)
        try:
            async with session.request(
                target.method,
                target.url,
                headers=target.headers,
                data=target.body,
                allow_redirects=target.follow_redirects,
                max_redirects=MAX_REDIRECTS,
                timeout=ClientTimeout(total=target.timeout),
                ssl=(self.ssl_context or True) if target.verify_tls else False,
                trace_request_ctx=trace,
            ) as response:
                result.status_code = response.status
                if response.url != target.url:
                    result.final_url = str(response.url)
                body, size = await self._read(response)
                total = _clock() - started
                result.size_bytes = size
                charset = _charset(response)
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):  # ours, not the website's
                raise
            total = _clock() - started
            result.error_kind, result.error_message = classify(exc, target)
            result.timings = self._timings(trace, total, secure)
            return result
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError) as exc:
            total = _clock() - started
            result.error_kind, result.error_message = classify(exc, target)
            result.timings = self._timings(trace, total, secure)
            return result
        finally:
            _current.reset(token)
        result.timings = self._timings(trace, total, secure)
        if trace.peer_cert and response.url.scheme == "https":
            try:
                result.cert_expires_at = _expiry(trace.peer_cert)
            except ValueError:
                result.error_kind = "tls"
                result.error_message = "the server's certificate cannot be parsed"
                return result
        failure = evaluate(
            target.expect,
            status=result.status_code,
            body=body,
            total_ms=total * 1000,
            cert_expires_at=result.cert_expires_at,
            now=checked_at,
            charset=charset,
        )
        if failure is None:
            result.ok = True
        else:
            result.error_kind, result.error_message = failure  # type: ignore[assignment]
        return result

    async def _check_service(
        self, target: Target, service: ServiceTarget, checked_at: datetime
    ) -> CheckResult:
        """A check of a type other than HTTP, by its type's module."""
        wid, seconds = target.website_id, target.timeout
        if isinstance(service, TcpTarget):
            return await check_tcp(wid, service, seconds, checked_at)
        if isinstance(service, TlsTarget):
            return await check_tls(
                wid, service, seconds, checked_at, now=checked_at, cadata=self._cadata
            )
        if isinstance(service, DnsTarget):
            return await check_dns(wid, service, seconds, checked_at, self.resolvers)
        if isinstance(service, IcmpTarget):
            try:
                return await check_icmp(wid, service, seconds, checked_at, self.icmp)
            except NoIcmpSocketError as exc:
                return internal_result(wid, checked_at, str(exc))
        if self.pings is None:
            return internal_result(
                wid, checked_at, "heartbeats are judged by a running sitewatch serve"
            )
        return await check_heartbeat(wid, service, checked_at, self.pings, now=checked_at)

    def _timings(self, trace: _Trace, total: float, secure: bool) -> Timings:
        if self.trace_timings:
            return trace.timings(total, secure)
        return Timings(total_ms=total * 1000)

    async def _read(self, response: aiohttp.ClientResponse) -> tuple[bytes | None, int]:
        """The body, or ``None`` past the limit (reading stops there); and its size."""
        limit = self.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await response.content.read(limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return None, size
        return b"".join(chunks), size


def _charset(response: aiohttp.ClientResponse) -> str:
    """The response's charset if Python knows it; UTF-8 otherwise (a website may
    announce anything: ``charset=x-unknown`` must not end the check)."""
    name = response.charset or "utf-8"
    try:
        codecs.lookup(name)
    except LookupError:
        return "utf-8"
    return name


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _expiry(der: bytes) -> datetime:
    from cryptography import x509  # only HTTPS checks need it (import costs ~40 ms)

    return x509.load_der_x509_certificate(der).not_valid_after_utc


def classify(exc: BaseException, target: Target) -> tuple[ErrorKind, str]:
    """The error kind and a message a person can act on."""
    host = f"{target.url.host}:{target.url.port}"
    if isinstance(exc, TimeoutError):
        return "timeout", f"no complete answer within {format_duration(target.timeout)}"
    if isinstance(exc, client_exceptions.ClientConnectorDNSError):
        return "dns", f"cannot resolve {target.url.host}: {_os_reason(exc)}"
    if isinstance(exc, client_exceptions.ClientConnectorCertificateError):
        cert_error = exc.certificate_error
        reason = getattr(cert_error, "verify_message", None) or str(cert_error)
        return "tls", f"certificate rejected: {reason}"
    if isinstance(exc, client_exceptions.ClientSSLError):
        return "tls", f"TLS handshake with {host} failed: {_os_reason(exc)}"
    if isinstance(exc, ssl.SSLError):
        return "tls", f"TLS error: {exc.reason or exc}"
    if isinstance(exc, client_exceptions.ClientConnectorError):
        if exc.os_error.errno == errno.ECONNREFUSED:
            return "refused", f"connection refused by {host}"
        return "connection", f"cannot connect to {host}: {_os_reason(exc)}"
    if isinstance(exc, client_exceptions.ServerDisconnectedError):
        return "connection", "the server closed the connection without a complete response"
    if isinstance(exc, client_exceptions.TooManyRedirects):
        return "http", f"more than {MAX_REDIRECTS} redirects"
    if isinstance(exc, client_exceptions.ClientPayloadError):
        return "connection", f"the body was cut short: {exc}"
    if isinstance(exc, client_exceptions.ClientResponseError):
        return "http", f"invalid HTTP response: {exc.message or exc}"
    if isinstance(exc, client_exceptions.InvalidURL):
        return "http", f"invalid URL: {exc}"
    if isinstance(exc, ConnectionResetError | client_exceptions.ClientConnectionResetError):
        return "connection", "the connection was reset"
    if isinstance(exc, client_exceptions.ClientOSError | OSError):
        return "connection", f"connection error: {_os_reason(exc)}"
    return "http", f"{type(exc).__name__}: {exc}"


def _os_reason(exc: BaseException) -> str:
    inner = getattr(exc, "os_error", None) or exc
    return getattr(inner, "strerror", None) or str(inner) or type(inner).__name__
