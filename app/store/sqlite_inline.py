"""Short SQLite reads run on the event loop's own thread, without crossing to a worker.

A crossing to an aiosqlite thread (app/store/sqlite_connection.py) costs more CPU than
the statement a lookup runs: the queue wakes the worker, the worker and the loop hand
the GIL to each other, and the result wakes the loop again. A lookup by id takes SQLite
about 20 µs, a page of fifty about 150.

So a read first runs here, on one read-only connection of the loop's, for at most
`budget` seconds: a statement still running then (a filter scanning the table, a page of
a thousand) is interrupted, and runs again on a worker thread, so the loop is never held
for longer than the budget. The same SQL then goes straight to a thread for a while
(`cooling` seconds), so a statement that is always long wastes at most one budget per
cooling period. A read that SQLite refuses here for any other operational reason (the
database busy or locked, the disk failing) also goes to the thread, which waits for the
lock as every connection does and raises what is really wrong. In WAL mode a reader
does not wait for writers: each statement sees what was committed before it began, here
as on the thread.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

BUDGET_SECONDS = 0.001
COOLING_SECONDS = 1.0
# SQLite's virtual-machine steps between two looks at the clock.
STEPS_PER_CHECK = 500
# SQL texts remembered as too long; more than the gateway's statement shapes.
REMEMBERED = 1024


class InlineReads:
    """One read-only connection on the loop's thread, opened at first use."""

    def __init__(
        self,
        path: str,
        budget: float = BUDGET_SECONDS,
        cooling: float = COOLING_SECONDS,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._path = path
        self._budget = budget
        self._cooling = cooling
        self._clock = clock
        self._connection: sqlite3.Connection | None = None
        self._deadline = 0.0
        # SQL that overran its budget, and until when it goes straight to a thread.
        self._too_long: dict[str, float] = {}

    def rows(self, sql: str, parameters: Sequence[Any]) -> list[Any] | None:
        """The statement's rows, or None when it must run on a worker thread instead."""
        now = self._clock()
        if self._too_long and self._too_long.get(sql, 0.0) > now:
            return None
        connection = self._connection or self._open()
        self._deadline = now + self._budget
        try:
            return connection.execute(sql, parameters).fetchall()
        except sqlite3.OperationalError:
            # Interrupted at the budget, or refused: the worker thread runs it again.
            if self._clock() >= self._deadline:
                self._remember(sql)
            return None

    def _remember(self, sql: str) -> None:
        if len(self._too_long) >= REMEMBERED:
            now = self._clock()
            self._too_long = {text: until for text, until in self._too_long.items() if until > now}
            if len(self._too_long) >= REMEMBERED:
                self._too_long.clear()
        self._too_long[sql] = self._clock() + self._cooling

    def _over_budget(self) -> bool:
        """SQLite's progress handler: true stops the statement."""
        return self._clock() >= self._deadline

    def _open(self) -> sqlite3.Connection:
        # No busy timeout: a read that would wait goes to a thread instead.
        connection = sqlite3.connect(self._path, isolation_level=None, timeout=0)
        try:
            connection.execute("PRAGMA query_only=1")
            connection.set_progress_handler(self._over_budget, STEPS_PER_CHECK)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
