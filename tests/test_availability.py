"""Which failures are "the database is unavailable" (503), and a client that leaves
while sending its body (a disconnect, never a 500)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import event, exc

from app.store.availability import OutageLog, is_unavailable
from tests.gateway import Gateway


def _sqlite_error(code: int, message: str) -> sqlite3.Error:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code
    return error


NOT_IDLE = "cannot switch to state 12; another operation (2) is in progress"


def wrapped(cause: BaseException, *, invalidated: bool = False) -> exc.DBAPIError:
    return exc.DBAPIError("SELECT 1", {}, cause, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (wrapped(ConnectionRefusedError(111, "refused")), True),
        (wrapped(Exception("lost"), invalidated=True), True),
        (wrapped(asyncpg.exceptions.CannotConnectNowError("starting up")), True),
        (wrapped(asyncpg.exceptions.TooManyConnectionsError("too many")), True),
        (wrapped(asyncpg.exceptions.AdminShutdownError("terminating")), True),
        (exc.TimeoutError("QueuePool limit reached"), True),
        (wrapped(asyncpg.exceptions.DiskFullError("no space left on device")), True),
        # A connection the server is ending, its socket not closed yet: on the engine
        # (wrapped by SQLAlchemy) and on the driver (as asyncpg raises it).
        (wrapped(asyncpg.exceptions.InternalClientError(NOT_IDLE)), True),
        (asyncpg.exceptions.InternalClientError(NOT_IDLE), True),
        (asyncpg.exceptions.InternalClientError("unknown error in protocol"), False),
        (wrapped(_sqlite_error(sqlite3.SQLITE_FULL, "database or disk is full")), True),
        (wrapped(_sqlite_error(sqlite3.SQLITE_CONSTRAINT, "UNIQUE constraint failed")), False),
        (wrapped(asyncpg.exceptions.QueryCanceledError("statement timeout")), False),
        (wrapped(asyncpg.exceptions.UniqueViolationError("duplicate")), False),
        (TimeoutError(), False),
        (ZeroDivisionError(), False),
    ],
)
def test_what_counts_as_unavailable(error: BaseException, expected: bool) -> None:
    assert is_unavailable(error) is expected


def test_the_outage_log_reports_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    outages = OutageLog(interval=10)
    now = [100.0]
    outages.clock = lambda: now[0]
    with caplog.at_level(logging.WARNING, logger="app.store"):
        for _ in range(5):
            outages.record(ConnectionRefusedError())
        now[0] += 10
        outages.record(ConnectionRefusedError())
    messages = [r.getMessage() for r in caplog.records if r.name == "app.store"]
    assert len(messages) == 2
    assert "1 request(s)" in messages[0] and "5 request(s)" in messages[1]
    assert "ConnectionRefusedError" in messages[1]


CREATE = "mutation($name: String!) { createCustomer(input: {name: $name}) { customer { id } } }"


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def test_a_client_leaving_mid_body_is_a_disconnect_not_an_error(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    url = gateway.client.make_url("/graphql")
    with caplog.at_level(logging.INFO):
        _reader, writer = await asyncio.open_connection(url.host, url.port)
        writer.write(
            (
                "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {gateway.key}\r\nContent-Length: 5000\r\n\r\n"
                '{"query": "{ __typename'
            ).encode()
        )
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.transport.abort()
        for _ in range(100):
            if any(r.name == "app.access" for r in caplog.records):
                break
            await asyncio.sleep(0.02)
    [access] = [r for r in caplog.records if r.name == "app.access"]
    fields = access.fields  # type: ignore[attr-defined]
    assert fields["client_disconnected"] is True
    assert fields["status"] == 499
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_full_disk_refuses_writes_with_503_and_keeps_reads(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite's max_page_count makes the database file as full as a full disk would."""
    full = [True]

    def cap_the_file(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA page_count")
        pages = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages if full[0] else 2**30}")
        cursor.close()

    event.listen(gateway.engine.sync_engine, "connect", cap_the_file)
    await gateway.engine.dispose()
    # Creations run on the driver's connections: one, as requests come one at a time.
    await _cap_the_driver(gateway, full=True)
    before = await gateway.stored_customers()
    refusal: tuple[int, dict[str, Any]] | None = None
    with caplog.at_level(logging.INFO):
        for number in range(300):
            status, body = await gateway.post(CREATE, {"name": f"{number}-" + "x" * 180})
            if status != 200:
                refusal = (status, body)
                break
    assert refusal is not None, "the capped file never filled"
    status, body = refusal
    assert status == 503
    assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    written = await gateway.stored_customers() - before
    assert written == number  # the refused create left nothing behind
    page = await gateway.data("{ customers(first: 5) { edges { node { id } } } }")
    assert len(page["customers"]["edges"]) == 5
    full[0] = False
    await gateway.engine.dispose()
    await _cap_the_driver(gateway, full=False)
    await gateway.create_customer(name="after the space is freed")
    assert await gateway.stored_customers() - before == number + 1


async def _cap_the_driver(gateway: Gateway, *, full: bool) -> None:
    def cap(database: sqlite3.Connection) -> None:
        [pages] = database.execute("PRAGMA page_count").fetchone()
        database.execute(f"PRAGMA max_page_count = {pages if full else 2**30}")

    async with gateway.store.writer() as writer:
        await writer.transaction(cap, "PRAGMA max_page_count")
