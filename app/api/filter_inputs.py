"""The CustomerFilter input tree of the contract and its translation to the service filter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import strawberry
from strawberry.utils.str_converters import to_camel_case

from app.api.scalars import EpochMillis
from app.customers import filters
from app.customers.models import TEXT_FIELD_NAMES
from app.errors import BadUserInput

T = TypeVar("T")


@strawberry.input
class IDFilter:
    eq: strawberry.ID | None = strawberry.UNSET
    neq: strawberry.ID | None = strawberry.UNSET
    in_: list[strawberry.ID] | None = strawberry.field(default=strawberry.UNSET, name="in")
    not_in: list[strawberry.ID] | None = strawberry.UNSET


@strawberry.input
class StringFilter:
    eq: str | None = strawberry.UNSET
    neq: str | None = strawberry.UNSET
    in_: list[str] | None = strawberry.field(default=strawberry.UNSET, name="in")
    not_in: list[str] | None = strawberry.UNSET
    contains: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Case-insensitive substring; % and _ match themselves.",
    )
    starts_with: str | None = strawberry.field(
        default=strawberry.UNSET, description="Case-insensitive prefix."
    )
    ends_with: str | None = strawberry.field(
        default=strawberry.UNSET, description="Case-insensitive suffix."
    )
    is_null: bool | None = strawberry.UNSET


@strawberry.input
class EpochMillisFilter:
    eq: EpochMillis | None = strawberry.UNSET
    neq: EpochMillis | None = strawberry.UNSET
    gt: EpochMillis | None = strawberry.UNSET
    gte: EpochMillis | None = strawberry.UNSET
    lt: EpochMillis | None = strawberry.UNSET
    lte: EpochMillis | None = strawberry.UNSET


@strawberry.input
class MetadataFilter:
    key: str
    eq: str | None = strawberry.UNSET
    neq: str | None = strawberry.UNSET
    in_: list[str] | None = strawberry.field(default=strawberry.UNSET, name="in")
    exists: bool | None = strawberry.UNSET


@strawberry.input(description="All conditions set in one filter object must hold (AND).")
class CustomerFilter:
    and_: list[CustomerFilter] | None = strawberry.field(default=strawberry.UNSET, name="and")
    or_: list[CustomerFilter] | None = strawberry.field(default=strawberry.UNSET, name="or")
    not_: CustomerFilter | None = strawberry.field(default=strawberry.UNSET, name="not")
    id: IDFilter | None = strawberry.UNSET
    email: StringFilter | None = strawberry.UNSET
    name: StringFilter | None = strawberry.UNSET
    phone: StringFilter | None = strawberry.UNSET
    created_at: EpochMillisFilter | None = strawberry.UNSET
    updated_at: EpochMillisFilter | None = strawberry.UNSET
    metadata: list[MetadataFilter] | None = strawberry.UNSET


def to_filter(given: CustomerFilter) -> filters.FilterTree:
    """The service filter for a CustomerFilter argument; explicit nulls are refused."""
    return _customer(given, "filter", 1)


def _customer(given: CustomerFilter, path: str, level: int) -> filters.FilterTree:
    if level > filters.MAX_DEPTH:
        raise filters.too_deep()  # stop before recursing any deeper
    and_ = _given(given.and_, f"{path}.and")
    or_ = _given(given.or_, f"{path}.or")
    not_ = _given(given.not_, f"{path}.not")
    ids = _given(given.id, f"{path}.id")
    metadata = _given(given.metadata, f"{path}.metadata")
    created_at = _given(given.created_at, f"{path}.createdAt")
    updated_at = _given(given.updated_at, f"{path}.updatedAt")
    return filters.FilterTree(
        and_=_children(and_, f"{path}.and", level),
        or_=_children(or_, f"{path}.or", level),
        not_=None if not_ is None else _customer(not_, f"{path}.not", level + 1),
        id=None if ids is None else _ids(ids, f"{path}.id"),
        text=tuple(
            (field, strings)
            for field in TEXT_FIELD_NAMES
            if (strings := _strings(getattr(given, field), f"{path}.{to_camel_case(field)}"))
            is not None
        ),
        created_at=None if created_at is None else _millis(created_at, f"{path}.createdAt"),
        updated_at=None if updated_at is None else _millis(updated_at, f"{path}.updatedAt"),
        metadata=None
        if metadata is None
        else tuple(_metadata(entry, f"{path}.metadata[{i}]") for i, entry in enumerate(metadata)),
    )


def _children(
    given: Sequence[CustomerFilter] | None, path: str, level: int
) -> tuple[filters.FilterTree, ...] | None:
    if given is None:
        return None
    return tuple(_customer(child, f"{path}[{i}]", level + 1) for i, child in enumerate(given))


def _ids(given: IDFilter, path: str) -> filters.IdOperators:
    return filters.IdOperators(
        eq=_given(given.eq, f"{path}.eq"),
        neq=_given(given.neq, f"{path}.neq"),
        in_=_values(given.in_, f"{path}.in"),
        not_in=_values(given.not_in, f"{path}.notIn"),
    )


def _strings(given: StringFilter | None, path: str) -> filters.TextOperators | None:
    strings = _given(given, path)
    if strings is None:
        return None
    return filters.TextOperators(
        eq=_given(strings.eq, f"{path}.eq"),
        neq=_given(strings.neq, f"{path}.neq"),
        in_=_values(strings.in_, f"{path}.in"),
        not_in=_values(strings.not_in, f"{path}.notIn"),
        contains=_given(strings.contains, f"{path}.contains"),
        starts_with=_given(strings.starts_with, f"{path}.startsWith"),
        ends_with=_given(strings.ends_with, f"{path}.endsWith"),
        is_null=_given(strings.is_null, f"{path}.isNull"),
    )


def _millis(given: EpochMillisFilter, path: str) -> filters.MillisOperators:
    return filters.MillisOperators(
        **{name: _given(getattr(given, name), f"{path}.{name}") for name in _MILLIS_OPERATORS}
    )


_MILLIS_OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte")


def _metadata(given: MetadataFilter, path: str) -> filters.MetadataOperators:
    return filters.MetadataOperators(
        key=given.key,
        eq=_given(given.eq, f"{path}.eq"),
        neq=_given(given.neq, f"{path}.neq"),
        in_=_values(given.in_, f"{path}.in"),
        exists=_given(given.exists, f"{path}.exists"),
    )


def _values(given: Sequence[T] | None, path: str) -> tuple[T, ...] | None:
    values = _given(given, path)
    return None if values is None else tuple(values)


def _given(value: T | None, path: str) -> T | None:
    """None for an omitted field; an explicit null is refused, it must never widen a filter."""
    if value is strawberry.UNSET:
        return None
    if value is None:
        raise BadUserInput(
            "filter",
            f"{path} is null. A filter field may be omitted but not null; "
            "to test for a missing value use isNull.",
        )
    return value
