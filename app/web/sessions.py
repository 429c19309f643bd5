"""Each process's subscription sessions and its open subscriptions per key, how they end
(at shutdown, or when their key is revoked), and the one timer that keeps every idle
WebSocket's keepalive.

A session is one client connection that carries subscriptions: a WebSocket, or one SSE
response. Revocations are found for every session of the process with one query a
second (which of the keys with open sessions are still active?), so a key revoked
anywhere ends its sessions within about KEY_CHECK_SECONDS, however many there are.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Protocol

from sqlalchemy import select

from app.accounts.keys import api_keys
from app.store.availability import is_unavailable
from app.store.store import Store
from app.web.params import RequestError

KEY_CHECK_SECONDS = 1.0
# At shutdown, how long the sessions ending may take to finish (their operations
# cancelled) before the store they read from closes.
CLOSING_SECONDS = 5.0
TOO_MANY = "TOO_MANY_SUBSCRIPTIONS"
log = logging.getLogger(__name__)


class Ending(enum.Enum):
    SHUTDOWN = "shutdown"
    REVOKED = "revoked"


class Session:
    """One client connection's subscriptions, which must all stop once it is ended: `ended`
    completes then (made on first use), and `on_end` is called. `key_id` is None until the
    connection has authenticated."""

    __slots__ = ("_ended", "_on_end", "_why", "key_id")

    def __init__(self, key_id: str | None, on_end: Callable[[Ending], None] | None = None) -> None:
        self.key_id = key_id
        self._on_end = on_end
        self._why: Ending | None = None
        self._ended: asyncio.Future[Ending] | None = None

    @property
    def ended(self) -> asyncio.Future[Ending]:
        if self._ended is None:
            self._ended = asyncio.get_running_loop().create_future()
            if self._why is not None:
                self._ended.set_result(self._why)
        return self._ended

    def end(self, why: Ending) -> None:
        if self._why is not None:
            return
        self._why = why
        if self._ended is not None:
            self._ended.set_result(why)
        if self._on_end is not None:
            self._on_end(why)


class Slot:
    """A subscription counted against its key until the context exits (a small object:
    every open subscription holds one)."""

    __slots__ = ("_key_id", "_open")

    def __init__(self, open_per_key: Counter[str], key_id: str) -> None:
        self._open = open_per_key
        self._key_id = key_id

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc_info: object) -> None:
        self._open[self._key_id] -= 1
        if not self._open[self._key_id]:
            del self._open[self._key_id]


class Beating(Protocol):
    def beat(self, now: float) -> None: ...


class Heartbeats:
    """One timer for every socket's keepalive: while any is registered, each is asked to
    `beat` every `period` seconds (the sockets of one process share their settings)."""

    def __init__(self) -> None:
        self._members: set[Beating] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._period = 0.0

    def add(self, member: Beating, period: float) -> None:
        self._members.add(member)
        self._period = period
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(period, self._tick)

    def discard(self, member: Beating) -> None:
        self._members.discard(member)
        if not self._members and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for member in list(self._members):
            try:
                member.beat(now)
            except Exception:
                log.exception("a keepalive failed")
        self._timer = loop.call_later(self._period, self._tick) if self._members else None


class Subscriptions:
    """This process's open sessions, and its open subscriptions by key."""

    def __init__(self, per_key: int) -> None:
        self._per_key = per_key
        self._open: Counter[str] = Counter()
        self._sessions: set[Session] = set()
        self._closing = False
        self._all_closed: asyncio.Event | None = None
        self.heartbeats = Heartbeats()

    @property
    def open(self) -> int:
        return sum(self._open.values())

    def add_session(
        self, key_id: str | None = None, on_end: Callable[[Ending], None] | None = None
    ) -> Session:
        """A new session, already ended (on_end called) when the process is shutting down;
        `remove_session` once its subscriptions have stopped."""
        session = Session(key_id, on_end)
        self._sessions.add(session)
        if self._closing:
            session.end(Ending.SHUTDOWN)
        return session

    def remove_session(self, session: Session) -> None:
        self._sessions.discard(session)
        if not self._sessions and self._all_closed is not None:
            self._all_closed.set()

    @contextlib.contextmanager
    def session(self, key_id: str | None = None) -> Iterator[Session]:
        session = self.add_session(key_id)
        try:
            yield session
        finally:
            self.remove_session(session)

    def slot(self, key_id: str) -> Slot:
        """One of the key's subscriptions, taken now and given back when the returned
        context exits; TOO_MANY_SUBSCRIPTIONS beyond the limit."""
        if self._open[key_id] >= self._per_key:
            raise RequestError(
                429,
                f"This API key already has {self._per_key} open subscriptions on this "
                "server; complete one before starting another.",
                code=TOO_MANY,
                extensions={"limit": self._per_key},
            )
        self._open[key_id] += 1
        return Slot(self._open, key_id)

    def end_all(self, why: Ending) -> None:
        self._closing = self._closing or why is Ending.SHUTDOWN
        for session in list(self._sessions):
            session.end(why)

    async def end_revoked(self, store: Store) -> None:
        """Ends the sessions of every key that is no longer active, until cancelled; then
        waits (up to CLOSING_SECONDS) for the sessions ending to be gone, so that none is
        left reading from the store as it closes."""
        try:
            await self._end_revoked(store)
        finally:
            await self._closed(CLOSING_SECONDS)

    async def _end_revoked(self, store: Store) -> None:
        while True:
            await asyncio.sleep(KEY_CHECK_SECONDS)
            key_ids = {session.key_id for session in self._sessions} - {None}
            if not key_ids:
                continue
            try:
                async with store.read() as connection:
                    rows = await connection.execute(
                        select(api_keys.c.id).where(
                            api_keys.c.id.in_(sorted(key_ids)), api_keys.c.revoked_at.is_(None)
                        )
                    )
                    active = {row.id for row in rows}
            except Exception as error:
                # Subscribers' own reads fail meanwhile and end them; a key is not revoked.
                if not is_unavailable(error):
                    log.exception("checking the keys of open subscriptions failed")
                continue
            for session in list(self._sessions):
                if session.key_id in key_ids and session.key_id not in active:
                    session.end(Ending.REVOKED)

    async def _closed(self, seconds: float) -> None:
        if not self._closing or not self._sessions:
            return
        self._all_closed = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._all_closed.wait()
