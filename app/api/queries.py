"""Query resolvers: lookups and the customers connection."""

from __future__ import annotations

import strawberry

from app.api.context import Info
from app.api.filter_inputs import CustomerFilter, to_filter
from app.api.inputs import CustomerOrder, optional
from app.api.types import Customer, CustomerConnection, Node
from app.customers import service
from app.customers.ordering import DEFAULT_ORDER
from app.store.connections import connections


async def _customer(info: Info, customer_id: str) -> Customer | None:
    context = info.context
    async with connections(context.engine).read() as connection:
        record = await service.get_customer(
            connection, principal=context.principal, customer_id=customer_id
        )
    return Customer.from_record(record) if record else None


@strawberry.type
class Query:
    @strawberry.field(
        description=("Relay: fetch any object by its global ID; null when not found or not yours.")
    )
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await _customer(info, id)

    @strawberry.field
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        context = info.context
        async with connections(context.engine).read() as connection:
            found = await service.get_customers(
                connection, principal=context.principal, customer_ids=ids
            )
        return [Customer.from_record(record) if record else None for record in found]

    @strawberry.field
    async def customer(self, info: Info, id: strawberry.ID) -> Customer | None:
        return await _customer(info, id)

    @strawberry.field(
        description=(
            "Newest first unless orderBy says otherwise. first/last 1..1000, default first 50."
        )
    )
    async def customers(
        self,
        info: Info,
        first: int | None = strawberry.UNSET,
        after: str | None = strawberry.UNSET,
        last: int | None = strawberry.UNSET,
        before: str | None = strawberry.UNSET,
        filter: CustomerFilter | None = strawberry.UNSET,
        order_by: CustomerOrder | None = strawberry.UNSET,
    ) -> CustomerConnection:
        # A top-level argument given null means it was not given: UNSET and None are falsy.
        context = info.context
        order = order_by.to_order() if order_by else DEFAULT_ORDER
        customer_filter = to_filter(filter) if filter else None
        page_arguments = service.PageArguments(
            first=optional(first),
            after=optional(after),
            last=optional(last),
            before=optional(before),
        )
        async with connections(context.engine).read() as connection:
            page = await service.list_customers(
                connection,
                principal=context.principal,
                page=page_arguments,
                order=order,
                customer_filter=customer_filter,
            )

        async def count() -> int:
            async with connections(context.engine).read() as connection:
                return await service.count_customers(
                    connection, principal=context.principal, customer_filter=customer_filter
                )

        return CustomerConnection.from_page(page, order, count)
