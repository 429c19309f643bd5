"""The CustomerFilter input tree of the contract (translation to the service filter lives beside it)."""

from __future__ import annotations

import strawberry

from app.api.scalars import EpochMillis


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
        default=strawberry.UNSET, description="Case-insensitive substring; % and _ match themselves."
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
