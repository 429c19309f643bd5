"""A subscription's results turned into the payloads its client is sent, by either
transport (app/web/websocket.py, app/web/sse.py)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from graphql import ExecutionResult

from app.events.stream import SubscriberTooSlow
from app.store.availability import is_unavailable
from app.web.answers import Answer
from app.web.error_entries import INTERNAL_MESSAGE, masked_extensions, request_error
from app.web.operations import Results, result_answer
from app.web.params import RequestError
from app.web.state import METRICS, REQUEST_ID, SUBSCRIPTIONS
from app.web.unavailable import unavailable

KEY_CHECK_SECONDS = 1.0
TOO_MANY = "TOO_MANY_SUBSCRIPTIONS"
TOO_SLOW = "SUBSCRIBER_TOO_SLOW"
log = logging.getLogger(__name__)


async def held_slot(
    request: web.Request, key_id: str, results: Results
) -> contextlib.ExitStack[bool | None]:
    """One of the key's subscription slots, held for `results` until the returned context
    ends; TOO_MANY_SUBSCRIPTIONS (a RequestError, with `results` closed) when none is free."""
    held = contextlib.ExitStack()
    try:
        held.enter_context(request.app[SUBSCRIPTIONS].slot(key_id))
    except RequestError:
        await close(results)
        raise
    return held


async def close(results: Results | AsyncIterator[Any]) -> None:
    aclose = getattr(results, "aclose", None)
    if aclose is not None:
        await aclose()


@dataclass(frozen=True, slots=True)
class Payload:
    """One message for the client: a result, or the errors that end the subscription."""

    body: dict[str, Any]
    final: bool = False


async def payloads(request: web.Request, results: Results) -> AsyncIterator[Payload]:
    """Each result as a payload, masked as HTTP answers are; a failure of the stream (too
    slow, the database gone, a bug) as one last, final payload of errors."""
    ended = request.app[METRICS].subscriptions_ended
    try:
        async for result in results:
            yield Payload(_result_body(request, result))
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
        await close(results)


def _result_body(request: web.Request, result: ExecutionResult) -> dict[str, Any]:
    return result_answer(request, result, 200).body


def _too_slow(max_lag: int) -> dict[str, Any]:
    return request_error(
        f"This subscriber fell more than {max_lag} events behind, so its subscription "
        "ended. Subscribe again with `after` set to the last event id it received.",
        TOO_SLOW,
        {"limit": max_lag},
    )


def revoked_error() -> dict[str, Any]:
    return request_error("The API key was revoked, so its subscriptions ended.", "UNAUTHENTICATED")
