"""CORS for frontend apps on other origins.

Allowed origins come from CORS_ORIGINS. When it is empty, development allows pages served
from this machine (http://localhost, 127.0.0.1 or [::1], any port: the usual frontend dev
servers) and production allows none. Preflights are answered here; every response to an
allowed origin then says so and exposes X-Request-Id.
"""

from __future__ import annotations

import re

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from app.settings import Settings
from app.web.state import SETTINGS

ALLOW_METHODS = "GET, POST"
# Apollo Client's clientAwareness headers, and W3C trace context for traced frontends.
ALLOW_HEADERS = (
    "Authorization, Content-Type, X-Request-Id, apollographql-client-name, "
    "apollographql-client-version, traceparent, tracestate"
)
EXPOSE_HEADERS = "X-Request-Id, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After"
PREFLIGHT_MAX_AGE = "600"
_LOOPBACK = re.compile(r"^http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?\Z")


def origin_allowed(origin: str, settings: Settings) -> bool:
    if settings.cors_origins:
        return "*" in settings.cors_origins or origin.lower() in settings.cors_origins
    return not settings.is_production and bool(_LOOPBACK.match(origin))


@web.middleware
async def preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    if not (
        request.method == "OPTIONS"
        and origin
        and "Access-Control-Request-Method" in request.headers
    ):
        return await handler(request)
    if not origin_allowed(origin, request.app[SETTINGS]):
        body = {
            "errors": [
                {
                    "message": f"The origin {origin} may not call this API; "
                    "the operator lists allowed origins in CORS_ORIGINS.",
                    "extensions": {"code": "FORBIDDEN"},
                }
            ]
        }
        return web.Response(body=orjson.dumps(body), status=403, content_type="application/json")
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        },
    )


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: runs for every response, errors and 500s included."""
    response.headers.add("Vary", "Origin")
    origin = request.headers.get("Origin")
    if not origin or "Access-Control-Allow-Origin" in response.headers:
        return
    if origin_allowed(origin, request.app[SETTINGS]):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
