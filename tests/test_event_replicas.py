"""PostgreSQL: commits through one gateway process wake followers on another, through
LISTEN/NOTIFY, and a listener whose connection is lost comes back by itself."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import make_settings, only_postgres, running_gateway
from tests.gateway import Gateway
from tests.live import until
from tests.test_event_stream import _follow, _started


@pytest.fixture
def backend() -> str:
    return only_postgres()


async def test_commits_through_another_process_wake_followers(
    gateway: Gateway, database: dict[str, Any]
) -> None:
    async with running_gateway(make_settings(**database)) as other:
        # The other gateway has its own Store, wake-ups and LISTEN connection.
        assert other.store.wakeups is not gateway.store.wakeups
        task = await _started(_follow(gateway), 3)
        for number in range(3):
            await other.create_customer(name=f"Elsewhere {number}", key=gateway.key)
        received = await task
    assert [event.customer.name for event in received] == [
        f"Elsewhere {number}" for number in range(3)
    ]


async def test_a_lost_listener_reconnects_and_loses_nothing(gateway: Gateway) -> None:
    wakeups = gateway.store.wakeups
    await until(lambda: wakeups.listener_pid is not None)
    lost = wakeups.listener_pid
    task = await _started(_follow(gateway), 2)
    async with gateway.engine.connect() as connection:
        await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lost})
    await gateway.create_customer(name="While reconnecting")
    await until(lambda: wakeups.listener_pid not in (None, lost))
    await gateway.create_customer(name="After")
    received = await task
    assert [event.customer.name for event in received] == ["While reconnecting", "After"]
