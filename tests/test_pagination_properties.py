"""Property tests: random customers, filters and orders; every walk equals the model.

One gateway (one database) serves all examples of a test; each example replaces the
customers. Customers are written straight into the database so that createdAt ties,
unicode, nulls and LIKE characters occur often.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests import reference_model
from tests.customer_rows import customer_row, delete_all_customers, insert_customers
from tests.gateway import Gateway

BASE = 1_700_000_000_000
ORDERS: list[dict[str, str] | None] = [
    None,
    *(
        {"field": field, "direction": direction}
        for field in ("CREATED_AT", "NAME", "EMAIL")
        for direction in ("ASC", "DESC")
    ),
]
PAGE = """query($first: Int, $after: String, $last: Int, $before: String,
               $orderBy: CustomerOrder, $filter: CustomerFilter) {
  customers(first: $first, after: $after, last: $last, before: $before,
            orderBy: $orderBy, filter: $filter) {
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
  }
}"""

WORDS = ["Émile", "émile", "EMILE", "Ölaf", "ß", "SS", "ss", "zoe", "Zoe", "a%b", "a_b", "A\\B"]
EMAILS = ["a%b@x.io", "a_b@x.io", "A%B@X.IO", "axb@x.io", "é@x.io", "É@X.IO", "zed@x.io"]
PHONES = ["+1 555 0100", "555-0100", "+44 (20) 7946 x12", "5550100 EXT 9"]
META_KEYS = ["tier", "a.b", 'q"k', "é"]
META_VALUES = ["gold", "Gold", "silver", ""]

safe_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=5
)


def optional_text(pool: list[str]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.sampled_from(pool), safe_text)


@st.composite
def customers(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for _ in range(draw(st.integers(0, 18))):
        row = customer_row(
            BASE + draw(st.integers(0, 4)),
            name=draw(optional_text(WORDS)),
            email=draw(optional_text(EMAILS)),
            phone=draw(optional_text(PHONES)),
            metadata=draw(
                st.dictionaries(
                    st.sampled_from(META_KEYS), st.sampled_from(META_VALUES), max_size=3
                )
            ),
        )
        row["updatedAt"] += draw(st.integers(0, 3))
        rows.append(row)
    return rows


def leaves(ids: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """One condition, or a rarer empty-list edge case."""
    operand = st.one_of(st.sampled_from(WORDS + EMAILS + PHONES), safe_text)
    fragment = st.one_of(
        st.sampled_from(["s", "e", "%", "_", "\\", "É", "ss", "@X", "55", "0", ""]), safe_text
    )
    operands = {
        "eq": operand,
        "neq": operand,
        "in": st.lists(operand, min_size=1, max_size=4),
        "notIn": st.lists(operand, min_size=1, max_size=4),
        "contains": fragment,
        "startsWith": fragment,
        "endsWith": fragment,
        "isNull": st.booleans(),
    }
    string_leaf = st.builds(
        lambda field, op_value: {field: dict([op_value])},
        st.sampled_from(["name", "email", "phone"]),
        st.sampled_from(sorted(operands)).flatmap(
            lambda op: operands[op].map(lambda value: (op, value))
        ),
    )
    id_value = st.sampled_from(ids) if ids else st.just("cus_" + "0" * 22)
    id_leaf = st.one_of(
        id_value.map(lambda value: {"id": {"eq": value}}),
        id_value.map(lambda value: {"id": {"neq": value}}),
        st.lists(id_value, max_size=4).map(lambda values: {"id": {"in": values}}),
        st.lists(id_value, max_size=4).map(lambda values: {"id": {"notIn": values}}),
    )
    millis_leaf = st.builds(
        lambda field, op, value: {field: {op: value}},
        st.sampled_from(["createdAt", "updatedAt"]),
        st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte"]),
        st.integers(BASE - 1, BASE + 6),
    )
    value = st.sampled_from(META_VALUES)
    metadata_op: st.SearchStrategy[dict[str, Any]] = st.one_of(
        value.map(lambda v: {"eq": v}),
        value.map(lambda v: {"neq": v}),
        st.lists(value, max_size=3).map(lambda values: {"in": values}),
        st.booleans().map(lambda flag: {"exists": flag}),
        st.just({}),
    )
    metadata_leaf = st.builds(
        lambda key, op: {"metadata": [{"key": key, **op}]}, st.sampled_from(META_KEYS), metadata_op
    )
    edge_cases = st.sampled_from([{}, {"and": []}, {"or": []}, {"metadata": []}, {"name": {}}])
    return st.one_of(
        string_leaf,
        id_leaf,
        millis_leaf,
        metadata_leaf,
        edge_cases,
    )


def merged(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Several conditions in one object (ANDed), or an explicit `and` when keys collide."""
    combined: dict[str, Any] = {}
    for part in parts:
        if combined.keys() & part.keys():
            return {"and": parts}
        combined.update(part)
    return combined


def filters(ids: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(
        leaves(ids),
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda parts: {"and": parts}),
            st.lists(inner, min_size=1, max_size=3).map(lambda parts: {"or": parts}),
            inner.map(lambda part: {"not": part}),
            st.lists(inner, min_size=2, max_size=3).map(merged),
        ),
        max_leaves=6,
    )


def depth(condition: dict[str, Any]) -> int:
    children = [*condition.get("and", []), *condition.get("or", [])]
    if "not" in condition:
        children.append(condition["not"])
    return 1 + max((depth(child) for child in children), default=0)


