"""Answers for requests the gateway could not serve through no fault of theirs: the
database unreachable (503), or the client gone before its request was read (499)."""

from __future__ import annotations

from aiohttp import web

from app.store.availability import RETRY_AFTER_SECONDS
from app.web.params import RequestError
from app.web.state import LOG_FIELDS, OUTAGES

# nginx's status for a request whose client closed the connection before the answer.
CLIENT_CLOSED_REQUEST = 499


class ClientGone(Exception):
    """The client closed the connection before its request was read."""


def unavailable(request: web.Request, error: BaseException) -> RequestError:
    """503 for a request that needed the database while it cannot be reached."""
    request.app[OUTAGES].record(error)
    request[LOG_FIELDS]["database_unavailable"] = True
    return RequestError(
        503,
        "The database is unavailable, so nothing was done. Retry in "
        f"{RETRY_AFTER_SECONDS} s; retry a mutation with the same idempotencyKey.",
        code="SERVICE_UNAVAILABLE",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
