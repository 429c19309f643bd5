"""Output types of the event log: CustomerEvent and its connection (contract, events.graphql)."""

from __future__ import annotations

import strawberry

from app.api.scalars import JSON, EpochMillis
from app.api.types import Customer, Node, PageInfo
from app.customers.cursors import CursorCodec
from app.events.log import EventRecord
from app.events.models import EventType
from app.events.service import EventPage, event_cursors

strawberry.enum(EventType, name="CustomerEventType")


@strawberry.type(
    description="A change to one customer, recorded in the same transaction as the change."
)
class CustomerEvent(Node):
    id: strawberry.ID = strawberry.field(
        description=(
            '"evt_" + 22 base62 characters; within one account and mode, ids ascend in commit '
            "order."
        )
    )
    object: str = strawberry.field(description='Always "event".')
    type: EventType
    live: bool
    created_at: EpochMillis
    customer: Customer = strawberry.field(
        description=(
            "The customer right after the change; for CUSTOMER_DELETED, as it was just before."
        )
    )
    previous_attributes: JSON | None = strawberry.field(
        description=(
            "CUSTOMER_UPDATED only: the previous value of every field that changed, by GraphQL "
            "field name."
        )
    )

    @classmethod
    def from_record(cls, event: EventRecord) -> CustomerEvent:
        previous = event.previous_attributes
        return cls(
            id=strawberry.ID(event.id),
            object="event",
            type=event.type,
            live=event.live,
            created_at=EpochMillis(event.created_at),
            customer=Customer.from_record(event.customer),
            previous_attributes=None if previous is None else JSON(previous),
        )


@strawberry.type
class CustomerEventEdge:
    cursor: str
    node: CustomerEvent


@strawberry.type
class CustomerEventConnection:
    edges: list[CustomerEventEdge]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[CustomerEvent]:
        return [edge.node for edge in self.edges]

    @classmethod
    def from_page(cls, page: EventPage, cursors: CursorCodec) -> CustomerEventConnection:
        edge_cursors = event_cursors(cursors, page.events)
        return cls(
            edges=[
                CustomerEventEdge(cursor=cursor, node=CustomerEvent.from_record(event))
                for cursor, event in zip(edge_cursors, page.events, strict=True)
            ],
            page_info=PageInfo.of(
                edge_cursors,
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
            ),
        )
