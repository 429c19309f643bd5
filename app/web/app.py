"""The aiohttp application factory; the store lives and dies with the app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from aiohttp import web

from app.accounts.keys import KeyCache
from app.api.fastpath import Executor
from app.api.schema import build_schema
from app.customers.cursors import CursorCodec
from app.documents.registry import DocumentRegistry
from app.events.retention import purge_periodically
from app.ratelimits import buckets_for_settings
from app.ratelimits.pacing import RefusalPacer
from app.settings import Settings
from app.store.availability import OutageLog
from app.store.engine import migrate
from app.store.store import Store
from app.store.wakeups import listen
from app.telemetry.metrics import Metrics
from app.telemetry.spans import Spans, spans_from_environment
from app.web import cors, graphiql
from app.web.documents import DocumentCache
from app.web.graphql_view import handle_graphql
from app.web.health import healthz, readyz
from app.web.metrics_endpoint import metrics_handler, refresh_gauges
from app.web.middleware import request_context
from app.web.renderings import Renderings
from app.web.sessions import Ending, Subscriptions
from app.web.state import (
    BUCKETS,
    CURSORS,
    DOCUMENTS,
    EXECUTOR,
    KEY_CACHE,
    METRICS,
    OUTAGES,
    PERSISTED,
    REFUSAL_PACER,
    RENDERINGS,
    SETTINGS,
    SHUTTING_DOWN,
    SPANS,
    STORE,
    SUBSCRIPTIONS,
)


def create_app(settings: Settings, *, spans: Spans | None = None) -> web.Application:
    """The gateway's application; `spans` defaults to what the OTEL_* variables configure."""
    # request_context is outermost, so even a refused preflight carries X-Request-Id.
    app = web.Application(
        middlewares=[request_context, cors.preflight], client_max_size=settings.max_body_bytes
    )
    app[SETTINGS] = settings
    executor = Executor(build_schema(), enabled=settings.fast_path)
    app[EXECUTOR] = executor
    app[KEY_CACHE] = KeyCache()
    app[PERSISTED] = DocumentRegistry()
    app[DOCUMENTS] = DocumentCache.for_settings(executor.schema, settings)
    app[METRICS] = Metrics()
    app[OUTAGES] = OutageLog()
    app[SHUTTING_DOWN] = asyncio.Event()
    app[SUBSCRIPTIONS] = Subscriptions(settings.subscriptions_per_key)
    app[RENDERINGS] = Renderings()
    app[SPANS] = spans if spans is not None else spans_from_environment()
    app.on_cleanup.append(_shutdown_spans)
    app.cleanup_ctx.append(_store)
    app.cleanup_ctx.append(_buckets)
    app.cleanup_ctx.append(_connection_gauges)
    app.cleanup_ctx.append(_event_purge)
    app.cleanup_ctx.append(_wakeup_listener)
    app.cleanup_ctx.append(_revoked_keys)
    # Before aiohttp waits for the handlers in flight: subscriptions never finish alone.
    app.on_shutdown.append(_end_subscriptions)
    app.on_response_prepare.append(cors.add_headers)
    # Every method reaches the handler, which answers the others with a JSON 405.
    app.router.add_route("*", "/graphql", handle_graphql)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if settings.metrics_on_main_port:
        app.router.add_get("/metrics", metrics_handler(app, token=settings.metrics_token))
    if settings.graphiql_enabled:
        graphiql.add_routes(app)
    return app


async def _store(app: web.Application) -> AsyncIterator[None]:
    store = Store.for_settings(app[SETTINGS])
    try:
        await migrate(store.engine)
        app[CURSORS] = await CursorCodec.for_engine(store.engine)
        app[SPANS].instrument(store)
        app[STORE] = store
        yield
    finally:
        await store.close()


async def _buckets(app: web.Application) -> AsyncIterator[None]:
    buckets = buckets_for_settings(
        app[SETTINGS], on_store_error=app[METRICS].rate_limit_store_errors.inc
    )
    if buckets is None:
        yield
        return
    app[BUCKETS] = buckets
    if app[SETTINGS].rate_limit_refusals_per_second:
        app[REFUSAL_PACER] = RefusalPacer(app[SETTINGS].rate_limit_refusals_per_second)
    try:
        yield
    finally:
        await buckets.close()


GAUGE_SECONDS = 1.0


async def _connection_gauges(app: web.Application) -> AsyncIterator[None]:
    """Copies the store's connection counts and the open subscriptions into the gauges
    every second, so every worker's file is fresh whichever worker answers the scrape."""

    async def refresh() -> None:
        while True:
            refresh_gauges(app)
            await asyncio.sleep(GAUGE_SECONDS)

    async with _in_background(refresh()):
        yield


async def _event_purge(app: web.Application) -> AsyncIterator[None]:
    retention_days = app[SETTINGS].event_retention_days
    async with _in_background(purge_periodically(app[STORE], retention_days=retention_days)):
        yield


async def _wakeup_listener(app: web.Application) -> AsyncIterator[None]:
    """PostgreSQL: commits of every process wake this one's waiters (app/store/wakeups.py)."""
    store = app[STORE]
    if store.dialect != "postgresql":
        yield
        return
    async with _in_background(listen(store.engine, store.wakeups)):
        yield


async def _revoked_keys(app: web.Application) -> AsyncIterator[None]:
    async with _in_background(app[SUBSCRIPTIONS].end_revoked(app[STORE])):
        yield


async def _end_subscriptions(app: web.Application) -> None:
    app[SUBSCRIPTIONS].end_all(Ending.SHUTDOWN)


@contextlib.asynccontextmanager
async def _in_background(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Runs `work` as a task while the block runs, and cancels it at the end."""
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _shutdown_spans(app: web.Application) -> None:
    app[SPANS].shutdown()  # sends what the batch processor still holds
