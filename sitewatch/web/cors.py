"""CORS for the API: off unless origins are configured (SITEWATCH_CORS_ORIGINS).

Only listed origins (or ``*``) get the headers; preflights are answered here.
Credentials are never allowed with ``*``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, If-Match"
EXPOSE_HEADERS = "ETag, Location"


def middleware(origins: tuple[str, ...]) -> Callable[..., Awaitable[web.StreamResponse]]:
    any_origin = "*" in origins

    def allowed(origin: str | None) -> bool:
        return origin is not None and (any_origin or origin in origins)

    @web.middleware
    async def cors(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not origins or not request.path.startswith("/api/"):
            return await handler(request)
        origin = request.headers.get("Origin")
        preflight = (
            request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
        )
        if preflight:
            if not allowed(origin):
                return web.Response(status=403, text="origin not allowed")
            response: web.StreamResponse = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
        else:
            response = await handler(request)
        if allowed(origin):
            assert origin is not None
            response.headers["Access-Control-Allow-Origin"] = "*" if any_origin else origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
            if not any_origin:
                response.headers["Vary"] = "Origin"
        return response

    return cors
