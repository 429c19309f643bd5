"""Liveness and readiness probes."""

from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from app.store.engine import check_connection
from app.web.state import OUTAGES, STORE

log = logging.getLogger("app.health")


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    try:
        await check_connection(request.app[STORE].engine)
    except (SQLAlchemyError, OSError) as error:
        request.app[OUTAGES].record(error)
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "reachable"})
