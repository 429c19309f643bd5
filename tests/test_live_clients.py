"""The npm clients of the subscription transports (pinned) against the gateway:
graphql-ws over WebSocket and graphql-sse in distinct connections mode, through
tests/audit/live-clients.mjs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.audit.node import require_node_package, run_script
from tests.gateway import Gateway

EVENT_FIELDS = "id object type live createdAt customer { id name } previousAttributes"
CUSTOMERS = "{ customers(first: 50) { totalCount nodes { id name email } } }"
# "evt_" + 22 base62 characters, as every event id, naming no event.
UNKNOWN_EVENT_ID = "evt_0000000000000000000000"


async def run_clients(gateway: Gateway, scenario: str, *arguments: str) -> dict[str, Any]:
    require_node_package("graphql-ws")
    require_node_package("graphql-sse")
    url = str(gateway.client.make_url("/graphql"))
    report: dict[str, Any] = await run_script(
        "live-clients.mjs", scenario, url, gateway.key, *arguments
    )
    assert "failure" not in report, report["failure"]
    return report


async def last_event_id(gateway: Gateway) -> str:
    data = await gateway.data("{ customerEvents(last: 1) { nodes { id } } }")
    [event] = data["customerEvents"]["nodes"]
    event_id: str = event["id"]
    return event_id


async def events_after(gateway: Gateway, after: str) -> list[dict[str, Any]]:
    query = "query($after: String) { customerEvents(first: 100, after: $after) { nodes { %s } } }"
    data = await gateway.data(query % EVENT_FIELDS, {"after": after})
    events: list[dict[str, Any]] = data["customerEvents"]["nodes"]
    return events


async def rename(gateway: Gateway, customer_id: str, name: str) -> None:
    data = await gateway.data(
        """mutation($id: ID!, $name: String!) {
             updateCustomer(input: { id: $id, name: $name }) { userErrors { code } }
           }""",
        {"id": customer_id, "name": name},
    )
    assert data["updateCustomer"]["userErrors"] == []


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_a_client_follows_the_log_after_an_event_id(gateway: Gateway, transport: str) -> None:
    await gateway.create_customer(name="Ada")
    mark = await last_event_id(gateway)
    grace = await gateway.create_customer(name="Grace")
    await rename(gateway, grace["id"], "Grace Hopper")

    # The script gets the two events after the mark from the log, then creates, renames
    # and deletes a customer over HTTP and gets those three as they commit.
    report = await run_clients(gateway, "follow", transport, mark, "2")

    assert report["events"] == await events_after(gateway, mark)
    assert [(event["type"], event["customer"]["name"]) for event in report["events"]] == [
        ("CUSTOMER_CREATED", "Grace"),
        ("CUSTOMER_UPDATED", "Grace Hopper"),
        ("CUSTOMER_CREATED", "Live Lovelace"),
        ("CUSTOMER_UPDATED", "Live Lovelace II"),
        ("CUSTOMER_DELETED", "Live Lovelace II"),
    ]
    customer_ids = [event["customer"]["id"] for event in report["events"]]
    assert customer_ids == [grace["id"]] * 2 + [report["customerId"]] * 3
    assert [event["previousAttributes"] for event in report["events"]] == [
        None,
        {"name": "Grace"},
        None,
        {"name": "Live Lovelace"},
        None,
    ]
    assert {(event["object"], event["live"]) for event in report["events"]} == {("event", False)}


async def test_graphql_ws_is_refused_with_4403_without_a_good_key(gateway: Gateway) -> None:
    report = await run_clients(gateway, "refused")
    for attempt in (report["badKey"], report["noKey"]):
        assert attempt["acknowledged"] is False
        assert [close["code"] for close in attempt["closes"]] == [4403]
        assert "received" not in attempt
        assert attempt["error"].startswith("closed 4403 ")


async def test_graphql_ws_queries_and_mutates_as_http_does(gateway: Gateway) -> None:
    await gateway.create_customer(name="Ada")
    before_over_http = await gateway.data(CUSTOMERS)

    report = await run_clients(gateway, "operations")

    assert report["before"] == [{"data": before_over_http}]
    [created] = report["created"]
    payload = created["data"]["createCustomer"]
    assert payload["userErrors"] == []
    customer = payload["customer"]
    assert customer["name"] == "Socket Sally"
    stored = await gateway.data(
        "query($id: ID!) { node(id: $id) { ... on Customer { id name email } } }",
        {"id": customer["id"]},
    )
    assert stored["node"] == customer
    after_over_http = await gateway.data(CUSTOMERS)
    assert report["after"] == [{"data": after_over_http}]
    assert after_over_http["customers"]["totalCount"] == 2


async def test_graphql_sse_answers_a_query(gateway: Gateway) -> None:
    await gateway.create_customer(name="Ada")

    report = await run_clients(gateway, "sse-query")

    assert report["results"] == [{"data": await gateway.data(CUSTOMERS)}]
    assert report["results"][0]["data"]["customers"]["totalCount"] == 1


async def test_graphql_sse_gets_bad_user_input_for_an_unknown_after(gateway: Gateway) -> None:
    await gateway.create_customer(name="Ada")

    report = await run_clients(gateway, "sse-unknown-after", UNKNOWN_EVENT_ID)

    # One result carrying the error, then the server completes the operation.
    [result] = report["results"]
    assert [error["extensions"]["code"] for error in result["errors"]] == ["BAD_USER_INPUT"]
    assert result["errors"][0]["extensions"]["argument"] == "after"
    assert result.get("data") is None
