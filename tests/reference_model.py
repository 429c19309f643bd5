"""An obviously-correct model of filtering, ordering and paging, over plain dicts.

A customer is a dict shaped like the GraphQL Customer (id, createdAt, updatedAt, name,
email, phone, metadata); a filter is the CustomerFilter argument as JSON. The model
reads the contract literally and never thinks about SQL, indexes or cursors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Customer = dict[str, Any]
Filter = dict[str, Any]

_FIELDS = {"id", "email", "name", "phone", "createdAt", "updatedAt"}
_SORT_FIELDS = {"CREATED_AT": "createdAt", "NAME": "name", "EMAIL": "email"}


def matches(condition: Filter, customer: Customer) -> bool:
    """Every entry of the filter object holds for the customer."""
    return all(_holds(name, operand, customer) for name, operand in condition.items())


def _holds(name: str, operand: Any, customer: Customer) -> bool:
    if name == "and":
        return all(matches(child, customer) for child in operand)
    if name == "or":
        return any(matches(child, customer) for child in operand)
    if name == "not":
        return not matches(operand, customer)
    if name == "metadata":
        return all(_metadata_holds(entry, customer["metadata"]) for entry in operand)
    assert name in _FIELDS, name
    value = customer[name]
    return all(_operator_holds(op, given, value) for op, given in operand.items())


def _operator_holds(op: str, given: Any, value: Any) -> bool:
    if op == "isNull":
        return (value is None) is given
    if op in ("neq", "notIn") and value is None:
        return True
    if value is None:
        return False
    if op == "eq":
        return bool(value == given)
    if op == "neq":
        return bool(value != given)
    if op == "in":
        return value in given
    if op == "notIn":
        return value not in given
    if op == "contains":
        return given.casefold() in value.casefold()
    if op == "startsWith":
        return bool(value.casefold().startswith(given.casefold()))
    if op == "endsWith":
        return bool(value.casefold().endswith(given.casefold()))
    comparisons: dict[str, bool] = {
        "gt": value > given,
        "gte": value >= given,
        "lt": value < given,
        "lte": value <= given,
    }
    return comparisons[op]


def _metadata_holds(entry: dict[str, Any], metadata: dict[str, str]) -> bool:
    key = entry["key"]
    for op, given in entry.items():
        if op == "eq" and metadata.get(key) != given:
            return False
        if op == "neq" and key in metadata and metadata[key] == given:
            return False
        if op == "in" and metadata.get(key) not in given:
            return False
        if op == "exists" and (key in metadata) is not given:
            return False
    return True


def sort_value(customer: Customer, field: str) -> Any:
    value = customer[_SORT_FIELDS[field]]
    return value.casefold() if isinstance(value, str) else value


def ordered(customers: list[Customer], order: dict[str, str] | None = None) -> list[Customer]:
    """Customers in the order's sequence: by value then id, nulls last in both directions."""
    field = (order or {}).get("field", "CREATED_AT")
    descending = (order or {}).get("direction", "DESC") == "DESC"
    with_value = [c for c in customers if sort_value(c, field) is not None]
    without = [c for c in customers if sort_value(c, field) is None]
    with_value.sort(key=lambda c: (sort_value(c, field), c["id"]), reverse=descending)
    without.sort(key=lambda c: c["id"], reverse=descending)
    return with_value + without


@dataclass(frozen=True)
class ModelPage:
    ids: list[str]
    has_next_page: bool
    has_previous_page: bool


def page(
    customers: list[Customer],
    *,
    condition: Filter | None = None,
    order: dict[str, str] | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> ModelPage:
    """The Relay page; `after`/`before` are ids of customers in `customers` (matching or not).

    hasNextPage: some match comes after the page's last edge (for an empty page, after
    `after`); hasPreviousPage: some match comes before its first edge (for an empty page,
    before `before`). With first and no after there is no previous page, with last and no
    before no next page.
    """
    everyone = ordered(customers, order)
    rank = {customer["id"]: index for index, customer in enumerate(everyone)}
    found = [c["id"] for c in everyone if matches(condition or {}, c)]
    low = rank[after] if after is not None else -1
    high = rank[before] if before is not None else len(everyone)
    window = [i for i in found if low < rank[i] < high]
    size = first if first is not None else 50
    chosen = window[:size] if last is None else window[-last:]
    start = rank[chosen[0]] if chosen else high
    end = rank[chosen[-1]] if chosen else low
    has_next = any(rank[i] > end for i in found)
    has_previous = any(rank[i] < start for i in found)
    if last is None and after is None:
        has_previous = False
    if last is not None and before is None:
        has_next = False
    return ModelPage(chosen, has_next_page=has_next, has_previous_page=has_previous)
