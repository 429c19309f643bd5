"""Turning GraphQL errors into response entries; unexpected ones are masked and logged."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from app.errors import BadUserInput

log = logging.getLogger("app.errors")

INTERNAL_MESSAGE = "Internal server error"


def request_error(
    message: str, code: str, extensions: dict[str, object] | None = None
) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code, **(extensions or {})}}


def document_error(error: GraphQLError, code: str) -> dict[str, Any]:
    """A parse, validation or variable error: the message is for the client as it is."""
    formatted = error.formatted
    formatted["extensions"] = {**(formatted.get("extensions") or {}), "code": code}
    return dict(formatted)


def masked_extensions(request_id: str, trace_id: str | None) -> dict[str, Any]:
    """What a masked error tells: its code, and the ids that find it in logs and traces."""
    extensions: dict[str, Any] = {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    if trace_id is not None:
        extensions["traceId"] = trace_id
    return extensions


def execution_error(
    error: GraphQLError, request_id: str, detailed: bool = False, trace_id: str | None = None
) -> dict[str, Any]:
    """A resolver error: BAD_USER_INPUT passes through, anything else is masked.

    `detailed` (development) adds the exception's class name, never its message: that
    could hold SQL or a file path.
    """
    original = error.original_error
    if isinstance(original, BadUserInput):
        return {
            "message": original.message,
            "locations": error.formatted.get("locations"),
            "path": error.path,
            "extensions": {"code": "BAD_USER_INPUT", "argument": original.argument},
        }
    log.error(
        "unexpected error in %s (request %s)",
        ".".join(str(part) for part in error.path or ()),
        request_id,
        exc_info=original or error,
    )
    extensions = masked_extensions(request_id, trace_id)
    if detailed:
        extensions["exception"] = type(original or error).__name__
    return {"message": INTERNAL_MESSAGE, "path": error.path, "extensions": extensions}
