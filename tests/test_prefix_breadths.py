"""SQLite: a prefix's breadth is probed once per BREADTH_SECONDS, not before every page
(app/customers/prefix_plans.py)."""

from __future__ import annotations

import pytest

from app.customers import prefix_plans
from tests.gateway import Gateway
from tests.statements import recorded_statements

PAGE = """query($filter: CustomerFilter, $after: String) {
  customers(first: 2, after: $after, filter: $filter) {
    edges { node { name } } pageInfo { endCursor } } }"""
BY_PREFIX = {"name": {"startsWith": "ma"}, "email": {"contains": "example"}}


@pytest.fixture
def backend() -> str:
    return "sqlite"


def _probes(statements: list[str]) -> int:
    return sum("count(*)" in statement for statement in statements)


async def test_a_prefix_is_probed_once_while_its_answer_is_fresh(gateway: Gateway) -> None:
    made = [
        await gateway.create_customer(name=f"Mary {number}", email=f"m{number}@example.com")
        for number in range(5)
    ]
    # The default order: createdAt, then id, both descending.
    made.sort(key=lambda customer: (customer["createdAt"], customer["id"]), reverse=True)
    with recorded_statements(gateway.store) as first_page:
        first = await gateway.data(PAGE, {"filter": BY_PREFIX})
    after = first["customers"]["pageInfo"]["endCursor"]
    with recorded_statements(gateway.store) as second_page:
        second = await gateway.data(PAGE, {"filter": BY_PREFIX, "after": after})
    assert (_probes(first_page), _probes(second_page)) == (1, 0)
    names = [
        edge["node"]["name"] for page in (first, second) for edge in page["customers"]["edges"]
    ]
    assert names == [customer["name"] for customer in made[:4]]
    # Another prefix, or the same one once its answer is stale, is probed again.
    other = {"name": {"startsWith": "mar"}}
    with recorded_statements(gateway.store) as another:
        await gateway.data(PAGE, {"filter": other})
    breadths = prefix_plans.breadths(gateway.store)
    breadths.clock = lambda: float("inf")
    with recorded_statements(gateway.store) as stale:
        await gateway.data(PAGE, {"filter": BY_PREFIX})
    assert (_probes(another), _probes(stale)) == (1, 1)
