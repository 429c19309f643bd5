"""createCustomer, updateCustomer and deleteCustomer with every input rule."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway import Gateway

CREATE = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    customer { id name email phone metadata createdAt updatedAt }
    customerEdge { cursor node { id } }
    userErrors { field code message }
    clientMutationId
  }
}"""
UPDATE = """mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) {
    customer { id name email phone metadata createdAt updatedAt }
    userErrors { field code message }
    clientMutationId
  }
}"""
DELETE = """mutation($input: DeleteCustomerInput!) {
  deleteCustomer(input: $input) {
    customer { id name }
    deletedCustomerId
    userErrors { field code message }
    clientMutationId
  }
}"""


async def create(gateway: Gateway, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await gateway.data(CREATE, {"input": fields}))["createCustomer"]
    return payload


async def update(gateway: Gateway, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await gateway.data(UPDATE, {"input": fields}))["updateCustomer"]
    return payload


def codes(payload: dict[str, Any]) -> list[tuple[list[str], str]]:
    return [(error["field"], error["code"]) for error in payload["userErrors"]]


async def test_create_with_no_fields(gateway: Gateway) -> None:
    payload = await create(gateway, clientMutationId="abc")
    customer = payload["customer"]
    assert customer["id"].startswith("cus_") and len(customer["id"]) == 26
    assert (customer["name"], customer["email"], customer["phone"]) == (None, None, None)
    assert customer["metadata"] == {}
    assert payload["clientMutationId"] == "abc"
    assert payload["customerEdge"]["node"] == {"id": customer["id"]}


async def test_create_trims_and_stores_empty_as_null(gateway: Gateway) -> None:
    payload = await create(gateway, name="  Ada  ", email=" Ada@Example.com\t", phone="   ")
    assert payload["userErrors"] == []
    customer = payload["customer"]
    assert customer["name"] == "Ada"
    assert customer["email"] == "Ada@Example.com"
    assert customer["phone"] is None


async def test_customer_edge_cursor_works_in_the_default_order(gateway: Gateway) -> None:
    older = await create(gateway, name="Older")
    newer = await create(gateway, name="Newer")
    data = await gateway.data(
        "query($after: String!) { customers(first: 5, after: $after) { nodes { id } } }",
        {"after": newer["customerEdge"]["cursor"]},
    )
    assert data["customers"]["nodes"] == [{"id": older["customer"]["id"]}]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"email": "not-an-email"}, [(["input", "email"], "INVALID")]),
        ({"email": "a@b"}, [(["input", "email"], "INVALID")]),
        ({"email": "x" * 501 + "@example.com"}, [(["input", "email"], "TOO_LONG")]),
        ({"email": "two@@example.com"}, [(["input", "email"], "INVALID")]),
        ({"name": "n" * 257}, [(["input", "name"], "TOO_LONG")]),
        ({"phone": "call me"}, [(["input", "phone"], "INVALID")]),
        ({"phone": "()-+"}, [(["input", "phone"], "INVALID")]),
        ({"phone": "1" * 41}, [(["input", "phone"], "TOO_LONG")]),
        ({"metadata": {"a": 1}}, [(["input", "metadata", "a"], "INVALID")]),
        ({"metadata": {"a": None}}, [(["input", "metadata", "a"], "INVALID")]),
        ({"metadata": {"a": {"b": "c"}}}, [(["input", "metadata", "a"], "INVALID")]),
        ({"metadata": {"a[0]": "x"}}, [(["input", "metadata", "a[0]"], "INVALID")]),
        ({"metadata": {"": "x"}}, [(["input", "metadata", ""], "INVALID")]),
        ({"metadata": {"k" * 41: "x"}}, [(["input", "metadata", "k" * 41], "TOO_LONG")]),
        ({"metadata": {"k": "v" * 501}}, [(["input", "metadata", "k"], "TOO_LONG")]),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, [(["input", "metadata"], "TOO_LONG")]),
        ({"metadata": ["a"]}, [(["input", "metadata"], "INVALID")]),
        ({"metadata": "text"}, [(["input", "metadata"], "INVALID")]),
        ({"idempotencyKey": ""}, [(["input", "idempotencyKey"], "INVALID")]),
        ({"idempotencyKey": "a\x00"}, [(["input", "idempotencyKey"], "INVALID")]),
        ({"name": "a\x00b"}, [(["input", "name"], "INVALID")]),
        ({"phone": "555\x00"}, [(["input", "phone"], "INVALID")]),
        ({"metadata": {"k\x00": "v"}}, [(["input", "metadata", "k\x00"], "INVALID")]),
        ({"metadata": {"k": "\x00"}}, [(["input", "metadata", "k"], "INVALID")]),
        ({"idempotencyKey": "k" * 256}, [(["input", "idempotencyKey"], "TOO_LONG")]),
        (
            {"email": "bad", "phone": "bad", "name": "n" * 300, "metadata": {"x": 1}},
            [
                (["input", "name"], "TOO_LONG"),
                (["input", "email"], "INVALID"),
                (["input", "phone"], "INVALID"),
                (["input", "metadata", "x"], "INVALID"),
            ],
        ),
    ],
)
async def test_invalid_create_lists_every_problem_and_writes_nothing(
    gateway: Gateway, fields: dict[str, Any], expected: list[tuple[list[str], str]]
) -> None:
    payload = await create(gateway, **fields)
    assert payload["customer"] is None
    assert payload["customerEdge"] is None
    assert codes(payload) == expected
    assert all(error["message"] for error in payload["userErrors"])
    assert await gateway.stored_customers() == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "n" * 256, "email": "e" * 64 + "@" + "d" * 60 + ".example.com", "phone": "1" * 40},
        {"phone": "+1 (555) 010-0199 ext. 42"},
        {"phone": "555.0100 x7"},
        {"phone": "+44 20 7946 0958ext12"},
        {"email": "émile@exämple.com"},
        {"metadata": {f"k{i}": "v" * 500 for i in range(50)}},
        {"metadata": {"k" * 40: "", "with.dot": '"quoted"'}},
        {"name": "ß" * 256},
    ],
)
async def test_values_at_the_limits_are_accepted(gateway: Gateway, fields: dict[str, Any]) -> None:
    payload = await create(gateway, **fields)
    assert payload["userErrors"] == []
    assert await gateway.stored_customers() == 1


