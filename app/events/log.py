"""Recording an event inside the transaction that makes the change.

Order. Within one account and mode, event ids must ascend in commit order, even for
writers on different processes: a reader shown event E must never later be shown an
event of that account and mode sorting before E. An id chosen before commit does not
give this alone (a transaction that took an earlier id may commit later), so the id is
chosen under a lock held until commit: the account and mode's row in
`customer_event_heads`, which each event's transaction upserts in its last statement.

    INSERT INTO customer_event_heads VALUES (account, live, now)
    ON CONFLICT DO UPDATE SET last_ms = greatest(now, last_ms + 1) RETURNING last_ms

A second writer's upsert waits on the row lock until the first commits, then (READ
COMMITTED re-reads the committed row) takes a later millisecond; PostgreSQL makes a
transaction visible before it releases its locks. So ids, whose leading 48 bits are
that millisecond, ascend in the order the transactions commit, and an event is visible
before any later one exists. On SQLite the single writer gives the same order.

On PostgreSQL the upsert, with its NOTIFY, is a data-modifying CTE of the statement that
inserts the event (for a creation, after a CTE inserting the customer), and the event's
id is made in SQL from the `last_ms` it returns: one statement and one round trip, the
transaction's last, so the lock is held across the commit only. Every part of that
statement shares the snapshot taken when it started, before any wait on the lock; that
changes nothing, as ON CONFLICT DO UPDATE locks and updates the newest committed version
of the row whatever the snapshot, and the event's insert reads only the upsert's
RETURNING. On SQLite the upsert and the insert are two statements, run together on the
connection's thread (app/events/sqlite_log.py).

The head only ever moves forward, so clocks that differ between replicas, or a burst
of more than one event per millisecond, move id times a little ahead of `created_at`
(which is the clock's own) but never out of order.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import RowMapping, TextClause, bindparam, func, insert, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from app.accounts.keys import Principal
from app.clock import now_ms
from app.customers.models import WRITABLE_FIELDS, CustomerRecord, customers_table
from app.events.models import EventType, events_table, heads_table
from app.events.sqlite_log import EventStatements, event_work, write_event
from app.ids import event_id_sql, random_bits, timed_value_sql
from app.store.store import Store
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
    *,
    new_row: Mapping[str, Any] | None = None,
) -> EventRecord:
    """Store the event of a change made in this transaction; call it last, just before
    the transaction commits, as the head's lock is held from here until then.

    `new_row`, the customers table's values of the customer a creation inserts, is
    inserted first, by the same statement on PostgreSQL, in the same crossing on SQLite."""
    event = _Event(principal, event_type, customer, previous, new_row)
    if connection.dialect.name == "postgresql":
        recorded = await connection.execute(event.postgres_statement, event.postgres_values())
        return event.record(str(recorded.scalar_one()))
    mark(connection, event.topic)
    work = event.sqlite_work(_sqlite_statements(connection.dialect))
    return event.record(await write_event(connection, work))


async def record_creation(
    store: Store, principal: Principal, customer: CustomerRecord, new_row: Mapping[str, Any]
) -> EventRecord:
    """Insert a new customer's row (`new_row`) with its creation event, in a transaction
    of their own on a driver connection (`Store.writer()`): one statement between BEGIN
    and COMMIT on PostgreSQL, one crossing to the connection's thread on SQLite. What
    SQLAlchemy's transaction costs on top (its connection, execution context and
    greenlets) was a third of a creation's CPU."""
    event = _Event(principal, EventType.CUSTOMER_CREATED, customer, None, new_row)
    async with store.writer() as writer:
        if store.dialect == "postgresql":
            [(event_id,)] = await writer.returning(
                event.postgres_statement, event.postgres_values()
            )
        else:
            writer.mark(event.topic)
            statements = _sqlite_statements(store.engine.dialect)
            event_id = await writer.transaction(
                event.sqlite_work(statements), statements.customer.sql
            )
    return event.record(str(event_id))


