"""POST/GET /graphql as the GraphQL-over-HTTP draft spec asks, plus GraphiQL for browsers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiohttp import web
from graphql import ExecutionResult, OperationType, get_operation_ast
from graphql.pyutils import is_awaitable

from app.accounts import keys
from app.api.context import GatewayContext
from app.web import graphiql, limits
from app.web.error_entries import document_error, execution_error, request_error
from app.web.params import (
    GRAPHQL_RESPONSE_JSON,
    GraphQLParams,
    RequestError,
    read_params,
    response_media_type,
)
from app.web.state import DOCUMENTS, EXECUTOR, KEY_CACHE, LOG_FIELDS, REQUEST_ID, SETTINGS, STORE

BEARER = "bearer "
ALLOWED_METHODS = ("GET", "POST")

log = logging.getLogger("app.web")


async def handle_graphql(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if request.method not in ALLOWED_METHODS:
        return _error_response(
            RequestError(
                405,
                "Send GraphQL requests with POST, or queries with GET.",
                code="METHOD_NOT_ALLOWED",
                headers={"Allow": ", ".join(ALLOWED_METHODS)},
            ),
            "application/json",
        )
    if (
        settings.graphiql_enabled
        and request.method == "GET"
        and "query" not in request.query
        and _wants_html(request)
    ):
        return graphiql.page_response()
    try:
        media_type = response_media_type(request)
    except RequestError as error:
        return _error_response(error, "application/json")
    try:
        principal = await _authenticate(request)
        params = await _read_in_time(request, settings.request_timeout_seconds)
        return await _execute(request, params, principal, media_type)
    except RequestError as error:
        return _error_response(error, media_type)


async def _authenticate(request: web.Request) -> keys.Principal:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith(BEARER):
        raise _unauthenticated("Send your API key as 'Authorization: Bearer sk_test_…'.")
    # Remembered for 5 s in this application (app/accounts/keys.py).
    secret = header[len(BEARER) :].strip()
    principal = await keys.authenticate_cached(
        request.app[STORE], request.app[KEY_CACHE], secret=secret
    )
    if principal is None:
        raise _unauthenticated("The API key is malformed, unknown or revoked.")
    request[LOG_FIELDS]["account"] = principal.account_id
    request[LOG_FIELDS]["live"] = principal.live
    return principal


async def _read_in_time(request: web.Request, seconds: float) -> GraphQLParams:
    """The body, from a client that sends it within the request time limit."""
    try:
        async with asyncio.timeout(seconds):
            return await read_params(request, request.app[SETTINGS].max_body_bytes)
    except TimeoutError as error:
        raise RequestError(
            408,
            f"The request body did not arrive within {seconds:g} seconds.",
            code="REQUEST_TIMEOUT",
            headers={"Connection": "close"},
        ) from error


def _unauthenticated(message: str) -> RequestError:
    return RequestError(
        401, message, code="UNAUTHENTICATED", headers={"WWW-Authenticate": "Bearer"}
    )


async def _execute(
    request: web.Request, params: GraphQLParams, principal: keys.Principal, media_type: str
) -> web.Response:
    settings = request.app[SETTINGS]
    strict = media_type == GRAPHQL_RESPONSE_JSON
    request[LOG_FIELDS]["operation"] = params.operation_name
    checked = request.app[DOCUMENTS].check(params.query)
    if checked.parse_errors:
        errors = [document_error(e, "GRAPHQL_PARSE_FAILED") for e in checked.parse_errors]
        return _json_response({"errors": errors}, media_type, 400 if strict else 200)
    if checked.limit_errors:
        errors = [document_error(e, limits.CODE) for e in checked.limit_errors]
        return _json_response({"errors": errors}, media_type, 400 if strict else 200)
    assert checked.document is not None
    operation = get_operation_ast(checked.document, params.operation_name)
    if operation is not None:
        request[LOG_FIELDS]["operation"] = operation.name.value if operation.name else None
        if request.method == "GET" and operation.operation is not OperationType.QUERY:
            raise RequestError(
                405,
                "Only queries may be sent with GET; send mutations with POST.",
                code="METHOD_NOT_ALLOWED",
                headers={"Allow": "POST"},
            )
    if checked.validation_errors:
        errors = [document_error(e, "GRAPHQL_VALIDATION_FAILED") for e in checked.validation_errors]
        return _json_response({"errors": errors}, media_type, 400 if strict else 200)
    if operation is not None:
        over_budget = limits.node_budget_error(
            request.app[EXECUTOR].schema,
            checked.document,
            operation,
            params.variables,
            settings.max_node_budget,
        )
        if over_budget is not None:
            errors = [document_error(over_budget, limits.CODE)]
            return _json_response({"errors": errors}, media_type, 400 if strict else 200)
    context = GatewayContext(
        store=request.app[STORE], principal=principal, request_id=request[REQUEST_ID]
    )
    try:
        # Cancelling the execution unwinds every resolver's `async with` (connections
        # return to the pool, open transactions roll back) before the answer is sent.
        async with asyncio.timeout(settings.request_timeout_seconds):
            # graphql-core's execute, except for the hot shapes app/api/fastpath plans.
            outcome = request.app[EXECUTOR].execute(
                checked.document,
                context_value=context,
                variable_values=params.variables,
                operation_name=params.operation_name,
                hide_suggestions=not settings.detailed_errors,
            )
            result: ExecutionResult = await outcome if is_awaitable(outcome) else outcome  # type: ignore[assignment]
    except TimeoutError:
        return _timeout_response(request, settings.request_timeout_seconds, media_type)
    return _result_response(result, media_type, request[REQUEST_ID], settings.detailed_errors)


def _result_response(
    result: ExecutionResult, media_type: str, request_id: str, detailed: bool
) -> web.Response:
    if result.data is None and result.errors and all(e.path is None for e in result.errors):
        # Errors before execution began: operation selection or variable coercion.
        errors = [document_error(e, "BAD_USER_INPUT") for e in result.errors]
        status = 400 if media_type == GRAPHQL_RESPONSE_JSON else 200
        return _json_response({"errors": errors}, media_type, status)
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [execution_error(e, request_id, detailed) for e in result.errors]
    body["data"] = result.data
    return _json_response(body, media_type, 200)


def _timeout_response(request: web.Request, seconds: float, media_type: str) -> web.Response:
    log.warning("request %s stopped after %s s", request[REQUEST_ID], seconds)
    request[LOG_FIELDS]["timed_out"] = True
    error = {
        "message": (
            f"The request did not finish within {seconds:g} seconds and was stopped. "
            "Ask for less (smaller pages, fewer fields), or retry later; retry a mutation "
            "with the same idempotencyKey."
        ),
        "extensions": {"code": limits.CODE, "limit": "time", "requestId": request[REQUEST_ID]},
    }
    return _json_response({"errors": [error], "data": None}, media_type, 200)


def _wants_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "")


def _error_response(error: RequestError, media_type: str) -> web.Response:
    response = _json_response(
        {"errors": [request_error(error.message, error.code)]}, media_type, error.status
    )
    response.headers.update(error.headers)
    return response


# Answers hold customers' personal data: no cache may keep them, no browser may sniff them.
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _json_response(body: dict[str, Any], media_type: str, status: int) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type=media_type,
        charset="utf-8",
        headers=NO_STORE,
    )
