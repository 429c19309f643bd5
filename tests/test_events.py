"""The event log: one event per successful change, in its transaction, and the
customerEvents connection and node lookups over it (contract part 2, "Live updates")."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any
from unittest.mock import patch

import pytest
from sqlalchemy import func, select, update

from app.events.models import events_table
from app.events.retention import DAY_MS, purge_periodically
from tests.gateway import Gateway
from tests.processes import environment, run_cli

EVENT_FIELDS = """
  id object type live createdAt previousAttributes
  customer { id name email phone metadata updatedAt }
"""
EVENTS = f"""
query($first: Int, $after: String, $last: Int, $before: String,
      $types: [CustomerEventType!], $customerId: ID) {{
  customerEvents(first: $first, after: $after, last: $last, before: $before,
                 types: $types, customerId: $customerId) {{
    edges {{ cursor node {{ {EVENT_FIELDS} }} }}
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
  }}
}}"""
UPDATE = """mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { customer { id } userErrors { code } } }"""
DELETE = """mutation($input: DeleteCustomerInput!) {
  deleteCustomer(input: $input) { customer { id } userErrors { code } } }"""
CREATE_WITH_KEY = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id } userErrors { code } } }"""


async def _events(gateway: Gateway, key: str | None = None, **arguments: Any) -> dict[str, Any]:
    data = await gateway.data(EVENTS, arguments, key=key)
    connection: dict[str, Any] = data["customerEvents"]
    return connection


async def _stored_events(gateway: Gateway) -> int:
    async with gateway.engine.connect() as connection:
        count = await connection.execute(select(func.count()).select_from(events_table))
    return int(count.scalar_one())


async def test_each_change_records_its_event(gateway: Gateway) -> None:
    created = await gateway.create_customer(name="Ada", email="ada@example.com")
    await gateway.data(
        UPDATE, {"input": {"id": created["id"], "name": "Ada L.", "metadata": {"k": "v"}}}
    )
    await gateway.data(UPDATE, {"input": {"id": created["id"]}})
    await gateway.data(DELETE, {"input": {"id": created["id"]}})

    events = [edge["node"] for edge in (await _events(gateway))["edges"]]
    assert [event["type"] for event in events] == [
        "CUSTOMER_CREATED",
        "CUSTOMER_UPDATED",
        "CUSTOMER_UPDATED",
        "CUSTOMER_DELETED",
    ]
    created_event, renamed, untouched, deleted = events
    assert all(event["object"] == "event" and event["live"] is False for event in events)
    assert all(event["id"].startswith("evt_") and len(event["id"]) == 26 for event in events)
    assert [event["id"] for event in events] == sorted(event["id"] for event in events)
    assert created_event["customer"]["name"] == "Ada"
    assert created_event["previousAttributes"] is None
    assert renamed["customer"]["name"] == "Ada L."
    assert renamed["previousAttributes"] == {"name": "Ada", "metadata": {}}
    # An update that changed nothing still records an event (updatedAt moved), with {}.
    assert untouched["previousAttributes"] == {}
    assert untouched["customer"]["updatedAt"] > renamed["customer"]["updatedAt"]
    # The deleted customer as it was just before.
    assert deleted["customer"] == untouched["customer"]
    assert deleted["previousAttributes"] is None


async def test_failures_replays_and_user_errors_record_nothing(gateway: Gateway) -> None:
    created = await gateway.create_customer(name="Grace")
    before = await _stored_events(gateway)
    body = {"input": {"name": "Once", "idempotencyKey": "key-1"}}
    first = await gateway.data(CREATE_WITH_KEY, body)
    replay = await gateway.data(CREATE_WITH_KEY, body)
    assert first == replay
    assert await _stored_events(gateway) == before + 1

    bad_email = await gateway.data(UPDATE, {"input": {"id": created["id"], "email": "nope"}})
    assert bad_email["updateCustomer"]["userErrors"][0]["code"] == "INVALID"
    unknown = {"input": {"id": "cus_0000000000000000000000"}}
    assert (await gateway.data(UPDATE, unknown))["updateCustomer"]["userErrors"]
    assert (await gateway.data(DELETE, unknown))["deleteCustomer"]["userErrors"]
    reused = {"input": {"name": "Other", "idempotencyKey": "key-1"}}
    assert (await gateway.data(CREATE_WITH_KEY, reused))["createCustomer"]["userErrors"]
    assert await _stored_events(gateway) == before + 1


