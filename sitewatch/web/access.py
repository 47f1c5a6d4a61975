"""Who is asking, and from where: trusted proxies, allowed hosts, same-origin
writes, and a slow-down for wrong tokens.

- **Trusted proxies** (``SITEWATCH_TRUSTED_PROXIES``): only a request whose peer
  is one of these addresses may say, with ``X-Forwarded-For``/``-Proto`` or
  ``Forwarded``, who the client is and whether it came over HTTPS (then the
  session cookie is ``Secure``). From anyone else the headers are ignored.
- **Allowed hosts** (no tokens configured): the API is open, so a page on
  another site must not reach it through DNS rebinding. The ``Host`` header must
  be an IP address (a rebinding needs a name), ``localhost``, or a name listed
  in ``SITEWATCH_ALLOWED_HOSTS``.
- **Same origin** (no tokens configured): a state-changing request that carries
  an ``Origin`` must come from this server's own origin or a CORS origin.
- **Failures slow down** (``FailureLimiter``): after a few wrong tokens or
  logins from one client address, each further try waits twice as long (429
  with ``Retry-After``), up to five minutes.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from aiohttp import web

from sitewatch.web.problems import ProblemError, problem_response

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.1, 192.168.0.0/16"`` -> networks; ``ValueError`` naming the bad one."""
    out = []
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {item!r}") from None
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Client:
    address: str  # the client's address (the proxy's word for it, when trusted)
    secure: bool  # came over HTTPS (to us, or to a trusted proxy)


CLIENT = web.RequestKey("sitewatch_client", Client)


def _in(address: str | None, networks: Iterable[Network]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return any(ip in n for n in networks)


def _forwarded(header: str) -> tuple[str | None, str | None]:
    """(for, proto) of the last element of an RFC 7239 ``Forwarded`` header."""
    last = header.split(",")[-1]
    found: dict[str, str] = {}
    for pair in last.split(";"):
        name, _, value = pair.strip().partition("=")
        found[name.strip().lower()] = value.strip().strip('"')
    address = found.get("for")
    if address and address.startswith("["):
        address = address[1:].split("]", 1)[0]
    elif address and address.count(":") == 1:
        address = address.split(":", 1)[0]
    return address, found.get("proto")


def client_of(request: web.Request, proxies: tuple[Network, ...]) -> Client:
    peer = request.remote or ""
    if not _in(peer, proxies):
        return Client(peer, request.secure)
    address, proto = None, None
    if "Forwarded" in request.headers:
        address, proto = _forwarded(request.headers["Forwarded"])
    forwarded_for = request.headers.get("X-Forwarded-For")
    if address is None and forwarded_for:
        # The right-most address the trusted proxy added is the one it saw.
        address = forwarded_for.split(",")[-1].strip()
    proto = proto or request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip()
    return Client(address or peer, request.secure or proto.lower() == "https")


def client(request: web.Request) -> Client:
    """The client as the access middleware saw it (peer address when it did not run)."""
    found = request.get(CLIENT)
    if isinstance(found, Client):
        return found
    return Client(request.remote or "", request.secure)


@dataclass
class FailureLimiter:
    """Per client address: after ``free`` failures each try waits 1, 2, 4 ... s,
    at most ``longest``; a success forgets the address."""

    free: int = 5
    longest: float = 300.0
    max_clients: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _seen: OrderedDict[str, tuple[int, float]] = field(default_factory=OrderedDict)

    def retry_after(self, address: str) -> int:
        """Seconds this client must still wait (0: it may try now)."""
        entry = self._seen.get(address)
        if entry is None:
            return 0
        wait = entry[1] - self.clock()
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, address: str) -> None:
        count = self._seen.pop(address, (0, 0.0))[0] + 1
        delay = 0.0 if count < self.free else min(2.0 ** (count - self.free), self.longest)
        self._seen[address] = (count, self.clock() + delay)
        while len(self._seen) > self.max_clients:
            self._seen.popitem(last=False)

    def succeeded(self, address: str) -> None:
        self._seen.pop(address, None)

    def refuse_if_waiting(self, address: str) -> None:
        wait = self.retry_after(address)
        if wait:
            raise ProblemError(
                429,
                f"too many failed attempts from this address: try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )


@dataclass(frozen=True)
class AccessPolicy:
    proxies: tuple[Network, ...] = ()
    allowed_hosts: frozenset[str] = frozenset()
    open_api: bool = True  # no tokens configured: host and origin checks apply
    cors_origins: frozenset[str] = frozenset()

    def host_ok(self, host: str) -> bool:
        name = host.strip().lower()
        if name.startswith("["):
            name = name[1:].split("]", 1)[0]
        elif name.count(":") == 1:
            name = name.split(":", 1)[0]
        if not name:
            return False
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            pass
        return name.rstrip(".") in self.allowed_hosts or name == "localhost"


def middleware(policy: AccessPolicy) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        who = client_of(request, policy.proxies)
        request[CLIENT] = who
        # A ping URL carries its own credential: no Host or Origin guard needed.
        if policy.open_api and not request.path.startswith("/ping/"):
            if not policy.host_ok(request.host):
                return problem_response(
                    403,
                    "this Host is not allowed (a guard against DNS rebinding while no API "
                    "tokens are set): use an IP address or localhost, or add the name to "
                    "SITEWATCH_ALLOWED_HOSTS",
                )
            origin = request.headers.get("Origin")
            if request.method in UNSAFE_METHODS and origin is not None:
                own = f"{'https' if who.secure else 'http'}://{request.host}".lower()
                if origin.lower() not in (own, f"http://{request.host}".lower()) and (
                    origin not in policy.cors_origins and "*" not in policy.cors_origins
                ):
                    return problem_response(
                        403,
                        f"a cross-origin {request.method} from {origin[:100]!r} is refused "
                        "(no API tokens are set: only this server's own pages may write)",
                    )
        return await handler(request)

    return check
