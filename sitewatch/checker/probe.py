"""One check: HTTP on libcurl (``checker.curl``), the other types by their modules;
the timing breakdown, certificate expiry, judgement.

By default every HTTP check opens a fresh connection (``FRESH_CONNECT``, no DNS
cache, no TLS session resumption), so DNS, connect and TLS times are what a
first-time visitor pays, not a pooled connection's zero.
"""

from __future__ import annotations

import codecs
import errno
import ipaddress
import logging
import os
import re
import socket
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType

import pycurl

from sitewatch import __version__
from sitewatch.checker.curl import (
    CurlClosedError,
    CurlThread,
    Phases,
    ca_bundle,
    phases,
    system_cafile,
)
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

log = logging.getLogger("sitewatch.checker")
_WEB = pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS
# http_version and the URL's scheme -> libcurl's HTTP version: HTTP/2 over TLS is
# negotiated (ALPN); over plain http, "2" means prior knowledge (h2c).
_HTTP_VERSIONS = {
    ("auto", "https"): pycurl.CURL_HTTP_VERSION_2TLS,
    ("auto", "http"): pycurl.CURL_HTTP_VERSION_1_1,
    ("1.1", "https"): pycurl.CURL_HTTP_VERSION_1_1,
    ("1.1", "http"): pycurl.CURL_HTTP_VERSION_1_1,
    ("2", "https"): pycurl.CURL_HTTP_VERSION_2TLS,
    ("2", "http"): pycurl.CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE,
}
_H2 = (pycurl.CURL_HTTP_VERSION_2_0,)


