"""Following the log: the stored events after a position, then each new one as it commits.

Ids ascend in commit order (app/events/log.py), so "everything after the last id I was
given" is a complete, duplicate-free resume point: an event committed later always has
a larger id than every event already visible.

A follower first reads the log itself, a batch at a time, from its position (replaying
the stored events after `after`). Once a read comes back short it has caught up, and it
joins its account and mode's Tail: one reader per process that, woken by each commit
(app/store/wakeups.py), reads the new events once and hands them to every live
follower, each taking those after its own position that match its filter. So a commit
costs one read however many subscribers follow the log, and the switch from replay to
live has no gap (the tail's recent events cover what it read before the follower
joined) and no duplicate (a follower takes only ids after its position).

A live follower's queue holds references to the tail's events, so it costs no memory
per event beyond a reference. A follower whose reader falls more than `max_lag` events
behind is cut off (SubscriberTooSlow) rather than queueing without bound; stored events
it replays from `after` never count, since those it is catching up on.
"""

from __future__ import annotations

import asyncio
from collections import deque
from weakref import WeakKeyDictionary

from app.accounts.keys import Principal
from app.customers.cursors import CursorCodec
from app.events.log import EventRecord, event_from_row, events_topic
from app.events.service import (
    EventFilter,
    log_rows_after,
    newest_event_id,
    parse_bound,
    visible_position,
)
from app.store.store import Store

READ_BATCH = 100
# Events a tail keeps after handing them out, for a follower whose last read of the log
# raced with the tail's (one that is further behind reads the log again itself).
RECENT = 100
# Positions compare as strings; every event id sorts after the start of the log.
_START = ""


class SubscriberTooSlow(Exception):
    """The follower's reader fell more than `max_lag` events behind the log."""

    def __init__(self, max_lag: int) -> None:
        super().__init__(max_lag)
        self.max_lag = max_lag


class Follower:
    """An async iterator of the matching events after a position, live ones included;
    `aclose` lets go of the tail."""

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
        # The last event read or queued: what the follower has taken from the log.
        self._read_to = _START
        # Stored events it replays, then live ones; only the live ones can be "behind".
        self._replayed: deque[EventRecord] = deque()
        self._live: deque[EventRecord] = deque()
        self._tail: Tail | None = None
        self._ready: asyncio.Future[None] | None = None
        self._failure: BaseException | None = None
        self._closed = False

    async def start(self, cursors: CursorCodec, after: str | None) -> Follower:
        """Establishes the position: after `after` (an event id or cursor the principal
        can see; BadUserInput otherwise), or after everything committed so far."""
        bound = parse_bound(cursors, "after", after)
        async with self._store.read() as connection:
            if bound is not None:
                position = await visible_position(connection, self._principal, "after", bound)
            else:
                position = await newest_event_id(connection, self._principal)
        self._read_to = position or _START
        return self

    def __aiter__(self) -> Follower:
        return self

    async def __anext__(self) -> EventRecord:
        while not (self._replayed or self._live):
            if self._failure is not None:
                failure, self._failure = self._failure, None
                await self.aclose()
                raise failure
            if self._closed:
                raise StopAsyncIteration
            if self._tail is None:
                await self._replay()
            else:
                self._ready = asyncio.get_running_loop().create_future()
                try:
                    await self._ready
                finally:
                    self._ready = None
        return (self._replayed or self._live).popleft()

    async def _replay(self) -> None:
        """One batch of stored events (every type, so a short read means "up to the log's
        end"); joins the tail once a read comes back short."""
        try:
            async with self._store.read() as connection:
                rows = await log_rows_after(connection, self._principal, self._read_to, READ_BATCH)
        except BaseException:
            await self.aclose()
            raise
        events = [event_from_row(row._mapping) for row in rows]
        self._replayed.extend(event for event in events if self._filter.matches(event))
        if events:
            self._read_to = events[-1].id
        if len(events) < READ_BATCH:
            _tail(self._store, self._principal, self._read_to).join(self)

    def _offer(self, events: list[EventRecord]) -> None:
        """The tail's newest events, of which this follower takes those after its position."""
        for event in events:
            if event.id > self._read_to and self._filter.matches(event):
                self._live.append(event)
        if events and events[-1].id > self._read_to:
            self._read_to = events[-1].id
        if self._max_lag is not None and len(self._live) > self._max_lag:
            self._fail(SubscriberTooSlow(self._max_lag))
        elif self._live:
            self._wake()

    def _fail(self, failure: BaseException) -> None:
        """Ends the follower: its next step raises `failure`."""
        self._replayed.clear()
        self._live.clear()
        self._failure = failure
        self._leave()
        self._wake()

    def _wake(self) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    def _leave(self) -> None:
        if self._tail is not None:
            self._tail.leave(self)
            self._tail = None

    async def aclose(self) -> None:
        self._closed = True
        self._replayed.clear()
        self._live.clear()
        self._leave()
        self._wake()