async def test_update_null_clears_and_omitted_keeps(gateway: Gateway) -> None:
    created = (
        await create(gateway, name="Ada", email="ada@example.com", phone="123", metadata={"a": "1"})
    )["customer"]
    payload = await update(
        gateway, id=created["id"], email=None, metadata=None, clientMutationId="u1"
    )
    assert payload["userErrors"] == []
    assert payload["clientMutationId"] == "u1"
    customer = payload["customer"]
    assert customer["name"] == "Ada"
    assert customer["phone"] == "123"
    assert customer["email"] is None
    assert customer["metadata"] == {}
    assert customer["createdAt"] == created["createdAt"]
    assert customer["updatedAt"] > created["updatedAt"]


async def test_update_replaces_metadata_and_trims(gateway: Gateway) -> None:
    created = (await create(gateway, metadata={"a": "1", "b": "2"}))["customer"]
    customer = (await update(gateway, id=created["id"], metadata={"c": "3"}, name="  Bo "))[
        "customer"
    ]
    assert customer["metadata"] == {"c": "3"}
    assert customer["name"] == "Bo"


async def test_update_moves_updated_at_forward_even_without_changes(gateway: Gateway) -> None:
    created = (await create(gateway, name="Same"))["customer"]
    previous = created["updatedAt"]
    for _ in range(5):
        customer = (await update(gateway, id=created["id"]))["customer"]
        assert customer["updatedAt"] > previous
        previous = customer["updatedAt"]
    stored = await gateway.data(
        "query($id: ID!) { customer(id: $id) { updatedAt } }", {"id": created["id"]}
    )
    assert stored["customer"]["updatedAt"] == previous


async def test_invalid_update_changes_nothing(gateway: Gateway) -> None:
    created = (await create(gateway, name="Keep", email="keep@example.com"))["customer"]
    payload = await update(gateway, id=created["id"], name="New", email="broken", phone="x")
    assert payload["customer"] is None
    assert codes(payload) == [(["input", "email"], "INVALID"), (["input", "phone"], "INVALID")]
    stored = await gateway.data(
        "query($id: ID!) { customer(id: $id) { name email updatedAt } }", {"id": created["id"]}
    )
    assert stored["customer"] == {
        "name": "Keep",
        "email": "keep@example.com",
        "updatedAt": created["updatedAt"],
    }


async def test_update_unknown_id_is_not_found_with_other_problems(gateway: Gateway) -> None:
    payload = await update(gateway, id="cus_0000000000000000000000", name="x")
    assert codes(payload) == [(["input", "id"], "NOT_FOUND")]
    payload = await update(gateway, id="garbage", email="bad")
    assert codes(payload) == [(["input", "id"], "NOT_FOUND"), (["input", "email"], "INVALID")]


async def test_delete_returns_the_customer_then_it_is_gone(gateway: Gateway) -> None:
    created = (await create(gateway, name="Gone"))["customer"]
    deleted = (
        await gateway.data(DELETE, {"input": {"id": created["id"], "clientMutationId": "d"}})
    )["deleteCustomer"]
    assert deleted == {
        "customer": {"id": created["id"], "name": "Gone"},
        "deletedCustomerId": created["id"],
        "userErrors": [],
        "clientMutationId": "d",
    }
    data = await gateway.data(
        """query($id: ID!) {
             customer(id: $id) { id } node(id: $id) { id } nodes(ids: [$id]) { id }
             customers { totalCount }
           }""",
        {"id": created["id"]},
    )
    assert data == {"customer": None, "node": None, "nodes": [None], "customers": {"totalCount": 0}}
    again = (await gateway.data(DELETE, {"input": {"id": created["id"]}}))["deleteCustomer"]
    assert codes(again) == [(["input", "id"], "NOT_FOUND")]
    assert again["deletedCustomerId"] is None
    updated = await update(gateway, id=created["id"], name="Back")
    assert codes(updated) == [(["input", "id"], "NOT_FOUND")]


async def test_client_mutation_id_is_echoed_unchanged(gateway: Gateway) -> None:
    odd = "  spaces & ünïcode \u2603  "
    assert (await create(gateway, clientMutationId=odd))["clientMutationId"] == odd
    invalid = await create(gateway, email="bad", clientMutationId=odd)
    assert invalid["clientMutationId"] == odd
    assert (await create(gateway))["clientMutationId"] is None


async def test_epoch_millis_fields_are_json_integers(gateway: Gateway) -> None:
    customer = (await create(gateway))["customer"]
    assert isinstance(customer["createdAt"], int)
    assert not isinstance(customer["createdAt"], bool)
