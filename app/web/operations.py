"""One GraphQL operation, whatever carries it (an HTTP request, a batch entry, a WebSocket
subscribe message, an SSE request): its document found and checked against the limits
and the schema, costed and charged, then executed, or for a subscription opened, and
answered with internal errors masked."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from graphql import DocumentNode, ExecutionResult, OperationType, get_operation_ast
from graphql.execution import create_source_event_stream
from graphql.execution.executor_throwing_on_incremental import ExecutorThrowingOnIncremental
from graphql.pyutils import is_awaitable

from app.accounts import keys
from app.api.context import GatewayContext
from app.documents.registry import NewDocument
from app.store.availability import is_unavailable
from app.web import limits, operation_metrics, rate_limits
from app.web.answers import Answer, OperationLog
from app.web.error_entries import document_error, execution_error
from app.web.params import GraphQLParams, RequestError
from app.web.persisted import document_text, plain_document_text
from app.web.state import (
    CURSORS,
    DOCUMENTS,
    EXECUTOR,
    LOG_FIELDS,
    PERSISTED,
    RATE_LIMIT,
    REQUEST_ID,
    SETTINGS,
    SPANS,
    STORE,
)
from app.web.unavailable import unavailable

log = logging.getLogger("app.web")


async def answer_operation(
    request: web.Request,
    entry: GraphQLParams | RequestError,
    principal: keys.Principal,
    *,
    deadline: float,
    log_fields: dict[str, object],
    refused: int,
    method: str,
    streaming: bool,
) -> Answer | Opened:
    """One operation, whatever carries it: answered, or for a subscription over a
    `streaming` transport, its results as they come."""
    started = time.perf_counter()
    charged_before = request.get(RATE_LIMIT)
    outcome: Answer | Opened
    spans = request.app[SPANS]
    with spans.operation() as span:
        if isinstance(entry, RequestError):
            outcome = Answer.refusal(entry)
        else:
            try:
                outcome = await _execute(
                    request, entry, principal, deadline, log_fields, refused, method, streaming
                )
            except RequestError as error:
                outcome = Answer.refusal(error)
            except Exception as error:
                # The documents table, a registration: the database was needed and is gone.
                if not is_unavailable(error):
                    raise
                outcome = Answer.refusal(unavailable(request, error))
        if request.get(RATE_LIMIT) is charged_before:
            await rate_limits.charge_refusal(request, principal)
        named = OperationLog(log_fields)
        if spans.enabled:
            span.describe(
                name=named.name, kind=named.kind, document_id=named.document_id, cost=named.cost
            )
    answer = outcome if isinstance(outcome, Answer) else _SUBSCRIBED
    operation_metrics.record(request, answer, named, time.perf_counter() - started)
    return outcome


# What a subscription that started counts as in the operation metrics.
_SUBSCRIBED = Answer({"data": {}})


# Not frozen: built for every request, where frozen costs five times as much to build.
@dataclass(slots=True)
class Prepared:
    """An operation that passed every check and was charged: ready to execute."""

    document: DocumentNode
    operation: OperationType | None
    params: GraphQLParams
    context: GatewayContext


async def prepare(
    request: web.Request,
    params: GraphQLParams,
    principal: keys.Principal,
    log_fields: dict[str, object],
    *,
    refused: int,
    method: str,
    streaming: bool,
) -> Prepared | Answer:
    """The document found, checked against the limits and the schema, costed and charged;
    an Answer when any of it refuses. `streaming`: the transport can carry a subscription
    (a WebSocket, or SSE)."""
    app = request.app
    settings = app[SETTINGS]
    store = app[STORE]
    documents = app[DOCUMENTS]
    log_fields["operation"] = params.operation_name
    if params.document_id is not None:
        log_fields["document_id"] = params.document_id
    text = plain_document_text(params, settings.persisted_documents) or await document_text(
        params,
        mode=settings.persisted_documents,
        registry=app[PERSISTED],
        store=store,
        status=refused,
    )
    checked = documents.check(text.text)
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
        _check_transport(operation.operation, method, streaming)
    if checked.validation_errors:
        errors = [document_error(e, "GRAPHQL_VALIDATION_FAILED") for e in checked.validation_errors]
        return Answer({"errors": errors}, refused)
    cost, decision = 0, None
    if operation is not None:
        nodes = documents.node_counts.count(checked.document, operation, params.variables)
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
        await app[PERSISTED].register(store, NewDocument.of(text.text, checked.document))
    context = GatewayContext(
        store=store,
        cursors=app[CURSORS],
        principal=principal,
        request_id=request[REQUEST_ID],
        cost=cost,
        rate_limit=decision,
        subscriber_max_lag=settings.subscriber_max_lag,
    )
    return Prepared(checked.document, operation.operation if operation else None, params, context)


def _check_transport(operation: OperationType, method: str, streaming: bool) -> None:
    if operation is OperationType.SUBSCRIPTION:
        if not streaming:
            raise RequestError(
                406,
                "A subscription's results are a stream: open a WebSocket to /graphql "
                "(graphql-transport-ws), or send it with 'Accept: text/event-stream'.",
                code="NOT_ACCEPTABLE",
            )
    elif method == "GET" and operation is not OperationType.QUERY:
        raise RequestError(
            405,
            "Only queries may be sent with GET; send mutations with POST.",
            code="METHOD_NOT_ALLOWED",
            headers={"Allow": "POST"},
        )


async def _execute(
    request: web.Request,
    params: GraphQLParams,
    principal: keys.Principal,
    deadline: float,
    log_fields: dict[str, object],
    refused: int,
    method: str,
    streaming: bool,
) -> Answer | Opened:
    prepared = await prepare(
        request,
        params,
        principal,
        log_fields,
        refused=refused,
        method=method,
        streaming=streaming,
    )
    if isinstance(prepared, Answer):
        return prepared
    if prepared.operation is OperationType.SUBSCRIPTION:
        return await _subscribe(request, prepared)
    answer = await execute(request, prepared, deadline, log_fields, refused=refused)
    answer.cacheable = method == "GET" and params.document_id is not None
    return answer


@dataclass(frozen=True, slots=True)
class Opened:
    """A subscription that started: its source of events, rendered one by one for its
    client by app/web/subscriptions.py."""

    prepared: Prepared
    events: AsyncIterator[Any]
    # The selection's identity, shared by every subscriber that asks the same way.
    selection: tuple[int, str | None, bytes]


async def _subscribe(request: web.Request, prepared: Prepared) -> Answer | Opened:
    """The subscription's source of events; an Answer when it failed to start (a bad
    `after`, variables that do not coerce)."""
    detailed = request.app[SETTINGS].detailed_errors
    executor = ExecutorThrowingOnIncremental.build(
        request.app[EXECUTOR].schema,
        prepared.document,
        context_value=prepared.context,
        raw_variable_values=prepared.params.variables,
        operation_name=prepared.params.operation_name,
        hide_suggestions=not detailed,
    )
    if isinstance(executor, list):
        return result_answer(request, ExecutionResult(None, executor), 200, detailed)
    outcome = create_source_event_stream(executor)
    source = await outcome if is_awaitable(outcome) else outcome
    if isinstance(source, ExecutionResult):
        return result_answer(request, source, 200, detailed)
    variables = orjson.dumps(prepared.params.variables or {}, option=orjson.OPT_SORT_KEYS)
    selection = (id(prepared.document), prepared.params.operation_name, variables)
    return Opened(prepared, source, selection)  # type: ignore[arg-type]


async def execute(
    request: web.Request,
    prepared: Prepared,
    deadline: float,
    log_fields: dict[str, object],
    *,
    refused: int,
) -> Answer:
    """A prepared query or mutation, run within the deadline and answered."""
    app = request.app
    settings = app[SETTINGS]
    params = prepared.params
    try:
        # Cancelling the execution unwinds every resolver's `async with` (connections
        # return to the pool, open transactions roll back) before the answer is sent.
        async with asyncio.timeout_at(deadline):
            # graphql-core's execute, except for the hot shapes app/api/fastpath plans.
            outcome = app[EXECUTOR].execute(
                prepared.document,
                context_value=prepared.context,
                variable_values=params.variables,
                operation_name=params.operation_name,
                hide_suggestions=not settings.detailed_errors,
            )
            result: ExecutionResult = await outcome if is_awaitable(outcome) else outcome  # type: ignore[assignment]
    except TimeoutError:
        return _timeout_answer(request, settings.request_timeout_seconds, log_fields)
    return result_answer(request, result, refused, settings.detailed_errors)


def result_answer(
    request: web.Request, result: ExecutionResult, refused: int, detailed: bool
) -> Answer:
    """An execution's result as its answer: unavailable database errors raised, others
    masked (`detailed`: with their messages, as DETAILED_ERRORS asks)."""
    if not result.errors:
        return Answer({"data": result.data})
    for error in result.errors:
        if error.original_error is not None and is_unavailable(error.original_error):
            # Nothing was written: a failed statement rolls its transaction back.
            raise unavailable(request, error.original_error)
    return _result_answer(
        result,
        refused,
        request[REQUEST_ID],
        detailed,
        OperationLog(request[LOG_FIELDS]).trace_id,
    )


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
