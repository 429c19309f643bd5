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
from tests.processes import environment, free_port, run_cli, serving

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
