"""Rate limits: a bucket of points per API key, in this process or shared through Redis."""

from __future__ import annotations

from collections.abc import Callable

from app.ratelimits.buckets import Buckets, MemoryBuckets
from app.settings import Settings


def buckets_for_settings(
    settings: Settings, *, on_store_error: Callable[[], object] = lambda: None
) -> Buckets | None:
    """Redis buckets with REDIS_URL, this process's own without, None when turned off."""
    if settings.rate_limit_bucket == 0:
        return None
    if settings.redis_url:
        from app.ratelimits.redis_buckets import RedisBuckets

        return RedisBuckets(
            settings.redis_url,
            settings.redis_key_prefix,
            settings.rate_limit_bucket,
            settings.rate_limit_restore_per_second,
            on_error=on_store_error,
        )
    return MemoryBuckets(settings.rate_limit_bucket, settings.rate_limit_restore_per_second)
