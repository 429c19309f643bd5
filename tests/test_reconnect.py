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


def _shutdown_message() -> bytes:
    """What a shutting-down server sends each connection before closing it: an
    ErrorResponse, FATAL 57P01."""
    fields = b"SFATAL\0C57P01\0Mterminating connection due to administrator command\0\0"
    return b"E" + (len(fields) + 4).to_bytes(4, "big") + fields


async def test_a_read_on_a_connection_the_server_is_ending_is_answered_503(
    gateway: Gateway,
) -> None:
    """The server's FATAL message has arrived on an idle read connection, its socket not
    yet closed (a restart's race): asyncpg refuses to send on it. The request is told to
    retry, as during the rest of the restart, and the next one gets a fresh connection."""
    created = await gateway.data(CREATE)
    async with gateway.store.reader() as reader:
        connection = reader.connection
    connection._protocol.data_received(_shutdown_message())
    assert not connection.is_closed()

    status, body = await gateway.post(PAGE)
    assert status == 503
    assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert "data" not in body

    data = await gateway.data(PAGE)
    assert [edge["node"]["id"] for edge in data["customers"]["edges"]] == [
        created["createCustomer"]["customer"]["id"]
    ]
    connection.terminate()


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