@pytest.mark.parametrize("key", [None, "k"], ids=["driver", "idempotent"])
async def test_a_failed_transaction_keeps_neither_the_change_nor_its_event(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, key: str | None
) -> None:
    """The event's statements fail after the customer's row is inserted: on SQLite the
    event id is made between them; on PostgreSQL a NaN made into an id fails the one
    statement after its customer's insert. Without a key the creation runs on a driver
    connection (Store.writer()), with one in the engine's transaction."""
    from app.events import log, sqlite_log

    def failing_id(*_arguments: Any) -> str:
        raise RuntimeError("no event id")

    monkeypatch.setattr(sqlite_log, "new_event_id", failing_id)
    monkeypatch.setattr(log, "random_bits", lambda: Decimal("NaN"))
    status, body = await gateway.post(
        CREATE_WITH_KEY, {"input": {"name": "Lost", "idempotencyKey": key}}
    )
    assert status == 200 and body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert await gateway.stored_customers() == 0
    assert await _stored_events(gateway) == 0
    monkeypatch.undo()
    # The connection that failed is whole, or replaced: the next creation commits.
    await gateway.create_customer(name="Kept")
    assert (await gateway.stored_customers(), await _stored_events(gateway)) == (1, 1)


async def test_the_connection_pages_both_ways_with_exact_page_info(gateway: Gateway) -> None:
    for number in range(5):
        await gateway.create_customer(name=f"C{number}")
    everything = await _events(gateway)
    ids = [edge["node"]["id"] for edge in everything["edges"]]
    cursors = [edge["cursor"] for edge in everything["edges"]]
    assert len(ids) == 5
    assert everything["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": False,
        "startCursor": cursors[0],
        "endCursor": cursors[-1],
    }
    page = await _events(gateway, first=2, after=cursors[0])
    assert [edge["node"]["id"] for edge in page["edges"]] == ids[1:3]
    assert page["pageInfo"]["hasNextPage"] and page["pageInfo"]["hasPreviousPage"]
    # A plain event id works as after/before too.
    by_id = await _events(gateway, first=2, after=ids[0])
    assert by_id["edges"] == page["edges"]
    backward = await _events(gateway, last=2, before=cursors[4])
    assert [edge["node"]["id"] for edge in backward["edges"]] == ids[2:4]
    assert backward["pageInfo"]["hasNextPage"] and backward["pageInfo"]["hasPreviousPage"]
    tail = await _events(gateway, last=2)
    assert [edge["node"]["id"] for edge in tail["edges"]] == ids[3:]
    assert tail["pageInfo"]["hasNextPage"] is False
    between = await _events(gateway, after=cursors[1], before=cursors[3])
    assert [edge["node"]["id"] for edge in between["edges"]] == [ids[2]]
    assert between["pageInfo"]["hasNextPage"] and between["pageInfo"]["hasPreviousPage"]


async def test_types_and_customer_id_narrow_the_log(gateway: Gateway) -> None:
    first = await gateway.create_customer(name="One")
    second = await gateway.create_customer(name="Two")
    await gateway.data(UPDATE, {"input": {"id": first["id"], "name": "Uno"}})
    updates = await _events(gateway, types=["CUSTOMER_UPDATED"])
    assert [edge["node"]["customer"]["id"] for edge in updates["edges"]] == [first["id"]]
    assert (await _events(gateway, types=[]))["edges"] == []
    mine = await _events(gateway, customerId=second["id"])
    assert [edge["node"]["type"] for edge in mine["edges"]] == ["CUSTOMER_CREATED"]
    assert (await _events(gateway, customerId="not-a-customer"))["edges"] == []


