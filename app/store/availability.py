"""Telling "the database cannot be reached" from every other failure, and saying so in
the log once per interval instead of a traceback per request.

Unavailable means: the connection could not be made or was lost (refused, reset, closed
or being closed by a restarting server), the server is starting or shutting down, or it has no
connection slot left; its disk is full (nothing is written until space is freed: the
failed transaction rolls back); also SQLAlchemy's pool timing out. A statement that
fails for any other reason (a timeout, a constraint, a bug) is not unavailability.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator

from sqlalchemy import exc as sqlalchemy_errors

log = logging.getLogger("app.store")

# PostgreSQL's connection exceptions (class 08), operator intervention (57P01-57P03:
# shutting down, crashed, starting up), disk_full and too_many_connections.
UNAVAILABLE_SQLSTATES = frozenset(
    {"08000", "08001", "08003", "08004", "08006", "57P01", "57P02", "57P03", "53100", "53300"}
)
RETRY_AFTER_SECONDS = 1
LOG_INTERVAL_SECONDS = 10.0


def is_unavailable(error: BaseException) -> bool:
    for cause in _chain(error):
        if isinstance(cause, sqlalchemy_errors.DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, sqlalchemy_errors.TimeoutError):  # no pool connection in time
            return True
        if getattr(cause, "sqlstate", None) in UNAVAILABLE_SQLSTATES:
            return True
        if getattr(cause, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        if isinstance(cause, ConnectionError | OSError) and not isinstance(cause, TimeoutError):
            return True
        if _not_idle(cause):
            return True
    return False


# asyncpg's refusal to start an operation on a connection that is not idle.
_NOT_IDLE = "cannot switch to state"


def _not_idle(error: BaseException) -> bool:
    """asyncpg refused to send anything on a connection that was not idle: the server
    ended it (its shutdown's FATAL message arrived while the connection sat in a pool)
    and its socket was not closed yet. Pools lend a connection to one request at a
    time, so nothing else leaves one busy: the connection is lost."""
    from asyncpg.exceptions import InternalClientError  # type: ignore[import-untyped]

    return isinstance(error, InternalClientError) and str(error).startswith(_NOT_IDLE)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        cause = pending.pop()
        if cause is None or id(cause) in seen:
            continue
        seen.add(id(cause))
        yield cause
        orig = getattr(cause, "orig", None)
        pending.extend(
            [cause.__cause__, cause.__context__, orig if isinstance(orig, BaseException) else None]
        )


class OutageLog:
    """One warning per LOG_INTERVAL_SECONDS while requests find the database unavailable,
    with how many did and why; the first of an outage is logged at once."""

    def __init__(self, interval: float = LOG_INTERVAL_SECONDS) -> None:
        self._interval = interval
        self._count = 0
        self._logged_at = -interval
        self.clock = time.monotonic

    def record(self, error: BaseException) -> None:
        self._count += 1
        now = self.clock()
        if now - self._logged_at < self._interval:
            return
        log.warning(
            "database unavailable: %d request(s) answered 503 since the last report (%s)",
            self._count,
            _describe(error),
        )
        self._logged_at = now
        self._count = 0


def _describe(error: BaseException) -> str:
    innermost = error
    for cause in _chain(error):
        innermost = cause
    return type(innermost).__name__