class _Body:
    """The body as it arrives (decompressed), up to a limit: past it, libcurl is
    told to stop (``CURLE_WRITE_ERROR``) and the body is ``None``."""

    __slots__ = ("chunks", "limit", "over", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[bytes] = []
        self.size = 0
        self.over = False

    def write(self, chunk: bytes) -> int | None:
        self.size += len(chunk)
        if self.size > self.limit:
            self.over = True
            return 0  # not what was given: libcurl aborts the transfer
        self.chunks.append(chunk)
        return None

    def value(self) -> bytes | None:
        return None if self.over else b"".join(self.chunks)


class Prober:
    """Runs checks; use as ``async with Prober() as prober: await prober.check(t)``."""

    def __init__(
        self,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        fresh_connections: bool = True,
        dns_cache_seconds: int = 0,
        timings: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] | None = None,
        redact: Redactor | None = None,
        pings: PingReader | None = None,
        curl: Callable[[], CurlThread] = CurlThread,
    ) -> None:
        self.redact = redact or Redactor(None)
        self.pings = pings  # how heartbeat checks read their pings (None: not here)
        self.icmp = Sockets()
        self.resolvers = SystemResolvers()  # for DNS checks that name no resolver
        self.max_body_bytes = max_body_bytes
        self.fresh_connections = fresh_connections
        # 0: every check looks the name up (through the system's resolver, in
        # libcurl's resolver thread); more: answers are kept that long for all checks.
        self.dns_cache_seconds = dns_cache_seconds
        self.trace_timings = timings
        self.ssl_context = ssl_context  # None: the system's trusted CAs
        # The same CAs for TLS checks, which build a context per check (DER).
        self._cadata = (
            b"".join(ssl_context.get_ca_certs(binary_form=True)) or None
            if ssl_context is not None
            else None
        )
        self.now = clock or (lambda: datetime.now(UTC))
        self._cablob = ca_bundle(ssl_context)
        self._cafile = system_cafile()
        self._make_curl = curl  # what runs the HTTP transfers (benches compare others)
        self._curl: CurlThread | None = None
        self._handles: list[pycurl.Curl] = []  # reused: a handle is set up again per check

    def transfer_late(self) -> float:
        """How late, at most, libcurl's thread handled socket events lately
        (``CurlThread.take_late``; 0 before ``async with``)."""
        return self._curl.take_late() if self._curl is not None else 0.0

    async def __aenter__(self) -> Prober:
        self._curl = self._make_curl()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._curl is not None:
            self._curl.close()
            self._curl = None
        for handle in self._handles:
            handle.close()
        self._handles.clear()

    async def watch(self) -> None:
        """Wait while the curl thread runs; raise when it fails, so the checker's
        supervisor restarts the checker and /health, /ready and the dashboard say
        so (each check in flight already reported the failure as internal)."""
        curl = self._curl
        assert curl is not None, "use Prober as an async context manager"
        await curl.broken.wait()
        raise CurlClosedError(f"the curl thread failed: {curl.failure!r}")

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
        curl = self._curl
        assert curl is not None, "use Prober as an async context manager"
        handle = self._handles.pop() if self._handles else pycurl.Curl()
        body = _Body(self.max_body_bytes)
        try:
            self._setup(handle, target, body)
        except BaseException:
            handle.reset()
            self._handles.append(handle)
            raise
        # Cancelled or failed, the transfer's handle stays the curl thread's to drop.
        code, message = await curl.perform(handle)
        try:
            return self._judge(handle, target, checked_at, body, code, message)
        finally:
            handle.reset()
            self._handles.append(handle)

    def _setup(self, handle: pycurl.Curl, target: Target, body: _Body) -> None:
        """What one check asks of libcurl."""
        opt = handle.setopt
        opt(pycurl.URL, str(target.url))
        opt(pycurl.PROTOCOLS, _WEB)
        opt(pycurl.REDIR_PROTOCOLS, _WEB)  # never a redirect to file:// or gopher://
        opt(pycurl.NOSIGNAL, 1)
        opt(pycurl.TIMEOUT_MS, max(int(target.timeout * 1000), 1))
        opt(pycurl.WRITEFUNCTION, body.write)
        opt(pycurl.ACCEPT_ENCODING, "")  # every encoding libcurl decodes; bounded by _Body
        opt(pycurl.USERAGENT, USER_AGENT)
        headers = [f"{name}: {value}" for name, value in target.headers.items()]
        headers.append("Expect:")  # no 100-continue wait before a body
        opt(pycurl.HTTPHEADER, headers)
        method = target.method.upper()
        if method == "HEAD":
            opt(pycurl.NOBODY, 1)
        elif method != "GET":
            opt(pycurl.CUSTOMREQUEST, method)
        if target.body is not None:
            opt(pycurl.POSTFIELDS, target.body)
            if method == "GET":
                opt(pycurl.CUSTOMREQUEST, "GET")
        if target.follow_redirects:
            opt(pycurl.FOLLOWLOCATION, 1)
            opt(pycurl.MAXREDIRS, MAX_REDIRECTS)
        if self.fresh_connections and not target.reuse_connection:
            # A first-time visitor: a new connection and a full handshake.
            opt(pycurl.FRESH_CONNECT, 1)
            opt(pycurl.FORBID_REUSE, 1)
            opt(pycurl.SSL_SESSIONID_CACHE, 0)
        opt(pycurl.DNS_CACHE_TIMEOUT, self.dns_cache_seconds)
        opt(pycurl.HTTP_VERSION, _HTTP_VERSIONS[target.http_version, target.url.scheme])
        if target.proxy is not None:
            opt(pycurl.PROXY, target.proxy)
        else:
            opt(pycurl.PROXY, "")  # never one from the environment (http_proxy)
        if target.url.scheme == "https":
            opt(pycurl.OPT_CERTINFO, 1)
            if not target.verify_tls:
                opt(pycurl.SSL_VERIFYPEER, 0)
                opt(pycurl.SSL_VERIFYHOST, 0)
            elif self._cablob is not None:
                opt(pycurl.CAINFO_BLOB, self._cablob)
            elif self._cafile is not None:
                opt(pycurl.CAINFO, self._cafile)

    def _judge(
        self,
        handle: pycurl.Curl,
        target: Target,
        checked_at: datetime,
        body: _Body,
        code: int,
        message: str,
    ) -> CheckResult:
        result = CheckResult(target.website_id, checked_at, ok=False)
        times = phases(handle)
        secure = target.url.scheme == "https"
        responded = handle.getinfo(pycurl.RESPONSE_CODE) > 0
        result.timings = self._timings(times, target, secure, responded)
        total_ms = times.total / 1000
        aborted = code == pycurl.E_WRITE_ERROR and body.over
        if code and not aborted:
            os_error = handle.getinfo(pycurl.OS_ERRNO)
            if os_error in (errno.EMFILE, errno.ENFILE):  # ours, not the website's
                raise OSError(os_error, os.strerror(os_error))
            if code == pycurl.E_COULDNT_CONNECT and not os_error:
                _descriptors_left()  # libcurl does not say when socket() failed
            result.error_kind, result.error_message = classify(handle, code, message, target)
            return result
        result.status_code = handle.getinfo(pycurl.RESPONSE_CODE)
        if target.http_version == "2" and handle.getinfo(pycurl.INFO_HTTP_VERSION) not in _H2:
            result.error_kind = "http"
            result.error_message = "the server does not speak HTTP/2 (http_version: 2)"
            return result
        if handle.getinfo(pycurl.REDIRECT_COUNT):
            result.final_url = handle.getinfo(pycurl.EFFECTIVE_URL)
        result.size_bytes = body.size
        if secure:
            try:
                result.cert_expires_at = _expiry(handle.getinfo(pycurl.INFO_CERTINFO))
            except ValueError:
                result.error_kind = "tls"
                result.error_message = "the server's certificate cannot be parsed"
                return result
        failure = evaluate(
            target.expect,
            status=result.status_code,
            body=body.value(),
            total_ms=total_ms,
            cert_expires_at=result.cert_expires_at,
            now=checked_at,
            charset=_charset(handle.getinfo(pycurl.CONTENT_TYPE)),
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

    def _timings(self, t: Phases, target: Target, secure: bool, responded: bool) -> Timings:
        """Phases that did not complete (or did not apply) are ``None``: no DNS for
        an IP address, no TLS for http://, no DNS, connect or TLS on a reused
        connection (``reuse_connection``)."""
        total = t.total / 1000
        if not self.trace_timings:
            return Timings(total_ms=total)
        connected = t.connect > 0
        return Timings(
            dns_ms=t.namelookup / 1000 if t.namelookup and not _is_ip(target.url.host) else None,
            connect_ms=(t.connect - t.namelookup) / 1000 if connected else None,
            tls_ms=(t.appconnect - t.connect) / 1000 if secure and t.appconnect else None,
            first_byte_ms=(t.starttransfer - t.pretransfer) / 1000 if responded else None,
            total_ms=total,
        )


def _descriptors_left() -> None:
    """Raise ``OSError`` (EMFILE) when this process cannot open a socket."""
    try:
        socket.socket().close()
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            raise


def _is_ip(host: str | None) -> bool:
    try:
        ipaddress.ip_address((host or "").strip("[]"))
    except ValueError:
        return False
    return True


def _charset(content_type: str | None) -> str:
    """The response's charset if Python knows it; UTF-8 otherwise (a website may
    announce anything: ``charset=x-unknown`` must not end the check)."""
    name = "utf-8"
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"'):
            name = value.strip().strip('"')
    try:
        codecs.lookup(name)
    except LookupError:
        return "utf-8"
    return name


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _expiry(chain: list[list[tuple[str, str]]] | None) -> datetime | None:
    """The leaf certificate's expiry, from libcurl's certificate info (``Expire
    date: Jan  1 00:00:00 2027 GMT``); None when the connection had none."""
    if not chain:
        return None
    for key, value in chain[0]:
        if key == "Expire date":
            return datetime.strptime(value, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)
    raise ValueError("no expiry date in the certificate")


# libcurl's error codes, by what they say about the website.
_CONNECTION = {
    pycurl.E_GOT_NOTHING: "the server closed the connection without a complete response",
    pycurl.E_RECV_ERROR: "the connection was reset",
    pycurl.E_SEND_ERROR: "the connection was reset",
    pycurl.E_PARTIAL_FILE: "the body was cut short",
}


def classify(handle: pycurl.Curl, code: int, message: str, target: Target) -> tuple[ErrorKind, str]:
    """The error kind and a message a person can act on."""
    url = target.url
    host = f"{url.host}:{url.port}"
    if code == pycurl.E_OPERATION_TIMEDOUT:
        return "timeout", f"no complete answer within {format_duration(target.timeout)}"
    if code == pycurl.E_COULDNT_RESOLVE_HOST:
        return "dns", f"cannot resolve {url.host}: no address found"
    if code == pycurl.E_COULDNT_RESOLVE_PROXY:
        return "dns", "cannot resolve the proxy's host name: no address found"
    if code == pycurl.E_PEER_FAILED_VERIFICATION:
        return "tls", f"certificate rejected: {_verify_reason(message)}"
    if code in (pycurl.E_SSL_CONNECT_ERROR, pycurl.E_SSL_CERTPROBLEM):
        return "tls", f"TLS handshake with {host} failed: {_reason(message)}"
    if code == pycurl.E_COULDNT_CONNECT:
        os_error = handle.getinfo(pycurl.OS_ERRNO)
        if os_error == errno.ECONNREFUSED:
            return "refused", f"connection refused by {host}"
        reason = os.strerror(os_error) if os_error else _reason(message)
        return "connection", f"cannot connect to {host}: {reason}"
    if code in _CONNECTION:
        return "connection", _CONNECTION[code]
    if code == pycurl.E_TOO_MANY_REDIRECTS:
        return "http", f"more than {MAX_REDIRECTS} redirects"
    if code == pycurl.E_URL_MALFORMAT:
        return "http", f"invalid URL: {_reason(message)}"
    if code == pycurl.E_BAD_CONTENT_ENCODING:
        return "http", f"the body cannot be decoded: {_reason(message)}"
    if code == pycurl.E_UNSUPPORTED_PROTOCOL:
        return "http", f"a redirect to a URL that is not http or https: {_reason(message)}"
    return "http", f"invalid HTTP response: {_reason(message)}"


_VERIFY = re.compile(
    r"(?:SSL certificate OpenSSL verify result|SSL certificate problem|SSL): (.*?)(?: \(\d+\))?$"
)


def _verify_reason(message: str) -> str:
    """OpenSSL's reason a certificate was rejected, from libcurl's message
    (``SSL certificate OpenSSL verify result: certificate has expired (10)``)."""
    found = _VERIFY.search(message.strip())
    return found.group(1) if found else _reason(message)


def _reason(message: str) -> str:
    return message.strip() or "no reason given"
