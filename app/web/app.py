"""The aiohttp application factory; the engine lives and dies with the app."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from app.api.schema import build_schema
from app.db import create_engine, migrate
from app.settings import Settings
from app.web import graphiql
from app.web.documents import DocumentCache
from app.web.graphql_view import handle_graphql
from app.web.health import healthz, readyz
from app.web.keys import DOCUMENTS, ENGINE, SCHEMA, SETTINGS
from app.web.middleware import request_context


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[request_context], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    schema = build_schema()._schema
    app[SCHEMA] = schema
    app[DOCUMENTS] = DocumentCache(schema, max_tokens=settings.max_tokens)
    app.cleanup_ctx.append(_database)
    app.router.add_route("GET", "/graphql", handle_graphql)
    app.router.add_route("POST", "/graphql", handle_graphql)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    graphiql.add_routes(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[SETTINGS])
    await migrate(engine)
    app[ENGINE] = engine
    yield
    await engine.dispose()
