"""Connections for requests: SQLite's writers take turns in the process; reads never wait
for a writer; PostgreSQL writers run side by side."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from tests.gateway import Gateway


async def test_write_transactions_overlap_only_where_the_database_allows(
    gateway: Gateway,
) -> None:
    pool = gateway.store
    inside = most = 0

    async def write() -> None:
        nonlocal inside, most
        async with pool.write() as connection:
            inside += 1
            most = max(most, inside)
            await connection.execute(text("SELECT 1"))
            await asyncio.sleep(0.02)
            inside -= 1

    await asyncio.gather(*(write() for _ in range(6)))
    if gateway.engine.dialect.name == "sqlite":
        assert most == 1
    else:
        assert most > 1


async def test_a_read_does_not_wait_for_an_open_write(gateway: Gateway) -> None:
    pool = gateway.store
    async with pool.write() as writing:
        await writing.execute(text("UPDATE accounts SET name = name"))
        async with asyncio.timeout(5):
            async with pool.read() as reading:
                count = await reading.execute(text("SELECT count(*) FROM accounts"))
                assert count.scalar_one() >= 1


async def test_a_failed_write_rolls_back_and_frees_the_writer(gateway: Gateway) -> None:
    pool = gateway.store
    try:
        async with pool.write() as connection:
            await connection.execute(text("UPDATE accounts SET name = name || '!'"))
            raise RuntimeError("stop")
    except RuntimeError:
        pass
    async with asyncio.timeout(5), pool.write() as connection:
        names = (await connection.execute(text("SELECT name FROM accounts"))).scalars().all()
    assert names and not any(name.endswith("!") for name in names)