class Tail:
    """One account and mode's newest events, read once per wake-up for its live
    followers; it ends with its last follower."""

    def __init__(self, store: Store, principal: Principal, position: str) -> None:
        self._store = store
        self._principal = principal
        self._topic = events_topic(principal.account_id, principal.live)
        self._followers: set[Follower] = set()
        self.position = position
        # The events read since `recent_from`, the last RECENT of them.
        self._recent: deque[EventRecord] = deque()
        self._recent_from = position
        self._waiter = store.wakeups.register(self._topic)
        self._closed = False
        self._task = asyncio.create_task(self._run())

    def join(self, follower: Follower) -> None:
        """Adds a follower that has read the log up to its position; one that is behind
        what this tail already handed out gets those events from the recent ones, or
        goes on reading the log itself when they are older than that."""
        position = follower._read_to
        if position < self._recent_from:
            return  # it reads another batch of stored events itself
        follower._tail = self
        self._followers.add(follower)
        if position < self.position:
            follower._offer([event for event in self._recent if event.id > position])
        # Whatever committed between the follower's last read and now is read at once.
        self._waiter.wake()

    def leave(self, follower: Follower) -> None:
        self._followers.discard(follower)
        if not self._followers:
            self._close()

    async def _run(self) -> None:
        while not self._closed:
            await self._waiter.wait()
            try:
                await self._read_new()
            except Exception as error:
                for follower in list(self._followers):
                    follower._fail(error)
                return

    async def _read_new(self) -> None:
        while self._followers:
            async with self._store.read() as connection:
                rows = await log_rows_after(connection, self._principal, self.position, READ_BATCH)
            if not rows:
                return
            events = [event_from_row(row._mapping) for row in rows]
            self.position = events[-1].id
            self._remember(events)
            for follower in list(self._followers):
                follower._offer(events)
            if len(rows) < READ_BATCH:
                return

    def _remember(self, events: list[EventRecord]) -> None:
        self._recent.extend(events)
        while len(self._recent) > RECENT:
            self._recent_from = self._recent.popleft().id

    def _close(self) -> None:
        self._closed = True
        tails = _TAILS.get(self._store, {})
        if tails.get(self._topic) is self:
            del tails[self._topic]
        self._store.wakeups.unregister(self._topic, self._waiter)
        # Not cancelled: a read cut off in the middle could leave its SQLite connection
        # unclosable; woken, the task finishes the read it may be in and ends.
        self._waiter.wake()


# Each store's tails, by topic.
_TAILS: WeakKeyDictionary[Store, dict[str, Tail]] = WeakKeyDictionary()


def _tail(store: Store, principal: Principal, position: str) -> Tail:
    """The principal's tail, made at `position` when there is none (the joining follower
    has just read the log up to it)."""
    tails = _TAILS.setdefault(store, {})
    topic = events_topic(principal.account_id, principal.live)
    tail = tails.get(topic)
    if tail is None:
        tail = tails[topic] = Tail(store, principal, position)
    return tail


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
