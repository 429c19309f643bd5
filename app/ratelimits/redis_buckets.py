"""Buckets in Redis, shared by every gateway process: one script call per request.

The script refills, decides and spends atomically on the server, with the server's own
clock, so processes on several machines agree. A bucket's key expires once it would be
full again, so idle keys cost Redis nothing.

When Redis cannot be reached the gateway fails open: requests are served as if the
bucket held their cost, the failure is logged once per LOG_INTERVAL_SECONDS with a
count, and Redis is not asked again for RETRY_SECONDS, so an outage does not add a
timeout to every request. Buckets resume from Redis as soon as it answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

from app.clock import now_ms
from app.ratelimits.buckets import Decision

log = logging.getLogger("app.ratelimits")

SOCKET_TIMEOUT_SECONDS = 0.25
RETRY_SECONDS = 1.0
LOG_INTERVAL_SECONDS = 30.0

# KEYS[1]: the bucket. ARGV: limit, restore per second, cost, required (1 or 0).
_TAKE = """
local limit = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or limit
local at = tonumber(state[2]) or now
tokens = math.min(limit, tokens + math.max(now - at, 0) * rate / 1000)
local allowed = 0
if tokens >= cost or ARGV[4] == '0' then
  tokens = math.max(tokens - cost, 0)
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((limit - tokens) * 1000 / rate) + 1000)
return {allowed, tostring(tokens), now}
"""


class RedisBuckets:
    def __init__(
        self,
        url: str,
        prefix: str,
        limit: int,
        restore_per_second: int,
        *,
        on_error: Callable[[], object] = lambda: None,
    ) -> None:
        self._on_error = on_error
        self.limit = limit
        self.restore_per_second = restore_per_second
        self._prefix = prefix + "ratelimit:"
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        )
        self._take = self._client.register_script(_TAKE)
        self._skip_until = 0.0
        self._failures = 0
        self._logged_at = -LOG_INTERVAL_SECONDS
        self.failures_total = 0

    async def take(self, key: str, cost: int, *, required: bool = True) -> Decision:
        if time.monotonic() >= self._skip_until:
            try:
                allowed, tokens, now = await self._take(
                    keys=[self._prefix + key],
                    args=[self.limit, self.restore_per_second, cost, int(required)],
                )
            except (RedisError, OSError) as error:
                self._failed(error)
            else:
                self._recovered()
                return Decision(
                    bool(allowed), cost, self.limit, self.restore_per_second, float(tokens), now
                )
        tokens = float(max(self.limit - cost, 0))
        return Decision(True, cost, self.limit, self.restore_per_second, tokens, now_ms())

    def _failed(self, error: Exception) -> None:
        self._skip_until = time.monotonic() + RETRY_SECONDS
        self._failures += 1
        self.failures_total += 1
        self._on_error()
        if time.monotonic() - self._logged_at >= LOG_INTERVAL_SECONDS:
            log.warning(
                "rate limits: Redis unreachable, serving without limits (%d failures "
                "since the last report): %s",
                self._failures,
                type(error).__name__,
            )
            self._logged_at = time.monotonic()
            self._failures = 0

    def _recovered(self) -> None:
        if self.failures_total and self._skip_until:
            log.warning("rate limits: Redis reachable again, buckets resume")
            self._skip_until = 0.0

    async def close(self) -> None:
        await self._client.aclose()
