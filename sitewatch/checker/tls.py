"""TLS checks: any TLS service, not only HTTPS.

Resolve and connect (timed, as TCP checks do), then the handshake (timed) with
the server name in SNI; the chain and the host name are verified unless
``verify_tls`` is off, the protocol version must be at least ``min_version``,
and the certificate must outlive ``tls_expiry_days``. What the certificate says
(subject, issuer, names, validity) and the negotiated version are kept with
the result -- also when it was rejected: a second handshake that verifies
nothing reads it, so the page shows *which* certificate failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ssl
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter
from typing import Any

from sitewatch.checker.result import CheckResult, ErrorKind, Timings
from sitewatch.checker.tcp import (
    CLOSE_WAIT,
    FailedError,
    classify_os_error,
    first_answering,
    resolve,
)

VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}
# What OpenSSL says when client and server share no protocol version.
_VERSION_REASONS = frozenset(
    {
        "UNSUPPORTED_PROTOCOL",
        "NO_PROTOCOLS_AVAILABLE",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "UNKNOWN_PROTOCOL",
        "TLSV1_ALERT_INSUFFICIENT_SECURITY",
    }
)
MAX_NAMES = 50  # subject alternative names kept with a result


@dataclass(frozen=True, slots=True)
class TlsTarget:
    host: str
    port: int
    server_name: str
    min_version: str
    verify: bool
    expiry_days: int


def context(min_version: str, verify: bool, cadata: bytes | None = None) -> ssl.SSLContext:
    """A client context accepting ``min_version`` and up (TLS 1.0 and 1.1 need
    OpenSSL's security level 0, which only a check that asks for them gets).
    ``cadata``: the CAs to trust (DER) instead of the system's."""
    ctx = ssl.create_default_context(cadata=cadata)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if min_version in ("1.0", "1.1"):
        with warnings.catch_warnings():  # deprecated, and asked for by this check
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = VERSIONS[min_version]
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    else:
        ctx.minimum_version = VERSIONS[min_version]
    return ctx


def certificate_facts(der: bytes) -> dict[str, Any]:
    """Subject, issuer, names and validity of a certificate (DER), JSON-able."""
    from cryptography import x509  # imported on first use: ~40 ms

    cert = x509.load_der_x509_certificate(der)
    names: list[str] = []
    with contextlib.suppress(x509.ExtensionNotFound, ValueError):
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n) for n in ext.get_values_for_type(x509.DNSName)]
        names += [str(a) for a in ext.get_values_for_type(x509.IPAddress)]
    return {
        "subject": cert.subject.rfc4514_string()[:300],
        "issuer": cert.issuer.rfc4514_string()[:300],
        "names": names[:MAX_NAMES],
        "not_before": cert.not_valid_before_utc.isoformat(),
        "expires": cert.not_valid_after_utc.isoformat(),
        "serial": format(cert.serial_number, "x")[:64],
    }


def expiry_problem(expires: datetime, days: int, now: datetime) -> str | None:
    """Why a certificate valid until ``expires`` fails a ``days`` threshold, if it does."""
    left = expires - now
    when = expires.strftime("%Y-%m-%d %H:%M UTC")
    if left.total_seconds() <= 0:
        return f"the certificate expired on {when}"
    if left.days < days:
        return (
            f"the certificate expires in {left.days} day{'s' if left.days != 1 else ''} "
            f"({when}), within tls_expiry_days ({days})"
        )
    return None


def _handshake_problem(exc: ssl.SSLError, tls: TlsTarget) -> tuple[ErrorKind, str]:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "tls", f"certificate rejected: {exc.verify_message or exc.reason}"
    reason = (exc.reason or "").upper()
    if reason == "WRONG_VERSION_NUMBER":
        return "tls", f"port {tls.port} does not speak TLS (the answer is no TLS record)"
    if reason in _VERSION_REASONS:
        return "tls", (
            f"no TLS version from {tls.min_version} up in common with the server ({exc.reason})"
        )
    return "tls", f"TLS handshake failed: {exc.reason or exc}"


