"""Dashboard sessions: a signed cookie after login, and CSRF tokens for forms.

With API tokens configured, people log in with a token once; the cookie then
carries only the role and an expiry, signed with HMAC-SHA256 (HttpOnly,
SameSite=Lax, Secure over HTTPS). Without tokens everyone may write, and the
cookie only anchors the CSRF token. Every form posts a token derived from the
session id, so another site cannot submit a form in the user's name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from sitewatch.web.access import client
from sitewatch.web.auth import TokenPolicy

COOKIE = "sitewatch_session"
LIFETIME = 12 * 3600  # seconds; a new login after half a day


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    role: str  # "write", "read", or "anonymous" (no tokens configured: may write)
    expires: int
    name: str | None = None  # a named token's name: the author of git commits

    @property
    def may_write(self) -> bool:
        return self.role in ("write", "anonymous")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Revocations(Protocol):
    """Where logouts are kept, so that every instance refuses a logged-out cookie."""

    async def revoke(self, session: Session) -> None: ...

    async def is_revoked(self, sid: str) -> bool: ...


class Sessions:
    """Issues and reads session cookies; ``key`` signs them (keep it secret)."""

    def __init__(
        self,
        policy: TokenPolicy,
        key: bytes | None = None,
        revocations: Revocations | None = None,
    ) -> None:
        self.policy = policy
        self.revocations = revocations
        if key is None:
            # Derived from the tokens: sessions survive restarts and work on every
            # instance, and changing the tokens logs everyone out.
            material = "\n".join([*sorted(policy.write), "--", *sorted(policy.read)])
            key = (
                hashlib.sha256(b"sitewatch-session\n" + material.encode()).digest()
                if policy.enabled
                else secrets.token_bytes(32)
            )
        self._key = key

    @property
    def login_required(self) -> bool:
        return self.policy.enabled

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest())

    def encode(self, session: Session) -> str:
        fields: dict[str, object] = {"sid": session.sid, "role": session.role}
        fields["exp"] = session.expires
        if session.name is not None:
            fields["name"] = session.name
        payload = json.dumps(fields, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{self._sign(payload)}"

    def decode(self, value: str, now: float | None = None) -> Session | None:
        """The session in a cookie value, or None if forged, garbled or expired."""
        body, _, signature = value.partition(".")
        try:
            payload = _unb64(body)
        except ValueError:
            return None
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(payload)
            name = data.get("name")
            session = Session(
                str(data["sid"]),
                str(data["role"]),
                int(data["exp"]),
                str(name) if name is not None else None,
            )
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires < (time.time() if now is None else now):
            return None
        if self.login_required and session.role == "anonymous":
            return None  # tokens were configured since: log in
        return session

    def new(self, role: str, name: str | None = None) -> Session:
        return Session(secrets.token_urlsafe(16), role, int(time.time()) + LIFETIME, name)

    def login(self, token: str) -> Session | None:
        role = self.policy.role(token.strip())
        return self.new(role, self.policy.name(token.strip())) if role else None

    def of(self, request: web.Request) -> Session | None:
        value = request.cookies.get(COOKIE)
        return self.decode(value) if value else None

    async def current(self, request: web.Request) -> Session | None:
        """The request's session, unless forged, expired or logged out (revoked)."""
        session = self.of(request)
        if (
            session is not None
            and self.revocations is not None
            and session.role != "anonymous"
            and await self.revocations.is_revoked(session.sid)
        ):
            return None
        return session

    async def revoke(self, session: Session) -> None:
        if self.revocations is not None and session.role != "anonymous":
            await self.revocations.revoke(session)

    def csrf_token(self, session: Session) -> str:
        return self._sign(b"csrf:" + session.sid.encode())

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token, self.csrf_token(session))

    def set_cookie(self, request: web.Request, response: web.StreamResponse, s: Session) -> None:
        response.set_cookie(
            COOKIE,
            self.encode(s),
            max_age=LIFETIME,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=client(request).secure,  # HTTPS to us, or to a trusted proxy
        )

    @staticmethod
    def clear_cookie(response: web.StreamResponse) -> None:
        response.del_cookie(COOKIE, path="/")
