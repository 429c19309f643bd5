"""The switch from stored to live events (contract part 2, the subscription: "no gap and no
duplicate at the switch"), for any interleaving of commits with a follower's reads, any
batch size and any resume point; and the lag rule that cuts a slow follower off."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app.events.stream as stream
from app.accounts.keys import Principal
from app.customers.models import CustomerRecord
from app.events.log import events_topic, record_event
from app.events.models import EventType
from app.events.service import EventFilter
from app.events.stream import Follower, SubscriberTooSlow, follow
from app.ids import new_customer_id
from tests.gateway import Gateway
from tests.live import until
from tests.test_event_stream import _logged_ids

# Steps after the follower starts: commit n events, or take up to n from the follower.
STEPS = st.lists(
    st.tuples(st.sampled_from(["commit", "take"]), st.integers(1, 4)), min_size=1, max_size=12
)


async def _commit(gateway: Gateway, principal: Principal, count: int) -> None:
    for _ in range(count):
        customer = CustomerRecord(
            new_customer_id(principal.live), principal.live, 1, 1, "C", None, None, {}
        )
        async with gateway.store.write() as connection:
            await record_event(connection, principal, EventType.CUSTOMER_CREATED, customer)


async def _take(follower: Follower, count: int, committed_ahead: int) -> list[str]:
    """Up to `count` events, never waiting for one that was not committed."""
    taken = []
    for _ in range(min(count, committed_ahead)):
        async with asyncio.timeout(5):
            taken.append((await follower.__anext__()).id)
    return taken


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    stored=st.integers(0, 6),
    resume=st.one_of(st.none(), st.integers(0, 5)),
    batch=st.integers(1, 4),
    steps=STEPS,
)
async def test_replay_then_live_is_the_log_after_the_resume_point(
    gateway: Gateway, stored: int, resume: int | None, batch: int, steps: list[tuple[str, int]]
) -> None:
    key = await gateway.mint_key(f"switch-{new_customer_id(False)}")
    principal = await gateway.principal(key)
    await _commit(gateway, principal, stored)
    before = await _logged_ids(gateway, key)
    after = before[resume] if resume is not None and resume < len(before) else None
    expected_start = before.index(after) + 1 if after is not None else len(before)

    original = stream.READ_BATCH
    stream.READ_BATCH = batch
    try:
        follower = await follow(
            gateway.store,
            principal=principal,
            after=after,
            event_filter=EventFilter(),
            cursors=gateway.cursors,
        )
        received: list[str] = []
        ahead = len(before) - expected_start
        for step, count in steps:
            if step == "commit":
                await _commit(gateway, principal, count)
                ahead += count
            else:
                taken = await _take(follower, count, ahead)
                received += taken
                ahead -= len(taken)
        received += await _take(follower, ahead, ahead)
        await follower.aclose()
    finally:
        stream.READ_BATCH = original
    assert received == (await _logged_ids(gateway, key))[expected_start:]


async def test_a_follower_too_far_behind_is_cut_off(gateway: Gateway) -> None:
    principal = await gateway.principal()
    await _commit(gateway, principal, 10)
    stored = await _logged_ids(gateway)
    replaying = await follow(
        gateway.store,
        principal=principal,
        after=stored[0],
        event_filter=EventFilter(),
        cursors=gateway.cursors,
        max_lag=3,
    )
    live = await follow(
        gateway.store,
        principal=principal,
        after=None,
        event_filter=EventFilter(),
        cursors=gateway.cursors,
        max_lag=3,
    )
    # Catching up on stored events is not falling behind: all nine arrive.
    assert await _take(replaying, 9, 9) == stored[1:]
    await _commit(gateway, principal, 3)
    await _handed_out(gateway, principal)
    assert len(await _take(live, 3, 3)) == 3  # three behind at most: delivered
    await _commit(gateway, principal, 4)
    await _handed_out(gateway, principal)
    with pytest.raises(SubscriberTooSlow):
        await live.__anext__()
    # The replaying follower went live after the stored ones, and is seven behind.
    with pytest.raises(SubscriberTooSlow):
        await replaying.__anext__()
    # Cut off, each let go of the log's reader, which ended with them.
    assert gateway.store.wakeups.waiting(events_topic(principal.account_id, principal.live)) == 0


async def _handed_out(gateway: Gateway, principal: Principal) -> None:
    """Until the log's shared reader has handed out everything committed (or ended)."""
    newest = (await _logged_ids(gateway))[-1]
    tails = stream._TAILS[gateway.store]
    topic = events_topic(principal.account_id, principal.live)
    await until(lambda: topic not in tails or tails[topic].position == newest)
