"""Token buckets: `capacity` points, refilled at `restore_per_second`, one per API key.

`take` is the one operation: refill for the time passed, then spend `cost` if the bucket
holds it. A `required` charge is refused when the bucket is short; one that is not (a
request refused for another reason still costs its point) spends what is there.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from app.clock import now_ms

BUCKETS_IN_MEMORY = 100_000


# Not frozen: built for every request, where frozen costs five times as much to build.
@dataclass(slots=True)
class Decision:
    """What a charge did, and what the bucket holds after it."""

    allowed: bool
    cost: int
    limit: int
    restore_per_second: int
    tokens: float
    now_ms: int

    @property
    def remaining(self) -> int:
        return math.floor(self.tokens)

    @property
    def reset_ms(self) -> int:
        """Milliseconds until the bucket is full again if nothing more is spent."""
        return math.ceil((self.limit - self.tokens) * 1000 / self.restore_per_second)

    @property
    def retry_after_ms(self) -> int:
        """Milliseconds until this cost fits (0 when it was allowed)."""
        if self.allowed:
            return 0
        return math.ceil((self.cost - self.tokens) * 1000 / self.restore_per_second)


class Buckets(Protocol):
    limit: int
    restore_per_second: int

    async def take(self, key: str, cost: int, *, required: bool = True) -> Decision: ...

    async def close(self) -> None: ...


def refill(tokens: float, at_ms: int, now: int, *, limit: int, restore_per_second: int) -> float:
    return min(float(limit), tokens + max(now - at_ms, 0) * restore_per_second / 1000)


class MemoryBuckets:
    """Buckets of this process alone (no REDIS_URL); the least recently used are dropped
    beyond BUCKETS_IN_MEMORY keys, which only ever refills them early."""

    def __init__(self, limit: int, restore_per_second: int) -> None:
        self.limit = limit
        self.restore_per_second = restore_per_second
        self._buckets: OrderedDict[str, tuple[float, int]] = OrderedDict()

    async def take(self, key: str, cost: int, *, required: bool = True) -> Decision:
        now = now_ms()
        tokens, at_ms = self._buckets.pop(key, (float(self.limit), now))
        tokens = refill(
            tokens, at_ms, now, limit=self.limit, restore_per_second=self.restore_per_second
        )
        allowed = tokens >= cost or not required
        if allowed:
            tokens = max(tokens - cost, 0.0)
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > BUCKETS_IN_MEMORY:
            self._buckets.popitem(last=False)
        return Decision(allowed, cost, self.limit, self.restore_per_second, tokens, now)

    async def close(self) -> None:
        self._buckets.clear()
