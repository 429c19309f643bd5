"""Following the log (app/events/stream.py): the stored events after a position, then the
live ones, each once and in commit order; woken in-process on SQLite and through
LISTEN/NOTIFY from any process on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.errors import BadUserInput
from app.events.log import EventRecord
from app.events.models import EventType
from app.events.service import EventFilter
from app.events.stream import follow
from tests.gateway import Gateway

WAIT = 10.0


async def _collect(events: AsyncIterator[EventRecord], count: int) -> list[EventRecord]:
    received = []
    async with asyncio.timeout(WAIT):
        async for event in events:
            received.append(event)
            if len(received) == count:
                return received
    return received


async def _logged_ids(gateway: Gateway, key: str | None = None) -> list[str]:
    data = await gateway.data("{ customerEvents(first: 1000) { nodes { id } } }", key=key)
    return [node["id"] for node in data["customerEvents"]["nodes"]]


def _follow(gateway: Gateway, **options: Any) -> AsyncIterator[EventRecord]:
    async def events() -> AsyncIterator[EventRecord]:
        principal = await gateway.principal()
        follower = await follow(
            gateway.store,
            principal=principal,
            after=options.get("after"),
            event_filter=options.get("event_filter", EventFilter()),
            cursors=gateway.cursors,
        )
        async for event in follower:
            yield event

    return events()


async def _started(events: AsyncIterator[EventRecord], count: int) -> asyncio.Task[Any]:
    """Collects in a task; returns once the follower is established (it has made its
    first read), so writes made afterwards are live ones."""
    task = asyncio.create_task(_collect(events, count))
    await asyncio.sleep(0.3)
    return task


async def test_without_after_only_what_commits_later(gateway: Gateway) -> None:
    await gateway.create_customer(name="Before")
    task = await _started(_follow(gateway), 3)
    for number in range(3):
        await gateway.create_customer(name=f"After {number}")
    received = await task
    assert [event.customer.name for event in received] == ["After 0", "After 1", "After 2"]
    assert [event.id for event in received] == (await _logged_ids(gateway))[1:]


async def test_after_replays_then_goes_live_without_gap_or_duplicate(gateway: Gateway) -> None:
    for number in range(5):
        await gateway.create_customer(name=f"Stored {number}")
    stored = await _logged_ids(gateway)
    # The replay reads in batches of READ_BATCH; a small batch crosses several of them.
    import app.events.stream as stream

    original = stream.READ_BATCH
    stream.READ_BATCH = 2
    try:
        task = await _started(_follow(gateway, after=stored[1]), 3 + 4)
        writers = [gateway.create_customer(name=f"Live {number}") for number in range(4)]
        await asyncio.gather(*writers)
        received = await task
    finally:
        stream.READ_BATCH = original
    assert [event.id for event in received] == (await _logged_ids(gateway))[2:]
    assert len({event.id for event in received}) == 7


async def test_filters_and_bad_after(gateway: Gateway) -> None:
    created = await gateway.create_customer(name="One")
    updated_only = EventFilter(types=[EventType.CUSTOMER_UPDATED])
    task = await _started(_follow(gateway, event_filter=updated_only), 1)
    await gateway.create_customer(name="Two")
    await gateway.data(
        'mutation($id: ID!) { updateCustomer(input: {id: $id, name: "Uno"}) { customer { id } } }',
        {"id": created["id"]},
    )
    (event,) = await task
    assert event.type is EventType.CUSTOMER_UPDATED and event.previous_attributes == {"name": "One"}
    for after in ("evt_0000000000000000000000", "garbage"):
        with pytest.raises(BadUserInput) as refused:
            await _collect(_follow(gateway, after=after), 1)
        assert refused.value.argument == "after"


async def test_another_accounts_events_never_arrive(gateway: Gateway) -> None:
    other = await gateway.mint_key("another-account")
    live = await gateway.mint_key("acme-live", live=True)
    task = await _started(_follow(gateway), 1)
    await gateway.create_customer(name="Theirs", key=other)
    await gateway.create_customer(name="Live", key=live)
    await gateway.create_customer(name="Mine")
    (event,) = await task
    assert event.customer.name == "Mine"
