"""Each event rendered once for every subscriber that asked for it the same way.

Subscribers of one account and mode receive the same events, and most subscribe with
the same document and variables, so an event's payload for that selection is the same
bytes for all of them: it is executed and encoded once, and the last SIZE renderings
are kept for the other subscribers it is sent to.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

SIZE = 1_024

# (id of the document, operation name, the variables as sorted JSON, event id)
Key = tuple[int, str | None, bytes, str]


class Renderings:
    """An LRU of encoded `{"data": …}` payloads. Each entry keeps its document alive, so
    the document's id in a key cannot be reused while the entry exists."""

    def __init__(self, size: int = SIZE) -> None:
        self._size = size
        self._entries: OrderedDict[Key, tuple[Any, bytes]] = OrderedDict()

    def get(self, key: Key, document: Any) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] is not document:
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: Key, document: Any, body: bytes) -> None:
        self._entries[key] = (document, body)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
