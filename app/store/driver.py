"""Connections on the driver itself, asyncpg or sqlite3 on aiosqlite's thread, for the
customers' reads and for creations without an idempotency key.

A request's reads are a few small statements, and through SQLAlchemy's AsyncConnection
each one costs more CPU in the checkout, the execution context, the result and the
greenlet crossings than in the driver (docs/performance.md, "Where a customer(id)
request's time goes"). Reads therefore take a connection of the driver's own from a
pool kept here, and run statements SQLAlchemy compiled once (app/store/statements.py).
A creation (`Writer`) is one statement between BEGIN and COMMIT on PostgreSQL, or one
function on the connection's thread on SQLite; the other writes keep SQLAlchemy's
engine and its transactions.

On PostgreSQL the Store hands out turns to read in arrival order (a FIFO semaphore as
wide as this pool, as for the engine's connections). On SQLite, where a read is one
crossing to a connection's thread, concurrent reads share two connections instead, their
statements queued on each thread in arrival order, at most 8 at a time
(`SqliteBackend.shared_readers`); creations take turns and a connection of their own.
The pool opens connections lazily, replaces one the server closed while it sat idle,
and on PostgreSQL drops one a statement failed or was cancelled on (its state is
unknown, perhaps a transaction left open; the next request opens a fresh one). A
connection runs only these reads and whole transactions, which leave no session state
behind, so it is not reset between requests (asyncpg's own pool sends a reset query on
every release).

A list of values is one parameter (`nodes`' ids: an array on PostgreSQL, a JSON array on
SQLite), never an expanding IN, which SQLAlchemy would compile per length. The event
log's and the documents registry's reads still run on the engine (Store.read()).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

import aiosqlite
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import ClauseElement

from app.store import sqlite_connection
from app.store.statements import StatementCache

CLOSE_TIMEOUT_SECONDS = 2.0
T = TypeVar("T")

# Entered around each statement with its SQL and parameters, when something watches
# them: traces (app/telemetry/tracing.py), or a test. None costs nothing.
StatementObserver = Callable[[str, Sequence[Any]], AbstractContextManager[object]]


class Backend(Protocol):
    """What a driver does for the pool: open, run, tell closed, close."""

    # Whether a statement that failed or was cancelled may leave the connection unusable.
    failure_breaks_connection: bool
    # Connections that concurrent reads share, their statements queued one after another
    # on each (0: a read holds its connection alone), and how many reads may be queued
    # on them at once.
    shared_readers: int
    reads_in_flight: int

    async def open(self) -> Any: ...

    async def fetch(self, connection: Any, sql: str, parameters: Sequence[Any]) -> list[Any]: ...

    async def write(self, connection: Any, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """The statement in a transaction of its own (PostgreSQL); its rows."""

    async def transaction(self, connection: Any, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` in a write transaction, in one crossing to the connection's thread
        (SQLite)."""

    def is_closed(self, connection: Any) -> bool: ...

    def discard(self, connection: Any) -> None:
        """Close at once, whatever the connection was doing; never raises."""

    async def close(self, connection: Any) -> None: ...


