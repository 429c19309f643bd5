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


class BufferedLineHandler(logging.Handler):
    """Each record's line to a binary stream, buffered for at most `FLUSH_SECONDS` (or
    `MAX_PENDING_BYTES`) while the event loop runs: a write is a system call, which cost
    more here than making the line, and every request logs one. A warning or an error is
    written at once with whatever waits before it, and so is a line logged outside the
    loop's thread or with no loop running; the lines still waiting are written when the
    process exits normally (logging flushes its handlers then), and lost if it is killed.
    """

    FLUSH_SECONDS = 0.1
    MAX_PENDING_BYTES = 64 * 1024

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream = stream
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record).encode() + b"\n"
            self._pending.append(line)
            self._pending_bytes += len(line)
            if record.levelno >= logging.WARNING or self._pending_bytes >= self.MAX_PENDING_BYTES:
                self.flush()
                return
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            if len(self._pending) == 1:
                loop.call_later(self.FLUSH_SECONDS, self.flush)
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            pending, self._pending, self._pending_bytes = self._pending, [], 0
            if pending:
                self._stream.write(b"".join(pending))
                self._stream.flush()


def configure_logging(level: str) -> None:
    # The lines name no thread or process: the logging module's documented switches
    # spare collecting them for every record (one per request, at least).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = BufferedLineHandler(sys.stderr.buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for chatty in ("aiohttp.access", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
