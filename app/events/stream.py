"""Following the log: the stored events after a position, then each new one as it commits.

Ids ascend in commit order (app/events/log.py), so "everything after the last id I was
given" is a complete, duplicate-free resume point: an event committed later always has
a larger id than every event already visible. A follower registers for its log's
wake-ups before its first read, then reads in id order, a batch at a time, and waits
for a wake-up only when a read came back short; the switch from the stored events to
the live ones is the same loop, so it has no gap and no duplicate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

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

READ_BATCH = 100


async def follow(
    store: Store,
    *,
    principal: Principal,
    after: str | None,
    event_filter: EventFilter,
    cursors: CursorCodec,
) -> AsyncIterator[EventRecord]:
    """The matching events after `after` (an event id or cursor the principal can see;
    BadUserInput otherwise), or, without it, those committed after this call began."""
    bound = parse_bound(cursors, "after", after)
    topic = events_topic(principal.account_id, principal.live)
    async with store.wakeups.waiter(topic) as waiter:
        async with store.read() as connection:
            if bound is not None:
                position = await visible_position(connection, principal, "after", bound)
            else:
                position = await newest_event_id(connection, principal)
        while True:
            async with store.read() as connection:
                rows = await event_rows_after(
                    connection, principal, event_filter, position, READ_BATCH
                )
            for row in rows:
                position = row.id
                yield event_from_row(row._mapping)
            if len(rows) < READ_BATCH:
                await waiter.wait()
