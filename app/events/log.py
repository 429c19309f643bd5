"""Recording an event inside the transaction that makes the change.

Order. Within one account and mode, event ids must ascend in commit order, even for
writers on different processes: a reader shown event E must never later be shown an
event of that account and mode sorting before E. An id chosen before commit does not
give this alone (a transaction that took an earlier id may commit later), so the id is
chosen under a lock held until commit: the account and mode's row in
`customer_event_heads`, which each event's transaction upserts as its last statement.

    INSERT INTO customer_event_heads VALUES (account, live, now)
    ON CONFLICT DO UPDATE SET last_ms = greatest(now, last_ms + 1) RETURNING last_ms

A second writer's upsert waits on the row lock until the first commits, then (READ
COMMITTED re-reads the committed row) takes a later millisecond; PostgreSQL makes a
transaction visible before it releases its locks. So ids, whose leading 48 bits are
that millisecond, ascend in the order the transactions commit, and an event is visible
before any later one exists. On SQLite the single writer gives the same order.

The head only ever moves forward, so clocks that differ between replicas, or a burst
of more than one event per millisecond, move id times a little ahead of `created_at`
(which is the clock's own) but never out of order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping, String, bindparam, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from app.accounts.keys import Principal
from app.clock import now_ms
from app.customers.models import WRITABLE_FIELDS, CustomerRecord
from app.events.models import EventType, events_table, heads_table
from app.ids import new_event_id
from app.store.wakeups import CHANNEL, mark

# previousAttributes names fields by their GraphQL names; the writable ones are the same.
_TRACKED_FIELDS = WRITABLE_FIELDS


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event as the services hand it out."""

    id: str
    type: EventType
    live: bool
    created_at: int
    customer: CustomerRecord
    previous_attributes: dict[str, Any] | None


async def record_event(
    connection: AsyncConnection,
    principal: Principal,
    event_type: EventType,
    customer: CustomerRecord,
    previous: CustomerRecord | None = None,
) -> EventRecord:
    """Store the event of a change made in this transaction; call it last, just before
    the transaction commits, as the head's lock is held from here until then."""
    created_at = now_ms()
    event = EventRecord(
        id=new_event_id(await _advance_head(connection, principal, created_at)),
        type=event_type,
        live=principal.live,
        created_at=created_at,
        customer=customer,
        previous_attributes=None if previous is None else changed_fields(previous, customer),
    )
    await connection.execute(
        _INSERT_EVENT,
        {
            "id": event.id,
            "account_id": principal.account_id,
            "live": event.live,
            "type": event.type.value,
            "created_at": event.created_at,
            "customer_id": customer.id,
            "customer": customer.to_json(),
            "previous_attributes": event.previous_attributes,
        },
    )
    return event


def changed_fields(before: CustomerRecord, after: CustomerRecord) -> dict[str, Any]:
    """The old value of each writable field whose value changed."""
    old, new = before.to_json(), after.to_json()
    return {name: old[name] for name in _TRACKED_FIELDS if old[name] != new[name]}


def event_from_row(row: RowMapping) -> EventRecord:
    return EventRecord(
        id=row["id"],
        type=EventType(row["type"]),
        live=row["live"],
        created_at=row["created_at"],
        customer=CustomerRecord.from_json(row["customer"]),
        previous_attributes=row["previous_attributes"],
    )


def events_topic(account_id: str, live: bool) -> str:
    """The wake-up topic of one account and mode's log (app/store/wakeups.py)."""
    return f"events:{account_id}:{int(live)}"


async def _advance_head(connection: AsyncConnection, principal: Principal, now: int) -> int:
    """The millisecond of the next event id: after the last one, and locked until commit.
    The same statement wakes the log's subscribers once the transaction commits: by
    NOTIFY on PostgreSQL, and on SQLite through the Store."""
    topic = events_topic(principal.account_id, principal.live)
    values = {"account_id": principal.account_id, "live": principal.live, "now": now}
    if connection.dialect.name == "postgresql":
        advanced = await connection.execute(_ADVANCE_AND_NOTIFY, {**values, "topic": topic})
        return int(advanced.scalars().one())
    mark(connection, topic)
    return int((await connection.execute(_ADVANCE_SQLITE, values)).scalar_one())


def _advance(dialect: Any, later: Any) -> Any:
    """The head's upsert in `dialect`, `later` choosing the larger of two milliseconds.
    Built once, with parameters, so each event costs a cached statement, not a new one."""
    statement = dialect.insert(heads_table).values(
        account_id=bindparam("account_id"), live=bindparam("live"), last_ms=bindparam("now")
    )
    return statement.on_conflict_do_update(
        index_elements=["account_id", "live"],
        set_={"last_ms": later(statement.excluded.last_ms, heads_table.c.last_ms + 1)},
    ).returning(heads_table.c.last_ms)


_ADVANCE_SQLITE = _advance(sqlite, func.max)
_HEAD = _advance(postgresql, func.greatest).cte("head")
_ADVANCE_AND_NOTIFY = select(
    _HEAD.c.last_ms, func.pg_notify(CHANNEL, bindparam("topic", type_=String))
).select_from(_HEAD)
_INSERT_EVENT = insert(events_table)
