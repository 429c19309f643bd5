"""API keys decide the account and mode; other customers behave as missing everywhere."""

from __future__ import annotations

import pytest

from app.accounts import keys
from tests.gateway import Gateway

CUSTOMER_QUERY = "query($id: ID!) { customer(id: $id) { id } }"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer sk_test_short",
        "Bearer sk_prod_0123456789abcdefghijABCDEFGHIJ01",
        "Bearer sk_test_0123456789abcdefghijABCDEFGHIJ01",
    ],
)
async def test_missing_malformed_or_unknown_key_is_401(
    gateway: Gateway, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await gateway.client.post(
        "/graphql", json={"query": "{ customers { totalCount } }"}, headers=headers
    )
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.headers["X-Request-Id"]
    body = await response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_revoked_key_is_401(gateway: Gateway) -> None:
    async with gateway.engine.begin() as connection:
        minted = await keys.mint_key(connection, account_name="acme", live=False)
    secret = minted.secret
    assert (await gateway.post("{ customers { totalCount } }", key=secret))[0] == 200
    async with gateway.engine.begin() as connection:
        cache = gateway.key_cache
        assert await keys.revoke_key(connection, key_id=minted.key_id, cache=cache)
        assert not await keys.revoke_key(connection, key_id=minted.key_id, cache=cache)
    status, body = await gateway.post("{ customers { totalCount } }", key=secret)
    assert status == 401
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_key_decides_live_flag(gateway: Gateway) -> None:
    live_key = await gateway.mint_key("acme", live=True)
    assert live_key.startswith("sk_live_")
    assert (await gateway.create_customer(key=live_key, name="L"))["live"] is True
    assert (await gateway.create_customer(name="T"))["live"] is False


@pytest.fixture(params=["other account", "same account, live mode"])
async def outsider_key(request: pytest.FixtureRequest, gateway: Gateway) -> str:
    if request.param == "other account":
        return await gateway.mint_key("globex")
    return await gateway.mint_key("acme", live=True)


async def test_foreign_customer_is_missing_through_every_entry_point(
    gateway: Gateway, outsider_key: str
) -> None:
    mine = await gateway.create_customer(name="Mine", email="mine@example.com")
    customer_id = mine["id"]
    theirs = await gateway.create_customer(key=outsider_key, name="Theirs")

    data = await gateway.data(
        """query($id: ID!) {
             customer(id: $id) { id }
             node(id: $id) { id }
             nodes(ids: [$id]) { id }
             customers { totalCount nodes { id } }
           }""",
        {"id": customer_id},
        key=outsider_key,
    )
    assert data == {
        "customer": None,
        "node": None,
        "nodes": [None],
        "customers": {"totalCount": 1, "nodes": [{"id": theirs["id"]}]},
    }

    status, body = await gateway.post(
        "query($id: String!) { customers(after: $id) { totalCount } }",
        {"id": customer_id},
        key=outsider_key,
    )
    assert status == 200
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "after"}
    unknown_message = body["errors"][0]["message"]
    _, unknown = await gateway.post(
        '{ customers(after: "cus_0000000000000000000000") { totalCount } }', key=outsider_key
    )
    assert unknown["errors"][0]["message"] == unknown_message

    update = await gateway.data(
        """mutation($id: ID!) {
             updateCustomer(input: {id: $id, name: "Hijacked"}) {
               customer { id } userErrors { field code }
             }
           }""",
        {"id": customer_id},
        key=outsider_key,
    )
    assert update["updateCustomer"] == {
        "customer": None,
        "userErrors": [{"field": ["input", "id"], "code": "NOT_FOUND"}],
    }
    delete = await gateway.data(
        """mutation($id: ID!) {
             deleteCustomer(input: {id: $id}) {
               customer { id } deletedCustomerId userErrors { field code }
             }
           }""",
        {"id": customer_id},
        key=outsider_key,
    )
    assert delete["deleteCustomer"] == {
        "customer": None,
        "deletedCustomerId": None,
        "userErrors": [{"field": ["input", "id"], "code": "NOT_FOUND"}],
    }

    still_mine = await gateway.data(
        CUSTOMER_QUERY.replace("{ id }", "{ id name }"), {"id": customer_id}
    )
    assert still_mine["customer"] == {"id": customer_id, "name": "Mine"}


async def test_idempotency_keys_are_scoped_to_account_and_mode(
    gateway: Gateway, outsider_key: str
) -> None:
    mine = await gateway.create_customer(name="Same", idempotencyKey="order-1")
    theirs = await gateway.create_customer(key=outsider_key, name="Same", idempotencyKey="order-1")
    assert mine["id"] != theirs["id"]
    assert await gateway.stored_customers() == 2
