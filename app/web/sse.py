"""GraphQL over Server-Sent Events at /graphql, in graphql-sse's "distinct connections"
mode: one operation per request (POST, or GET for queries and subscriptions) that asks
for `Accept: text/event-stream`.

A refusal before anything ran is an ordinary JSON response (4xx, as graphql-sse's own
server answers it); otherwise the answer is a stream of `next` events, each a result,
ended by a `complete` event. A subscription's stream ends with `complete` after its
terminating error (SUBSCRIBER_TOO_SLOW, an unavailable database), at shutdown (so the
client may resume with `after`), or when its key is revoked (after an UNAUTHENTICATED
error). A comment line every KEEPALIVE_SECONDS keeps idle streams open through proxies.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web

from app.accounts.keys import Principal
from app.web import rate_limits
from app.web.answers import Answer, answer_response
from app.web.operations import answer_operation
from app.web.params import APPLICATION_JSON, GraphQLRequest, RequestError
from app.web.sessions import Ending, Session
from app.web.state import LOG_FIELDS, SETTINGS, SUBSCRIPTIONS
from app.web.subscriptions import Payload, close, held_slot, payloads, revoked_error

EVENT_STREAM = "text/event-stream"
KEEPALIVE = b":\n\n"
_HEADERS = {
    "Content-Type": f"{EVENT_STREAM}; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # nginx and its kind would otherwise hold events back to fill a buffer.
    "X-Accel-Buffering": "no",
}


def wants_event_stream(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return any(part.split(";")[0].strip().lower() == EVENT_STREAM for part in accept.split(","))


async def respond(
    request: web.Request, graphql_request: GraphQLRequest, principal: Principal
) -> web.StreamResponse:
    """The operation's answer as an event stream, or its refusal as JSON."""
    if graphql_request.batch:
        error = RequestError(400, "An event stream carries one operation; send batches as JSON.")
        return _refusal(Answer.refusal(error))
    settings = request.app[SETTINGS]
    outcome = await answer_operation(
        request,
        graphql_request.operations[0],
        principal,
        deadline=asyncio.get_running_loop().time() + settings.request_timeout_seconds,
        log_fields=request[LOG_FIELDS],
        refused=400,
        method=request.method,
        streaming=True,
    )
    if isinstance(outcome, Answer):
        if "data" not in outcome.body:
            return _refusal(outcome)
        response = await _open(request)
        await _write(response, "next", outcome.body)
        await _write(response, "complete")
        return response
    try:
        held = await held_slot(request, principal.key_id, outcome)
    except RequestError as error:
        return _refusal(Answer.refusal(error))
    with held, request.app[SUBSCRIPTIONS].session(principal.key_id) as session:
        response = await _open(request)
        try:
            await _stream(response, payloads(request, outcome), session, settings.keepalive_seconds)
        except ConnectionError:
            request[LOG_FIELDS]["client_disconnected"] = True
        return response


async def _stream(
    response: web.StreamResponse,
    deliveries: AsyncIterator[Payload],
    session: Session,
    keepalive_seconds: float,
) -> None:
    pump = asyncio.ensure_future(_pump(response, deliveries))
    watched: set[asyncio.Future[Any]] = {pump, session.ended}
    try:
        while True:
            done, _ = await asyncio.wait(
                watched, timeout=keepalive_seconds, return_when="FIRST_COMPLETED"
            )
            if pump in done:
                pump.result()
                return
            if session.ended in done:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
                if session.ended.result() is Ending.REVOKED:
                    await _write(response, "next", {"errors": [revoked_error()]})
                await _write(response, "complete")
                return
            await response.write(KEEPALIVE)
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await pump
        await close(deliveries)


async def _pump(response: web.StreamResponse, deliveries: AsyncIterator[Payload]) -> None:
    async for delivery in deliveries:
        await _write(response, "next", delivery.body)
        if delivery.final:
            break
    await _write(response, "complete")


async def _open(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers=_HEADERS)
    rate_limits.add_headers(request, response)
    await response.prepare(request)
    return response


async def _write(response: web.StreamResponse, event: str, data: object = None) -> None:
    """One event, in one write (so a keepalive never lands inside it), printed as
    graphql-sse prints it."""
    body = b"" if data is None else b" " + orjson.dumps(data)
    await response.write(b"event: %s\ndata:%s\n\n" % (event.encode(), body))


def _refusal(answer: Answer) -> web.Response:
    return answer_response(answer, APPLICATION_JSON)
