"""Pooled PostgreSQL connections that the server closed are replaced, not used."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import POSTGRES_URL, only_postgres
from tests.gateway import Gateway

PAGE = "{ customers(first: 5) { edges { node { id } } } }"
CREATE = """mutation {
  createCustomer(input: {name: "Ada"}) { customer { id } userErrors { code } }
}"""


@pytest.fixture
def backend() -> str:
    """Only PostgreSQL: a SQLite file has no server that could close a connection."""
    return only_postgres()


async def test_requests_succeed_after_the_server_ends_a_pooled_connection(
    gateway: Gateway,
) -> None:
    await gateway.data(PAGE)
    async with gateway.engine.connect() as connection:
        own_pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    await _terminate(own_pid)

    # A mutation first: it has one attempt, so a dead pooled connection would show.
    created = await gateway.data(CREATE)
    assert created["createCustomer"]["customer"]["id"]
    await gateway.data(PAGE)


async def test_reads_succeed_after_the_server_ends_an_idle_read_connection(
    gateway: Gateway,
) -> None:
    created = await gateway.data(CREATE)
    await gateway.data(PAGE)
    async with gateway.store.reader() as reader:
        [(read_pid,)] = await reader.rows(select(func.pg_backend_pid()), {})
    await _terminate(read_pid)

    data = await gateway.data(PAGE)
    assert [edge["node"]["id"] for edge in data["customers"]["edges"]] == [
        created["createCustomer"]["customer"]["id"]
    ]
    async with gateway.store.reader() as reader:
        [(new_pid,)] = await reader.rows(select(func.pg_backend_pid()), {})
    assert new_pid != read_pid


async def _terminate(pid: int) -> None:
    """End a server process of the gateway's, and wait until it is gone."""
    own_pid = pid
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            ended = await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'customers-gateway' AND pid = :pid"
                ),
                {"pid": own_pid},
            )
            assert ended.scalar_one() is True
            for _ in range(500):  # until the backend is gone, at most 5 s
                still_there = await connection.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": own_pid},
                )
                if not still_there.scalar_one():
                    break
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the gateway's event loop reads the close meanwhile
    finally:
        await admin.dispose()
