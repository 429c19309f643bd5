"""POST/GET /graphql as the GraphQL-over-HTTP draft spec asks, plus GraphiQL for browsers.

A request is authenticated once; each of its operations (one, or a batch's entries in
order, one after another) is then read, checked, executed and answered on its own, all
within the request time limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from aiohttp import web
from graphql import ExecutionResult, OperationType, get_operation_ast
from graphql.pyutils import is_awaitable

from app.accounts import keys
from app.api.context import GatewayContext
from app.documents.registry import NewDocument
from app.store.availability import is_unavailable
from app.web import graphiql, http_cache, limits, operation_metrics, rate_limits
from app.web.answers import Answer, OperationLog
from app.web.error_entries import document_error, execution_error
from app.web.params import (
    GRAPHQL_RESPONSE_JSON,
    GraphQLParams,
    GraphQLRequest,
    RequestError,
    read_request,
    response_media_type,
)
from app.web.persisted import document_text
from app.web.state import (
    CURSORS,
    DOCUMENTS,
    EXECUTOR,
    KEY_CACHE,
    LOG_FIELDS,
    PERSISTED,
    RATE_LIMIT,
    REQUEST_ID,
    SETTINGS,
    SPANS,
    STORE,
)
from app.web.unavailable import CLIENT_CLOSED_REQUEST, ClientGone, unavailable

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
        and "documentId" not in request.query
        and _wants_html(request)
    ):
        return graphiql.page_response()
    try:
        media_type = response_media_type(request)
    except RequestError as error:
        return _error_response(error, media_type="application/json")
    try:
        principal = await _authenticate(request)
    except RequestError as error:
        return _error_response(error, media_type)
    try:
        graphql_request = await _read_in_time(request)
    except ClientGone:
        request[LOG_FIELDS]["client_disconnected"] = True
        return web.Response(status=CLIENT_CLOSED_REQUEST)
    except RequestError as error:
        await rate_limits.charge_refusal(request, principal)
        response = _error_response(error, media_type)
    else:
        response = await _respond(request, graphql_request, principal, media_type)
    rate_limits.add_headers(request, response)
    if response.status == 429:
        await rate_limits.pace_refusal(request, principal)
    return response


async def _respond(
    request: web.Request,
    graphql_request: GraphQLRequest,
    principal: keys.Principal,
    media_type: str,
) -> web.Response:
    deadline = asyncio.get_running_loop().time() + request.app[SETTINGS].request_timeout_seconds
    if not graphql_request.batch:
        answer = await _answer(
            request,
            graphql_request.operations[0],
            principal,
            media_type,
            deadline,
            request[LOG_FIELDS],
        )
        return _single_response(request, answer, media_type)
    return await _batch_response(request, graphql_request, principal, media_type, deadline)


async def _batch_response(
    request: web.Request,
    graphql_request: GraphQLRequest,
    principal: keys.Principal,
    media_type: str,
    deadline: float,
) -> web.Response:
    """A JSON array of the operations' answers, in order; 200 whatever each one says."""
    bodies = []
    operation_logs: list[dict[str, object]] = []
    for entry in graphql_request.operations:
        operation_log: dict[str, object] = {}
        answer = await _answer(request, entry, principal, media_type, deadline, operation_log)
        operation_log["status"] = answer.status
        operation_logs.append(operation_log)
        bodies.append(answer.body)
    request[LOG_FIELDS]["operations"] = operation_logs
    return _json_response(bodies, media_type, 200)


async def _authenticate(request: web.Request) -> keys.Principal:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith(BEARER):
        raise _unauthenticated("Send your API key as 'Authorization: Bearer sk_test_…'.")
    # Remembered for 5 s in this application (app/accounts/keys.py).
    secret = header[len(BEARER) :].strip()
    try:
        principal = await keys.authenticate_cached(
            request.app[STORE], request.app[KEY_CACHE], secret=secret
        )
    except Exception as error:
        if is_unavailable(error):
            raise unavailable(request, error) from error
        raise
    if principal is None:
        raise _unauthenticated("The API key is malformed, unknown or revoked.")
    request[LOG_FIELDS]["account"] = principal.account_id
    request[LOG_FIELDS]["live"] = principal.live
    return principal


async def _read_in_time(request: web.Request) -> GraphQLRequest:
    """The body, from a client that sends it within the request time limit."""
    settings = request.app[SETTINGS]
    seconds = settings.request_timeout_seconds
    try:
        async with asyncio.timeout(seconds):
            return await read_request(
                request,
                max_body_bytes=settings.max_body_bytes,
                max_batch_operations=settings.max_batch_operations,
            )
    except ConnectionError as error:
        # The client went away while sending its body: nobody is left to answer.
        raise ClientGone from error
    except asyncio.CancelledError:
        # aiohttp cancels the handler when the connection is lost mid-body; any other
        # cancellation (a shutdown) goes on as it came.
        transport = request.transport
        if transport is not None and not transport.is_closing():
            raise
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        raise ClientGone from None
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


async def _answer(
    request: web.Request,
    entry: GraphQLParams | RequestError,
    principal: keys.Principal,
    media_type: str,
    deadline: float,
    log_fields: dict[str, object],
) -> Answer:
    started = time.perf_counter()
    charged_before = request.get(RATE_LIMIT)
    with request.app[SPANS].operation() as span:
        if isinstance(entry, RequestError):
            answer = Answer.refusal(entry)
        else:
            try:
                answer = await _execute(request, entry, principal, media_type, deadline, log_fields)
            except RequestError as error:
                answer = Answer.refusal(error)
            except Exception as error:
                # The documents table, a registration: the database was needed and is gone.
                if not is_unavailable(error):
                    raise
                answer = Answer.refusal(unavailable(request, error))
        if request.get(RATE_LIMIT) is charged_before:
            await rate_limits.charge_refusal(request, principal)
        named = OperationLog(log_fields)
        span.describe(
            name=named.name, kind=named.kind, document_id=named.document_id, cost=named.cost
        )
    operation_metrics.record(request, answer, named, time.perf_counter() - started)
    return answer


