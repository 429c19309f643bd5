"""Following the log: the stored events after a position, then each new one as it commits.

Ids ascend in commit order (app/events/log.py), so "everything after the last id I was
given" is a complete, duplicate-free resume point: an event committed later always has
a larger id than every event already visible. A follower registers for its log's
wake-ups before it reads its starting position, then reads in id order, a batch at a
time, and waits for a wake-up only when a read came back short; the switch from the
stored events to the live ones is the same loop, so it has no gap and no duplicate.

The log itself is the subscriber's buffer: a follower holds one batch at most, however
far behind its reader is. How far behind is measured in the log, as the matching events
committed since the follower was established that it has not handed out yet; stored
events it replays from `after` do not count, since those it is catching up on.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from sqlalchemy import Row

from app.accounts.keys import Principal
from app.customers.cursors import CursorCodec
from app.events.log import EventRecord, event_from_row, events_topic
from app.events.service import (
    EventFilter,
    event_rows_after,
    newest_event_id,
    parse_bound,
    visible_position,
)
from app.store.store import Store
from app.store.wakeups import Waiter

READ_BATCH = 100


class SubscriberTooSlow(Exception):
    """The follower's reader fell more than `max_lag` matching events behind the log."""

    def __init__(self, max_lag: int) -> None:
        super().__init__(max_lag)
        self.max_lag = max_lag


class Follower:
    """An async iterator of the matching events after a position, live ones included;
    `aclose` (or iterating to an error) lets go of its wake-ups."""

    def __init__(
        self,
        store: Store,
        *,
        principal: Principal,
        event_filter: EventFilter,
        max_lag: int | None = None,
    ) -> None:
        self._store = store
        self._principal = principal
        self._filter = event_filter
        self._max_lag = max_lag
        # A full batch is when the lag is checked, so a batch never exceeds the lag allowed.
        self._batch = READ_BATCH if max_lag is None else min(READ_BATCH, max_lag + 1)
        self._topic = events_topic(principal.account_id, principal.live)
        self._waiter: Waiter | None = None
        self._rows: deque[Row[Any]] = deque()
        self._caught_up = False
        # The last event handed out (or the start), and the newest event when established.
        self.position: str | None = None
        self._live_from: str | None = None

    async def start(self, cursors: CursorCodec, after: str | None) -> Follower:
        """Establishes the position: after `after` (an event id or cursor the principal
        can see; BadUserInput otherwise), or after everything committed so far."""
        bound = parse_bound(cursors, "after", after)
        self._waiter = self._store.wakeups.register(self._topic)
        try:
            async with self._store.read() as connection:
                self._live_from = await newest_event_id(connection, self._principal)
                if bound is not None:
                    self.position = await visible_position(
                        connection, self._principal, "after", bound
                    )
                else:
                    self.position = self._live_from
        except BaseException:
            await self.aclose()
            raise
        return self

    def __aiter__(self) -> Follower:
        return self

    async def __anext__(self) -> EventRecord:
        waiter = self._waiter
        if waiter is None:
            raise StopAsyncIteration
        try:
            while not self._rows:
                if self._caught_up:
                    await waiter.wait()
                await self._read()
        except BaseException:
            await self.aclose()
            raise
        row = self._rows.popleft()
        self.position = row.id
        return event_from_row(row._mapping)

    async def _read(self) -> None:
        async with self._store.read() as connection:
            rows = await event_rows_after(
                connection, self._principal, self._filter, self.position, self._batch
            )
        self._caught_up = len(rows) < self._batch
        if not self._caught_up and await self.too_far_behind():
            assert self._max_lag is not None
            raise SubscriberTooSlow(self._max_lag)
        self._rows.extend(rows)

    async def too_far_behind(self) -> bool:
        """Whether more than max_lag matching events committed since the follower was
        established are still to be handed out (one indexed read, skipping max_lag)."""
        if self._max_lag is None:
            return False
        start = self.position
        if self._live_from is not None and (start is None or start < self._live_from):
            start = self._live_from
        async with self._store.read() as connection:
            rows = await event_rows_after(
                connection,
                self._principal,
                self._filter,
                start,
                limit=1,
                skip=self._max_lag,
            )
        return bool(rows)

    async def aclose(self) -> None:
        if self._waiter is not None:
            self._store.wakeups.unregister(self._topic, self._waiter)
            self._waiter = None
        self._rows.clear()


async def follow(
    store: Store,
    *,
    principal: Principal,
    after: str | None,
    event_filter: EventFilter,
    cursors: CursorCodec,
    max_lag: int | None = None,
) -> Follower:
    """A started Follower (see Follower.start)."""
    follower = Follower(store, principal=principal, event_filter=event_filter, max_lag=max_lag)
    return await follower.start(cursors, after)
