"""`orderBy` and cursors: every order against the model, cursor rules, ids as cursors."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests import reference_model
from tests.customer_rows import customer_row, insert_customers
from tests.gateway import Gateway

ORDERS = [
    {"field": field, "direction": direction}
    for field in ("CREATED_AT", "NAME", "EMAIL")
    for direction in ("ASC", "DESC")
]
PAGE = """query($first: Int, $after: String, $last: Int, $before: String,
               $orderBy: CustomerOrder, $filter: CustomerFilter) {
  customers(first: $first, after: $after, last: $last, before: $before,
            orderBy: $orderBy, filter: $filter) {
    edges { cursor node { id name email } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""
BASE = 1_700_000_000_000
NAMES = ["Émile", "émile", "Ölaf", "ß", "SS", "ss", "zoe", "Zoe", "adam", None, "Ölaf", None]
EMAILS = ["b@x.io", None, "B@X.IO", "é@x.io", "a%b@x.io", "a_b@x.io", None, "z@x.io"]


@pytest.fixture
async def crowd(gateway: Gateway) -> list[dict[str, Any]]:
    rows = [
        customer_row(BASE + i // 3, name=NAMES[i % len(NAMES)], email=EMAILS[i % len(EMAILS)])
        for i in range(24)
    ]
    await insert_customers(gateway, rows)
    return rows


async def page(gateway: Gateway, **arguments: Any) -> dict[str, Any]:
    connection: dict[str, Any] = (await gateway.data(PAGE, arguments))["customers"]
    return connection


def ids(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


def model_ids(rows: list[dict[str, Any]], order: dict[str, str] | None) -> list[str]:
    return [row["id"] for row in reference_model.ordered(rows, order)]


async def refusal(gateway: Gateway, argument: str, **arguments: Any) -> str:
    status, body = await gateway.post(PAGE, arguments)
    assert status == 200, body
    assert body["data"] is None, body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}, error
    assert error["path"] == ["customers"]
    message: str = error["message"]
    return message


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: f"{o['field']}_{o['direction']}")
async def test_every_order_matches_the_model(
    gateway: Gateway, crowd: list[Any], order: dict[str, str]
) -> None:
    assert ids(await page(gateway, first=1000, orderBy=order)) == model_ids(crowd, order)


async def test_name_order_is_casefolded_code_point_order_with_nulls_last(
    gateway: Gateway, crowd: list[Any]
) -> None:
    ascending = await page(gateway, first=1000, orderBy={"field": "NAME", "direction": "ASC"})
    names = [edge["node"]["name"] for edge in ascending["edges"]]
    folded = [name.casefold() for name in names if name is not None]
    assert folded == sorted(folded)
    assert folded.index("zoe") < folded.index("émile")  # code points, not a locale
    assert folded.count("ss") == 6  # ß, SS and ss (twice each) tie, then go by id
    assert names[-4:] == [None] * 4
    descending = await page(gateway, first=1000, orderBy={"field": "NAME", "direction": "DESC"})
    assert [edge["node"]["name"] for edge in descending["edges"]][-4:] == [None] * 4


async def test_default_order_is_created_at_desc_with_shared_cursors(
    gateway: Gateway, crowd: list[Any]
) -> None:
    explicit = {"field": "CREATED_AT", "direction": "DESC"}
    default_page = await page(gateway, first=5)
    assert ids(default_page) == model_ids(crowd, None)[:5]
    explicit_page = await page(gateway, first=5, orderBy=explicit)
    assert explicit_page["edges"] == default_page["edges"]
    cursor = default_page["pageInfo"]["endCursor"]
    assert ids(await page(gateway, first=5, after=cursor, orderBy=explicit)) == ids(
        await page(gateway, first=5, after=cursor)
    )


async def test_a_cursor_is_refused_by_every_other_order(gateway: Gateway, crowd: list[Any]) -> None:
    for made_for in ORDERS:
        cursor = (await page(gateway, first=2, orderBy=made_for))["pageInfo"]["endCursor"]
        for used_with in ORDERS:
            if used_with == made_for:
                continue
            for argument in ("after", "before"):
                message = await refusal(
                    gateway, argument, first=2, orderBy=used_with, **{argument: cursor}
                )
                assert message == (
                    f"{argument} was made for another orderBy ({tag(made_for)}), "
                    f"not {tag(used_with)}."
                )


def tag(order: dict[str, str]) -> str:
    return f"{order['field']}:{order['direction']}"


def forged(gateway: Gateway, *payload: Any) -> str:
    """A cursor of any JSON payload, sealed with the gateway's own key."""
    return gateway.cursors.seal(json.dumps(list(payload)).encode())


async def test_malformed_cursors_are_refused(gateway: Gateway, crowd: list[Any]) -> None:
    some_id = crowd[0]["id"]
    by_name = {"field": "NAME", "direction": "ASC"}
    for order, cursor in [
        (None, ""),
        (None, "garbage"),
        (None, "!!!"),
        (None, base64.urlsafe_b64encode(b"not json").decode()),
        (None, gateway.cursors.seal(b"not json")),
        (None, forged(gateway, "CREATED_AT:DESC", "1", some_id)),
        (None, forged(gateway, "CREATED_AT:DESC", True, some_id)),
        (None, forged(gateway, "CREATED_AT:DESC", 10**30, some_id)),
        (None, forged(gateway, "CREATED_AT:DESC", BASE, "cus_short")),
        (None, forged(gateway, "CREATED_AT:DESC", BASE)),
        (None, "cus_" + "0" * 22),
        (None, "x" * 5000),
        (by_name, forged(gateway, "NAME:ASC", 5, some_id)),
        (by_name, forged(gateway, "NAME:ASC", "a\x00", some_id)),
    ]:
        await refusal(gateway, "after", first=2, after=cursor, orderBy=order)
        await refusal(gateway, "before", last=2, before=cursor, orderBy=order)


async def test_a_forged_but_well_formed_cursor_is_a_position(
    gateway: Gateway, crowd: list[Any]
) -> None:
    order = {"field": "NAME", "direction": "ASC"}
    cursor = forged(gateway, "NAME:ASC", "p", "cus_" + "0" * 22)
    expected = [
        row["id"]
        for row in reference_model.ordered(crowd, order)
        if row["name"] is None or row["name"].casefold() > "p"
    ]
    assert ids(await page(gateway, first=1000, after=cursor, orderBy=order)) == expected


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: f"{o['field']}_{o['direction']}")
async def test_a_plain_customer_id_is_a_cursor_in_every_order(
    gateway: Gateway, crowd: list[Any], order: dict[str, str]
) -> None:
    condition = {"name": {"startsWith": "s"}}
    for row in crowd[::5]:  # matching the filter or not
        for arguments in (
            {"first": 3, "after": row["id"]},
            {"last": 3, "before": row["id"]},
            {"first": 30, "after": row["id"]},
        ):
            got = await page(gateway, orderBy=order, filter=condition, **arguments)
            model = reference_model.page(crowd, condition=condition, order=order, **arguments)
            assert ids(got) == model.ids, (row, arguments)
            info = got["pageInfo"]
            assert info["hasNextPage"] == model.has_next_page, arguments
            assert info["hasPreviousPage"] == model.has_previous_page, arguments


async def test_an_id_cursor_must_name_a_visible_customer(
    gateway: Gateway, crowd: list[Any]
) -> None:
    other_key = await gateway.mint_key("globex")
    foreign = await gateway.create_customer(key=other_key, name="Foreign")
    deleted = await gateway.create_customer(name="Gone")
    await gateway.data(
        "mutation($id: ID!) { deleteCustomer(input: {id: $id}) { deletedCustomerId } }",
        {"id": deleted["id"]},
    )
    unknown = "cus_" + "Z" * 22
    messages = {
        await refusal(gateway, "after", first=2, after=customer_id)
        for customer_id in (foreign["id"], deleted["id"], unknown)
    }
    assert len(messages) == 1


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: f"{o['field']}_{o['direction']}")
async def test_a_cursor_outlives_its_customer(
    gateway: Gateway, crowd: list[Any], order: dict[str, str]
) -> None:
    first_page = await page(gateway, first=4, orderBy=order)
    last_edge = first_page["edges"][-1]
    await gateway.data(
        "mutation($id: ID!) { deleteCustomer(input: {id: $id}) { deletedCustomerId } }",
        {"id": last_edge["node"]["id"]},
    )
    rest = await page(gateway, first=1000, after=last_edge["cursor"], orderBy=order)
    assert ids(rest) == model_ids(crowd, order)[4:]
    before = await page(gateway, last=1000, before=last_edge["cursor"], orderBy=order)
    assert ids(before) == model_ids(crowd, order)[:3]
    assert before["pageInfo"]["hasNextPage"] is True


async def test_page_size_rules(gateway: Gateway, crowd: list[Any]) -> None:
    assert "not both" in await refusal(gateway, "first", first=1, last=1)
    for argument in ("first", "last"):
        for size in (0, -1, 1001):
            await refusal(gateway, argument, **{argument: size})
    assert len(ids(await page(gateway, first=1000))) == len(crowd)
    assert len(ids(await page(gateway, last=1000))) == len(crowd)
