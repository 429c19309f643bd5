"""Every argument rule is checked before the field's first SQL statement: a refused
request costs the database nothing (the key lookup aside, which a cached key skips)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.customers.ordering import DEFAULT_ORDER, Position
from tests.gateway import Gateway
from tests.statements import recorded_statements

PAGE = "{{ customers({arguments}) {{ nodes {{ id }} }} }}"
WITH_CURSOR = "query($a: String) {{ customers({arguments}) {{ nodes {{ id }} }} }}"
FILTERED = "query($f: CustomerFilter) { customers(filter: $f) { nodes { id } } }"
MANY_PREFIXES = {"and": [{"name": {"startsWith": f"p{i}"}} for i in range(300)]}
_deep = "{name: {isNull: false}}"
for _ in range(11):
    _deep = f"{{not: {_deep}}}"


def _default_order_cursor(gateway: Gateway) -> str:
    return gateway.cursors.encode(DEFAULT_ORDER, Position(value=1, id="cus_" + "0" * 22))


# A variable's value may be a function of the gateway under test (its cursor key).
REFUSED: dict[str, tuple[str, dict[str, Any]]] = {
    "300 startsWith conditions": (FILTERED, {"f": MANY_PREFIXES}),
    "a filter nested too deep": (PAGE.format(arguments=f"filter: {_deep}"), {}),
    "a null inside a filter": (PAGE.format(arguments="filter: {name: {eq: null}}"), {}),
    "first beyond the limit": (PAGE.format(arguments="first: 1001"), {}),
    "first and last": (PAGE.format(arguments="first: 2, last: 2"), {}),
    "a malformed cursor": (WITH_CURSOR.format(arguments="after: $a"), {"a": "not a cursor"}),
    "a cursor of another order": (
        WITH_CURSOR.format(arguments="after: $a, orderBy: {field: NAME, direction: ASC}"),
        {"a": _default_order_cursor},
    ),
    "too many ids": (
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        {"ids": ["cus_" + "1" * 22] * 1001},
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_a_refused_argument_runs_no_statement(gateway: Gateway, case: str) -> None:
    query, given = REFUSED[case]
    variables = {
        name: value(gateway) if callable(value) else value for name, value in given.items()
    }
    await gateway.data("{ customers(first: 1) { nodes { id } } }")  # the key is now cached
    with recorded_statements(gateway.store) as seen:
        status, body = await gateway.post(query, variables)
    assert status == 200
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    assert seen == [], json.dumps(body)


async def test_the_counter_sees_an_accepted_request(gateway: Gateway) -> None:
    await gateway.data("{ customers(first: 1) { nodes { id } } }")
    with recorded_statements(gateway.store) as seen:
        await gateway.data('{ customers(filter: {name: {startsWith: "p"}}) { nodes { id } } }')
    assert seen
