"""Two gateway processes against one PostgreSQL database: the stateless scale-out shape."""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.customers.models import customers_table
from tests.conftest import only_postgres
from tests.processes import (
    environment,
    free_port,
    run_cli,
    serving,
    start_serving,
    wait_until_healthy,
)

CREATE = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id } userErrors { code } }
}"""


@pytest.fixture
def backend() -> str:
    """Only PostgreSQL: SQLite is one file on one machine."""
    return only_postgres()


async def post(session: aiohttp.ClientSession, url: str, key: str, variables: Any) -> Any:
    async with session.post(
        url,
        json={"query": CREATE, "variables": variables},
        headers={"Authorization": f"Bearer {key}"},
    ) as response:
        assert response.status == 200
        return await response.json()


async def test_two_processes_share_keys_and_idempotency(database: dict[str, Any]) -> None:
    env = environment(database)
    ports = free_port(), free_port()
    async with serving(env, ports[0]) as first, serving(env, ports[1]) as second:
        minted = run_cli(env, "keys", "create", "--account", "scale")
        assert minted.returncode == 0, minted.stderr
        key = re.search(r"sk_test_\w{32}", minted.stdout)
        assert key
        async with aiohttp.ClientSession() as session:
            for url in (first, second):
                body = await post(session, url, key.group(0), {"input": {"name": "warmup"}})
                assert body["data"]["createCustomer"]["userErrors"] == []
            bodies = await asyncio.gather(
                *(
                    post(
                        session,
                        (first, second)[i % 2],
                        key.group(0),
                        {"input": {"name": "Once", "idempotencyKey": "spread"}},
                    )
                    for i in range(20)
                )
            )
    ids = {body["data"]["createCustomer"]["customer"]["id"] for body in bodies}
    assert len(ids) == 1
    engine = create_async_engine(database["database_url"])
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'SET search_path TO "{database["database_schema"]}"'))
            total = (
                await connection.execute(
                    select(func.count())
                    .select_from(customers_table)
                    .where(customers_table.c.name == "Once")
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert total == 1


async def test_a_document_registered_through_one_process_runs_on_the_other(
    database: dict[str, Any],
) -> None:
    document = "query Total { customers { totalCount } }"
    extensions = {
        "persistedQuery": {
            "version": 1,
            "sha256Hash": hashlib.sha256(document.encode()).hexdigest(),
        }
    }
    env = environment(database)
    ports = free_port(), free_port()
    async with serving(env, ports[0]) as first, serving(env, ports[1]) as second:
        minted = run_cli(env, "keys", "create", "--account", "scale")
        key = re.search(r"sk_test_\w{32}", minted.stdout)
        assert key
        headers = {"Authorization": f"Bearer {key.group(0)}"}
        async with aiohttp.ClientSession() as session:

            async def send(url: str, body: dict[str, Any]) -> Any:
                async with session.post(url, json=body, headers=headers) as response:
                    assert response.status == 200
                    return await response.json()

            unknown = await send(second, {"extensions": extensions})
            assert unknown["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
            registered = await send(first, {"query": document, "extensions": extensions})
            assert registered == {"data": {"customers": {"totalCount": 0}}}
            assert await send(second, {"extensions": extensions}) == registered


async def test_a_replica_killed_mid_write_leaves_one_customer_once_retried_on_the_other(
    database: dict[str, Any],
) -> None:
    """SIGKILL one of two replicas while its create waits on a lock held here; the client
    retries with its idempotency key on the other: one customer, nothing torn."""
    env = environment(database)
    ports = free_port(), free_port()
    doomed = await start_serving(env, ports[0])
    schema = database["database_schema"]
    engine = create_async_engine(database["database_url"])
    try:
        await wait_until_healthy(f"http://127.0.0.1:{ports[0]}", doomed)
        async with serving(env, ports[1]) as survivor:
            minted = run_cli(env, "keys", "create", "--account", "killed")
            key = re.search(r"sk_test_\w{32}", minted.stdout)
            assert key
            variables = {"input": {"name": "Killed", "idempotencyKey": "mid-write"}}
            async with aiohttp.ClientSession() as session:
                # Both replicas know the key before the table is locked.
                for url in (f"http://127.0.0.1:{ports[0]}/graphql", survivor):
                    warm = await post(session, url, key.group(0), {"input": {"name": "warm"}})
                    assert warm["data"]["createCustomer"]["userErrors"] == []
                async with engine.connect() as blocker:
                    await blocker.execute(text(f'SET search_path TO "{schema}"'))
                    await blocker.execute(text("LOCK TABLE customers IN EXCLUSIVE MODE"))
                    pending = asyncio.create_task(
                        post(
                            session,
                            f"http://127.0.0.1:{ports[0]}/graphql",
                            key.group(0),
                            variables,
                        )
                    )
                    await asyncio.sleep(1.0)  # the create is waiting for the lock
                    assert not pending.done()
                    doomed.kill()
                    await doomed.wait()
                    with pytest.raises(aiohttp.ClientError):
                        await pending
                    await blocker.rollback()  # the lock goes; the dead one's work is undone
                retried = await post(session, survivor, key.group(0), variables)
                again = await post(session, survivor, key.group(0), variables)
        customer = retried["data"]["createCustomer"]["customer"]
        assert customer is not None
        assert again["data"]["createCustomer"]["customer"]["id"] == customer["id"]
        async with engine.connect() as connection:
            await connection.execute(text(f'SET search_path TO "{schema}"'))
            named = (
                await connection.execute(
                    select(customers_table.c.id).where(customers_table.c.name == "Killed")
                )
            ).all()
        assert [row.id for row in named] == [customer["id"]]
    finally:
        if doomed.returncode is None:
            doomed.kill()
            await doomed.wait()
        await engine.dispose()