class PostgresBackend:
    """asyncpg connections with the engine's connection settings."""

    # A statement cancelled mid-flight leaves asyncpg waiting for the server's answer.
    failure_breaks_connection = True
    # An asyncpg connection runs one statement at a time.
    shared_readers = 0
    reads_in_flight = 0

    def __init__(self, connect_arguments: Mapping[str, Any], json_decoder: Callable[[str], Any]):
        self._arguments = dict(connect_arguments)
        self._decode_json = json_decoder

    @classmethod
    def for_engine(
        cls, url: URL, dialect: Dialect, connect_args: Mapping[str, Any]
    ) -> PostgresBackend:
        """The arguments SQLAlchemy's asyncpg dialect would connect with."""
        _args, arguments = dialect.create_connect_args(url)
        decode = getattr(dialect, "_json_deserializer", None)
        assert decode is not None, "the engine is built with a json_deserializer"
        return cls({**arguments, **connect_args}, decode)

    async def open(self) -> Any:
        import asyncpg  # type: ignore[import-untyped]

        connection = await asyncpg.connect(**self._arguments)
        try:
            # JSON columns come back decoded, as SQLAlchemy's asyncpg dialect sets up its
            # own connections (its JSON types then have no result processor).
            for name in ("json", "jsonb"):
                await connection.set_type_codec(
                    name, encoder=str, decoder=self._decode_json, schema="pg_catalog"
                )
        except BaseException:
            connection.terminate()
            raise
        return connection

    async def fetch(self, connection: Any, sql: str, parameters: Sequence[Any]) -> list[Any]:
        rows: list[Any] = await connection.fetch(sql, *parameters)
        return rows

    async def write(self, connection: Any, sql: str, parameters: Sequence[Any]) -> list[Any]:
        # BEGIN and COMMIT rather than autocommit: a statement the caller gave up on (its
        # deadline cancelled it, and the connection is then dropped) ends without a
        # COMMIT, so the server rolls it back, even if it runs to its end after the
        # cancellation (waiting for a lock, say). In autocommit it would commit alone.
        await connection.execute("BEGIN")
        rows: list[Any] = await connection.fetch(sql, *parameters)
        await connection.execute("COMMIT")
        return rows

    async def transaction(self, connection: Any, work: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError("PostgreSQL writes are statements: use write()")

    def is_closed(self, connection: Any) -> bool:
        return bool(connection.is_closed())

    def discard(self, connection: Any) -> None:
        connection.terminate()

    async def close(self, connection: Any) -> None:
        # A server that stopped answering must not hold the shutdown up.
        await connection.close(timeout=CLOSE_TIMEOUT_SECONDS)


class SqliteBackend:
    """aiosqlite connections (app/store/sqlite_connection.py) to a database file: a
    statement's execute and fetch in one crossing to the connection's thread."""

    # A crossing runs to its end on the connection's thread, even for a cancelled caller.
    failure_breaks_connection = False
    # A read is one crossing, so reads need no connection of their own: queued on a
    # connection's thread, they run one after another, each seeing what was committed
    # before it, as on a connection of its own. A thread with a queue wakes once for
    # many statements, and wakes the loop once for many results; a connection per read
    # wakes a thread and the loop per statement. Two rather than one, so that a long
    # statement (a filter scanning the table) holds up only half the reads behind it.
    shared_readers = 2
    # Reads queued on them at once; the others wait their turn in arrival order, so the
    # rows read but not yet answered stay bounded. Measured under 32 clients: with no
    # bound, pages of 1,000 raised the peak RSS by 14 MiB and their p99 to 3-4x their
    # p50; with 16, by 6 MiB; 8 cost nothing in memory and served lookups best.
    reads_in_flight = 8

    def __init__(self, path: str, synchronous: str) -> None:
        self._path = path
        self._pragmas = sqlite_connection.pragmas(synchronous)

    async def open(self) -> Any:
        connection = await sqlite_connection.connect(
            self._path, timeout=sqlite_connection.BUSY_TIMEOUT_SECONDS
        )
        pragmas = self._pragmas

        def prepare(database: sqlite3.Connection) -> None:
            for pragma in pragmas:
                database.execute(pragma)

        try:
            await sqlite_connection.run_on_thread(connection, prepare)
        except BaseException:
            connection.stop()
            raise
        return connection

    async def fetch(self, connection: Any, sql: str, parameters: Sequence[Any]) -> list[Any]:
        def run(database: sqlite3.Connection) -> list[Any]:
            return database.execute(sql, parameters).fetchall()

        return await sqlite_connection.run_on_thread(connection, run)

    async def write(self, connection: Any, sql: str, parameters: Sequence[Any]) -> list[Any]:
        raise NotImplementedError("SQLite writes run on the connection's thread: transaction()")

    async def transaction(self, connection: Any, work: Callable[[sqlite3.Connection], T]) -> T:
        # The crossing runs to its end even when its caller is cancelled (a deadline): it
        # then rolls back instead of committing, so a client told that its request timed
        # out finds nothing of it stored.
        given_up = threading.Event()

        def run(database: sqlite3.Connection) -> T:
            database.execute("BEGIN IMMEDIATE")
            try:
                result = work(database)
                if given_up.is_set():
                    raise asyncio.CancelledError
                database.commit()
            except BaseException:
                database.rollback()
                raise
            return result

        try:
            return await sqlite_connection.run_on_thread(connection, run)
        except asyncio.CancelledError:
            given_up.set()
            raise

    def is_closed(self, connection: aiosqlite.Connection) -> bool:
        return connection._connection is None

    def discard(self, connection: aiosqlite.Connection) -> None:
        connection.stop()  # closes on the connection's thread after what it is running

    async def close(self, connection: aiosqlite.Connection) -> None:
        await connection.close()


class InMemorySqliteBackend(SqliteBackend):
    """An in-memory database lives in the engine's one connection (SQLAlchemy's
    StaticPool), so reads borrow it through the engine instead of opening an empty
    database of their own; a read then sees the engine's transaction in progress, if any
    (development only: production refuses an in-memory database)."""

    # Its one connection is the engine's.
    shared_readers = 1

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(":memory:", synchronous="full")
        self._engine = engine
        self._held: dict[int, AsyncConnection] = {}

    async def open(self) -> Any:
        held = await self._engine.connect()
        raw = await held.get_raw_connection()
        connection = raw.driver_connection
        self._held[id(connection)] = held
        return connection

    def is_closed(self, connection: aiosqlite.Connection) -> bool:
        return id(connection) not in self._held or super().is_closed(connection)

    def discard(self, connection: aiosqlite.Connection) -> None:
        pass  # the engine's own connection: it stays open, and is not ours to close

    async def close(self, connection: aiosqlite.Connection) -> None:
        held = self._held.pop(id(connection), None)
        if held is not None:
            await held.close()


class Reader:
    """One read connection, from `DriverPool.take` to `DriverPool.give`."""

    __slots__ = ("_backend", "_observe", "_statements", "connection", "dialect", "failed")

    def __init__(
        self,
        backend: Backend,
        connection: Any,
        statements: StatementCache,
        dialect: str,
        observe: StatementObserver | None,
    ) -> None:
        self._backend = backend
        self.connection = connection
        self._statements = statements
        self._observe = observe
        self.dialect = dialect
        self.failed = False

    async def rows(
        self, statement: ClauseElement, values: Mapping[str, Any]
    ) -> list[Sequence[Any]]:
        """The statement's rows, each a sequence of its columns' values."""
        compiled = self._statements.get(statement)
        parameters = compiled.parameters(values)
        fetching = self._backend.fetch(self.connection, compiled.sql, parameters)
        return compiled.rows(await self.watched(compiled.sql, parameters, fetching))

    async def watched(self, sql: str, parameters: Sequence[Any], running: Awaitable[T]) -> T:
        """`running`, the connection's work on `sql`, awaited under the observer (when
        one watches) and marked failed if it raises or is cancelled."""
        try:
            if self._observe is None:
                return await running
            with self._observe(sql, parameters):
                return await running
        except BaseException:
            self.failed = True
            raise


class Writer:
    """One driver connection for one write transaction (`Store.writer()`): a statement
    on PostgreSQL, a function on the connection's thread on SQLite."""

    __slots__ = ("_lent", "marked")

    def __init__(self, lent: Reader) -> None:
        self._lent = lent
        # Wake-up topics (app/store/wakeups.py) to wake once the transaction commits.
        self.marked: set[str] = set()

    async def returning(
        self, statement: ClauseElement, values: Mapping[str, Any]
    ) -> list[Sequence[Any]]:
        """PostgreSQL: the statement in a transaction of its own; its RETURNING rows."""
        lent = self._lent
        compiled = lent._statements.get(statement)
        parameters = compiled.parameters(values)
        writing = lent._backend.write(lent.connection, compiled.sql, parameters)
        return compiled.rows(await lent.watched(compiled.sql, parameters, writing))

    async def transaction(self, work: Callable[[sqlite3.Connection], T], sql: str) -> T:
        """SQLite: `work` in a transaction (BEGIN IMMEDIATE to COMMIT) in one crossing;
        `sql` names its first statement for the observer."""
        lent = self._lent
        return await lent.watched(sql, (), lent._backend.transaction(lent.connection, work))

    def mark(self, topic: str) -> None:
        self.marked.add(topic)


class DriverPool:
    """Driver connections for reads and single-statement writes, opened as needed; the
    Store lets at most `size` requests hold one at a time, in arrival order."""

    def __init__(self, backend: Backend, dialect: Dialect, size: int) -> None:
        self._backend = backend
        self._dialect_name = dialect.name
        self._statements = StatementCache(dialect)
        self.size = size
        self._idle: list[Any] = []
        self._shared: list[Any] = []
        self._shared_turn = 0
        self._opening_shared = asyncio.Lock()
        self._closed = False
        self.observe: StatementObserver | None = None

    @property
    def shares_reads(self) -> bool:
        return self._backend.shared_readers > 0

    @property
    def reads_in_flight(self) -> int:
        """How many reads may share the shared connections at once."""
        return self._backend.reads_in_flight

    async def take(self) -> Reader:
        """A connection for one block of reads (give it back with `give`); the caller
        has taken its turn."""
        return self._reader(await self._take())

    async def take_shared(self) -> Reader:
        """A connection for one block of reads that other reads use at the same time
        (`shares_reads`); nothing to give back."""
        wanted = self._backend.shared_readers
        if len(self._shared) < wanted:
            async with self._opening_shared:
                if len(self._shared) < wanted:
                    self._shared.append(await self._backend.open())
        turn = self._shared_turn % len(self._shared)
        self._shared_turn = turn + 1
        connection = self._shared[turn]
        if self._backend.is_closed(connection):
            connection = self._shared[turn] = await self._backend.open()
        return self._reader(connection)

    def _reader(self, connection: Any) -> Reader:
        return Reader(self._backend, connection, self._statements, self._dialect_name, self.observe)

    def give(self, reader: Reader) -> None:
        """Back to the pool, or closed if a failure may have broken it."""
        broken = reader.failed and self._backend.failure_breaks_connection
        if broken or self._closed:
            self._backend.discard(reader.connection)
        else:
            self._idle.append(reader.connection)

    async def _take(self) -> Any:
        while self._idle:
            connection = self._idle.pop()
            if not self._backend.is_closed(connection):
                return connection
        return await self._backend.open()

    async def close(self) -> None:
        """Close the idle connections; one still in use is closed when it comes back."""
        self._closed = True
        idle, self._idle = [*self._idle, *self._shared], []
        self._shared = []
        for connection in idle:
            try:
                await self._backend.close(connection)
            except Exception:
                self._backend.discard(connection)
