"""Bearer tokens for the API: write tokens, read-only tokens, open or closed reads.

Tokens come from settings; comparison is constant-time, and tokens are never
logged. With no tokens configured the API is open (a one-machine start).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from sitewatch.web.problems import ProblemError

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _split(value: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in value.split(",") if t.strip())


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    write: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    open_reads: bool = True

    @classmethod
    def of(
        cls, write: str, read: str, open_reads: bool, file_text: str | None = None
    ) -> TokenPolicy:
        writes, reads = list(_split(write)), list(_split(read))
        for number, line in enumerate((file_text or "").splitlines(), 1):
            words = line.split("#", 1)[0].split()
            if len(words) == 1:
                writes.append(words[0])
            elif len(words) == 2 and words[0] == "read":
                reads.append(words[1])
            elif words:
                raise ValueError(
                    f"line {number}: expected a token, or 'read <token>' (the line is not shown)"
                )
        return cls(tuple(writes), tuple(reads), open_reads)

    @property
    def enabled(self) -> bool:
        return bool(self.write or self.read)

    def role(self, token: str | None) -> str | None:
        """ "write", "read" or None, comparing against every token in constant time."""
        if token is None:
            return None
        given = token.encode()
        role = None
        for candidate in self.read:
            if hmac.compare_digest(given, candidate.encode()):
                role = "read"
        for candidate in self.write:
            if hmac.compare_digest(given, candidate.encode()):
                role = "write"
        return role


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def middleware(policy: TokenPolicy) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def check(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith("/api/") or not policy.enabled:
            return await handler(request)
        if request.path in ("/api/openapi.json", "/api/docs"):
            return await handler(request)
        role = policy.role(bearer(request))
        reading = request.method in READ_METHODS
        if reading and (policy.open_reads or role is not None):
            return await handler(request)
        if role is None:
            raise ProblemError(401, "send a valid token: Authorization: Bearer <token>")
        if not reading and role != "write":
            raise ProblemError(403, "this token may only read; writes need a write token")
        return await handler(request)

    return check
