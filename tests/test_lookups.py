"""customer, node and nodes: the customer or null, one entry per id, one query for nodes."""

from __future__ import annotations

from tests.gateway import Gateway
from tests.statements import recorded_statements


async def test_customer_and_node_return_all_fields(gateway: Gateway) -> None:
    created = await gateway.create_customer(
        name="Grace", email="grace@example.com", phone="+1 555 0100", metadata={"tier": "gold"}
    )
    data = await gateway.data(
        """query($id: ID!) {
             customer(id: $id) { id object live createdAt updatedAt name email phone metadata }
             node(id: $id) { __typename id ... on Customer { name } }
           }""",
        {"id": created["id"]},
    )
    assert data["customer"] == created
    assert data["node"] == {"__typename": "Customer", "id": created["id"], "name": "Grace"}
    assert created["object"] == "customer"
    assert created["createdAt"] == created["updatedAt"]
    assert created["createdAt"] > 2**32  # milliseconds, beyond 32 bits


async def test_malformed_and_unknown_ids_are_null(gateway: Gateway) -> None:
    for customer_id in ["", "nope", "cus_", "cus_0000000000000000000000", "cus_" + "x" * 200]:
        data = await gateway.data(
            "query($id: ID!) { customer(id: $id) { id } node(id: $id) { id } }",
            {"id": customer_id},
        )
        assert data == {"customer": None, "node": None}


async def test_nodes_keeps_order_and_duplicates_with_null_for_missing(gateway: Gateway) -> None:
    first = await gateway.create_customer(name="First")
    second = await gateway.create_customer(name="Second")
    ids = [second["id"], "cus_0000000000000000000000", first["id"], "junk", second["id"]]
    data = await gateway.data(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Customer { name } } }", {"ids": ids}
    )
    assert data["nodes"] == [
        {"id": second["id"], "name": "Second"},
        None,
        {"id": first["id"], "name": "First"},
        None,
        {"id": second["id"], "name": "Second"},
    ]


async def test_nodes_reads_the_whole_list_in_one_query(gateway: Gateway) -> None:
    ids = [(await gateway.create_customer(name=f"N{i}"))["id"] for i in range(5)]
    with recorded_statements(gateway.store) as statements:
        data = await gateway.data(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids + ids}
        )
    assert [node["id"] for node in data["nodes"]] == ids + ids
    customer_reads = [s for s in statements if "FROM customers" in s]
    assert len(customer_reads) == 1


async def test_nodes_accepts_1000_ids_and_refuses_1001(gateway: Gateway) -> None:
    ids = [f"cus_{i:022d}" for i in range(1000)]
    data = await gateway.data("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids})
    assert data["nodes"] == [None] * 1000
    status, body = await gateway.post(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [*ids, "cus_x"]}
    )
    assert status == 200
    assert body["data"] is None
    error = body["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "ids"}
    assert error["path"] == ["nodes"]
