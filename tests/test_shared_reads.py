"""SQLite: concurrent reads share two driver connections, their statements queued on
each connection's thread, instead of a connection and a turn each (app/store/driver.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.store.driver import SqliteBackend
from tests.gateway import Gateway

LOOKUP = "query($id: ID!) { customer(id: $id) { id name } }"


@pytest.fixture
def backend() -> str:
    return "sqlite"


class Opened:
    """Connections the driver pool opens, counted."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = SqliteBackend.open

        async def counted(backend: SqliteBackend) -> Any:
            self.count += 1
            return await original(backend)

        monkeypatch.setattr(SqliteBackend, "open", counted)


async def test_many_concurrent_reads_share_two_connections_a_few_at_a_time(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = [await gateway.create_customer(name=f"Reader {number}") for number in range(3)]
    pool = gateway.store.driver_pool
    await pool.close()
    pool._closed = False  # a fresh pool, as after a start
    opened = Opened(monkeypatch)
    reading: list[int] = []
    take_shared = pool.take_shared

    async def watched() -> Any:
        reading.append(gateway.store.in_use)
        return await take_shared()

    monkeypatch.setattr(pool, "take_shared", watched)
    ids = [customer["id"] for customer in made] * 20
    answers = await asyncio.gather(*(gateway.data(LOOKUP, {"id": one}) for one in ids))
    assert [answer["customer"]["id"] for answer in answers] == ids
    assert opened.count == 2
    assert len(reading) == len(ids)
    assert max(reading) == SqliteBackend.reads_in_flight
    assert (gateway.store.waiting, gateway.store.in_use) == (0, 0)


async def test_a_read_sees_a_creation_acknowledged_before_it(gateway: Gateway) -> None:
    for number in range(6):
        made = await gateway.create_customer(name=f"Fresh {number}")
        # Two reads in a row land on both shared connections.
        for _ in range(2):
            found = await gateway.data(LOOKUP, {"id": made["id"]})
            assert found["customer"] == {"id": made["id"], "name": f"Fresh {number}"}


async def test_a_closed_shared_connection_is_replaced(gateway: Gateway) -> None:
    made = await gateway.create_customer(name="Still here")
    await gateway.data(LOOKUP, {"id": made["id"]})
    await gateway.data(LOOKUP, {"id": made["id"]})
    for connection in gateway.store.driver_pool._shared:
        await connection.close()
    for _ in range(2):
        found = await gateway.data(LOOKUP, {"id": made["id"]})
        assert found["customer"]["name"] == "Still here"
