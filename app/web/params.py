"""Reading GraphQL-over-HTTP request parameters from a GET query string or a POST body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"


class RequestError(Exception):
    """The HTTP request cannot be handled; `status` and `code` say how to answer."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str = "BAD_REQUEST",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class GraphQLParams:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None


def response_media_type(request: web.Request) -> str:
    """The media type to answer with, from the Accept header (406 when none fits)."""
    accept = request.headers.get("Accept", "")
    if not accept.strip():
        return APPLICATION_JSON
    offered = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    for media_type in offered:
        if media_type == GRAPHQL_RESPONSE_JSON:
            return GRAPHQL_RESPONSE_JSON
        if media_type in (APPLICATION_JSON, "application/*", "*/*"):
            return APPLICATION_JSON
    raise RequestError(
        406,
        f"Accept must allow {GRAPHQL_RESPONSE_JSON} or {APPLICATION_JSON}.",
        code="NOT_ACCEPTABLE",
    )


async def read_params(request: web.Request, max_body_bytes: int) -> GraphQLParams:
    if request.method == "GET":
        return _params_from_mapping(
            {
                "query": request.query.get("query"),
                "variables": _json_from_query_string(request, "variables"),
                "operationName": request.query.get("operationName"),
                "extensions": _json_from_query_string(request, "extensions"),
            }
        )
    content_type = request.content_type.lower()
    if content_type not in (APPLICATION_JSON, GRAPHQL_RESPONSE_JSON):
        raise RequestError(
            415, "Content-Type must be application/json.", code="UNSUPPORTED_MEDIA_TYPE"
        )
    if request.content_length is not None and request.content_length > max_body_bytes:
        raise _too_large(max_body_bytes)
    body = await _read_body(request, max_body_bytes)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise RequestError(400, "The request body is not valid JSON.") from error
    if not isinstance(payload, dict):
        raise RequestError(400, "The request body must be a JSON object.")
    return _params_from_mapping(payload)


async def _read_body(request: web.Request, max_body_bytes: int) -> bytes:
    """The whole body, however many pieces it arrives in (chunked included), up to the limit."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(max_body_bytes + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_body_bytes:
            raise _too_large(max_body_bytes)
    return b"".join(chunks)


def _too_large(limit: int) -> RequestError:
    return RequestError(
        413, f"The request body must be at most {limit} bytes.", code="QUERY_TOO_COMPLEX"
    )


def _json_from_query_string(request: web.Request, name: str) -> object:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise RequestError(400, f"The {name} parameter is not valid JSON.") from error


def _params_from_mapping(payload: dict[str, Any]) -> GraphQLParams:
    query = payload.get("query")
    if not isinstance(query, str) or not query.strip():
        raise RequestError(400, "The query parameter must be a non-empty string.")
    variables = payload.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError(400, "The variables parameter must be an object.")
    operation_name = payload.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError(400, "The operationName parameter must be a string.")
    extensions = payload.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestError(400, "The extensions parameter must be an object.")
    return GraphQLParams(query=query, variables=variables, operation_name=operation_name)
