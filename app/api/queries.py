"""Query resolvers: lookups and the customers connection."""

from __future__ import annotations

import strawberry

from app.api.arguments import customers_arguments, page_arguments
from app.api.context import Info
from app.api.event_types import CustomerEvent, CustomerEventConnection
from app.api.filter_inputs import CustomerFilter
from app.api.inputs import CustomerOrder, optional
from app.api.types import Customer, CustomerConnection, Node, RateLimit
from app.customers import service
from app.events import service as events
from app.events.models import EventType
from app.ids import is_event_id


async def _customer(info: Info, customer_id: str) -> Customer | None:
    context = info.context
    record = await service.get_customer(
        context.store, principal=context.principal, customer_id=customer_id
    )
    return Customer.from_record(record) if record else None


async def _event(info: Info, event_id: str) -> CustomerEvent | None:
    context = info.context
    event = await events.get_event(context.store, principal=context.principal, event_id=event_id)
    return CustomerEvent.from_record(event) if event else None


@strawberry.type
class Query:
    @strawberry.field(
        description=("Relay: fetch any object by its global ID; null when not found or not yours.")
    )
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        if is_event_id(id):
            return await _event(info, id)
        return await _customer(info, id)

    @strawberry.field
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        context = info.context
        found = await service.get_customers(
            context.store, principal=context.principal, customer_ids=ids
        )
        found_events = await events.get_events(
            context.store, principal=context.principal, event_ids=ids
        )
        return [
            CustomerEvent.from_record(event)
            if event
            else (Customer.from_record(record) if record else None)
            for record, event in zip(found, found_events, strict=True)
        ]

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

    @strawberry.field(
        description=(
            "The event log, oldest first (commit order). first/last 1..1000, default first 50."
        )
    )
    async def customer_events(
        self,
        info: Info,
        first: int | None = strawberry.UNSET,
        after: str | None = strawberry.UNSET,
        last: int | None = strawberry.UNSET,
        before: str | None = strawberry.UNSET,
        types: list[EventType] | None = strawberry.UNSET,
        customer_id: strawberry.ID | None = strawberry.UNSET,
    ) -> CustomerEventConnection:
        context = info.context
        page = await events.list_events(
            context.store,
            principal=context.principal,
            page=page_arguments(first, after, last, before),
            event_filter=events.EventFilter(
                types=optional(types), customer_id=optional(customer_id)
            ),
            cursors=context.cursors,
        )
        return CustomerEventConnection.from_page(page, context.cursors)

    @strawberry.field
    def rate_limit(self, info: Info) -> RateLimit:
        return RateLimit.of(info.context.cost, info.context.rate_limit)
