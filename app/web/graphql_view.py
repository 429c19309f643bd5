"""POST/GET /graphql as the GraphQL-over-HTTP draft spec asks, plus GraphiQL for browsers,
and the two streaming transports on the same path: a WebSocket upgrade (app/web/websocket.py)
and `Accept: text/event-stream` (app/web/sse.py).

A request is authenticated once; each of its operations (one, or a batch's entries in
order, one after another) is then read, checked, executed and answered on its own, all
within the request time limit.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from app.accounts import keys
from app.settings import Settings
from app.web import graphiql, http_cache, rate_limits, sse
from app.web.answers import Answer, answer_response, json_response
from app.web.auth import authenticate
from app.web.operations import answer_operation
from app.web.params import (
    APPLICATION_JSON,
    GRAPHQL_RESPONSE_JSON,
    GraphQLParams,
    GraphQLRequest,
    RequestError,
    read_request,
    response_media_type,
)
from app.web.state import (
    LOG_FIELDS,
    SETTINGS,
)
from app.web.unavailable import CLIENT_CLOSED_REQUEST, ClientGone
from app.web.websocket import handle_websocket, is_websocket

ALLOWED_METHODS = ("GET", "POST")

log = logging.getLogger("app.web")


async def handle_graphql(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if is_websocket(request):
        return await handle_websocket(request)
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
    streaming = sse.wants_event_stream(request)
    try:
        media_type = APPLICATION_JSON if streaming else response_media_type(request)
    except RequestError as error:
        return _error_response(error, media_type="application/json")
    try:
        principal = await _authenticate(request)
    except RequestError as error:
        return _error_response(error, media_type)
    response: web.StreamResponse
    try:
        graphql_request = await read_in_time(request, settings)
    except ClientGone:
        request[LOG_FIELDS]["client_disconnected"] = True
        return web.Response(status=CLIENT_CLOSED_REQUEST)
    except RequestError as error:
        await rate_limits.charge_refusal(request, principal)
        response = _error_response(error, media_type)
    else:
        if streaming:
            response = await sse.respond(request, graphql_request, principal)
        else:
            response = await _respond(
                request, graphql_request, principal, media_type, settings.request_timeout_seconds
            )
    if not response.prepared:
        rate_limits.add_headers(request, response)
    if response.status == 429:
        await rate_limits.pace_refusal(request, principal)
    return response


async def _respond(
    request: web.Request,
    graphql_request: GraphQLRequest,
    principal: keys.Principal,
    media_type: str,
    timeout_seconds: float,
) -> web.Response:
    deadline = asyncio.get_running_loop().time() + timeout_seconds
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
    return json_response(bodies, media_type, 200)


async def _authenticate(request: web.Request) -> keys.Principal:
    return await authenticate(request, request.headers.get("Authorization", ""))


async def read_in_time(request: web.Request, settings: Settings) -> GraphQLRequest:
    """The body, from a client that sends it within the request time limit."""
    reading = read_request(
        request,
        max_body_bytes=settings.max_body_bytes,
        max_batch_operations=settings.max_batch_operations,
    )
    if request.content.is_eof():
        # The whole body came with the head (as small requests do): nothing to wait for,
        # so no timer to start and cancel.
        return await reading
    seconds = settings.request_timeout_seconds
    try:
        async with asyncio.timeout(seconds):
            return await reading
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


async def _answer(
    request: web.Request,
    entry: GraphQLParams | RequestError,
    principal: keys.Principal,
    media_type: str,
    deadline: float,
    log_fields: dict[str, object],
) -> Answer:
    refused = 400 if media_type == GRAPHQL_RESPONSE_JSON else 200
    answer = await answer_operation(
        request,
        entry,
        principal,
        deadline=deadline,
        log_fields=log_fields,
        refused=refused,
        method=request.method,
        streaming=False,
    )
    assert isinstance(answer, Answer)
    return answer


def _wants_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "")


def _single_response(request: web.Request, answer: Answer, media_type: str) -> web.Response:
    response = answer_response(answer, media_type)
    if answer.cacheable and answer.status == 200:
        return http_cache.cached(request, response)
    return response


def _error_response(error: RequestError, media_type: str) -> web.Response:
    return answer_response(Answer.refusal(error), media_type)
