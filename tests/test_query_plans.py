"""The statements the gateway issues for pages read through indexes, without a sort.

Each case sends a real GraphQL request, records the SQL the engine runs for it, and
asks the database for the plan of that exact statement with its parameters
(EXPLAIN QUERY PLAN on SQLite, EXPLAIN (FORMAT JSON) on PostgreSQL).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from app.customers import prefix_plans
from tests import reference_model
from tests.customer_rows import customer_row, insert_customers
from tests.gateway import Gateway
from tests.statements import recorded_executions

COUNT = 1_500
BASE = 1_700_000_000_000
PAGE = """query($after: String, $orderBy: CustomerOrder, $filter: CustomerFilter) {
  customers(first: 20, after: $after, orderBy: $orderBy, filter: $filter) { nodes { id } }
}"""
INDEXES = {
    "CREATED_AT": "ix_customers_created",
    "NAME": "ix_customers_name_key",
    "EMAIL": "ix_customers_email_key",
}
ORDERS = [
    {"field": field, "direction": direction} for field in INDEXES for direction in ("ASC", "DESC")
]


@pytest.fixture
async def many(gateway: Gateway) -> list[dict[str, Any]]:
    rows = [
        customer_row(
            BASE + i,
            name=None if i % 10 == 0 else f"Name {i * 7919 % COUNT}",
            email=None if i % 13 == 0 else f"user{i * 104729 % COUNT}@example.com",
        )
        for i in range(COUNT)
    ]
    await insert_customers(gateway, rows)
    other = await gateway.mint_key("other-account")
    await insert_customers(
        dataclasses.replace(gateway, key=other),
        [customer_row(BASE + i, name=f"Other {i}") for i in range(COUNT)],
    )
    async with gateway.engine.begin() as connection:
        await connection.execute(text("ANALYZE"))
    return rows


async def read_page(gateway: Gateway, **variables: Any) -> tuple[list[str], list[tuple[str, Any]]]:
    """The ids on one `customers` page, and the statements that read its rows."""
    with recorded_executions(gateway.store) as statements:
        data = await gateway.data(PAGE, variables)
    ids = [node["id"] for node in data["customers"]["nodes"]]
    return ids, [
        (sql, parameters)
        for sql, parameters in statements
        if sql.startswith("SELECT customers.id, customers.live") and "ORDER BY" in sql
    ]


async def page_statements(gateway: Gateway, **variables: Any) -> list[tuple[str, Any]]:
    """The statements that read customers' rows for one `customers` page."""
    return (await read_page(gateway, **variables))[1]


async def plan(gateway: Gateway, sql: str, parameters: Any) -> list[str]:
    """The plan's steps as lines: SQLite's detail strings, or PostgreSQL node summaries."""
    async with gateway.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            result = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters)
            return [row[-1] for row in result]
        result = await connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}", parameters)
        document = result.scalar_one()
        tree = json.loads(document) if isinstance(document, str) else document
        return list(_postgres_nodes(tree[0]["Plan"]))


def _postgres_nodes(node: dict[str, Any]) -> Iterator[str]:
    yield f"{node['Node Type']} {node.get('Index Name', '')} {node.get('Relation Name', '')}"
    for child in node.get("Plans", []):
        yield from _postgres_nodes(child)


def assert_index_read(steps: list[str], index: str, *, may_sort: bool = False) -> None:
    joined = "\n".join(steps)
    assert index in joined, joined
    for step in steps:
        assert not step.startswith("Seq Scan"), joined
        assert not step.startswith("SCAN customers"), joined  # SQLite's full table scan
        if not may_sort:
            assert not step.startswith("Sort"), joined
            assert "TEMP B-TREE" not in step, joined  # SQLite sorting the rows itself


async def test_default_page_reads_the_created_index(gateway: Gateway, many: list[Any]) -> None:
    [(sql, parameters)] = await page_statements(gateway)
    assert_index_read(await plan(gateway, sql, parameters), "ix_customers_created")


async def test_a_page_after_a_cursor_seeks_the_order_index(
    gateway: Gateway, many: list[Any]
) -> None:
    for order in ORDERS:
        ordered = reference_model.ordered(many, order)
        middle = ordered[len(ordered) // 2]["id"]
        [(sql, parameters)] = await page_statements(gateway, orderBy=order, after=middle)
        assert_index_read(await plan(gateway, sql, parameters), INDEXES[order["field"]])


async def test_a_page_in_the_null_group_seeks_the_order_index(
    gateway: Gateway, many: list[Any]
) -> None:
    for order in ORDERS[2:]:
        field = "name" if order["field"] == "NAME" else "email"
        nulls = [row for row in reference_model.ordered(many, order) if row[field] is None]
        [(sql, parameters)] = await page_statements(gateway, orderBy=order, after=nulls[1]["id"])
        assert_index_read(await plan(gateway, sql, parameters), INDEXES[order["field"]])


async def test_email_eq_reads_the_email_index(gateway: Gateway, many: list[Any]) -> None:
    email = many[1234]["email"]
    [(sql, parameters)] = await page_statements(gateway, filter={"email": {"eq": email}})
    # The few rows with that email are sorted by createdAt after the index finds them.
    steps = await plan(gateway, sql, parameters)
    assert_index_read(steps, "ix_customers_email", may_sort=True)
    assert not any("ix_customers_created" in step for step in steps)


async def test_a_broad_prefix_in_another_order_walks_the_order_index(
    gateway: Gateway, many: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prefix_plans, "BROAD_PREFIX_ROWS", 100)
    order = {"field": "CREATED_AT", "direction": "DESC"}
    broad = {"name": {"startsWith": "NAME 1"}, "email": {"contains": "3"}}  # ~550 names
    narrow = {"name": {"startsWith": "name 123"}, "email": {"contains": "3"}}  # ~11 names
    for condition, index in ((broad, "ix_customers_created"), (narrow, "ix_customers_name_key")):
        ids, [(sql, parameters)] = await read_page(gateway, orderBy=order, filter=condition)
        steps = await plan(gateway, sql, parameters)
        expected = [
            row["id"]
            for row in reference_model.ordered(many, order)
            if reference_model.matches(condition, row)
        ][:20]
        assert ids == expected
        if gateway.engine.dialect.name == "sqlite":  # PostgreSQL weighs its statistics
            assert_index_read(steps, index, may_sort=index != "ix_customers_created")
            other = "ix_customers_name_key" if index == "ix_customers_created" else "created"
            assert not any(other in step for step in steps), steps


async def test_nodes_reads_each_id_by_the_primary_key(gateway: Gateway, many: list[Any]) -> None:
    """`nodes` passes its ids as one list parameter; each is still a seek, not a scan."""
    ids = [row["id"] for row in many[::300]]
    with recorded_executions(gateway.store) as executions:
        data = await gateway.data(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [*ids, "cus_missing"]}
        )
    assert [node and node["id"] for node in data["nodes"]] == [*ids, None]
    [(sql, parameters)] = [(s, p) for s, p in executions if "FROM customers" in s]
    steps = await plan(gateway, sql, parameters)
    joined = "\n".join(steps)
    assert not any(step.startswith(("Seq Scan", "SCAN customers")) for step in steps), joined
    assert "pkey" in joined or "sqlite_autoindex_customers" in joined, joined
