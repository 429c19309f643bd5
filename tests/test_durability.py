"""SQLite waits for the disk before acknowledging a write unless told not to
(SQLITE_SYNCHRONOUS; README, "Durability")."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway import Gateway

FULL, NORMAL = 2, 1  # what PRAGMA synchronous reports


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def synchronous(gateway: Gateway) -> set[int]:
    """The setting of every connection that writes: the engine's (updates, deletes,
    creations with an idempotency key) and the driver's (other creations)."""
    await gateway.create_customer(name="Written")  # through the gateway's own connections
    async with gateway.store.write() as connection:
        engine = int((await connection.exec_driver_sql("PRAGMA synchronous")).scalar_one())
    async with gateway.store.writer() as writer:
        driver = await writer.transaction(
            lambda database: database.execute("PRAGMA synchronous").fetchone()[0],
            "PRAGMA synchronous",
        )
    return {engine, int(driver)}


async def test_an_acknowledged_write_is_on_disk_by_default(gateway: Gateway) -> None:
    assert await synchronous(gateway) == {FULL}


@pytest.mark.parametrize("settings_overrides", [{"sqlite_synchronous": "normal"}])
async def test_normal_trades_power_loss_safety_for_speed(
    gateway: Gateway, settings_overrides: dict[str, Any]
) -> None:
    assert await synchronous(gateway) == {NORMAL}
