"""Typed keys for what the application and each request carry."""

from __future__ import annotations

from aiohttp import web
from graphql import GraphQLSchema
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings
from app.web.documents import DocumentCache

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SCHEMA = web.AppKey("schema", GraphQLSchema)
DOCUMENTS = web.AppKey("documents", DocumentCache)

REQUEST_ID = web.RequestKey("request_id", str)
LOG_FIELDS = web.RequestKey("log_fields", dict[str, object])