async def _execute(
    request: web.Request,
    params: GraphQLParams,
    principal: keys.Principal,
    media_type: str,
    deadline: float,
    log_fields: dict[str, object],
) -> Answer:
    settings = request.app[SETTINGS]
    refused = 400 if media_type == GRAPHQL_RESPONSE_JSON else 200
    log_fields["operation"] = params.operation_name
    if params.document_id is not None:
        log_fields["document_id"] = params.document_id
    text = await document_text(
        params,
        mode=settings.persisted_documents,
        registry=request.app[PERSISTED],
        store=request.app[STORE],
        status=refused,
    )
    checked = request.app[DOCUMENTS].check(text.text)
    if checked.parse_errors:
        errors = [document_error(e, "GRAPHQL_PARSE_FAILED") for e in checked.parse_errors]
        return Answer({"errors": errors}, refused)
    if checked.limit_errors:
        errors = [document_error(e, limits.CODE) for e in checked.limit_errors]
        return Answer({"errors": errors}, refused)
    assert checked.document is not None
    operation = get_operation_ast(checked.document, params.operation_name)
    if operation is not None:
        log_fields["operation"] = operation.name.value if operation.name else None
        log_fields["type"] = operation.operation.value
        if request.method == "GET" and operation.operation is not OperationType.QUERY:
            raise RequestError(
                405,
                "Only queries may be sent with GET; send mutations with POST.",
                code="METHOD_NOT_ALLOWED",
                headers={"Allow": "POST"},
            )
    if checked.validation_errors:
        errors = [document_error(e, "GRAPHQL_VALIDATION_FAILED") for e in checked.validation_errors]
        return Answer({"errors": errors}, refused)
    cost, decision = 0, None
    if operation is not None:
        nodes = limits.request_nodes(
            request.app[EXECUTOR].schema, checked.document, operation, params.variables
        )
        cost = limits.operation_cost(nodes, operation)
        log_fields["cost"] = cost
        too_costly = limits.node_budget_error(nodes, settings.max_node_budget) or limits.cost_error(
            cost, settings.rate_limit_bucket
        )
        if too_costly is not None:
            return Answer({"errors": [document_error(too_costly, limits.CODE)]}, refused)
        decision = await rate_limits.charge(request, principal, cost)
        if decision is not None and not decision.allowed:
            raise rate_limits.limited(decision)
    if text.register_as is not None:
        await request.app[PERSISTED].register(
            request.app[STORE], NewDocument.of(text.text, checked.document)
        )
    context = GatewayContext(
        store=request.app[STORE],
        cursors=request.app[CURSORS],
        principal=principal,
        request_id=request[REQUEST_ID],
        cost=cost,
        rate_limit=decision,
    )
    try:
        # Cancelling the execution unwinds every resolver's `async with` (connections
        # return to the pool, open transactions roll back) before the answer is sent.
        async with asyncio.timeout_at(deadline):
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
        return _timeout_answer(request, settings.request_timeout_seconds, log_fields)
    for error in result.errors or ():
        if error.original_error is not None and is_unavailable(error.original_error):
            # Nothing was written: a failed statement rolls its transaction back.
            raise unavailable(request, error.original_error)
    answer = _result_answer(
        result,
        refused,
        request[REQUEST_ID],
        settings.detailed_errors,
        OperationLog(request[LOG_FIELDS]).trace_id,
    )
    answer.cacheable = request.method == "GET" and params.document_id is not None
    return answer


def _result_answer(
    result: ExecutionResult,
    refused: int,
    request_id: str,
    detailed: bool,
    trace_id: str | None,
) -> Answer:
    if result.data is None and result.errors and all(e.path is None for e in result.errors):
        # Errors before execution began: operation selection or variable coercion.
        errors = [document_error(e, "BAD_USER_INPUT") for e in result.errors]
        return Answer({"errors": errors}, refused)
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [execution_error(e, request_id, detailed, trace_id) for e in result.errors]
    body["data"] = result.data
    return Answer(body)


def _timeout_answer(request: web.Request, seconds: float, log_fields: dict[str, object]) -> Answer:
    log.warning("request %s stopped after %s s", request[REQUEST_ID], seconds)
    log_fields["timed_out"] = True
    error = {
        "message": (
            f"The request did not finish within {seconds:g} seconds and was stopped. "
            "Ask for less (smaller pages, fewer fields), or retry later; retry a mutation "
            "with the same idempotencyKey."
        ),
        "extensions": {"code": limits.CODE, "limit": "time", "requestId": request[REQUEST_ID]},
    }
    return Answer({"errors": [error], "data": None})


def _wants_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "")


def _single_response(request: web.Request, answer: Answer, media_type: str) -> web.Response:
    response = _response(answer, media_type)
    if answer.cacheable and answer.status == 200:
        return http_cache.cached(request, response)
    return response


def _error_response(error: RequestError, media_type: str) -> web.Response:
    return _response(Answer.refusal(error), media_type)


def _response(answer: Answer, media_type: str) -> web.Response:
    response = _json_response(answer.body, media_type, answer.status)
    response.headers.update(answer.headers)
    return response


# Answers hold customers' personal data: no cache may keep them, no browser may sniff them.
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _json_response(body: object, media_type: str, status: int) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type=media_type,
        charset="utf-8",
        headers=NO_STORE,
    )