async def fetch(gateway: Gateway, **arguments: Any) -> dict[str, Any]:
    connection: dict[str, Any] = (await gateway.data(PAGE, arguments))["customers"]
    return connection


def check_page(got: dict[str, Any], model: reference_model.ModelPage, context: Any) -> None:
    edges = got["edges"]
    assert [edge["node"]["id"] for edge in edges] == model.ids, context
    info = got["pageInfo"]
    assert info["hasNextPage"] is model.has_next_page, context
    assert info["hasPreviousPage"] is model.has_previous_page, context
    assert info["startCursor"] == (edges[0]["cursor"] if edges else None)
    assert info["endCursor"] == (edges[-1]["cursor"] if edges else None)


async def walk(
    gateway: Gateway,
    rows: list[dict[str, Any]],
    *,
    condition: dict[str, Any],
    order: dict[str, str] | None,
    size: int,
    backward: bool,
) -> list[str]:
    """Walk the whole list, checking every page against the model; returns the ids seen."""
    seen: list[str] = []
    cursor, cursor_id = None, None
    for _ in range(len(rows) + 2):
        if backward:
            arguments = {"last": size, "before": cursor}
            model = reference_model.page(
                rows, condition=condition, order=order, last=size, before=cursor_id
            )
        else:
            arguments = {"first": size, "after": cursor}
            model = reference_model.page(
                rows, condition=condition, order=order, first=size, after=cursor_id
            )
        got = await fetch(gateway, orderBy=order, filter=condition, **arguments)
        context = (condition, order, arguments)
        check_page(got, model, context)
        ids = [edge["node"]["id"] for edge in got["edges"]]
        seen = ids + seen if backward else seen + ids
        more = got["pageInfo"]["hasPreviousPage" if backward else "hasNextPage"]
        if not more:
            return seen
        edge = got["edges"][0 if backward else -1]
        cursor, cursor_id = edge["cursor"], edge["node"]["id"]
    raise AssertionError(f"the walk did not end: {context}")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_walks_equal_the_model(gateway: Gateway, data: st.DataObject) -> None:
    rows = data.draw(customers(), label="customers")
    ids = [row["id"] for row in rows]
    condition = data.draw(filters(ids), label="filter")
    assume(depth(condition) <= 10)
    order = data.draw(st.sampled_from(ORDERS), label="orderBy")
    size = data.draw(st.integers(1, 5), label="page size")
    await delete_all_customers(gateway)
    await insert_customers(gateway, rows)

    expected = [
        row["id"]
        for row in reference_model.ordered(rows, order)
        if reference_model.matches(condition, row)
    ]
    for backward in (False, True):
        seen = await walk(
            gateway, rows, condition=condition, order=order, size=size, backward=backward
        )
        assert seen == expected, (condition, order, backward)
    first_page = await fetch(gateway, first=size, orderBy=order, filter=condition)
    assert first_page["totalCount"] == len(expected)

    # Relay's cut-then-take with both cursors given, as plain ids (crossed ones included).
    cut = st.one_of(st.none(), st.sampled_from(ids)) if ids else st.none()
    after, before = data.draw(cut, label="after"), data.draw(cut, label="before")
    take = data.draw(st.sampled_from(["first", "last"]), label="take")
    arguments = {take: size, "after": after, "before": before}
    got = await fetch(gateway, orderBy=order, filter=condition, **arguments)
    model = reference_model.page(rows, condition=condition, order=order, **arguments)
    check_page(got, model, (condition, order, arguments))


@pytest.mark.parametrize("order", ORDERS[1:], ids=lambda o: f"{o['field']}_{o['direction']}")
@pytest.mark.parametrize("backward", [False, True], ids=["forward", "backward"])
async def test_a_walk_sees_every_survivor_once_while_others_change(
    gateway: Gateway, order: dict[str, str], backward: bool
) -> None:
    """Between pages one customer is deleted and one created: the customers that exist
    throughout are seen exactly once each, and everything seen is in order."""
    picker = random.Random(7)
    pool = ["Ana", "bo", "Émile", "ß", "zoe", None]
    rows = [
        customer_row(BASE + i // 2, name=picker.choice(pool), email=picker.choice(pool))
        for i in range(20)
    ]
    await insert_customers(gateway, rows)
    universe = {row["id"]: row for row in rows}
    alive = set(universe)  # the original customers not deleted so far
    seen: list[str] = []
    cursor = None
    while True:
        arguments = {"last": 3, "before": cursor} if backward else {"first": 3, "after": cursor}
        got = await fetch(gateway, orderBy=order, **arguments)
        ids = [edge["node"]["id"] for edge in got["edges"]]
        seen = ids + seen if backward else seen + ids
        victim = picker.choice(sorted(alive))
        await gateway.data(
            "mutation($id: ID!) { deleteCustomer(input: {id: $id}) { deletedCustomerId } }",
            {"id": victim},
        )
        alive.discard(victim)
        created = await gateway.create_customer(name=picker.choice(pool))
        universe[created["id"]] = created
        if not got["pageInfo"]["hasPreviousPage" if backward else "hasNextPage"]:
            break
        cursor = got["edges"][0 if backward else -1]["cursor"]
    assert len(seen) == len(set(seen)), "a customer was seen twice"
    assert alive <= set(seen), "a customer that existed throughout was missed"
    in_order = [c["id"] for c in reference_model.ordered(list(universe.values()), order)]
    assert seen == [row_id for row_id in in_order if row_id in set(seen)]
