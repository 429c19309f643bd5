"""A subscription's results turned into the payloads its client is sent, by either
transport (app/web/websocket.py, app/web/sse.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from graphql import ExecutionResult
from graphql.execution import execute_subscription_event
from graphql.execution.executor_throwing_on_incremental import ExecutorThrowingOnIncremental
from graphql.pyutils import is_awaitable

from app.events.stream import SubscriberTooSlow
from app.store.availability import is_unavailable
from app.web.answers import Answer
from app.web.error_entries import INTERNAL_MESSAGE, masked_extensions, request_error
from app.web.operations import Opened, result_answer
from app.web.params import RequestError
from app.web.sessions import Slot
from app.web.state import EXECUTOR, METRICS, RENDERINGS, REQUEST_ID, SETTINGS, SUBSCRIPTIONS
from app.web.unavailable import unavailable

TOO_SLOW = "SUBSCRIBER_TOO_SLOW"
log = logging.getLogger(__name__)


async def held_slot(request: web.Request, key_id: str, opened: Opened) -> Slot:
    """One of the key's subscription slots for `opened`, held until the returned context
    exits; TOO_MANY_SUBSCRIPTIONS (a RequestError, with `opened` closed) when none is free."""
    try:
        return request.app[SUBSCRIPTIONS].slot(key_id)
    except RequestError:
        await close(opened.events)
        raise


async def close(iterator: AsyncIterator[Any]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


@dataclass(frozen=True, slots=True)
class Payload:
    """One message for the client: a result (a rendering several subscribers may share,
    already encoded), or the errors that end the subscription."""

    body: dict[str, Any] | orjson.Fragment
    final: bool = False

    @property
    def errors(self) -> list[dict[str, Any]]:
        """A final payload's errors."""
        assert isinstance(self.body, dict)
        errors: list[dict[str, Any]] = self.body["errors"]
        return errors


async def payloads(request: web.Request, opened: Opened) -> AsyncIterator[Payload]:
    """Each event's result as a payload, masked as HTTP answers are; a failure of the
    stream (too slow, the database gone, a bug) as one last, final payload of errors."""
    ended = request.app[METRICS].subscriptions_ended
    try:
        async for event in opened.events:
            yield Payload(await _render(request, opened, event))
    except SubscriberTooSlow as error:
        ended.labels("too_slow").inc()
        yield Payload({"errors": [_too_slow(error.max_lag)]}, final=True)
    except RequestError as error:
        ended.labels("unavailable").inc()  # the only request error a result raises
        yield Payload(Answer.refusal(error).body, final=True)
    except Exception as error:
        if is_unavailable(error):
            ended.labels("unavailable").inc()
            yield Payload(Answer.refusal(unavailable(request, error)).body, final=True)
            return
        ended.labels("error").inc()
        log.error("subscription failed (request %s)", request[REQUEST_ID], exc_info=error)
        entry = {
            "message": INTERNAL_MESSAGE,
            "extensions": masked_extensions(request[REQUEST_ID], None),
        }
        yield Payload({"errors": [entry]}, final=True)
    finally:
        await close(opened.events)


async def _render(
    request: web.Request, opened: Opened, event: Any
) -> dict[str, Any] | orjson.Fragment:
    """The event's result for this selection: executed and encoded once per selection,
    unless it has errors (masked with this subscriber's request id)."""
    renderings = request.app[RENDERINGS]
    document = opened.prepared.document
    key = (*opened.selection, event.id)
    cached = renderings.get(key, document)
    if cached is not None:
        return orjson.Fragment(cached)
    params, context = opened.prepared.params, opened.prepared.context
    # A new executor per event: one shared across events would keep growing its memo.
    executor = ExecutorThrowingOnIncremental.build(
        request.app[EXECUTOR].schema,
        document,
        root_value=event,
        context_value=context,
        raw_variable_values=params.variables,
        operation_name=params.operation_name,
    )
    assert not isinstance(executor, list)  # the variables coerced when it opened
    outcome = execute_subscription_event(executor)
    result: ExecutionResult = await outcome if is_awaitable(outcome) else outcome  # type: ignore[assignment]
    body = result_answer(request, result, 200, request.app[SETTINGS].detailed_errors).body
    if "errors" in body:
        return body
    encoded = orjson.dumps(body)
    renderings.put(key, document, encoded)
    return orjson.Fragment(encoded)


def _too_slow(max_lag: int) -> dict[str, Any]:
    return request_error(
        f"This subscriber fell more than {max_lag} events behind, so its subscription "
        "ended. Subscribe again with `after` set to the last event id it received.",
        TOO_SLOW,
        {"limit": max_lag},
    )


def revoked_error() -> dict[str, Any]:
    return request_error("The API key was revoked, so its subscriptions ended.", "UNAUTHENTICATED")
