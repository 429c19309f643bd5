"""The one translation of query arguments into service arguments.

The resolvers (app/api/queries.py) call it with the arguments Strawberry converted;
the fast path (app/api/fastpath/run.py) converts graphql-core's coerced arguments with
Strawberry's own `convert_arguments` and calls it the same way, so both executors read
arguments, defaults and explicit nulls by the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import strawberry

from app.api.context import GatewayContext
from app.api.filter_inputs import CustomerFilter, to_filter
from app.api.inputs import CustomerOrder, optional
from app.customers import filters, service
from app.customers.ordering import DEFAULT_ORDER, Order
from app.customers.pagination import Page
from app.customers.service import PageArguments


@dataclass(frozen=True, slots=True)
class CustomersArguments:
    page: PageArguments
    order: Order
    customer_filter: filters.FilterTree | None

    async def read_page(self, context: GatewayContext) -> Page:
        return await service.list_customers(
            context.store,
            principal=context.principal,
            page=self.page,
            order=self.order,
            customer_filter=self.customer_filter,
            cursors=context.cursors,
        )

    async def count(self, context: GatewayContext) -> int:
        return await service.count_customers(
            context.store, principal=context.principal, customer_filter=self.customer_filter
        )


def customers_arguments(
    first: int | None = strawberry.UNSET,
    after: str | None = strawberry.UNSET,
    last: int | None = strawberry.UNSET,
    before: str | None = strawberry.UNSET,
    filter: CustomerFilter | None = strawberry.UNSET,
    order_by: CustomerOrder | None = strawberry.UNSET,
) -> CustomersArguments:
    """`customers`' arguments; a top-level argument given null means it was not given."""
    return CustomersArguments(
        page=page_arguments(first, after, last, before),
        order=order_by.to_order() if order_by else DEFAULT_ORDER,
        customer_filter=to_filter(filter) if filter else None,
    )


def page_arguments(
    first: int | None, after: str | None, last: int | None, before: str | None
) -> PageArguments:
    """A connection's page arguments; omitted ones are None."""
    return PageArguments(
        first=optional(first), after=optional(after), last=optional(last), before=optional(before)
    )
