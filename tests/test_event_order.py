"""Event ids ascend in commit order, under interleaved transactions (contract part 2,
"Ids and order"): a reader that has been shown event E is never later shown an event of
that account and mode sorting before E.

Writers record an event and then hold their transaction open for a while before
committing, so transactions that recorded early commit late; a reader polls the log
meanwhile. Without the head row's lock (app/events/log.py) an id taken early becomes
visible after later ones, and this fails.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.accounts.keys import Principal
from app.customers.models import CustomerRecord
from app.events.log import record_event
from app.events.models import EventType, events_table
from app.ids import new_customer_id
from tests.gateway import Gateway

# Each writer: seconds before it starts, and seconds it holds its transaction open after
# recording its event.
SCHEDULES = st.lists(st.tuples(st.floats(0, 0.03), st.floats(0, 0.03)), min_size=2, max_size=10)


async def _write(gateway: Gateway, principal: Principal, start: float, hold: float) -> str:
    await asyncio.sleep(start)
    customer = CustomerRecord(new_customer_id(1), False, 1, 1, "W", None, None, {})
    async with gateway.store.write() as connection:
        event = await record_event(connection, principal, EventType.CUSTOMER_CREATED, customer)
        await asyncio.sleep(hold)
    return event.id


async def _read(gateway: Gateway, principal: Principal) -> list[str]:
    async with gateway.store.read() as connection:
        rows = await connection.execute(
            select(events_table.c.id)
            .where(
                events_table.c.account_id == principal.account_id,
                events_table.c.live == principal.live,
            )
            .order_by(events_table.c.id)
        )
        return [row.id for row in rows]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(schedule=SCHEDULES)
async def test_no_reader_sees_an_event_appear_before_one_it_saw(
    gateway: Gateway, schedule: list[tuple[float, float]]
) -> None:
    principal = await gateway.principal()
    seen = set(await _read(gateway, principal))
    newest = max(seen, default="")
    writers = asyncio.gather(*(_write(gateway, principal, start, hold) for start, hold in schedule))
    while True:
        finished = writers.done()
        shown = await _read(gateway, principal)
        appeared = [event_id for event_id in shown if event_id not in seen]
        assert all(event_id > newest for event_id in appeared), (newest, appeared)
        seen.update(appeared)
        newest = max(seen, default="")
        if finished:
            break
        await asyncio.sleep(0.002)
    committed = await writers
    assert len(set(committed)) == len(committed)
    assert set(committed) <= seen
