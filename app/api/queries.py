"""Query resolvers: lookups and the customers connection."""

from __future__ import annotations

import strawberry

from app.api.arguments import customers_arguments
from app.api.context import Info
from app.api.filter_inputs import CustomerFilter
from app.api.inputs import CustomerOrder
from app.api.types import Customer, CustomerConnection, Node, RateLimit
from app.customers import service


async def _customer(info: Info, customer_id: str) -> Customer | None:
    context = info.context
    record = await service.get_customer(
        context.store, principal=context.principal, customer_id=customer_id
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
        found = await service.get_customers(
            context.store, principal=context.principal, customer_ids=ids
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
        context = info.context
        arguments = customers_arguments(first, after, last, before, filter, order_by)
        page = await arguments.read_page(context)
        return CustomerConnection.from_page(
            page, arguments.order, context.cursors, lambda: arguments.count(context)
        )

    @strawberry.field
    def rate_limit(self, info: Info) -> RateLimit:
        return RateLimit.of(info.context.cost, info.context.rate_limit)
