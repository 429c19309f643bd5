"""Wake-ups: "something was committed under this topic", to the waiters of every process.

A wake-up is only a hint; whoever waits reads the database afterwards, so a wake-up
lost, coalesced or spurious costs a read, never data. A waiter registers before it
reads, so nothing committed between its read and its wait goes unnoticed.

On PostgreSQL a transaction sends its topics with NOTIFY (pg_notify on CHANNEL), which
PostgreSQL delivers when, and only if, the transaction commits, to a connection of each
gateway process that LISTENs (`listen`); after that connection is lost and made again,
every waiter is woken, since notifications sent meanwhile are gone. On SQLite (one
process) the Store wakes the topics a transaction marked (`mark`) once it committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

CHANNEL = "gateway_wakeups"
RECONNECT_SECONDS = 1.0
_MARKED = "gateway_wakeups"
log = logging.getLogger(__name__)


class Waiter:
    """One registration: `wait` returns once a wake-up came since the last `wait`."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = asyncio.Event()

    async def wait(self) -> None:
        await self._event.wait()
        self._event.clear()

    def wake(self) -> None:
        self._event.set()


class Wakeups:
    """The waiters of one process, by topic."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[Waiter]] = {}
        # PostgreSQL: the server process of the LISTEN connection while it is open.
        self.listener_pid: int | None = None

    @asynccontextmanager
    async def waiter(self, topic: str) -> AsyncIterator[Waiter]:
        waiter = self.register(topic)
        try:
            yield waiter
        finally:
            self.unregister(topic, waiter)

    def register(self, topic: str) -> Waiter:
        """A new waiter on `topic`, until `unregister`."""
        waiter = Waiter()
        self._waiters.setdefault(topic, set()).add(waiter)
        return waiter

    def unregister(self, topic: str, waiter: Waiter) -> None:
        waiters = self._waiters.get(topic)
        if waiters is not None:
            waiters.discard(waiter)
            if not waiters:
                del self._waiters[topic]

    def waiting(self, topic: str) -> int:
        """How many waiters `topic` has now."""
        return len(self._waiters.get(topic, ()))

    def wake(self, topics: Iterable[str]) -> None:
        for topic in topics:
            for waiter in self._waiters.get(topic, ()):
                waiter.wake()

    def wake_all(self) -> None:
        self.wake(list(self._waiters))


def mark(connection: AsyncConnection, topic: str) -> None:
    """Wake `topic` once this connection's transaction commits (SQLite: Store.write)."""
    connection.info.setdefault(_MARKED, set()).add(topic)


def take_marked(connection: AsyncConnection) -> set[str]:
    """The topics this connection's transaction marked, forgotten here."""
    marked: set[str] = connection.info.pop(_MARKED, set())
    return marked


async def listen(engine: AsyncEngine, wakeups: Wakeups) -> None:
    """LISTEN on a connection of its own (outside the pool) until cancelled, passing each
    notification on; made again after a failure, waking everyone then."""
    import asyncpg  # type: ignore[import-untyped]

    arguments, options = engine.dialect.create_connect_args(engine.url)
    while True:
        try:
            await _listen_once(asyncpg, arguments, options, wakeups)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("wake-up listener lost its connection: %s", type(error).__name__)
        wakeups.wake_all()
        await asyncio.sleep(RECONNECT_SECONDS)


async def _listen_once(
    asyncpg: Any, arguments: Sequence[Any], options: Mapping[str, Any], wakeups: Wakeups
) -> None:
    """Until the connection ends: every notification of CHANNEL wakes its topic."""
    connection = await asyncpg.connect(*arguments, **options)
    closed = asyncio.Event()
    try:
        connection.add_termination_listener(lambda _connection: closed.set())
        await connection.add_listener(
            CHANNEL, lambda _connection, _pid, _channel, topic: wakeups.wake([topic])
        )
        wakeups.listener_pid = connection.get_server_pid()
        # Notifications sent before LISTEN took effect are gone: whoever waits reads again.
        wakeups.wake_all()
        await closed.wait()
    finally:
        wakeups.listener_pid = None
        if not connection.is_closed():
            await connection.close()
