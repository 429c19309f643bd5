"""idempotencyKey: one customer per key and input for 24 hours, enforced by the database."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select, update

from app.clock import now_ms
from app.customers.idempotency import RETENTION_MS, records
from tests.gateway import Gateway

CREATE = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    customer { id name email phone metadata createdAt updatedAt }
    userErrors { field code }
    clientMutationId
  }
}"""


async def create(gateway: Gateway, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await gateway.data(CREATE, {"input": fields}))["createCustomer"]
    return payload


async def test_same_key_and_input_returns_the_first_result(gateway: Gateway) -> None:
    first = await create(
        gateway, name="Ada", metadata={"a": "1"}, idempotencyKey="k", clientMutationId="1"
    )
    again = await create(
        gateway, name="  Ada ", metadata={"a": "1"}, idempotencyKey="k", clientMutationId="2"
    )
    assert again["customer"] == first["customer"]
    assert again["clientMutationId"] == "2"
    assert await gateway.stored_customers() == 1


async def test_same_key_with_other_input_is_refused(gateway: Gateway) -> None:
    await create(gateway, name="Ada", idempotencyKey="k")
    for other in ({"name": "Bob"}, {"name": "Ada", "email": "ada@example.com"}, {}):
        payload = await create(gateway, idempotencyKey="k", **other)
        assert payload["customer"] is None
        assert payload["userErrors"] == [
            {"field": ["input", "idempotencyKey"], "code": "IDEMPOTENCY_KEY_REUSED"}
        ]
    assert await gateway.stored_customers() == 1


async def test_replay_returns_the_customer_as_created_even_after_changes(gateway: Gateway) -> None:
    first = (await create(gateway, name="Ada", idempotencyKey="k"))["customer"]
    await gateway.data(
        'mutation($id: ID!) { updateCustomer(input: {id: $id, name: "Changed"}) { userErrors '
        "{ code } } }",
        {"id": first["id"]},
    )
    assert (await create(gateway, name="Ada", idempotencyKey="k"))["customer"] == first
    await gateway.data(
        "mutation($id: ID!) { deleteCustomer(input: {id: $id}) { deletedCustomerId } }",
        {"id": first["id"]},
    )
    assert (await create(gateway, name="Ada", idempotencyKey="k"))["customer"] == first
    assert await gateway.stored_customers() == 0


async def test_invalid_input_is_not_remembered(gateway: Gateway) -> None:
    invalid = await create(gateway, email="broken", idempotencyKey="k")
    assert invalid["userErrors"] == [{"field": ["input", "email"], "code": "INVALID"}]
    fixed = await create(gateway, email="fixed@example.com", idempotencyKey="k")
    assert fixed["userErrors"] == []
    assert fixed["customer"]["email"] == "fixed@example.com"


async def test_key_is_forgotten_after_24_hours(gateway: Gateway) -> None:
    first = (await create(gateway, name="Ada", idempotencyKey="k"))["customer"]
    async with gateway.engine.begin() as connection:
        await connection.execute(update(records).values(created_at=now_ms() - RETENTION_MS - 1_000))
    second = await create(gateway, name="Someone else", idempotencyKey="k")
    assert second["userErrors"] == []
    assert second["customer"]["id"] != first["id"]
    assert await gateway.stored_customers() == 2


async def test_twenty_concurrent_creates_with_one_key_make_one_customer(gateway: Gateway) -> None:
    responses = await asyncio.gather(
        *(
            gateway.post(CREATE, {"input": {"name": "Racer", "idempotencyKey": "race"}})
            for _ in range(20)
        )
    )
    assert [status for status, _ in responses] == [200] * 20
    ids = {body["data"]["createCustomer"]["customer"]["id"] for _, body in responses}
    assert len(ids) == 1
    assert await gateway.stored_customers() == 1


async def test_concurrent_creates_with_one_key_and_two_inputs(gateway: Gateway) -> None:
    names = ["Alpha", "Beta"] * 10
    responses = await asyncio.gather(
        *(gateway.post(CREATE, {"input": {"name": n, "idempotencyKey": "split"}}) for n in names)
    )
    assert [status for status, _ in responses] == [200] * 20
    payloads = [body["data"]["createCustomer"] for _, body in responses]
    winners = {p["customer"]["name"] for p in payloads if p["customer"]}
    assert len(winners) == 1
    for name, payload in zip(names, payloads, strict=True):
        if name in winners:
            assert payload["userErrors"] == []
        else:
            assert payload["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await gateway.stored_customers() == 1


async def test_a_result_stored_before_a_field_existed_still_replays(gateway: Gateway) -> None:
    first = await create(gateway, name="Ada", idempotencyKey="old")
    async with gateway.engine.begin() as connection:
        stored = (await connection.execute(select(records.c.response))).scalar_one()
        # As an older gateway stored it: no phone yet, and a field since removed.
        older = {name: value for name, value in stored.items() if name != "phone"}
        await connection.execute(update(records).values(response={**older, "fax": "1"}))
    again = await create(gateway, name="Ada", idempotencyKey="old")
    assert again["customer"] == {**first["customer"], "phone": None}
    assert again["userErrors"] == []
