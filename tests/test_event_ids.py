"""Event ids made in SQL (PostgreSQL, app/events/log.py) have exactly the format
app/ids.py makes in Python (SQLite): "evt_" and 22 base62 digits of (the head's
millisecond << 80 | 80 random bits), so ids stored before and after sort together by
time."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import bindparam, select, text

from app.events.models import events_table, heads_table
from app.ids import BASE62, EVENT_ID_PATTERN, encode_base62, event_id_sql, timed_value_sql
from tests.gateway import Gateway

UPDATE = """mutation($id: ID!, $name: String!) {
  updateCustomer(input: {id: $id, name: $name}) { customer { id } userErrors { code } } }"""
DELETE = """mutation($id: ID!) {
  deleteCustomer(input: {id: $id}) { customer { id } userErrors { code } } }"""


def _decoded(event_id: str) -> tuple[int, int]:
    """An event id's millisecond and random part."""
    assert EVENT_ID_PATTERN.match(event_id), event_id
    value = 0
    for character in event_id[4:]:
        value = value * 62 + BASE62.index(character)
    return value >> 80, value & ((1 << 80) - 1)


async def test_the_sql_expression_is_the_python_encoding(gateway: Gateway) -> None:
    if gateway.store.dialect != "postgresql":
        pytest.skip("SQLite's ids are made in Python")
    edges = [(0, 0), (0, 1), (1, 0), (2**48 - 1, 2**80 - 1), (1_796_000_000_000, 2**79)]
    cases = edges + [(secrets.randbits(48), secrets.randbits(80)) for _ in range(500)]
    made = text(
        f"SELECT {event_id_sql('value')} FROM "  # noqa: S608 (constants only)
        f"(SELECT {timed_value_sql(':milliseconds', ':random')} AS value) AS timed"
    ).bindparams(bindparam("milliseconds"), bindparam("random"))
    async with gateway.engine.connect() as connection:
        for milliseconds, random in cases:
            values = {"milliseconds": milliseconds, "random": random}
            event_id = (await connection.execute(made, values)).scalar_one()
            assert event_id == "evt_" + encode_base62((milliseconds << 80) | random, 22)
            assert _decoded(event_id) == (milliseconds, random)


async def test_recorded_ids_carry_the_heads_millisecond_and_random_bits(gateway: Gateway) -> None:
    created = await gateway.create_customer(name="Ada")
    await gateway.data(UPDATE, {"id": created["id"], "name": "Ada L."})
    await gateway.data(DELETE, {"id": created["id"]})
    async with gateway.engine.connect() as connection:
        rows = (
            await connection.execute(
                select(events_table.c.id, events_table.c.type, events_table.c.created_at).order_by(
                    events_table.c.id
                )
            )
        ).all()
        head = (await connection.execute(select(heads_table.c.last_ms))).scalar_one()
        json_type = "jsonb_typeof" if gateway.store.dialect == "postgresql" else "json_type"
        stored_null = await connection.scalar(
            text(
                f"SELECT {json_type}(previous_attributes) FROM customer_events "  # noqa: S608
                "WHERE type = 'CUSTOMER_CREATED'"
            )
        )
    assert [row.type for row in rows] == [
        "CUSTOMER_CREATED",
        "CUSTOMER_UPDATED",
        "CUSTOMER_DELETED",
    ]
    times = [_decoded(row.id)[0] for row in rows]
    assert times == sorted(set(times)) and times[-1] == head
    # An id's time is at or after its createdAt (the head only moves forward).
    assert all(time >= row.created_at for time, row in zip(times, rows, strict=True))
    assert len({_decoded(row.id)[1] for row in rows}) == 3
    # "No previous attributes" is stored as JSON null, as SQLAlchemy's JSON type does.
    assert stored_null == "null"
