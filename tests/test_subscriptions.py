"""The customerEvents subscription over both transports on /graphql (contract part 2,
"Transports" and "Limits"): graphql-transport-ws over WebSocket and SSE in distinct
connections mode, with the edge's rules (keys, limits, isolation) and lifecycle."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.accounts import keys
from app.web.state import RENDERINGS, SUBSCRIPTIONS
from tests.gateway import Gateway
from tests.live import EVENTS, event_stream, socket, until

UPDATE = """mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { customer { id } userErrors { code } } }"""
DELETE = """mutation($input: DeleteCustomerInput!) {
  deleteCustomer(input: $input) { deletedCustomerId userErrors { code } } }"""


def _url(gateway: Gateway) -> str:
    return str(gateway.client.make_url("/graphql"))


async def _event_ids(gateway: Gateway, key: str | None = None) -> list[str]:
    data = await gateway.data("{ customerEvents(first: 1000) { nodes { id } } }", key=key)
    return [node["id"] for node in data["customerEvents"]["nodes"]]


async def _newest_event(gateway: Gateway, key: str | None = None) -> str:
    return (await _event_ids(gateway, key))[-1]


async def test_ws_replays_after_then_delivers_live_ones_in_order(gateway: Gateway) -> None:
    first = await gateway.create_customer(name="Ada")
    after = await _newest_event(gateway)
    await gateway.create_customer(name="Grace")
    await gateway.create_customer(name="Edsger")
    async with socket(_url(gateway), gateway.key) as ws:
        await ws.subscribe("s", variables={"after": after})
        replayed = await ws.events("s", 2)
        await gateway.data(UPDATE, {"input": {"id": first["id"], "name": "Ada L."}})
        await gateway.data(DELETE, {"input": {"id": first["id"]}})
        live = await ws.events("s", 2)
    logged = await _event_ids(gateway)
    received = replayed + live
    assert [event["id"] for event in received] == logged[logged.index(after) + 1 :]
    assert [(event["type"], event["customer"]["name"]) for event in received] == [
        ("CUSTOMER_CREATED", "Grace"),
        ("CUSTOMER_CREATED", "Edsger"),
        ("CUSTOMER_UPDATED", "Ada L."),
        ("CUSTOMER_DELETED", "Ada L."),
    ]


async def test_ws_without_after_delivers_what_commits_after_it(gateway: Gateway) -> None:
    await gateway.create_customer(name="Before")
    async with socket(_url(gateway), gateway.key) as ws:
        await ws.subscribe("s")
        # No message says "established": write until the first event arrives.
        for probe in range(50):
            await gateway.create_customer(name=f"Probe {probe}")
            first = await _ws_of_or_none(ws, "s", 0.2)
            if first is not None:
                break
        else:
            raise AssertionError("no event arrived")
        await gateway.create_customer(name="Then")
        names = [first["payload"]["data"]["customerEvents"]["customer"]["name"]]
        while names[-1] != "Then":
            [event] = await ws.events("s", 1)
            names.append(event["customer"]["name"])
    start = int(names[0].removeprefix("Probe "))
    assert names == [f"Probe {number}" for number in range(start, probe + 1)] + ["Then"]


async def _ws_of_or_none(ws: Any, operation_id: str, seconds: float) -> dict[str, Any] | None:
    try:
        message: dict[str, Any] = await ws.of(operation_id, seconds=seconds)
    except TimeoutError:
        return None
    return message


async def test_ws_takes_the_key_from_the_upgrade_header_too(gateway: Gateway) -> None:
    headers = {"Authorization": f"Bearer {gateway.key}"}
    async with socket(_url(gateway), None, headers=headers) as ws:
        assert await ws.init(None) == {"type": "connection_ack"}
        await ws.subscribe("q", "{ customers(first: 1) { nodes { id } } }")
        assert (await ws.of("q"))["payload"] == {"data": {"customers": {"nodes": []}}}


@pytest.mark.parametrize("key", ["", "sk_test_unknown0000000000000000000000", "not a key"])
async def test_ws_without_a_good_key_closes_with_4403(gateway: Gateway, key: str) -> None:
    async with socket(_url(gateway), None) as ws:
        await ws.send(
            {
                "type": "connection_init",
                "payload": {"Authorization": f"Bearer {key}"} if key else {},
            }
        )
        assert await ws.closed() == 4403


async def test_ws_closes_4403_for_a_revoked_key(gateway: Gateway) -> None:
    key = await gateway.mint_key("acme")
    principal = await gateway.principal(key)
    async with gateway.engine.begin() as connection:
        await keys.revoke_key(connection, key_id=principal.key_id, cache=gateway.key_cache)
    async with socket(_url(gateway), None) as ws:
        await ws.init(key)
        assert await ws.closed() == 4403


async def test_ws_needs_the_subprotocol(gateway: Gateway) -> None:
    async with socket(_url(gateway), None, protocols=("graphql-ws",)) as ws:
        assert await ws.closed() == 4406


async def test_ws_refuses_subscribe_before_the_ack(gateway: Gateway) -> None:
    async with socket(_url(gateway), None) as ws:
        await ws.subscribe("s")
        assert await ws.closed() == 4401


async def test_ws_operations_follow_the_rules_of_http(gateway: Gateway) -> None:
    async with socket(_url(gateway), gateway.key) as ws:
        await ws.subscribe(
            "m",
            'mutation { createCustomer(input: {name: "Over the socket"}) '
            "{ customer { name } userErrors { code } } }",
        )
        created = await ws.of("m")
        assert created["payload"]["data"]["createCustomer"] == {
            "customer": {"name": "Over the socket"},
            "userErrors": [],
        }
        assert (await ws.of("m"))["type"] == "complete"

        await ws.subscribe("parse", "{ customers(first: 1) { nodes { id }")
        refused = await ws.of("parse")
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"

        await ws.subscribe("big", "{ customers(first: 1001) { nodes { id } } }")
        big = await ws.of("big")
        assert big["type"] == "next"  # a BAD_USER_INPUT of the field, as over HTTP
        assert big["payload"]["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

        aliases = "{ " + "".join(f"a{n}: __typename " for n in range(31)) + "}"
        await ws.subscribe("aliases", aliases)
        too_many = await ws.of("aliases")
        assert too_many["type"] == "error"
        assert too_many["payload"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"

        await ws.subscribe("unknown", "{ nope }")
        unknown = await ws.of("unknown")
        assert unknown["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    over_http = await gateway.data("{ customers(first: 5) { nodes { name } } }")
    assert over_http["customers"]["nodes"] == [{"name": "Over the socket"}]


async def test_no_event_of_another_account_or_mode_reaches_a_subscriber(
    gateway: Gateway,
) -> None:
    other_account = await gateway.mint_key("globex")
    live_mode = await gateway.mint_key("acme", live=True)
    await gateway.create_customer(name="Mine")
    after = await _newest_event(gateway)
    foreign = await gateway.create_customer(name="Theirs", key=other_account)
    foreign_event = await _newest_event(gateway, other_account)
    async with socket(_url(gateway), gateway.key) as ws:
        await ws.subscribe("all", variables={"after": after})
        await ws.subscribe("theirs", variables={"after": after, "customerId": foreign["id"]})
        await ws.subscribe("their-after", variables={"after": foreign_event})
        refused = await ws.of("their-after")
        assert refused["payload"]["errors"][0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "argument": "after",
        }
        await gateway.create_customer(name="Live", key=live_mode)
        await gateway.create_customer(name="Theirs again", key=other_account)
        await gateway.create_customer(name="Mine again")
        [event] = await ws.events("all", 1)
        assert event["customer"]["name"] == "Mine again"
        assert await _ws_of_or_none(ws, "theirs", 0.5) is None


async def test_sse_streams_a_subscription_and_answers_queries(gateway: Gateway) -> None:
    await gateway.create_customer(name="Before")
    async with event_stream(_url(gateway), gateway.key) as stream:
        # The 200 came after the subscription's position was taken: nothing is missed.
        await gateway.create_customer(name="After")
        [event] = await stream.events(1)
        assert event["customer"]["name"] == "After"
    query = "{ customers(first: 5) { nodes { name } } }"
    async with event_stream(_url(gateway), gateway.key, query) as stream:
        assert await stream.next_event() == (
            "next",
            {"data": {"customers": {"nodes": [{"name": "After"}, {"name": "Before"}]}}},
        )
        assert await stream.next_event() == ("complete", None)


async def test_sse_refuses_like_http_before_anything_runs(gateway: Gateway) -> None:
    headers = {"Authorization": f"Bearer {gateway.key}", "Accept": "text/event-stream"}
    response = await gateway.client.post("/graphql", json={"query": "{"}, headers=headers)
    assert response.status == 400
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    response = await gateway.client.post(
        "/graphql", json={"query": EVENTS}, headers={**headers, "Authorization": "Bearer no"}
    )
    assert response.status == 401
    batch = [{"query": "{ __typename }"}, {"query": "{ __typename }"}]
    response = await gateway.client.post("/graphql", json=batch, headers=headers)
    assert response.status == 400


@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
async def test_a_subscription_over_plain_http_is_refused_clearly(
    gateway: Gateway, accept: str
) -> None:
    status, body, _headers = await gateway.send({"query": EVENTS}, accept=accept)
    assert status == 406
    assert body["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"
    assert "text/event-stream" in body["errors"][0]["message"]
    assert "data" not in body


class TestTwoPerKey:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"subscriptions_per_key": 2}

    async def test_too_many_subscriptions_per_key(self, gateway: Gateway) -> None:
        await _too_many(gateway)


async def _too_many(gateway: Gateway) -> None:
    other_key = await gateway.mint_key("acme")
    async with socket(_url(gateway), gateway.key) as ws:
        await ws.subscribe("one")
        await ws.subscribe("two")
        subscriptions = gateway.client.app[SUBSCRIPTIONS]
        await until(lambda: subscriptions.open == 2)
        await ws.subscribe("three")
        refused = await ws.of("three")
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"] == {
            "code": "TOO_MANY_SUBSCRIPTIONS",
            "limit": 2,
        }
        headers = {"Authorization": f"Bearer {gateway.key}", "Accept": "text/event-stream"}
        response = await gateway.client.post("/graphql", json={"query": EVENTS}, headers=headers)
        assert response.status == 429
        assert (await response.json())["errors"][0]["extensions"]["code"] == (
            "TOO_MANY_SUBSCRIPTIONS"
        )
        # Another key of the account has its own count; a completed subscription frees one.
        async with event_stream(_url(gateway), other_key):
            pass
        await ws.send({"id": "one", "type": "complete"})
        await until(lambda: subscriptions.open == 1)
        await ws.subscribe("four")
        await until(lambda: subscriptions.open == 2)


async def test_a_revoked_key_ends_its_subscriptions(gateway: Gateway) -> None:
    key = await gateway.mint_key("acme")
    principal = await gateway.principal(key)
    async with socket(_url(gateway), key) as ws, event_stream(_url(gateway), key) as stream:
        await ws.subscribe("s")
        async with gateway.engine.begin() as connection:
            # Revoked elsewhere (another replica, the CLI): this process's cache is not told.
            await keys.revoke_key(connection, key_id=principal.key_id)
        async with asyncio.timeout(keys.KEY_CACHE_SECONDS + 5):
            assert await ws.closed() == 4403
            name, data = await stream.next_event()
            assert name == "next"
            assert data["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            assert await stream.next_event() == ("complete", None)


async def test_shutdown_ends_subscriptions_resumably(gateway: Gateway) -> None:
    await gateway.create_customer(name="Seen")
    after = await _newest_event(gateway)
    async with (
        socket(_url(gateway), gateway.key) as ws,
        event_stream(_url(gateway), gateway.key, variables={"after": after}) as stream,
    ):
        await ws.subscribe("s", variables={"after": after})
        await gateway.create_customer(name="Last before shutdown")
        [delivered] = await ws.events("s", 1)
        assert (await stream.events(1)) == [delivered]
        await gateway.client.app.shutdown()
        assert await ws.closed() == 1001
        assert await stream.next_event() == ("complete", None)
    # What a client resumes from: the last id it received names the next one exactly.
    logged = await _event_ids(gateway)
    assert logged[-1] == delivered["id"]


async def test_open_subscriptions_are_a_gauge(gateway: Gateway) -> None:
    async def gauge() -> float:
        response = await gateway.client.get("/metrics")
        for line in (await response.text()).splitlines():
            if line.startswith("gateway_subscriptions_open "):
                return float(line.split()[1])
        raise AssertionError("no gateway_subscriptions_open in /metrics")

    assert await gauge() == 0
    async with socket(_url(gateway), gateway.key) as ws, event_stream(_url(gateway), gateway.key):
        await ws.subscribe("s")
        await until(lambda: gateway.client.app[SUBSCRIPTIONS].open == 2)
        assert await gauge() == 2


class TestConnectionInitTime:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"connection_init_seconds": 0.2}

    async def test_a_socket_that_never_inits_is_closed_with_4408(self, gateway: Gateway) -> None:
        async with socket(_url(gateway), None) as ws:
            assert await ws.closed() == 4408


async def test_an_event_is_rendered_once_for_every_subscriber_asking_alike(
    gateway: Gateway,
) -> None:
    await gateway.create_customer(name="Start")
    after = await _newest_event(gateway)
    renderings = gateway.client.app[RENDERINGS]
    async with (
        socket(_url(gateway), gateway.key) as first,
        socket(_url(gateway), gateway.key) as second,
        event_stream(_url(gateway), gateway.key, variables={"after": after}) as third,
    ):
        await first.subscribe("s", variables={"after": after})
        await second.subscribe("s", variables={"after": after})
        await gateway.create_customer(name="Shared")
        [one] = await first.events("s", 1)
        [two] = await second.events("s", 1)
        [three] = await third.events(1)
    assert one == two == three
    assert one["customer"]["name"] == "Shared"
    # The same document and variables: one rendering of the event for all three.
    assert len(renderings._entries) == 1
