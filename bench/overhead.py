"""`python -m bench.overhead`: what metrics, rate limits, the no-op spans and sealed cursors
add to one request, timed in isolation (microseconds per request, best of 5 runs of N).

The interleaved wrk runs (`scripts/bench --baseline-without metrics,ratelimits`) measure
the same thing end to end, but this machine's noise (±10 % between rounds) is larger
than what they add; these numbers bound it from below the noise.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from aiohttp.test_utils import make_mocked_request

from app.customers.cursors import CURSOR_KEY_BYTES, CursorCodec
from app.customers.models import CustomerRecord
from app.customers.ordering import DEFAULT_ORDER, Order, OrderDirection, OrderField
from app.ids import new_customer_id
from app.ratelimits.buckets import MemoryBuckets
from app.telemetry.metrics import Metrics
from app.telemetry.spans import Spans
from app.web import rate_limits
from app.web.state import BUCKETS, RATE_LIMIT

N = 20_000
T = TypeVar("T")
REDIS_URL = "redis://127.0.0.1:6379/0"


def _best(step: Callable[[], object], runs: int = 5, count: int = N) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(count):
            step()
        best = min(best, time.perf_counter() - started)
    return best / count * 1e6


def _finish(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never waits (the in-memory buckets), without a loop."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    raise RuntimeError("the coroutine waited")


def _redis_cpu(loop: asyncio.AbstractEventLoop, count: int = 5_000) -> float:
    """CPU time per charge through the machine's Redis (127.0.0.1:6379, a prefix of its own
    whose keys are deleted); the round trip's wait is not CPU and is not counted."""
    from app.ratelimits.redis_buckets import RedisBuckets

    prefix = f"gateway-bench-{uuid.uuid4().hex[:8]}:"
    buckets = RedisBuckets(REDIS_URL, prefix, 10**12, 10**12)

    async def charges() -> float:
        await buckets.take("key_1", 51)
        started = time.process_time()
        for _ in range(count):
            await buckets.take("key_1", 51)
        spent = time.process_time() - started
        client = buckets._client
        await client.delete(*[key async for key in client.scan_iter(match=f"{prefix}*")])
        await buckets.close()
        return spent / count * 1e6

    return loop.run_until_complete(charges())


def _cursor_rows() -> dict[str, float]:
    """Cursors for a page, sealed (AES-SIV) and as they were before (the plain triple)."""
    sealed = CursorCodec(os.urandom(CURSOR_KEY_BYTES))
    unsealed = CursorCodec(os.urandom(CURSOR_KEY_BYTES))

    def unchanged(plaintext: bytes, _associated: None) -> bytes:
        return plaintext

    unsealed._encrypt = unchanged  # type: ignore[assignment]
    by_email = Order(OrderField.EMAIL, OrderDirection.ASC)
    created = 1_796_193_034_988
    customers = [
        CustomerRecord(
            new_customer_id(created + number),
            False,
            created + number,
            created + number,
            f"Ada Nilsson {number}",
            f"ada.nilsson{number}@example.com",
            None,
            {},
        )
        for number in range(1_000)
    ]
    rows: dict[str, float] = {}
    for label, order in (("createdAt", DEFAULT_ORDER), ("email", by_email)):
        for size in (50, 1_000):
            for kind, codec in (("sealed", sealed), ("unsealed", unsealed)):

                def encode(
                    codec: CursorCodec = codec, order: Order = order, size: int = size
                ) -> None:
                    codec.encode_page(order, customers[:size])

                rows[f"{size:,} cursors, {label} order, {kind}"] = _best(
                    encode, count=200_000 // size
                )
    cursor = sealed.encode_page(by_email, customers[:1])[0]
    rows["decoding one email-order cursor (sealed)"] = _best(
        lambda: sealed.decode(by_email, cursor)
    )
    return rows


def main() -> int:
    metrics = Metrics()
    spans = Spans()
    buckets = MemoryBuckets(10**12, 10**12)
    loop = asyncio.new_event_loop()
    request = make_mocked_request("POST", "/graphql", app=None)
    request.app[BUCKETS] = buckets

    def record_metrics() -> None:
        metrics.operation(
            name="Page50", document_id=None, kind="query", outcome="ok", client=None, seconds=0.01
        )
        metrics.http_response(200)

    def charge() -> None:
        _finish(buckets.take("key_1", 51))

    response_headers: dict[str, str] = {}

    class Response:
        headers = response_headers

    def headers() -> None:
        request[RATE_LIMIT] = _finish(buckets.take("key_1", 51))
        rate_limits.add_headers(request, Response())  # type: ignore[arg-type]

    def no_spans() -> None:
        with spans.request("POST", "/graphql", {}) as span, spans.operation() as operation:
            operation.describe(name="Page50", kind="query", document_id=None, cost=51)
            span.finish(200)

    rows = {
        "metrics (operation, duration, HTTP status)": _best(record_metrics),
        "rate limit charge (in memory)": _best(charge),
        "charge and RateLimit-* headers": _best(headers),
        "spans when tracing is off": _best(no_spans),
    }
    rows["rate limit charge (Redis, CPU of this process)"] = _redis_cpu(loop)
    rows.update(_cursor_rows())
    for name, microseconds in rows.items():
        print(f"{name:<55} {microseconds:6.2f} µs")
    loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
