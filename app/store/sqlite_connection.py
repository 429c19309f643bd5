"""aiosqlite connections that cross to their worker thread once per statement.

aiosqlite runs each call on the connection's own thread, and SQLAlchemy's adapter makes
five calls per statement: open a cursor, execute, fetch, close the cursor, and roll
back when the connection goes back to the pool. Each crossing wakes a thread and hands
the GIL over; under load the crossings, not SQLite, are most of a read's cost.

Here a statement's execute and fetch happen in one crossing (the rows are read right
after executing, as SQLAlchemy does anyway), opening and closing a cursor happen on the
caller's thread (sqlite3 serialises access to its connection), and commit/rollback are
skipped when no transaction is open, where sqlite3 would do nothing either.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator, Iterable
from typing import Any, TypeVar

import aiosqlite

T = TypeVar("T")


class Connection(aiosqlite.Connection):
    def cursor(self) -> _Opened:  # type: ignore[override]
        return _Opened(Cursor(self, self._conn.cursor()))

    async def commit(self) -> None:
        if self._conn.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            await super().rollback()


class Cursor(aiosqlite.Cursor):
    _rows: list[Any] | None = None

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Cursor:
        self._rows = await self._execute(  # type: ignore[no-untyped-call]
            self._execute_and_fetch, sql, parameters or ()
        )
        return self

    def _execute_and_fetch(self, sql: str, parameters: Iterable[Any]) -> list[Any] | None:
        self._cursor.execute(sql, parameters)  # type: ignore[arg-type]
        return self._cursor.fetchall() if self._cursor.description else None

    async def fetchall(self) -> list[Any]:
        if self._rows is None:
            return list(await super().fetchall())
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        if self._rows is None:
            return await super().fetchone()
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        if self._rows is None:
            return list(await super().fetchmany(size))
        count = self._cursor.arraysize if size is None else size
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def close(self) -> None:
        self._cursor.close()


class _Opened:
    """What aiosqlite's cursor() returns: awaitable, and an async context manager."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Generator[Any, None, Cursor]:
        yield from ()
        return self._cursor

    async def __aenter__(self) -> Cursor:
        return self._cursor

    async def __aexit__(self, *_exc: object) -> None:
        await self._cursor.close()


BUSY_TIMEOUT_SECONDS = 30


def pragmas(synchronous: str) -> tuple[str, ...]:
    """What every connection to the database file runs first, the engine's and the
    driver's alike; `synchronous` is a member of SqliteSynchronous, never client input."""
    return (
        "PRAGMA journal_mode=WAL",
        f"PRAGMA synchronous={synchronous.upper()}",
        "PRAGMA foreign_keys=ON",
        f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}",
    )


def connect(database: str, **options: Any) -> Connection:
    """An unopened connection (await it), like aiosqlite.connect."""

    def connector() -> sqlite3.Connection:
        # Cursors open and close on the event loop's thread, so the connection may not
        # insist on its worker thread.
        connection: sqlite3.Connection = sqlite3.connect(
            database, **{**options, "check_same_thread": False}
        )
        return connection

    connection = Connection(connector, iter_chunk_size=64)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite
    return connection


async def run_on_thread(
    connection: aiosqlite.Connection, work: Callable[[sqlite3.Connection], T]
) -> T:
    """`work` with the sqlite3 connection, on its own thread: the statements it runs cost
    one crossing together."""
    result: T = await connection._execute(work, connection._conn)  # type: ignore[no-untyped-call]
    return result
