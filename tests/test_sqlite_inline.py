"""SQLite reads on the event loop's thread (app/store/sqlite_inline.py): short ones stay,
long or refused ones finish on a worker thread with all their rows."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.store import driver, sqlite_connection
from app.store.sqlite_inline import InlineReads

COUNT_TO = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT x FROM c"
)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "inline.sqlite3")
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        setup.execute("INSERT INTO items VALUES (1, 'one'), (2, 'two')")
    yield path


class Crossings:
    """run_on_thread, counted."""

    def __init__(self) -> None:
        self.count = 0
        self._run = sqlite_connection.run_on_thread

    async def __call__(self, connection: Any, work: Callable[[sqlite3.Connection], Any]) -> Any:
        self.count += 1
        return await self._run(connection, work)


@pytest.fixture
def crossings(monkeypatch: pytest.MonkeyPatch) -> Crossings:
    counted = Crossings()
    monkeypatch.setattr(sqlite_connection, "run_on_thread", counted)
    return counted


async def _fetch(backend: driver.SqliteBackend, sql: str, parameters: tuple[Any, ...]) -> Any:
    connection = await backend.open()
    try:
        return await backend.fetch(connection, sql, parameters)
    finally:
        await backend.close(connection)
        backend.shut()


async def test_a_short_read_does_not_cross_to_a_thread(database: str, crossings: Crossings) -> None:
    backend = driver.SqliteBackend(database, "full")
    rows = await _fetch(backend, "SELECT id, name FROM items WHERE id = ?", (2,))
    assert [tuple(row) for row in rows] == [(2, "two")]
    assert crossings.count == 1  # opening the pooled connection's pragmas, nothing after


async def test_a_read_over_its_budget_finishes_on_a_thread_with_every_row(
    database: str, crossings: Crossings, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = driver.SqliteBackend(database, "full")
    monkeypatch.setattr(backend, "_inline", InlineReads(database, budget=0.0))
    rows = await _fetch(backend, COUNT_TO, (50_000,))
    assert [row[0] for row in rows] == list(range(1, 50_001))
    assert crossings.count == 2  # the pragmas, then the statement the loop gave up


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_sql_that_overran_goes_to_a_thread_until_it_cools(database: str) -> None:
    clock = Clock()
    inline = InlineReads(database, budget=0.0, cooling=5.0, clock=clock)
    try:
        assert inline.rows(COUNT_TO, (50_000,)) is None  # interrupted
        # Short now, but the same SQL: straight to a thread while it cools.
        assert inline.rows(COUNT_TO, (1,)) is None
        assert inline.rows("SELECT name FROM items WHERE id = ?", (1,)) == [("one",)]
        clock.now += 5.0
        assert inline.rows(COUNT_TO, (1,)) == [(1,)]
    finally:
        inline.close()


def test_the_loops_connection_never_writes(database: str) -> None:
    inline = InlineReads(database)
    try:
        assert inline.rows("INSERT INTO items VALUES (3, 'three') RETURNING id", ()) is None
    finally:
        inline.close()
    with sqlite3.connect(database) as check:
        assert check.execute("SELECT count(*) FROM items").fetchone() == (2,)


def test_each_read_sees_what_was_committed_before_it(database: str) -> None:
    inline = InlineReads(database)
    try:
        assert inline.rows("SELECT count(*) FROM items", ()) == [(2,)]
        with sqlite3.connect(database) as writer:
            writer.execute("INSERT INTO items VALUES (3, 'three')")
        assert inline.rows("SELECT count(*) FROM items", ()) == [(3,)]
    finally:
        inline.close()


async def test_a_locked_database_sends_the_read_to_a_thread_that_waits(
    tmp_path: Path, crossings: Crossings
) -> None:
    # Outside WAL mode a writer's exclusive lock keeps readers out, as a WAL database's
    # recovery can: the loop must not wait for it.
    path = str(tmp_path / "rollback-journal.sqlite3")
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE items (id INTEGER PRIMARY KEY)")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO items VALUES (7)")
    backend = driver.SqliteBackend(path, "full")
    backend._pragmas = ("PRAGMA busy_timeout=30000",)  # keep the rollback journal
    reading = asyncio.create_task(_fetch(backend, "SELECT id FROM items", ()))
    try:
        await asyncio.sleep(0.3)
        assert not reading.done()  # waiting on its thread, the loop free
        holder.execute("COMMIT")
        rows = await asyncio.wait_for(reading, 10)
    finally:
        holder.close()
    assert [tuple(row) for row in rows] == [(7,)]
    assert crossings.count == 2
