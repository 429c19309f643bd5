"""Mutation inputs and the order input; UNSET marks an omitted field."""

from __future__ import annotations

from typing import Any, TypeVar

import strawberry

from app.api.scalars import JSON
from app.customers.models import WRITABLE_FIELDS
from app.customers.ordering import Order, OrderDirection, OrderField

T = TypeVar("T")

strawberry.enum(OrderField, name="CustomerOrderField")
strawberry.enum(OrderDirection, name="OrderDirection")


@strawberry.input
class CustomerOrder:
    field: OrderField
    direction: OrderDirection

    def to_order(self) -> Order:
        return Order(field=self.field, direction=self.direction)


@strawberry.input
class CreateCustomerInput:
    name: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    metadata: JSON | None = strawberry.UNSET
    idempotency_key: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Retrying with the same key returns the first result and creates nothing new.",
    )
    client_mutation_id: str | None = strawberry.UNSET


@strawberry.input
class UpdateCustomerInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    metadata: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="Replaces the whole metadata object; null clears it to {}.",
    )
    client_mutation_id: str | None = strawberry.UNSET


@strawberry.input
class DeleteCustomerInput:
    id: strawberry.ID
    client_mutation_id: str | None = strawberry.UNSET


def given_fields(source: CreateCustomerInput | UpdateCustomerInput) -> dict[str, Any]:
    """The customer fields the client sent, explicit nulls included, omitted ones left out."""
    return {
        name: getattr(source, name)
        for name in WRITABLE_FIELDS
        if getattr(source, name) is not strawberry.UNSET
    }


def optional(value: T | None) -> T | None:
    """An omitted optional value is the same as null."""
    return None if value is strawberry.UNSET else value
