"""Output types: Node, Customer, the customer connection and mutation payloads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from app.api.scalars import JSON, EpochMillis
from app.clock import now_ms
from app.customers.cursors import CursorCodec
from app.customers.models import CustomerRecord
from app.customers.ordering import DEFAULT_ORDER, Order, position_of
from app.customers.pagination import Page
from app.errors import UserError as UserErrorRecord
from app.errors import UserErrorCode
from app.ratelimits.buckets import Decision

strawberry.enum(UserErrorCode, name="UserErrorCode")


@strawberry.interface(
    description="An object with a globally unique ID (Relay Global Object Identification)."
)
class Node:
    id: strawberry.ID


@strawberry.type(description="A purchaser or user of your products.")
class Customer(Node):
    id: strawberry.ID = strawberry.field(
        description='Unique, unguessable, "cus_" + 22 base62 characters; sorts by creation time.'
    )
    object: str = strawberry.field(description='Always "customer".')
    live: bool = strawberry.field(
        description="true in the production environment, false in the sandbox."
    )
    created_at: EpochMillis
    updated_at: EpochMillis
    email: str | None
    name: str | None
    phone: str | None
    metadata: JSON = strawberry.field(
        description="Flat key-value store: string keys to string values."
    )

    @classmethod
    def from_record(cls, record: CustomerRecord) -> Customer:
        return cls(
            id=strawberry.ID(record.id),
            object="customer",
            live=record.live,
            created_at=EpochMillis(record.created_at),
            updated_at=EpochMillis(record.updated_at),
            email=record.email,
            name=record.name,
            phone=record.phone,
            metadata=JSON(record.metadata),
        )


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def of(cls, cursors: list[str], *, has_next_page: bool, has_previous_page: bool) -> PageInfo:
        """A page's info from its edges' cursors, in order."""
        return cls(
            has_next_page=has_next_page,
            has_previous_page=has_previous_page,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        )


def default_order_cursor(record: CustomerRecord, cursors: CursorCodec) -> str:
    """The customer's cursor in the default order: createCustomer's customerEdge, for
    both executors."""
    return cursors.encode(DEFAULT_ORDER, position_of(DEFAULT_ORDER, record))


@strawberry.type
class CustomerEdge:
    cursor: str
    node: Customer

    @classmethod
    def from_record(cls, record: CustomerRecord, cursors: CursorCodec) -> CustomerEdge:
        """The edge in the default order (createCustomer's customerEdge)."""
        return cls(cursor=default_order_cursor(record, cursors), node=Customer.from_record(record))


@strawberry.type
class CustomerConnection:
    edges: list[CustomerEdge]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    def nodes(self) -> list[Customer]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="Customers matching the filter, ignoring pagination.")
    async def total_count(self) -> int:
        return await self.count()

    @classmethod
    def from_page(
        cls,
        page: Page,
        order: Order,
        cursors: CursorCodec,
        count: Callable[[], Awaitable[int]],
    ) -> CustomerConnection:
        edges = [
            CustomerEdge(cursor=cursor, node=Customer.from_record(record))
            for cursor, record in zip(
                cursors.encode_page(order, page.customers), page.customers, strict=True
            )
        ]
        return cls(
            edges=edges,
            page_info=PageInfo.of(
                [edge.cursor for edge in edges],
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
            ),
            count=count,
        )


@strawberry.type(description="An expected, user-fixable problem with a mutation's input.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the input field at fault, e.g. ["input", "email"].'
    )
    message: str
    code: UserErrorCode

    @classmethod
    def from_record(cls, error: UserErrorRecord) -> UserError:
        return cls(field=list(error.field), message=error.message, code=error.code)


@strawberry.type
class CreateCustomerPayload:
    customer: Customer | None
    customer_edge: CustomerEdge | None = strawberry.field(
        description=(
            "An edge for the new customer, cursor in the default order (for Relay's @prependEdge)."
        )
    )
    user_errors: list[UserError]
    client_mutation_id: str | None


@strawberry.type
class UpdateCustomerPayload:
    customer: Customer | None
    user_errors: list[UserError]
    client_mutation_id: str | None


@strawberry.type
class DeleteCustomerPayload:
    customer: Customer | None = strawberry.field(
        description="The customer as it was just before it was deleted."
    )
    deleted_customer_id: strawberry.ID | None
    user_errors: list[UserError]
    client_mutation_id: str | None


@strawberry.type(
    description="This API key's request budget: a bucket of points that refills at a steady rate."
)
class RateLimit:
    limit: int = strawberry.field(description="Points the bucket holds when full.")
    remaining: int = strawberry.field(description="Points left after this request.")
    cost: int = strawberry.field(description="What this request cost.")
    restore_rate: int = strawberry.field(description="Points restored per second.")
    reset_at: EpochMillis = strawberry.field(
        description="When the bucket will be full again if nothing more is spent."
    )

    @classmethod
    def of(cls, cost: int, decision: Decision | None) -> RateLimit:
        """The bucket after this request; with rate limits off, a bucket of 0 that is
        always full."""
        if decision is None:
            return cls(
                limit=0, remaining=0, cost=cost, restore_rate=0, reset_at=EpochMillis(now_ms())
            )
        return cls(
            limit=decision.limit,
            remaining=decision.remaining,
            cost=decision.cost,
            restore_rate=decision.restore_per_second,
            reset_at=EpochMillis(decision.now_ms + decision.reset_ms),
        )
