"""SQLite: an event's statements (and a creation's customer row) in one crossing to the
connection's thread.

aiosqlite runs each statement on its connection's own thread, and each crossing (a thread
woken, the GIL handed over and back) costs more than SQLite's work on rows this small,
the more so on a busy machine. A change's event, the head's upsert and then the event's
insert, for a creation after the customer's insert, is therefore written by one function
on that thread, so recording it adds statements but no crossing. SQLAlchemy still builds
the statements and binds the values (its compiled SQL and each column type's bind
processor for this dialect, JSON as its serializer writes it), and a failure is raised
as SQLAlchemy's DBAPIError, as any statement's is.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement

from app.ids import new_event_id
from app.store.sqlite_connection import run_on_thread
from app.store.statements import CompiledStatement


class EventStatements:
    """The three statements an event may need, compiled for one dialect."""

    __slots__ = ("customer", "event", "head")

    def __init__(
        self, customer: ClauseElement, head: ClauseElement, event: ClauseElement, dialect: Dialect
    ) -> None:
        self.customer = CompiledStatement(customer, dialect)
        self.head = CompiledStatement(head, dialect)
        self.event = CompiledStatement(event, dialect)


def event_work(
    statements: EventStatements,
    head_values: Mapping[str, Any],
    event_values: Mapping[str, Any],
    new_row: Mapping[str, Any] | None,
) -> Callable[[sqlite3.Connection], str]:
    """What writes the event on the connection's thread: `new_row`'s insert (when
    given), the head's advance and the event's insert under the id made from it; it
    returns the event id."""
    customer = None if new_row is None else statements.customer.parameters(new_row)
    head = statements.head.parameters(head_values)

    def work(database: sqlite3.Connection) -> str:
        if customer is not None:
            database.execute(statements.customer.sql, customer)
        (last_ms,) = database.execute(statements.head.sql, head).fetchone()
        event_id = new_event_id(int(last_ms))
        database.execute(
            statements.event.sql, statements.event.parameters({**event_values, "id": event_id})
        )
        return event_id

    return work


async def write_event(
    connection: AsyncConnection, work: Callable[[sqlite3.Connection], str]
) -> str:
    """The event's `work` in the engine connection's transaction, in one crossing."""
    raw = await connection.get_raw_connection()
    try:
        return await run_on_thread(raw.driver_connection, work)  # type: ignore[arg-type]
    except sqlite3.Error as error:
        raise exc.DBAPIError.instance(
            "the event's statements", None, error, sqlite3.Error
        ) from error