async def test_arguments_are_checked_like_customers(gateway: Gateway) -> None:
    await gateway.create_customer(name="Someone")
    other = await gateway.mint_key("another-account")
    foreign = (await _events(gateway))["edges"][0]["node"]["id"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"first": 1, "last": 1}, "first"),
        ({"first": 0}, "first"),
        ({"last": 1001}, "last"),
        ({"after": "garbage"}, "after"),
        ({"before": "cus_0000000000000000000000"}, "before"),
        ({"after": "evt_0000000000000000000000"}, "after"),
        ({"after": foreign}, "after"),
    ]
    messages = {}
    for arguments, argument in cases:
        status, body = await gateway.post(EVENTS, arguments, key=other)
        assert status == 200 and body["data"] is None, body
        error = body["errors"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert error["extensions"]["argument"] == argument, error
        messages[tuple(arguments.items())] = error["message"]
    # Unknown and foreign event ids read the same.
    unknown = messages[(("after", "evt_0000000000000000000000"),)]
    assert messages[(("after", foreign),)] == unknown
    # A cursor of the customers connection is not one of the event log.
    customers = await gateway.data("{ customers(first: 1) { edges { cursor } } }")
    status, body = await gateway.post(
        EVENTS, {"after": customers["customers"]["edges"][0]["cursor"]}
    )
    assert body["errors"][0]["extensions"]["argument"] == "after"


async def test_isolation_by_account_and_mode(gateway: Gateway) -> None:
    live = await gateway.mint_key("test-account-live", live=True)
    other = await gateway.mint_key("another-account")
    mine = await gateway.create_customer(name="Sandbox")
    await gateway.create_customer(name="Live", key=live)
    await gateway.create_customer(name="Other", key=other)
    seen = await _events(gateway)
    assert [edge["node"]["customer"]["id"] for edge in seen["edges"]] == [mine["id"]]
    assert [edge["node"]["live"] for edge in (await _events(gateway, key=live))["edges"]] == [True]
    event_id = seen["edges"][0]["node"]["id"]
    lookup = "query($id: ID!) { node(id: $id) { __typename id ... on CustomerEvent { type } } }"
    assert (await gateway.data(lookup, {"id": event_id}))["node"] == {
        "__typename": "CustomerEvent",
        "id": event_id,
        "type": "CUSTOMER_CREATED",
    }
    assert (await gateway.data(lookup, {"id": event_id}, key=other))["node"] is None
    assert (await gateway.data(lookup, {"id": event_id}, key=live))["node"] is None
    nodes = await gateway.data(
        "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }",
        {"ids": [event_id, mine["id"], "evt_0000000000000000000000"]},
    )
    assert nodes["nodes"] == [
        {"__typename": "CustomerEvent", "id": event_id},
        {"__typename": "Customer", "id": mine["id"]},
        None,
    ]


async def test_concurrent_writers_get_ids_in_commit_order(gateway: Gateway) -> None:
    await asyncio.gather(*(gateway.create_customer(name=f"W{number}") for number in range(20)))
    async with gateway.engine.connect() as connection:
        rows = (
            await connection.execute(select(events_table.c.id).order_by(events_table.c.id))
        ).all()
    ids = [row.id for row in rows]
    assert len(set(ids)) == 20
    connection_ids = [edge["node"]["id"] for edge in (await _events(gateway))["edges"]]
    assert connection_ids == ids


async def _age_events(gateway: Gateway, days: float) -> None:
    async with gateway.engine.begin() as connection:
        await connection.execute(
            update(events_table).values(created_at=events_table.c.created_at - int(days * DAY_MS))
        )


async def test_events_past_retention_are_purged_by_the_command(
    gateway: Gateway, database: dict[str, Any]
) -> None:
    await gateway.create_customer(name="Old")
    await _age_events(gateway, 31)
    await gateway.create_customer(name="New")
    purged = await asyncio.to_thread(run_cli, environment(database), "events", "purge")
    assert purged.returncode == 0, purged.stderr
    assert "purged 1 event(s) older than 30 days" in purged.stdout
    remaining = await _events(gateway)
    assert [edge["node"]["customer"]["name"] for edge in remaining["edges"]] == ["New"]
    again = await asyncio.to_thread(
        run_cli, environment(database, EVENT_RETENTION_DAYS="29"), "events", "purge"
    )
    assert again.returncode != 0 and "EVENT_RETENTION_DAYS" in again.stderr


async def test_the_gateway_purges_in_the_background_in_batches(gateway: Gateway) -> None:
    for number in range(5):
        await gateway.create_customer(name=f"Old {number}")
    await _age_events(gateway, 40)
    await gateway.create_customer(name="Kept")
    with patch("app.events.retention.PURGE_BATCH", 2):
        task = asyncio.create_task(
            purge_periodically(gateway.store, retention_days=30, first_after=0, interval=0.05)
        )
        try:
            for _ in range(100):
                if await _stored_events(gateway) == 1:
                    break
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
    assert await _stored_events(gateway) == 1
    # Only the old events went.
    assert [edge["node"]["customer"]["name"] for edge in (await _events(gateway))["edges"]] == [
        "Kept"
    ]
