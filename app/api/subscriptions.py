"""Subscription resolvers: the event log, followed live (app/events/stream.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import strawberry

from app.api.context import Info
from app.api.event_types import CustomerEvent
from app.api.inputs import optional
from app.events.models import EventType
from app.events.service import EventFilter
from app.events.stream import Follower, follow


class _CustomerEvents:
    """The follower's events as CustomerEvent objects; closing it closes the follower, even
    before its first event."""

    def __init__(self, follower: Follower) -> None:
        self._follower = follower

    def __aiter__(self) -> _CustomerEvents:
        return self

    async def __anext__(self) -> CustomerEvent:
        return CustomerEvent.from_record(await self._follower.__anext__())

    async def aclose(self) -> None:
        await self._follower.aclose()


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description=(
            "Every matching event committed after `after` (or after subscribing), in commit "
            "order, exactly once."
        )
    )
    async def customer_events(
        self,
        info: Info,
        after: strawberry.ID | None = strawberry.UNSET,
        types: list[EventType] | None = strawberry.UNSET,
        customer_id: strawberry.ID | None = strawberry.UNSET,
    ) -> AsyncIterator[CustomerEvent]:
        context = info.context
        # Started here, so a bad `after` is an error of the subscribe request itself.
        follower = await follow(
            context.store,
            principal=context.principal,
            after=optional(after),
            event_filter=EventFilter(types=optional(types), customer_id=optional(customer_id)),
            cursors=context.cursors,
            max_lag=context.subscriber_max_lag,
        )
        return _CustomerEvents(follower)
