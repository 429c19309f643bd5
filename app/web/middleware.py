"""Request id, one structured log line per request, and the last line of defence."""

from __future__ import annotations

import logging
import re
import time
import uuid

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from app.web.keys import LOG_FIELDS, REQUEST_ID

access_log = logging.getLogger("app.access")
error_log = logging.getLogger("app.errors")

_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}\Z")


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if _INCOMING_ID.match(incoming) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    request[LOG_FIELDS] = {}
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as http_error:
        response = http_error
    except Exception:
        error_log.exception("unhandled error (request %s)", request_id)
        response = web.Response(
            body=orjson.dumps(
                {
                    "errors": [
                        {
                            "message": "Internal server error",
                            "extensions": {
                                "code": "INTERNAL_SERVER_ERROR",
                                "requestId": request_id,
                            },
                        }
                    ]
                }
            ),
            status=500,
            content_type="application/json",
        )
    response.headers["X-Request-Id"] = request_id
    access_log.info(
        "request",
        extra={
            "fields": {
                "request_id": request_id,
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                **request[LOG_FIELDS],
            }
        },
    )
    return response
