"""GET /metrics: Prometheus' text format, behind METRICS_TOKEN when one is set.

Served on the main port in development (or with METRICS_TOKEN), and on METRICS_PORT, a
listener of its own bound to 127.0.0.1, when that is set (app/serve.py).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from app.telemetry.metrics import CONTENT_TYPE
from app.web.error_entries import request_error
from app.web.state import METRICS, STORE, SUBSCRIPTIONS

BEARER = "bearer "
Handler = Callable[[web.Request], Awaitable[web.Response]]


def metrics_handler(source: web.Application, *, token: str | None) -> Handler:
    """A handler reporting `source`'s metrics, asking for `token` when there is one."""

    async def metrics(request: web.Request) -> web.Response:
        if token is not None and not _bearer_is(request, token):
            return _unauthorized()
        refresh_gauges(source)
        return web.Response(
            body=source[METRICS].exposition(),
            headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"},
        )

    return metrics


def refresh_gauges(app: web.Application) -> None:
    """Copies the store's connection counts and the open subscriptions into the gauges."""
    store = app[STORE]
    app[METRICS].connections(
        in_use=store.in_use, waiting=store.waiting, subscriptions=app[SUBSCRIPTIONS].open
    )


def local_metrics_app(source: web.Application) -> web.Application:
    """The METRICS_PORT listener's application: /metrics alone, no token."""
    app = web.Application()
    app.router.add_get("/metrics", metrics_handler(source, token=None))
    return app


def _bearer_is(request: web.Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith(BEARER):
        return False
    return hmac.compare_digest(header[len(BEARER) :].strip().encode(), token.encode())


def _unauthorized() -> web.Response:
    entry = request_error("Send METRICS_TOKEN as a Bearer token.", "UNAUTHENTICATED")
    return web.Response(
        body=orjson.dumps({"errors": [entry]}),
        status=401,
        content_type="application/json",
        headers={"WWW-Authenticate": "Bearer"},
    )
