"""Active keys are remembered for 5 seconds per process; revocation semantics around that."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update

from app.accounts import keys
from app.web.app import create_app
from tests.conftest import make_settings
from tests.gateway import Gateway

QUERY = "{ customers(first: 1) { nodes { id } } }"


async def test_revoked_elsewhere_works_until_the_cache_forgets_it(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with gateway.engine.begin() as connection:
        minted = await keys.mint_key(connection, account_name="acme", live=False)
    assert (await gateway.post(QUERY, key=minted.secret))[0] == 200
    # Another process (the CLI, another replica) revokes the key in the database.
    async with gateway.engine.begin() as connection:
        await connection.execute(
            update(keys.api_keys).where(keys.api_keys.c.id == minted.key_id).values(revoked_at=1)
        )
    assert (await gateway.post(QUERY, key=minted.secret))[0] == 200
    memory = gateway.key_cache.entries
    later = memory.clock() + keys.KEY_CACHE_SECONDS + 0.1
    monkeypatch.setattr(memory, "clock", lambda: later)
    status, body = await gateway.post(QUERY, key=minted.secret)
    assert status == 401
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_unknown_keys_are_not_remembered(gateway: Gateway) -> None:
    secret = "sk_test_" + "A" * 32
    assert (await gateway.post(QUERY, key=secret))[0] == 401
    async with gateway.engine.begin() as connection:
        await connection.execute(
            keys.api_keys.insert().values(
                id="key_later",
                account_id=(await keys._account_id(connection, account_name="acme")),
                live=False,
                secret_hash=keys.hash_secret(secret),
                hint="sk_test_…AAAA",
                created_at=1,
            )
        )
    assert (await gateway.post(QUERY, key=secret))[0] == 200


async def test_a_key_of_one_database_is_not_remembered_for_another(
    gateway: Gateway, tmp_path: Path
) -> None:
    assert (await gateway.post(QUERY))[0] == 200
    other = TestClient(
        TestServer(create_app(make_settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/o.db")))
    )
    await other.start_server()
    try:
        response = await other.post(
            "/graphql", json={"query": QUERY}, headers={"Authorization": f"Bearer {gateway.key}"}
        )
        assert response.status == 401
    finally:
        await other.close()
