"""Charging each operation to its key's bucket, and telling the client (RateLimit-*).

The cost comes from the node count the node budget already computed (app/web/limits.py),
so a request is walked once. An operation that runs is charged its cost and refused with
429 when the bucket is short; one refused for another reason (it did not parse, say)
still costs 1 point, never more than is left, so every authenticated answer reports a
bucket with one charge: one round trip when the buckets live in Redis.
"""

from __future__ import annotations

import math

from aiohttp import web

from app.accounts.keys import Principal
from app.ratelimits.buckets import Buckets, Decision
from app.web.params import RequestError
from app.web.state import BUCKETS, LOG_FIELDS, RATE_LIMIT, REFUSAL_PACER

CODE = "RATE_LIMITED"
REFUSAL_COST = 1


async def charge(
    request: web.Request, principal: Principal, cost: int, *, required: bool = True
) -> Decision | None:
    """Spend `cost` from the key's bucket (refused when short, if `required`); None when
    rate limits are off."""
    buckets: Buckets | None = request.app.get(BUCKETS)
    if buckets is None:
        return None
    decision = await buckets.take(principal.key_id, cost, required=required)
    request[RATE_LIMIT] = decision
    return decision


async def charge_refusal(request: web.Request, principal: Principal) -> None:
    await charge(request, principal, REFUSAL_COST, required=False)


async def pace_refusal(request: web.Request, principal: Principal) -> None:
    """Hold a 429 until its key's turn (app/ratelimits/pacing.py)."""
    pacer = request.app.get(REFUSAL_PACER)
    if pacer is not None:
        waited = await pacer.wait_turn(principal.key_id)
        if waited:
            request[LOG_FIELDS]["paced_ms"] = round(waited * 1000)


def limited(decision: Decision) -> RequestError:
    retry_after_ms = decision.retry_after_ms
    return RequestError(
        429,
        f"This API key has {decision.remaining} of its {decision.limit} points left and "
        f"this request costs {decision.cost}; the bucket refills {decision.restore_per_second} "
        f"points a second. Retry in {retry_after_ms / 1000:.3g} s.",
        code=CODE,
        headers={"Retry-After": str(max(1, math.ceil(retry_after_ms / 1000)))},
        extensions={"retryAfterMs": retry_after_ms},
    )


def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    decision = request.get(RATE_LIMIT)
    if decision is None:
        return
    response.headers["RateLimit-Limit"] = str(decision.limit)
    response.headers["RateLimit-Remaining"] = str(decision.remaining)
    response.headers["RateLimit-Reset"] = str(math.ceil(decision.reset_ms / 1000))
