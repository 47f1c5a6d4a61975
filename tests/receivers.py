"""Real receivers for notifications, on loopback: an SMTP server (aiosmtpd) and a
webhook endpoint (aiohttp) that can be told to fail for a while."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.targets import closed_port


class _Collect:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        with self.sink.lock:
            self.sink.messages.append(message_from_bytes(content))
            self.sink.envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos)))
        return "250 OK queued"


class SmtpSink:
    """aiosmtpd in its own thread. ``tls``: "none", "starttls" or "tls" (implicit);
    with ``login`` set, AUTH is required (over TLS)."""

    def __init__(
        self,
        *,
        port: int | None = None,
        tls: str = "none",
        server_context: ssl.SSLContext | None = None,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.port = port or closed_port()
        self.tls = tls
        self.server_context = server_context
        self.login = login
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins = 0
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def _auth(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and self.login == (
            data.login.decode(),
            data.password.decode(),
        )
        if ok:
            with self.lock:
                self.logins += 1
        return AuthResult(success=ok)

    def start(self) -> SmtpSink:
        kwargs: dict[str, Any] = {}
        if self.tls == "starttls":
            kwargs.update(tls_context=self.server_context, require_starttls=True)
        elif self.tls == "tls":
            kwargs.update(ssl_context=self.server_context)
        if self.login is not None:
            kwargs.update(
                authenticator=self._auth,
                # Implicit TLS: aiosmtpd does not see the wrapped socket as TLS, so
                # it neither offers AUTH when that needs STARTTLS nor lets AUTH be
                # required without it; ``logins`` shows the client logged in.
                auth_required=self.tls != "tls",
                auth_require_tls=self.tls == "starttls",
            )
        self._controller = Controller(
            _Collect(self),
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="localhost",
            **kwargs,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def subjects(self) -> list[str]:
        with self.lock:
            return [str(m["Subject"]) for m in self.messages]


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Request:
    """One request a ``ServiceReceiver`` took, as it arrived."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.body.decode()))


Answer = Callable[[Request], web.StreamResponse]


@dataclass
class ServiceReceiver:
    """An HTTP server on loopback standing in for a notification service: it records
    every request and answers with ``answer`` (as the service documents). It can
    answer ``fail_status`` to the next ``fail_next`` requests (an outage), and
    hold every request until ``hold`` is set (a service that is slow to answer)."""

    answer: Answer | None = None
    fail_next: int = 0
    fail_status: int = 503
    fail_text: str = '{"error": "unavailable"}'
    hold: asyncio.Event | None = None
    requests: list[Request] = field(default_factory=list)
    refused: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        seen = Request(
            request.method,
            request.path,
            dict(request.query),
            dict(request.headers),
            await request.read(),
        )
        if self.hold is not None:
            await self.hold.wait()
        if self.fail_next > 0:
            self.fail_next -= 1
            self.refused += 1
            return web.Response(status=self.fail_status, text=self.fail_text)
        self.requests.append(seen)
        if self.answer is None:
            return web.Response(text="")
        return self.answer(seen)

    async def __aenter__(self) -> ServiceReceiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.hold is not None:
            self.hold.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]


def _thanks(request: Request) -> web.Response:
    return web.Response(text="thanks")


@dataclass
class WebhookReceiver(ServiceReceiver):
    """A webhook endpoint: records every POST (``received``), answers "thanks", or
    ``fail_status`` "not now" to the next ``fail_next`` of them."""

    answer: Answer | None = _thanks
    fail_status: int = 500
    fail_text: str = "not now"

    @property
    def received(self) -> list[Delivery]:
        return [Delivery(r.headers, r.body) for r in self.requests if r.method == "POST"]

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.address}{path}"

    def types(self) -> list[str]:
        return [d.json["type"] for d in self.received]
