"""The store: one engine, and its connections for requests, handed out in arrival order.

One Store is built per application (app/web/app.py, in its cleanup context), carried in
the request context and passed to every service; nothing here is global.

The pool lets a newcomer take a returned connection before a request that was already
waiting wakes up, so under load some requests wait many turns (p99 at 6-7x p50 with
32 connections). A FIFO semaphore as wide as the pool queues them fairly.

The customers' reads (`reader()`) and creations without an idempotency key (`writer()`)
run on connections of the driver's own (app/store/driver.py), with their own turns as
wide as their pool (SQLite's reads share two connections, 8 at a time); other
writes, and the reads of the event log and the documents registry (`read()`), use the
engine. Reads run without a transaction on PostgreSQL (autocommit): under READ
COMMITTED every statement takes its own snapshot inside a transaction or not, and
without BEGIN and ROLLBACK a read costs one round trip instead of three. SQLite opens
no transaction for a read either.

SQLite has one writer at a time. Concurrent write transactions in one process wait
for its lock in SQLite's busy handler, which sleeps 1, 2, 5 … 100 ms between tries,
so under load a create could take half a second (p99 at 14x p50). Here they queue
for an asyncio lock instead, in arrival order, and SQLite never sees two at once.

The Store also carries the process's wake-ups (app/store/wakeups.py): on SQLite it wakes
the topics a write transaction marked once that transaction has committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.settings import Settings
from app.store.driver import DriverPool, Reader, Writer
from app.store.engine import create_driver_pool, create_engine
from app.store.wakeups import Wakeups, take_marked


class Store:
    def __init__(self, engine: AsyncEngine, driver_pool: DriverPool) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.driver_pool = driver_pool
        self._reads = engine
        if self.dialect == "postgresql":
            self._reads = engine.execution_options(isolation_level="AUTOCOMMIT")
        size = getattr(engine.pool, "size", None)
        self._turns = asyncio.Semaphore(size()) if callable(size) else None
        self._read_turns = (
            asyncio.Semaphore(driver_pool.reads_in_flight) if driver_pool.shares_reads else None
        )
        self._driver_turns = asyncio.Semaphore(driver_pool.size)
        self._writer = asyncio.Lock() if self.dialect == "sqlite" else None
        self.wakeups = Wakeups()
        # Requests holding a connection, and requests waiting for one (metrics read them).
        self.in_use = 0
        self.waiting = 0

    def reader(self) -> Lending | SharedLending:
        """A driver connection for reading (`async with`); each statement sees what was
        committed before it. On SQLite other reads share it (app/store/driver.py)."""
        if self._read_turns is not None:
            return SharedLending(self, self._read_turns)
        return Lending(self)

    def writer(self) -> Writing:
        """A driver connection for one write transaction (`async with`), in the same
        writer's turn as `write()`'s on SQLite; its marked topics are woken once it
        commits. For writes that are one statement (PostgreSQL) or one function on the
        connection's thread (SQLite); `write()` is for the others."""
        return Writing(self)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reading; each statement sees what was committed before it."""
        await self._take_turn(self._turns)
        try:
            async with self._reads.connect() as connection:
                yield connection
        finally:
            self._give_turn(self._turns)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction, committed when the block ends, rolled back if it raises."""
        await self._take_turn(self._turns, self._writer)
        try:
            async with self.engine.begin() as connection:
                try:
                    yield connection
                finally:
                    marked = _forget_marked(connection)
            # Committed (a rollback or a failed commit raised instead): wake its topics.
            self.wakeups.wake(marked)
        finally:
            self._give_turn(self._turns, self._writer)

    async def _take_turn(
        self, turns: asyncio.Semaphore | None, writer: asyncio.Lock | None = None
    ) -> None:
        """Wait for this request's turn (SQLite's writer turn first for a write), counted.
        Plain calls rather than an exit stack: every request takes one."""
        self.waiting += 1
        try:
            if writer is not None:
                await writer.acquire()
            if turns is not None:
                try:
                    await turns.acquire()
                except BaseException:
                    if writer is not None:
                        writer.release()
                    raise
        finally:
            self.waiting -= 1
        self.in_use += 1

    def _give_turn(
        self, turns: asyncio.Semaphore | None, writer: asyncio.Lock | None = None
    ) -> None:
        self.in_use -= 1
        if turns is not None:
            turns.release()
        if writer is not None:
            writer.release()

    @classmethod
    def for_settings(cls, settings: Settings) -> Store:
        """A store on settings.database_url; no connection is opened yet."""
        engine = create_engine(settings)
        return cls(engine, create_driver_pool(settings, engine))

    async def close(self) -> None:
        await self.driver_pool.close()
        await self.engine.dispose()


class Lending:
    """`async with store.reader()`: a turn (SQLite's writer turn first, when given its
    lock), then a driver connection, given back in reverse. A class rather than a
    generator-based context manager: every read request enters one."""

    __slots__ = ("_lock", "_reader", "_store")

    def __init__(self, store: Store, lock: asyncio.Lock | None = None) -> None:
        self._store = store
        self._lock = lock
        self._reader: Reader | None = None

    async def __aenter__(self) -> Reader:
        store = self._store
        await store._take_turn(store._driver_turns, self._lock)
        try:
            self._reader = await store.driver_pool.take()
        except BaseException:
            store._give_turn(store._driver_turns, self._lock)
            raise
        return self._reader

    async def __aexit__(self, *_exc: object) -> None:
        store = self._store
        assert self._reader is not None
        store.driver_pool.give(self._reader)
        store._give_turn(store._driver_turns, self._lock)


class SharedLending:
    """`async with store.reader()` where reads share connections (SQLite): a turn to
    read, then a shared connection, which needs no giving back."""

    __slots__ = ("_store", "_turns")

    def __init__(self, store: Store, turns: asyncio.Semaphore) -> None:
        self._store = store
        self._turns = turns

    async def __aenter__(self) -> Reader:
        store = self._store
        await store._take_turn(self._turns)
        try:
            return await store.driver_pool.take_shared()
        except BaseException:
            store._give_turn(self._turns)
            raise

    async def __aexit__(self, *_exc: object) -> None:
        self._store._give_turn(self._turns)


class Writing:
    """`async with store.writer()`: a driver connection lent in the writer's turn, then
    the committed transaction's topics woken."""

    __slots__ = ("_lending", "_store", "_writer")

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lending = Lending(store, store._writer)
        self._writer: Writer | None = None

    async def __aenter__(self) -> Writer:
        self._writer = Writer(await self._lending.__aenter__())
        return self._writer

    async def __aexit__(self, error_type: type[BaseException] | None, *rest: object) -> None:
        await self._lending.__aexit__(error_type, *rest)
        if error_type is None:
            assert self._writer is not None
            self._store.wakeups.wake(self._writer.marked)


def _forget_marked(connection: AsyncConnection) -> set[str]:
    """The topics the transaction marked, taken off its connection. A connection that an
    interrupted statement invalidated (a request cancelled by its deadline) has no DBAPI
    connection left to ask, and raises if asked: its marks went with that connection (the
    pool clears its info before connecting again), and it will roll back anyway."""
    if connection.invalidated:
        return set()
    return take_marked(connection)
