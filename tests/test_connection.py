"""The customers connection in the default order: Relay pagination over keyset cursors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway import Gateway
from tests.statements import recorded_statements

PAGE = """query($first: Int, $after: String, $last: Int, $before: String) {
  customers(first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id } }
    nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


async def make_customers(gateway: Gateway, count: int) -> list[str]:
    """Ids of new customers, newest first: the default order, createdAt then id, both
    descending (customers made in the same millisecond, as quick creations are, follow
    their ids rather than the order they were made in)."""
    made = [await gateway.create_customer(name=f"C{i}") for i in range(count)]
    made.sort(key=lambda customer: (customer["createdAt"], customer["id"]), reverse=True)
    return [customer["id"] for customer in made]


async def page(gateway: Gateway, **arguments: Any) -> dict[str, Any]:
    connection: dict[str, Any] = (await gateway.data(PAGE, arguments))["customers"]
    assert [e["node"] for e in connection["edges"]] == connection["nodes"]
    return connection


def ids_of(connection: dict[str, Any]) -> list[str]:
    return [node["id"] for node in connection["nodes"]]


async def test_default_is_newest_first_fifty(gateway: Gateway) -> None:
    newest_first = await make_customers(gateway, 53)
    connection = await page(gateway)
    assert ids_of(connection) == newest_first[:50]
    info = connection["pageInfo"]
    assert info["hasNextPage"] is True
    assert info["hasPreviousPage"] is False
    assert info["startCursor"] == connection["edges"][0]["cursor"]
    assert info["endCursor"] == connection["edges"][-1]["cursor"]


async def test_forward_and_backward_walks_are_exact(gateway: Gateway) -> None:
    newest_first = await make_customers(gateway, 7)
    seen: list[str] = []
    after = None
    while True:
        connection = await page(gateway, first=3, after=after)
        seen += ids_of(connection)
        info = connection["pageInfo"]
        assert info["hasPreviousPage"] is (after is not None)
        assert info["hasNextPage"] is (len(seen) < 7)
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert seen == newest_first

    seen = []
    before = None
    while True:
        connection = await page(gateway, last=3, before=before)
        seen = ids_of(connection) + seen
        info = connection["pageInfo"]
        assert info["hasNextPage"] is (before is not None)
        assert info["hasPreviousPage"] is (len(seen) < 7)
        if not info["hasPreviousPage"]:
            break
        before = info["startCursor"]
    assert seen == newest_first


async def test_first_with_before_and_last_with_after_follow_relay(gateway: Gateway) -> None:
    ids = await make_customers(gateway, 6)
    cursors = [e["cursor"] for e in (await page(gateway, first=6))["edges"]]
    between = await page(gateway, first=2, after=cursors[0], before=cursors[4])
    assert ids_of(between) == ids[1:3]
    assert between["pageInfo"]["hasNextPage"] is True
    assert between["pageInfo"]["hasPreviousPage"] is True
    tail = await page(gateway, last=2, after=cursors[0], before=cursors[4])
    assert ids_of(tail) == ids[2:4]
    assert tail["pageInfo"]["hasNextPage"] is True
    assert tail["pageInfo"]["hasPreviousPage"] is True
    empty = await page(gateway, first=2, after=cursors[2], before=cursors[3])
    assert ids_of(empty) == []
    assert empty["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": True,
        "startCursor": None,
        "endCursor": None,
    }


async def test_plain_customer_id_works_as_a_cursor(gateway: Gateway) -> None:
    ids = await make_customers(gateway, 5)
    assert ids_of(await page(gateway, first=2, after=ids[1])) == ids[2:4]
    assert ids_of(await page(gateway, last=2, before=ids[3])) == ids[1:3]


async def test_cursor_survives_deletion_of_its_customer(gateway: Gateway) -> None:
    ids = await make_customers(gateway, 5)
    cursors = [e["cursor"] for e in (await page(gateway, first=5))["edges"]]
    await gateway.data(
        "mutation($id: ID!) { deleteCustomer(input: {id: $id}) { deletedCustomerId } }",
        {"id": ids[2]},
    )
    after_deleted = await page(gateway, first=5, after=cursors[2])
    assert ids_of(after_deleted) == ids[3:]
    assert after_deleted["pageInfo"]["hasPreviousPage"] is True
    before_deleted = await page(gateway, last=5, before=cursors[2])
    assert ids_of(before_deleted) == ids[:2]
    assert before_deleted["pageInfo"]["hasNextPage"] is True


async def test_deleted_customer_id_as_cursor_is_refused(gateway: Gateway) -> None:
    ids = await make_customers(gateway, 2)
    await gateway.data(
        "mutation($id: ID!) { deleteCustomer(input: {id: $id}) { deletedCustomerId } }",
        {"id": ids[0]},
    )
    status, body = await gateway.post(PAGE, {"after": ids[0]})
    assert status == 200
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "after"}


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"first": 0}, "first"),
        ({"first": -1}, "first"),
        ({"first": 1001}, "first"),
        ({"last": 0}, "last"),
        ({"last": 1001}, "last"),
        ({"first": 1, "last": 1}, "first"),
        ({"after": "not a cursor"}, "after"),
        ({"after": "eyJ4IjoxfQ"}, "after"),
        ({"before": "WyJDUkVBVEVEX0FUOkRFU0MiLCJ4IiwiY3VzX3giXQ"}, "before"),
        ({"before": ""}, "before"),
        ({"after": "cus_0000000000000000000000"}, "after"),
    ],
)
async def test_bad_page_arguments_are_bad_user_input(
    gateway: Gateway, arguments: dict[str, Any], argument: str
) -> None:
    await make_customers(gateway, 1)
    status, body = await gateway.post(PAGE, arguments)
    assert status == 200
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}
    assert error["path"] == ["customers"]
    assert argument in error["message"]


async def test_page_bounds_one_and_a_thousand_are_accepted(gateway: Gateway) -> None:
    ids = await make_customers(gateway, 3)
    assert ids_of(await page(gateway, first=1)) == ids[:1]
    assert ids_of(await page(gateway, first=1000)) == ids
    assert ids_of(await page(gateway, last=1000)) == ids


async def test_null_arguments_mean_not_given(gateway: Gateway) -> None:
    ids = await make_customers(gateway, 2)
    data = await gateway.data(
        "{ customers(first: null, after: null, last: null, before: null, filter: null, "
        "orderBy: null) { nodes { id } } }"
    )
    assert ids_of(data["customers"]) == ids


async def test_total_count_ignores_pagination_and_is_computed_only_when_asked(
    gateway: Gateway,
) -> None:
    await make_customers(gateway, 4)
    with recorded_statements(gateway.store) as statements:
        data = await gateway.data("{ customers(first: 1) { totalCount nodes { id } } }")
    assert data["customers"]["totalCount"] == 4
    assert any("count(" in s.lower() for s in statements)
    with recorded_statements(gateway.store) as statements:
        await gateway.data("{ customers(first: 1) { nodes { id } } }")
    assert not any("count(" in s.lower() for s in statements)
