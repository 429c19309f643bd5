"""Reading GraphQL-over-HTTP request parameters from a GET query string or a POST body.

A POST body may be a JSON array of operations (Apollo's BatchHttpLink, Strawberry's
batching): each entry is read on its own, and a malformed one is answered on its own.
An operation names its document by text (`query`), by id (`documentId`, or Apollo's
`extensions.persistedQuery.sha256Hash`), or both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from app.documents.ids import parse_document_id

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
        extensions: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}
        self.extensions = extensions or {}


# Not frozen: built for every request, where frozen costs five times as much to build.
@dataclass(slots=True)
class GraphQLParams:
    """One operation; at least one of `query` and `document_id` (bare hex) is set."""

    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    document_id: str | None = None


# Not frozen: built for every request, where frozen costs five times as much to build.
@dataclass(slots=True)
class GraphQLRequest:
    """One operation, or the entries of a batch in order (a malformed one as its error)."""

    operations: list[GraphQLParams | RequestError]
    batch: bool


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


async def read_request(
    request: web.Request, *, max_body_bytes: int, max_batch_operations: int
) -> GraphQLRequest:
    if request.method == "GET":
        params = params_from_mapping(
            {
                "query": request.query.get("query"),
                "documentId": request.query.get("documentId"),
                "variables": _json_from_query_string(request, "variables"),
                "operationName": request.query.get("operationName"),
                "extensions": _json_from_query_string(request, "extensions"),
            }
        )
        return GraphQLRequest([params], batch=False)
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
    if isinstance(payload, dict):
        return GraphQLRequest([params_from_mapping(payload)], batch=False)
    if not isinstance(payload, list):
        raise RequestError(400, "The request body must be a JSON object, or an array of them.")
    if not payload:
        raise RequestError(400, "A batch must hold at least one operation.")
    if len(payload) > max_batch_operations:
        raise RequestError(
            400,
            f"A batch may hold at most {max_batch_operations} operations; "
            f"this one holds {len(payload)}.",
            code="QUERY_TOO_COMPLEX",
        )
    if not all(isinstance(entry, dict) for entry in payload):
        raise RequestError(400, "Each operation of a batch must be a JSON object.")
    return GraphQLRequest([_batch_entry(entry) for entry in payload], batch=True)


def _batch_entry(entry: dict[str, Any]) -> GraphQLParams | RequestError:
    try:
        return params_from_mapping(entry)
    except RequestError as error:
        return error


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


def params_from_mapping(payload: dict[str, Any]) -> GraphQLParams:
    query = payload.get("query")
    if query is not None and (not isinstance(query, str) or not query.strip()):
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
    document_id = _document_id(payload.get("documentId"), (extensions or {}).get("persistedQuery"))
    if query is None and document_id is None:
        raise RequestError(400, "Send the document as a non-empty query string, or its documentId.")
    return GraphQLParams(
        query=query, variables=variables, operation_name=operation_name, document_id=document_id
    )


def _document_id(given: object, persisted_query: object) -> str | None:
    """The bare hex id from `documentId` and Apollo's `extensions.persistedQuery`."""
    document_id = None
    if given is not None:
        document_id = parse_document_id(given) if isinstance(given, str) else None
        if document_id is None:
            raise RequestError(
                400, "documentId must be 'sha256:' followed by the 64 hex digits of a SHA-256."
            )
    if persisted_query is None:
        return document_id
    if not isinstance(persisted_query, dict):
        persisted_query = {}
    sha256_hash = persisted_query.get("sha256Hash")
    apq_id = parse_document_id(sha256_hash) if isinstance(sha256_hash, str) else None
    if apq_id is None or persisted_query.get("version") != 1:
        raise RequestError(
            400,
            'extensions.persistedQuery must be {"version": 1, "sha256Hash": "<64 hex digits>"}.',
        )
    if document_id is not None and document_id != apq_id:
        raise RequestError(
            400, "documentId and extensions.persistedQuery.sha256Hash name different documents."
        )
    return apq_id