class _Quiet(asyncio.Protocol):
    """Reads nothing; notes when the connection is gone (a stream protocol would
    log a warning for every peer that closes first)."""

    def __init__(self) -> None:
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def _connect(addresses: list[tuple[int, str]], port: int) -> tuple[asyncio.Transport, _Quiet]:
    loop = asyncio.get_running_loop()
    return await first_answering(
        addresses, port, lambda host, p: loop.create_connection(_Quiet, host, p)
    )


async def _handshake(
    tls: TlsTarget,
    ctx: ssl.SSLContext,
    addresses: list[tuple[int, str]],
    timings: Timings | None,
) -> tuple[bytes | None, str | None, str | None]:
    """Connect and shake hands: (certificate DER, version, cipher)."""
    loop = asyncio.get_running_loop()
    begun = perf_counter()
    transport, protocol = await _connect(addresses, tls.port)
    if timings is not None:
        timings.connect_ms = (perf_counter() - begun) * 1000
    secured: asyncio.BaseTransport | None = None
    try:
        begun = perf_counter()
        secured = await loop.start_tls(transport, protocol, ctx, server_hostname=tls.server_name)
        if timings is not None:
            timings.tls_ms = (perf_counter() - begun) * 1000
        sslobj: ssl.SSLObject | None = secured.get_extra_info("ssl_object") if secured else None
        if sslobj is None:
            return None, None, None
        cipher = sslobj.cipher()
        return (
            sslobj.getpeercert(binary_form=True),
            sslobj.version(),
            cipher[0] if cipher else None,
        )
    finally:
        (secured or transport).close()
        if secured is None:
            transport.abort()  # a failed handshake: nothing to say goodbye to
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_WAIT):
                await protocol.closed


async def check_tls(
    website_id: int,
    tls: TlsTarget,
    seconds: float,
    checked_at: datetime,
    now: datetime | None = None,
    cadata: bytes | None = None,
) -> CheckResult:
    """One check of ``tls``, all of it within ``seconds`` (``cadata``: see ``context``)."""
    loop = asyncio.get_running_loop()
    timings = Timings()
    started = perf_counter()
    result = CheckResult(website_id, checked_at, ok=False, timings=timings)
    details: dict[str, Any] = {"server_name": tls.server_name}
    result.details = details
    try:
        async with asyncio.timeout(seconds):
            addresses = await resolve(tls.host, tls.port, timings, loop)
            try:
                der, version, cipher = await _handshake(
                    tls, context(tls.min_version, tls.verify, cadata), addresses, timings
                )
            except ssl.SSLError as exc:
                result.error_kind, result.error_message = _handshake_problem(exc, tls)
                if isinstance(exc, ssl.SSLCertVerificationError):
                    # Read the certificate that failed (best effort, same deadline).
                    with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                        der, _, _ = await _handshake(
                            tls, context(tls.min_version, False), addresses, None
                        )
                        if der:
                            details.update(certificate_facts(der))
            else:
                details.update(version=version, cipher=cipher)
                if der is None:
                    result.error_kind = "tls"
                    result.error_message = "the server sent no certificate"
                else:
                    details.update(certificate_facts(der))
                    expires = datetime.fromisoformat(details["expires"])
                    result.cert_expires_at = expires
                    problem = expiry_problem(expires, tls.expiry_days, now or datetime.now(UTC))
                    if problem is not None:
                        result.error_kind, result.error_message = "tls", problem
                    else:
                        result.ok = True
    except FailedError as failed:
        result.error_kind, result.error_message = failed.kind, failed.message
    except TimeoutError:
        phase = (
            "no TLS handshake"
            if timings.connect_ms is not None
            else f"no connection to port {tls.port}"
        )
        result.error_kind, result.error_message = "timeout", f"{phase} within {seconds:g}s"
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            raise  # sitewatch's own fault: the prober reports it as internal
        result.error_kind, result.error_message = classify_os_error(exc, tls.port)
        if timings.connect_ms is not None:  # up, then dropped during the handshake
            result.error_kind = "tls"
            result.error_message = (
                "the server closed the connection during the TLS handshake: it may offer "
                f"no TLS version from {tls.min_version} up, or not speak TLS on port {tls.port}"
            )
    timings.total_ms = (perf_counter() - started) * 1000
    return result
