"""Request id, one structured log line per request, and the last line of defence."""

from __future__ import annotations

import logging
import os
import re
import time

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from app.store.availability import is_unavailable
from app.web.error_entries import INTERNAL_MESSAGE, masked_extensions, request_error
from app.web.state import LOG_FIELDS, METRICS, REQUEST_ID, SHUTTING_DOWN, SPANS
from app.web.unavailable import unavailable

access_log = logging.getLogger("app.access")
error_log = logging.getLogger("app.errors")

_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}\Z")


class RandomIds:
    """Request ids of 128 random bits from the operating system's generator, read for
    `batch` ids at a time: each read is a system call, which cost more here (several
    microseconds) than the rest of making the id."""

    def __init__(self, batch: int = 256) -> None:
        self._batch = batch
        self._ids: list[str] = []

    def new(self) -> str:
        if not self._ids:
            pool = os.urandom(16 * self._batch).hex()
            self._ids = [pool[start : start + 32] for start in range(0, len(pool), 32)]
        return self._ids.pop()


_request_ids = RandomIds()


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if _INCOMING_ID.match(incoming) else _request_ids.new()
    request[REQUEST_ID] = request_id
    log_fields: dict[str, object] = {}
    request[LOG_FIELDS] = log_fields
    started = time.perf_counter()
    app = request.app
    with app[SPANS].request(request.method, request.path, request.headers) as span:
        if span.trace_id is not None:
            log_fields["trace_id"] = span.trace_id
        response = await _answer_safely(request, handler, span.trace_id)
        span.finish(response.status)
    response.headers["X-Request-Id"] = request_id
    if app[SHUTTING_DOWN].is_set():
        # Told so, a client opens a new connection for its next request rather than send
        # it on this one as it closes, when it could not know whether it was received.
        response.force_close()
    status = response.status
    app[METRICS].http_response(status)
    if status != 101:  # an upgraded connection's line is logged as it ends
        log_request(request, status, started)
    return response


def log_request(request: web.Request, status: int, started: float) -> None:
    """The request's access line; `started` is its time.perf_counter() at its start."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    log_fields: dict[str, object] = request[LOG_FIELDS]
    fields = {
        "request_id": request[REQUEST_ID],
        "method": request.method,
        "path": request.path,
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        **log_fields,
    }
    # Made and handled directly: Logger.info would also look up the caller's file and
    # line by walking the stack, for a line that names neither.
    record = access_log.makeRecord(
        access_log.name, logging.INFO, "", 0, "request", (), None, extra={"fields": fields}
    )
    access_log.handle(record)


async def _answer_safely(
    request: web.Request, handler: Handler, trace_id: str | None
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as http_error:
        return _http_error_response(http_error)
    except Exception as error:
        if is_unavailable(error):
            refused = unavailable(request, error)
            entry = request_error(refused.message, refused.code, {"requestId": request[REQUEST_ID]})
            return web.Response(
                body=orjson.dumps({"errors": [entry]}),
                status=refused.status,
                content_type="application/json",
                headers=refused.headers,
            )
        error_log.exception("unhandled error (request %s)", request[REQUEST_ID])
        masked = {
            "message": INTERNAL_MESSAGE,
            "extensions": masked_extensions(request[REQUEST_ID], trace_id),
        }
        return web.Response(
            body=orjson.dumps({"errors": [masked]}), status=500, content_type="application/json"
        )


def _http_error_response(error: web.HTTPException) -> web.StreamResponse:
    """aiohttp's own answers (404, 405, …) as JSON; returning the exception is deprecated."""
    headers = {
        name: value
        for name, value in error.headers.items()
        if name.lower() not in ("content-type", "content-length")
    }
    if error.status < 400:
        return web.Response(status=error.status, headers=headers)
    body = {"errors": [{"message": error.reason, "extensions": {"code": _code(error.status)}}]}
    return web.Response(
        body=orjson.dumps(body),
        status=error.status,
        headers=headers,
        content_type="application/json",
    )


def _code(status: int) -> str:
    known = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "QUERY_TOO_COMPLEX"}
    return known.get(status, "INTERNAL_SERVER_ERROR" if status >= 500 else "BAD_REQUEST")
