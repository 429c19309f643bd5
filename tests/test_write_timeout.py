"""A write cut off by the request timeout in the middle of a statement: the client gets
the timeout answer (QUERY_TOO_COMPLEX, limit "time"), nothing of the transaction is
committed, and nothing is logged as an unexpected error.

The statement is held deterministically: another connection holds the lock it needs (on
PostgreSQL the account's event head row, or the customer's row for an update; on SQLite
the database's write lock), so the mutation waits inside its transaction until the
deadline cancels it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.customers.models import customers_table
from app.events.models import events_table
from tests.gateway import Gateway

TIMEOUT = 0.5
CREATE = """mutation($name: String!) {
  createCustomer(input: {name: $name}) { customer { id } userErrors { code } } }"""
UPDATE = """mutation($id: ID!, $name: String!) {
  updateCustomer(input: {id: $id, name: $name}) { customer { id } userErrors { code } } }"""

pytestmark = pytest.mark.parametrize("settings_overrides", [{"request_timeout_seconds": TIMEOUT}])


@asynccontextmanager
async def locked(gateway: Gateway, postgres_lock: str) -> AsyncIterator[None]:
    """Writes wait while this is open: `postgres_lock` (a FOR UPDATE select) holds its rows
    on PostgreSQL; SQLite's write lock is held outright."""
    if gateway.store.dialect == "sqlite":
        database = gateway.engine.url.database
        assert database
        with closing(sqlite3.connect(database, isolation_level=None, timeout=5)) as holder:
            holder.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                holder.rollback()
        return
    async with gateway.engine.connect() as holder:
        transaction = await holder.begin()
        assert (await holder.execute(text(postgres_lock))).all()
        try:
            yield
        finally:
            await transaction.rollback()


async def cut_off(
    gateway: Gateway, postgres_lock: str, query: str, variables: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """The answer to a mutation sent while its statement must wait for a lock, which is let
    go well after the deadline (the cancelled statement could run to its end then)."""
    async with locked(gateway, postgres_lock):
        answer = asyncio.create_task(gateway.post(query, variables))
        if gateway.store.dialect == "postgresql":
            # Answered while the lock is still held: the deadline cut it off. (On SQLite
            # aiosqlite's thread stays in the statement until the lock is let go; the
            # answer waits for it.)
            await asyncio.wait_for(asyncio.shield(answer), 20)
        else:
            await asyncio.sleep(TIMEOUT * 3)
    return await answer


async def _counts(gateway: Gateway) -> tuple[int, int]:
    async with gateway.engine.connect() as connection:
        customers = await connection.scalar(select(func.count()).select_from(customers_table))
        events = await connection.scalar(select(func.count()).select_from(events_table))
    return int(customers or 0), int(events or 0)


async def _named(gateway: Gateway, name: str) -> int:
    async with gateway.engine.connect() as connection:
        count = await connection.scalar(
            select(func.count()).select_from(customers_table).where(customers_table.c.name == name)
        )
    return int(count or 0)


def _assert_timed_out(status: int, body: dict[str, Any]) -> None:
    assert status == 200, body
    assert body["data"] is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", body
    assert error["extensions"]["limit"] == "time", body


def _unexpected(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.levelno >= logging.ERROR or record.exc_info is not None
    ]


async def _settled(gateway: Gateway) -> None:
    """Every pooled connection returned (the cancelled one replaced or reset)."""
    for _ in range(100):
        if gateway.engine.pool.checkedout() == 0:  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("a connection was never returned to the pool")


async def test_a_create_cut_off_mid_statement_answers_the_timeout(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    await gateway.create_customer(name="first")  # the account's event head now exists
    before = await _counts(gateway)
    with caplog.at_level(logging.INFO):
        heads = "SELECT last_ms FROM customer_event_heads FOR UPDATE"
        _assert_timed_out(*await cut_off(gateway, heads, CREATE, {"name": "cut off"}))
        await _settled(gateway)
    assert not _unexpected(caplog), [record.getMessage() for record in _unexpected(caplog)]
    assert await _counts(gateway) == before
    assert await _named(gateway, "cut off") == 0
    # The store is whole afterwards: the next create commits with its event.
    await gateway.create_customer(name="after")
    assert await _counts(gateway) == (before[0] + 1, before[1] + 1)


async def test_an_update_cut_off_mid_statement_answers_the_timeout(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    created = await gateway.create_customer(name="kept")
    before = await _counts(gateway)
    with caplog.at_level(logging.INFO):
        rows = "SELECT id FROM customers FOR UPDATE"
        _assert_timed_out(
            *await cut_off(gateway, rows, UPDATE, {"id": created["id"], "name": "lost"})
        )
        await _settled(gateway)
    assert not _unexpected(caplog), [record.getMessage() for record in _unexpected(caplog)]
    assert await _counts(gateway) == before
    assert await _named(gateway, "kept") == 1
    await gateway.data(UPDATE, {"id": created["id"], "name": "renamed"})
    assert await _named(gateway, "renamed") == 1
