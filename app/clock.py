"""Wall-clock time as the gateway stores it: integer milliseconds since the Unix epoch."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def format_ms(epoch_ms: int) -> str:
    """The time in UTC as people read it in a listing."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
