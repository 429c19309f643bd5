"""Typed keys for what the application and each request carry."""

from __future__ import annotations

import asyncio

from aiohttp import web

from app.accounts.keys import KeyCache
from app.api.fastpath import Executor
from app.customers.cursors import CursorCodec
from app.documents.registry import DocumentRegistry
from app.ratelimits.buckets import Buckets, Decision
from app.ratelimits.pacing import RefusalPacer
from app.settings import Settings
from app.store.availability import OutageLog
from app.store.store import Store
from app.telemetry.metrics import Metrics
from app.telemetry.spans import Spans
from app.web.documents import DocumentCache
from app.web.renderings import Renderings
from app.web.sessions import Subscriptions

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
# Made with the store: the key is in its database.
CURSORS = web.AppKey("cursors", CursorCodec)
KEY_CACHE = web.AppKey("key_cache", KeyCache)
EXECUTOR = web.AppKey("executor", Executor)
DOCUMENTS = web.AppKey("documents", DocumentCache)
PERSISTED = web.AppKey("persisted", DocumentRegistry)
# Present only when rate limits are on (RATE_LIMIT_BUCKET > 0).
BUCKETS = web.AppKey("buckets", Buckets)
# Absent when rate limits are off or RATE_LIMIT_REFUSALS_PER_SECOND is 0.
REFUSAL_PACER = web.AppKey("refusal_pacer", RefusalPacer)
METRICS = web.AppKey("metrics", Metrics)
SPANS = web.AppKey("spans", Spans)
OUTAGES = web.AppKey("outages", OutageLog)
# Open subscription sessions and subscriptions per key (app/web/subscriptions.py).
SUBSCRIPTIONS = web.AppKey("subscriptions", Subscriptions)
# Events rendered once per selection for all their subscribers (app/web/renderings.py).
RENDERINGS = web.AppKey("renderings", Renderings)
# Set when the process starts its graceful shutdown (app/serve.py).
SHUTTING_DOWN = web.AppKey("shutting_down", asyncio.Event)

REQUEST_ID = web.RequestKey("request_id", str)
LOG_FIELDS = web.RequestKey("log_fields", dict[str, object])
# The last charge to the key's bucket, reported in the RateLimit-* headers.
RATE_LIMIT = web.RequestKey("rate_limit", Decision)
