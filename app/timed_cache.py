"""A least-recently-used map whose entries expire a fixed time after they were put."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TimedCache(Generic[K, V]):
    def __init__(self, seconds: float, size: int) -> None:
        self._seconds = seconds
        self._size = size
        self.clock: Callable[[], float] = time.monotonic
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: K, value: V) -> None:
        self._entries[key] = (value, self.clock() + self._seconds)
        self._entries.move_to_end(key)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def forget(self, matches: Callable[[K, V], bool]) -> None:
        for key in [key for key, (value, _) in self._entries.items() if matches(key, value)]:
            del self._entries[key]
