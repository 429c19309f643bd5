"""Structured logging: one JSON object per line on stderr."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any, BinaryIO

import orjson


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        # The time is written to the second: formatted once per second, not per line.
        self._second = -1
        self._time = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._time = self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
            self._second = second
        entry: dict[str, Any] = {
            "time": self._time,
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TurnHandler(logging.Handler):
    """Each record's line to a binary stream, the lines logged in one turn of the event
    loop written together at its end: one system call per turn rather than one per
    request (an access line is logged for each), which cost more here than making the
    line. A line logged outside the loop's thread, or with no loop running, is written
    at once; the lines of the last turn are written when the process exits normally
    (logging flushes its handlers then), and lost if it is killed."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream = stream
        self._pending: list[bytes] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record).encode() + b"\n"
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._write([*self._pending, line])
                self._pending = []
                return
            if not self._pending:
                loop.call_soon(self.flush)
            self._pending.append(line)
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            pending, self._pending = self._pending, []
            if pending:
                self._write(pending)

    def _write(self, lines: list[bytes]) -> None:
        self._stream.write(b"".join(lines))
        self._stream.flush()


def configure_logging(level: str) -> None:
    # The lines name no thread or process: the logging module's documented switches
    # spare collecting them for every record (one per request, at least).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = TurnHandler(sys.stderr.buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for chatty in ("aiohttp.access", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
