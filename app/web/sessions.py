"""Each process's subscription sessions and its open subscriptions per key, and how they
end: at shutdown, or when their key is revoked.

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
from collections.abc import Iterator

from sqlalchemy import select

from app.accounts.keys import api_keys
from app.store.availability import is_unavailable
from app.store.store import Store
from app.web.params import RequestError

KEY_CHECK_SECONDS = 1.0
TOO_MANY = "TOO_MANY_SUBSCRIPTIONS"
log = logging.getLogger(__name__)


class Ending(enum.Enum):
    SHUTDOWN = "shutdown"
    REVOKED = "revoked"


class Session:
    """One client connection's subscriptions; `ended` completes when they must all stop.
    `key_id` is None until the connection has authenticated."""

    def __init__(self, key_id: str | None) -> None:
        self.key_id = key_id
        self.ended: asyncio.Future[Ending] = asyncio.get_running_loop().create_future()

    def end(self, why: Ending) -> None:
        if not self.ended.done():
            self.ended.set_result(why)


class Subscriptions:
    """This process's open sessions, and its open subscriptions by key."""

    def __init__(self, per_key: int) -> None:
        self._per_key = per_key
        self._open: Counter[str] = Counter()
        self._sessions: set[Session] = set()
        self._closing = False

    @property
    def open(self) -> int:
        return sum(self._open.values())

    @contextlib.contextmanager
    def session(self, key_id: str | None = None) -> Iterator[Session]:
        session = Session(key_id)
        if self._closing:
            session.end(Ending.SHUTDOWN)
        self._sessions.add(session)
        try:
            yield session
        finally:
            self._sessions.discard(session)

    @contextlib.contextmanager
    def slot(self, key_id: str) -> Iterator[None]:
        """Holds one of the key's subscriptions; TOO_MANY_SUBSCRIPTIONS beyond the limit."""
        if self._open[key_id] >= self._per_key:
            raise RequestError(
                429,
                f"This API key already has {self._per_key} open subscriptions on this "
                "server; complete one before starting another.",
                code=TOO_MANY,
                extensions={"limit": self._per_key},
            )
        self._open[key_id] += 1
        try:
            yield
        finally:
            self._open[key_id] -= 1
            if not self._open[key_id]:
                del self._open[key_id]

    def end_all(self, why: Ending) -> None:
        self._closing = self._closing or why is Ending.SHUTDOWN
        for session in self._sessions:
            session.end(why)

    async def end_revoked(self, store: Store) -> None:
        """Ends the sessions of every key that is no longer active, until cancelled."""
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
