"""Real HTTP(S) target servers on loopback for checker tests.

``TargetServer`` is an aiohttp app whose paths choose the behaviour:

- ``/status/{code}``           answer with that status
- ``/delay/{ms}``              wait, then 200 (``?status=`` to change it)
- ``/redirect?to=PATH``        302 to PATH (``/redirect/{n}`` chains n hops)
- ``/json?doc=JSON``           answer the document (default: a health document)
- ``/text?body=TEXT``          answer the text
- ``/large/{bytes}``           a body of that size
- ``/drop``                    close the connection without an answer

Certificates are made here with ``cryptography``: a test CA and leaf
certificates valid, expired or about to expire.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HEALTH = {"status": "ok", "version": "2.4.1", "checks": [{"name": "db", "ok": True}], "load": 0.4}


async def _status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="status\n")


async def _delay(request: web.Request) -> web.Response:
    await asyncio.sleep(int(request.match_info["ms"]) / 1000)
    return web.Response(status=int(request.query.get("status", 200)), text="late\n")


async def _redirect(request: web.Request) -> web.Response:
    hops = int(request.match_info.get("n", "1"))
    to = request.query.get("to", "/status/200")
    location = f"/redirect/{hops - 1}?to={to}" if hops > 1 else to
    raise web.HTTPFound(location)


async def _json(request: web.Request) -> web.Response:
    doc = request.query.get("doc")
    return web.Response(
        text=doc if doc is not None else json.dumps(HEALTH), content_type="application/json"
    )


async def _text(request: web.Request) -> web.Response:
    return web.Response(text=request.query.get("body", "hello sitewatch\n"))


async def _large(request: web.Request) -> web.Response:
    return web.Response(body=b"x" * int(request.match_info["size"]))


async def _drop(request: web.Request) -> web.Response:
    transport = request.transport
    assert transport is not None
    transport.abort()
    await asyncio.sleep(1)
    return web.Response()


def target_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/status/{code}", _status)
    app.router.add_route("*", "/delay/{ms}", _delay)
    app.router.add_get("/redirect", _redirect)
    app.router.add_get("/redirect/{n}", _redirect)
    app.router.add_get("/json", _json)
    app.router.add_get("/text", _text)
    app.router.add_get("/large/{size}", _large)
    app.router.add_get("/drop", _drop)
    return app


class TargetServer:
    """``async with TargetServer() as server: server.url("/status/200")``."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.ssl_context = ssl_context
        self.host = host
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> TargetServer:
        self._runner = web.AppRunner(target_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0, ssl_context=self.ssl_context)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def url(self, path: str, host: str | None = None) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{host or self.host}:{self.port}{path}"


def closed_port() -> int:
    """A loopback port with nothing listening (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- certificates ---------------------------------------------------------------


@dataclass
class LocalCA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    pem_path: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.pem_path))

    def server_context(
        self, tmp: Path, *, not_after: datetime, name: str = "localhost"
    ) -> ssl.SSLContext:
        return server_context(tmp, self, not_after=not_after, name=name)


def server_context(
    tmp: Path, signer: LocalCA | None, *, not_after: datetime, name: str = "localhost"
) -> ssl.SSLContext:
    """A server context with a fresh certificate for ``name`` and 127.0.0.1, valid
    until ``not_after``, signed by ``signer`` -- or by its own key (self-signed)."""
    cert_path, key_path = leaf_files(tmp, signer, not_after=not_after, name=name)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


def leaf_files(
    tmp: Path, signer: LocalCA | None, *, not_after: datetime, name: str = "localhost"
) -> tuple[Path, Path]:
    """The PEM files (certificate, key) of a fresh certificate as ``server_context``
    makes it, for servers that read files (nginx)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(signer.cert.subject if signer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(now - timedelta(days=30), not_after - timedelta(days=1)))
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(name),
                    x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .sign(signer.key if signer else key, hashes.SHA256())
    )
    stem = tmp / f"leaf-{cert.serial_number}"
    cert_path, key_path = stem.with_suffix(".crt"), stem.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def make_ca(tmp: Path) -> LocalCA:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sitewatch test CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=365))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    pem_path = tmp / "ca.pem"
    pem_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return LocalCA(key, cert, pem_path)
