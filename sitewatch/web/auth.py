"""Bearer tokens for the API: write tokens, read-only tokens, open or closed reads.

Tokens come from settings; comparison is constant-time, and tokens are never
logged. With no tokens configured the API is open (a one-machine start).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from sitewatch.errors import SettingsError
from sitewatch.services.gitwrite import WRITER
from sitewatch.web.access import FailureLimiter, client
from sitewatch.web.problems import ProblemError, problem_response

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


MIN_TOKEN_LENGTH = 16


def _check_lengths(tokens: list[str], where: str) -> None:
    for index, token in enumerate(tokens, 1):
        if len(token) < MIN_TOKEN_LENGTH:
            raise SettingsError(
                f"{where}: token {index} is {len(token)} characters long; tokens must have at "
                f"least {MIN_TOKEN_LENGTH} (e.g. python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')"
            )


def _split(value: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in value.split(",") if t.strip())


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    write: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    open_reads: bool = True
    # (token, name) of the tokens the file names: the author of their git commits
    named: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(
        cls, write: str, read: str, open_reads: bool, file_text: str | None = None
    ) -> TokenPolicy:
        """``SettingsError`` naming the setting (never the token) when one is unusable.

        In the file, a line is a token, ``read <token>``, or ``write <name> <token>``
        / ``read <name> <token>`` (a named token: the name is the author of the git
        commits its writes make); a word starting with ``#`` begins a comment, but a
        ``#`` inside a token is part of it."""
        writes, reads = list(_split(write)), list(_split(read))
        named: list[tuple[str, str]] = []
        _check_lengths(writes, "SITEWATCH_API_TOKENS")
        _check_lengths(reads, "SITEWATCH_API_READ_TOKENS")
        for number, line in enumerate((file_text or "").splitlines(), 1):
            words = []
            for word in line.split():
                if word.startswith("#"):
                    break
                words.append(word)
            where = f"SITEWATCH_API_TOKENS_FILE line {number}"
            if len(words) == 1:
                _check_lengths(words, where)
                writes.append(words[0])
            elif len(words) == 2 and words[0] == "read":
                _check_lengths(words[1:], where)
                reads.append(words[1])
            elif len(words) == 3 and words[0] in ("read", "write"):
                _check_lengths(words[2:], where)
                (reads if words[0] == "read" else writes).append(words[2])
                named.append((words[2], words[1]))
            elif words:
                raise SettingsError(
                    f"{where}: expected a token, 'read <token>', or '<read|write> <name> "
                    "<token>' (the line is not shown)"
                )
        return cls(tuple(writes), tuple(reads), open_reads, tuple(named))

    def name(self, token: str | None) -> str | None:
        """The name the tokens file gives ``token``, if any (constant time)."""
        if token is None:
            return None
        given = token.encode()
        found = None
        for candidate, name in self.named:
            if hmac.compare_digest(given, candidate.encode()):
                found = name
        return found

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


# Outside /api/, the operations endpoints that follow SITEWATCH_API_OPEN_READS=false.
# (/health and /ready always answer their status, for orchestrators; their
# details need a token then, see ``may_read``.)
CLOSED_READS = frozenset({"/metrics"})


def may_read(policy: TokenPolicy, request: web.Request) -> bool:
    """May this request read details (open reads, no tokens, or a valid token)?"""
    return not policy.enabled or policy.open_reads or policy.role(bearer(request)) is not None


def middleware(
    policy: TokenPolicy, limiter: FailureLimiter
) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def check(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not policy.enabled:
            return await handler(request)
        if not request.path.startswith("/api/") and request.path not in CLOSED_READS:
            return await handler(request)
        if request.path in ("/api/openapi.json", "/api/docs"):
            return await handler(request)
        token = bearer(request)
        address = client(request).address
        if token is not None:
            limiter.refuse_if_waiting(address)
        role = policy.role(token)
        if token is not None:
            if role is None:
                limiter.failed(address)
            else:
                limiter.succeeded(address)
        reading = request.method in READ_METHODS
        if reading and (policy.open_reads or role is not None):
            return await handler(request)
        if role is None:
            if request.path in CLOSED_READS:
                return problem_response(401, "send a valid token: Authorization: Bearer <token>")
            raise ProblemError(401, "send a valid token: Authorization: Bearer <token>")
        if not reading and role != "write":
            raise ProblemError(403, "this token may only read; writes need a write token")
        name = policy.name(token)
        if name is None:
            return await handler(request)
        writer = WRITER.set(f"{name} (API token) <sitewatch@localhost>")
        try:
            return await handler(request)
        finally:
            WRITER.reset(writer)

    return check
