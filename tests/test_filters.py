"""The `filter` argument of `customers`: every operator and edge rule, against the model."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.dialects import sqlite

from app.customers.filters import FilterTree, TextOperators, compile_filter
from tests import reference_model
from tests.customer_rows import customer_row, insert_customers
from tests.gateway import Gateway

LIST = """query($filter: CustomerFilter, $orderBy: CustomerOrder) {
  customers(first: 1000, filter: $filter, orderBy: $orderBy) { nodes { id name } totalCount }
}"""

BASE = 1_700_000_000_000
PEOPLE: list[dict[str, Any]] = [
    {
        "name": "Émile Zola",
        "email": "emile@example.com",
        "phone": "+33 1 23",
        "metadata": {"tier": "gold", "a.b": "x"},
    },
    {"name": "émile", "email": "EMILE@Example.com", "metadata": {"tier": "silver"}},
    {
        "name": "Straße",
        "email": "strasse@example.de",
        "phone": "+49 (30) 123 x7",
        "metadata": {'quote"key': "1"},
    },
    {"name": "STRASSE", "phone": "555-0100"},
    {"name": "100% real_deal", "email": "a%b_c@example.com", "metadata": {"tier": ""}},
    {"name": "100 percent realXdeal", "email": "axb.c@example.com", "phone": "5550100"},
    {"name": "back\\slash", "metadata": {"a.b": "y"}},
    {"name": "backslash", "email": "back@example.com"},
    {},
    {
        "name": "Ölaf",
        "email": "olaf@example.com",
        "phone": "+1 555 0100",
        "metadata": {"tier": "gold"},
    },
    {"name": "zoe", "email": "zoe@example.com", "phone": "+1 (555) 0101 EXT 9"},
]


@pytest.fixture
async def people(gateway: Gateway) -> list[dict[str, Any]]:
    # Pairs share a createdAt, so ties are broken by id.
    rows = [customer_row(BASE + i // 2, **fields) for i, fields in enumerate(PEOPLE)]
    rows[3]["updatedAt"] = BASE + 500
    await insert_customers(gateway, rows)
    return rows


async def listed(gateway: Gateway, condition: Any, order: Any = None) -> dict[str, Any]:
    connection: dict[str, Any] = (
        await gateway.data(LIST, {"filter": condition, "orderBy": order})
    )["customers"]
    assert connection["totalCount"] == len(connection["nodes"])
    return connection


async def names(gateway: Gateway, condition: Any) -> list[str | None]:
    """The names of the matches, sorted in Python (null last) to compare as a set."""
    found = [node["name"] for node in (await listed(gateway, condition))["nodes"]]
    return sorted(found, key=lambda name: (name is None, name or ""))


def operator_filters(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    some_id, other_id = rows[0]["id"], rows[5]["id"]
    return [
        {},
        {"id": {"eq": some_id}},
        {"id": {"neq": some_id}},
        {"id": {"in": [some_id, other_id, "cus_missing"]}},
        {"id": {"notIn": [some_id, other_id]}},
        {"id": {"in": []}},
        {"id": {"notIn": []}},
        {"name": {"eq": "émile"}},
        {"name": {"eq": "EMILE"}},
        {"name": {"neq": "émile"}},
        {"name": {"in": ["zoe", "Straße", "nobody"]}},
        {"name": {"notIn": ["zoe", "Straße"]}},
        {"name": {"in": []}},
        {"name": {"notIn": []}},
        {"name": {"contains": "MIL"}},
        {"name": {"contains": ""}},
        {"name": {"startsWith": "ÉMI"}},
        {"name": {"startsWith": "strass"}},
        {"name": {"startsWith": ""}},
        {"name": {"endsWith": "SSE"}},
        {"name": {"isNull": True}},
        {"name": {"isNull": False}},
        {"name": {"contains": "e", "neq": "zoe", "startsWith": "é"}},
        {"email": {"eq": "emile@example.com"}},
        {"email": {"neq": "emile@example.com"}},
        {"email": {"contains": "EXAMPLE.COM"}},
        {"email": {"endsWith": ".DE"}},
        {"email": {"notIn": ["zoe@example.com"]}},
        {"email": {"isNull": True}},
        {"phone": {"contains": "ext"}},
        {"phone": {"startsWith": "+1"}},
        {"phone": {"endsWith": "X7"}},
        {"phone": {"eq": "555-0100"}},
        {"phone": {"neq": "555-0100"}},
        {"createdAt": {"eq": BASE + 2}},
        {"createdAt": {"neq": BASE + 2}},
        {"createdAt": {"gt": BASE + 2}},
        {"createdAt": {"gte": BASE + 2}},
        {"createdAt": {"lt": BASE + 2}},
        {"createdAt": {"lte": BASE + 2}},
        {"createdAt": {"gt": BASE, "lt": BASE + 4}},
        {"updatedAt": {"gte": BASE + 500}},
        {"metadata": [{"key": "tier"}]},
        {"metadata": [{"key": "tier", "eq": "gold"}]},
        {"metadata": [{"key": "tier", "eq": ""}]},
        {"metadata": [{"key": "tier", "neq": "gold"}]},
        {"metadata": [{"key": "tier", "in": ["gold", "silver"]}]},
        {"metadata": [{"key": "tier", "in": []}]},
        {"metadata": [{"key": "tier", "exists": True}]},
        {"metadata": [{"key": "tier", "exists": False}]},
        {"metadata": [{"key": "a.b", "eq": "x"}]},
        {"metadata": [{"key": 'quote"key', "exists": True}]},
        {"metadata": [{"key": "tier", "exists": True}, {"key": "tier", "neq": "gold"}]},
        {"metadata": []},
        {"and": []},
        {"or": []},
        {"not": {}},
        {"not": {"or": []}},
        {"not": {"name": {"eq": "zoe"}}},
        {"not": {"email": {"contains": "example"}}},
        {"not": {"metadata": [{"key": "tier", "eq": "gold"}]}},
        {"or": [{"name": {"isNull": True}}, {"email": {"endsWith": ".de"}}]},
        {"and": [{"name": {"contains": "e"}}, {"not": {"phone": {"isNull": True}}}]},
        {"or": [{"and": [{"not": {"name": {"startsWith": "s"}}}]}, {"id": {"eq": some_id}}]},
    ]


async def test_each_operator_matches_the_model(gateway: Gateway, people: list[Any]) -> None:
    for condition in operator_filters(people):
        connection = await listed(gateway, condition)
        expected = [
            c["id"]
            for c in reference_model.ordered(people)
            if reference_model.matches(condition, c)
        ]
        assert [node["id"] for node in connection["nodes"]] == expected, condition


async def test_empty_lists_and_objects(gateway: Gateway, people: list[Any]) -> None:
    everyone = len(people)
    for condition, count in [
        ({"and": []}, everyone),
        ({}, everyone),
        ({"name": {}}, everyone),
        ({"metadata": [{"key": "tier"}]}, everyone),
        ({"or": []}, 0),
        ({"name": {"in": []}}, 0),
        ({"name": {"notIn": []}}, everyone),
        ({"id": {"in": []}}, 0),
    ]:
        assert (await listed(gateway, condition))["totalCount"] == count, condition


async def test_neq_and_not_in_match_nulls(gateway: Gateway, people: list[Any]) -> None:
    assert None in await names(gateway, {"name": {"neq": "zoe"}})
    assert None in await names(gateway, {"name": {"notIn": ["zoe"]}})
    assert None not in await names(gateway, {"name": {"contains": ""}})
    assert None in await names(gateway, {"not": {"name": {"contains": ""}}})


async def test_like_characters_match_literally(gateway: Gateway, people: list[Any]) -> None:
    assert await names(gateway, {"name": {"contains": "%"}}) == ["100% real_deal"]
    assert await names(gateway, {"name": {"contains": "_"}}) == ["100% real_deal"]
    assert await names(gateway, {"name": {"contains": "0% r"}}) == ["100% real_deal"]
    assert await names(gateway, {"name": {"startsWith": "100%"}}) == ["100% real_deal"]
    assert await names(gateway, {"name": {"endsWith": "l_deal"}}) == ["100% real_deal"]
    assert await names(gateway, {"name": {"contains": "\\"}}) == ["back\\slash"]
    assert await names(gateway, {"name": {"contains": "K\\S"}}) == ["back\\slash"]
    assert await names(gateway, {"email": {"contains": "a%b_"}}) == ["100% real_deal"]


async def test_case_insensitive_operators_casefold(gateway: Gateway, people: list[Any]) -> None:
    assert await names(gateway, {"name": {"contains": "ss"}}) == ["STRASSE", "Straße"]
    assert await names(gateway, {"name": {"contains": "ß"}}) == ["STRASSE", "Straße"]
    assert await names(gateway, {"name": {"startsWith": "STRASS"}}) == ["STRASSE", "Straße"]
    assert await names(gateway, {"name": {"endsWith": "SSE"}}) == ["STRASSE", "Straße"]
    assert await names(gateway, {"name": {"eq": "STRASSE"}}) == ["STRASSE"]
    assert await names(gateway, {"name": {"startsWith": "émile"}}) == ["Émile Zola", "émile"]
    assert await names(gateway, {"name": {"startsWith": "emile"}}) == []
    assert await names(gateway, {"name": {"contains": "ÖL"}}) == ["Ölaf"]


async def test_filter_applies_to_total_count_and_pages(gateway: Gateway, people: list[Any]) -> None:
    condition = {"email": {"contains": "example"}}
    data = await gateway.data(
        """query($filter: CustomerFilter) {
             customers(first: 2, filter: $filter) {
               nodes { id } totalCount pageInfo { hasNextPage }
             }
           }""",
        {"filter": condition},
    )
    expected = [
        c["id"] for c in reference_model.ordered(people) if reference_model.matches(condition, c)
    ]
    assert data["customers"]["totalCount"] == len(expected)
    assert [node["id"] for node in data["customers"]["nodes"]] == expected[:2]
    assert data["customers"]["pageInfo"]["hasNextPage"] is True


async def refused(gateway: Gateway, document: str, variables: Any = None) -> dict[str, Any]:
    status, body = await gateway.post(document, variables)
    assert status == 200, body
    assert body["data"] is None, body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "filter"}, error
    assert error["path"] == ["customers"]
    message: str = error["message"]
    return {"message": message}


NULL_FILTERS = [
    "{email: null}",
    "{email: {eq: null}}",
    "{name: {isNull: null}}",
    "{phone: {in: null}}",
    "{and: null}",
    "{or: null}",
    "{not: null}",
    "{id: {neq: null}}",
    "{createdAt: {gt: null}}",
    "{updatedAt: null}",
    "{metadata: null}",
    '{metadata: [{key: "tier", eq: null}]}',
    '{metadata: [{key: "tier", exists: null}]}',
    "{and: [{}, {or: [{name: {contains: null}}]}]}",
    "{not: {not: {email: {notIn: null}}}}",
]


@pytest.mark.parametrize("literal", NULL_FILTERS)
async def test_explicit_null_inside_a_filter_is_refused(gateway: Gateway, literal: str) -> None:
    await gateway.create_customer(name="Ada")
    inline = await refused(gateway, f"{{ customers(filter: {literal}) {{ nodes {{ id }} }} }}")
    assert "isNull" in inline["message"]


async def test_explicit_null_in_variables_is_refused(gateway: Gateway) -> None:
    await gateway.create_customer(name="Ada", email="ada@example.com")
    document = "query($f: CustomerFilter) { customers(filter: $f) { nodes { id } totalCount } }"
    for condition in [
        {"email": None},
        {"email": {"neq": None}},
        {"and": [{"name": {"eq": "Ada"}}, {"email": {"eq": None}}]},
        {"metadata": [{"key": "k", "neq": None}]},
    ]:
        result = await refused(gateway, document, {"f": condition})
        assert "isNull" in result["message"], condition


async def test_filter_null_at_top_level_means_no_filter(gateway: Gateway) -> None:
    await gateway.create_customer(name="Ada")
    data = await gateway.data("{ customers(filter: null) { totalCount } }")
    assert data["customers"]["totalCount"] == 1


def nested(levels: int) -> dict[str, Any]:
    """A filter whose deepest CustomerFilter is at `levels` (the root is level 1)."""
    condition: dict[str, Any] = {"name": {"isNull": False}}
    for index in range(levels - 1):
        condition = {"and": [condition]} if index % 2 else {"or": [condition]}
    return condition


async def test_ten_levels_pass_eleven_are_refused(gateway: Gateway) -> None:
    await gateway.create_customer(name="Ada")
    document = "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }"
    assert (await gateway.data(document, {"f": nested(10)}))["customers"]["totalCount"] == 1
    deep_not: dict[str, Any] = {}
    for _ in range(9):  # {} at level 10 under nine nots: matches nothing
        deep_not = {"not": deep_not}
    assert (await gateway.data(document, {"f": deep_not}))["customers"]["totalCount"] == 0
    result = await refused(gateway, document, {"f": nested(11)})
    assert "10" in result["message"]
    await refused(gateway, document, {"f": {"not": deep_not}})


def conditions(count: int) -> dict[str, Any]:
    """A filter of exactly `count` conditions, mixing every kind of operator set."""
    parts: list[dict[str, Any]] = [
        {"name": {"neq": "x", "notIn": ["y"], "isNull": False}},
        {"metadata": [{"key": "k", "neq": "v", "exists": False}]},
        {"createdAt": {"gt": 0, "lt": 2**52}},
        {"id": {"notIn": ["cus_x"] * 10}},
    ]
    used = 3 + 2 + 2 + 1
    parts += [{"email": {"neq": f"{i}@example.com"}} for i in range(count - used)]
    return {"and": parts[: len(parts) // 2], "or": [{"and": parts[len(parts) // 2 :]}]}


async def test_two_hundred_conditions_pass_more_are_refused(gateway: Gateway) -> None:
    await gateway.create_customer(name="Ada")
    document = "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }"
    assert (await gateway.data(document, {"f": conditions(200)}))["customers"]["totalCount"] == 1
    result = await refused(gateway, document, {"f": conditions(201)})
    assert "200" in result["message"]


async def test_lists_hold_at_most_a_thousand_values(gateway: Gateway) -> None:
    created = await gateway.create_customer(name="Ada", metadata={"k": "v999"})
    document = "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }"
    values = [f"v{i}" for i in range(999)]
    ok: list[tuple[dict[str, Any], int]] = [
        ({"id": {"in": [*["cus_x"] * 999, created["id"]]}}, 1),
        ({"name": {"in": [*values, "Ada"]}}, 1),
        ({"name": {"notIn": [*values, "Ada"]}}, 0),
        ({"metadata": [{"key": "k", "in": [*values, "v999"]}]}, 1),
    ]
    for condition, count in ok:
        assert (await gateway.data(document, {"f": condition}))["customers"]["totalCount"] == count
    for condition, _ in ok:
        [(field, operators)] = condition.items()
        if field == "metadata":
            too_long: Any = [{"key": "k", "in": [*operators[0]["in"], "extra"]}]
        else:
            [(op, listed_values)] = operators.items()
            too_long = {op: [*listed_values, "extra"]}
        result = await refused(gateway, document, {"f": {field: too_long}})
        assert "1000" in result["message"]


async def test_a_nul_character_is_refused_not_an_internal_error(gateway: Gateway) -> None:
    document = "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }"
    await refused(gateway, document, {"f": {"name": {"contains": "a\x00b"}}})


class TestLargestFilter:
    """200 lists of 1000 values each: more values than either driver takes as parameters,
    so each list must travel as one parameter."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"max_body_bytes": 5_000_000}

    # The test client warns that a megabyte body is sent in one piece; that is the point.
    @pytest.mark.filterwarnings("ignore:Sending a large body:ResourceWarning")
    async def test_two_hundred_full_lists(self, gateway: Gateway) -> None:
        created = await gateway.create_customer(name="Ada", email="ada@example.com")
        document = "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }"

        def full_list(i: int) -> dict[str, Any]:
            if i % 3 == 0:
                return {"name": {"notIn": [f"n{i}-{j}" for j in range(1000)]}}
            if i % 3 == 1:
                return {"email": {"in": [*(f"e{i}-{j}" for j in range(999)), "ada@example.com"]}}
            return {"id": {"in": [*(f"cus_{i:011d}{j:011d}" for j in range(999)), created["id"]]}}

        metadata = {"metadata": [{"key": "k", "in": [f"m{j}" for j in range(1000)]}]}
        condition = {
            "and": [full_list(i) for i in range(198)],
            "or": [metadata, {"name": {"eq": "Ada"}}],
        }
        data = await gateway.data(document, {"f": condition})
        assert data["customers"]["totalCount"] == 1


def test_cheap_conditions_come_before_text_scans_and_nested_filters() -> None:
    """SQLite checks a row's terms in the order written (app/customers/filters.py)."""
    tree = FilterTree(
        or_=(FilterTree(text=(("email", TextOperators(contains="son")),)),),
        text=(("name", TextOperators(contains="ar", starts_with="Ma")),),
    )
    compiled = compile_filter(tree, dialect="sqlite", unindexed_prefixes=frozenset({"name"}))
    sql = str(compiled.condition.compile(dialect=sqlite.dialect()))
    prefix = sql.index("(+ customers.name_key) >=")
    name_scan = sql.index("customers.name_key LIKE")
    email_scan = sql.index("customers.email_key LIKE")
    assert prefix < name_scan < email_scan, sql