class _Event:
    """One event to record: its values, and the statements that record it."""

    __slots__ = (
        "created_at",
        "customer",
        "new_row",
        "previous_attributes",
        "topic",
        "type",
        "values",
    )

    def __init__(
        self,
        principal: Principal,
        event_type: EventType,
        customer: CustomerRecord,
        previous: CustomerRecord | None,
        new_row: Mapping[str, Any] | None,
    ) -> None:
        self.type = event_type
        self.customer = customer
        self.new_row = new_row
        self.created_at = now_ms()
        self.previous_attributes = None if previous is None else changed_fields(previous, customer)
        self.topic = events_topic(principal.account_id, principal.live)
        self.values = {
            "account_id": principal.account_id,
            "live": principal.live,
            "type": event_type.value,
            "now": self.created_at,
            "customer_id": customer.id,
        }

    def record(self, event_id: str) -> EventRecord:
        return EventRecord(
            id=event_id,
            type=self.type,
            live=bool(self.values["live"]),
            created_at=self.created_at,
            customer=self.customer,
            previous_attributes=self.previous_attributes,
        )

    @property
    def postgres_statement(self) -> TextClause:
        return _RECORD_POSTGRES if self.new_row is None else CREATE_POSTGRES

    def postgres_values(self) -> dict[str, Any]:
        """PostgreSQL's one statement's parameters: it advances the head to the
        millisecond of the next event id (after the last one, locked until commit),
        inserts the event under that id (and first the new customer's row, if any) and
        wakes the log's subscribers by NOTIFY once the transaction commits."""
        row = {} if self.new_row is None else _row_parameters(self.new_row)
        return {
            **row,
            **self.values,
            "topic": self.topic,
            "random": random_bits(),
            # JSON text, which the asyncpg codec for jsonb passes on as it is.
            "customer": orjson.dumps(self.customer.to_json()).decode(),
            "previous_attributes": orjson.dumps(self.previous_attributes).decode(),
        }

    def sqlite_work(self, statements: EventStatements) -> Callable[[sqlite3.Connection], str]:
        """SQLite's statements as one function for the connection's thread: the new row's
        insert, the head's upsert and the event's insert (app/events/sqlite_log.py). The
        Store wakes the subscribers of the topic its transaction marked."""
        event = {
            **self.values,
            "created_at": self.created_at,
            "customer": self.customer.to_json(),
            "previous_attributes": self.previous_attributes,
        }
        return event_work(statements, self.values, event, self.new_row)


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


# SQLite: the head's upsert, and then the event's insert. Built once, with parameters, so
# each event costs cached statements, not new ones.
_UPSERT_HEAD = sqlite.insert(heads_table).values(
    account_id=bindparam("account_id"), live=bindparam("live"), last_ms=bindparam("now")
)
_ADVANCE_SQLITE = _UPSERT_HEAD.on_conflict_do_update(
    index_elements=["account_id", "live"],
    set_={"last_ms": func.max(_UPSERT_HEAD.excluded.last_ms, heads_table.c.last_ms + 1)},
).returning(heads_table.c.last_ms)
_INSERT_EVENT = insert(events_table)
_INSERT_CUSTOMER = insert(customers_table)


@functools.lru_cache(maxsize=16)
def _sqlite_statements(dialect: Dialect) -> EventStatements:
    """The SQLite statements compiled for an engine's dialect, once."""
    return EventStatements(_INSERT_CUSTOMER, _ADVANCE_SQLITE, _INSERT_EVENT, dialect)


def _row_parameters(row: Mapping[str, Any]) -> dict[str, Any]:
    """A new customer's row as `CREATE_POSTGRES`'s parameters (JSON as text)."""
    parameters = {f"row_{name}": value for name, value in row.items()}
    parameters["row_metadata"] = orjson.dumps(row["metadata"]).decode()
    return parameters


def _record_postgres(new_row: bool) -> TextClause:
    """PostgreSQL: the head's upsert, its NOTIFY and the event's insert in one statement
    (one round trip, and the head's lock held from it to the commit only), the event's
    id made from the head's millisecond and 80 random bits given as a parameter. The
    upsert's RETURNING feeds the insert, so it runs first. With `new_row`, the customer's
    insert comes first in the same way: the upsert reads its RETURNING. JSON comes as
    text; "null" for no previous attributes, as SQLAlchemy's JSON type stores None. Only
    constants are formatted into the text."""
    head_values = "VALUES (:account_id, :live, :now)"
    new_customer = ""
    if new_row:
        columns = [column.name for column in customers_table.columns]
        new_customer = f"""
new_customer AS (
    INSERT INTO customers ({", ".join(columns)})
    VALUES ({", ".join(f":row_{name}" for name in columns)})
    RETURNING id
),"""  # noqa: S608
        head_values = (
            "SELECT CAST(:account_id AS text), CAST(:live AS boolean), CAST(:now AS bigint) "
            "FROM new_customer"
        )
    return text(
        f"""
WITH {new_customer}
head AS (
    INSERT INTO customer_event_heads (account_id, live, last_ms)
    {head_values}
    ON CONFLICT (account_id, live) DO UPDATE
        SET last_ms = greatest(excluded.last_ms, customer_event_heads.last_ms + 1)
    RETURNING last_ms, pg_notify('{CHANNEL}', CAST(:topic AS text))
), timed AS (
    SELECT {timed_value_sql("last_ms", ":random")} AS value FROM head
)
INSERT INTO customer_events
    (id, account_id, live, type, created_at, customer_id, customer, previous_attributes)
SELECT {event_id_sql("value")}, CAST(:account_id AS text), CAST(:live AS boolean),
    CAST(:type AS text), CAST(:now AS bigint), CAST(:customer_id AS text),
    CAST(:customer AS jsonb), CAST(:previous_attributes AS jsonb)
FROM timed
RETURNING id
"""  # noqa: S608
    )


# Built once, with parameters.
_RECORD_POSTGRES = _record_postgres(new_row=False)
# Also run, as it is, by the bench's raw handler (bench/raw.py).
CREATE_POSTGRES = _record_postgres(new_row=True)
