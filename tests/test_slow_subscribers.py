"""Slow subscribers and idle ones (contract part 2, "Limits"): a subscriber that falls more
than SUBSCRIBER_MAX_LAG events behind gets SUBSCRIBER_TOO_SLOW and can resume with
`after`; idle streams are pinged."""

from __future__ import annotations

import socket as sockets
from typing import Any

import aiohttp
import pytest

from tests.gateway import Gateway
from tests.live import PROTOCOL, Socket, event_stream, socket

MAX_LAG = 20
# Each event carries two metadata objects of 50 x 500 characters (~54 KB): a few hundred
# of them are far more than the sockets' buffers hold while the subscriber reads nothing.
UPDATES = 300
BIG_EVENTS = """subscription($after: ID) { customerEvents(after: $after) {
  id customer { metadata } previousAttributes } }"""
UPDATE = """mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { userErrors { code } } }"""


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"subscriber_max_lag": MAX_LAG}


def _small_receive_buffer(address: Any) -> sockets.socket:
    """A client socket whose receive buffer stays small (the kernel does not grow it)."""
    family, kind, protocol, _name, _address = address
    made = sockets.socket(family=family, type=kind, proto=protocol)
    made.setblocking(False)
    made.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 16_384)
    return made


def _metadata(letter: str) -> dict[str, str]:
    return {f"key{number}": letter * 500 for number in range(50)}


async def test_a_subscriber_too_far_behind_is_cut_off_and_resumes(gateway: Gateway) -> None:
    customer = await gateway.create_customer(name="Busy")
    start = (await _event_ids(gateway))[-1]
    url = str(gateway.client.make_url("/graphql"))
    connector = aiohttp.TCPConnector(socket_factory=_small_receive_buffer)
    async with aiohttp.ClientSession(connector=connector) as session:
        ws = Socket(await session.ws_connect(url, protocols=(PROTOCOL,)))
        await ws.init(gateway.key)
        await ws.subscribe("slow", BIG_EVENTS, {"after": start})
        # The subscriber reads nothing meanwhile.
        for number in range(UPDATES):
            metadata = _metadata("ab"[number % 2])
            await gateway.data(UPDATE, {"input": {"id": customer["id"], "metadata": metadata}})
        received = []
        while (message := await ws.of("slow"))["type"] == "next":
            received.append(message["payload"]["data"]["customerEvents"]["id"])
        await ws.ws.close()
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"] == {"code": "SUBSCRIBER_TOO_SLOW", "limit": MAX_LAG}
    logged = await _event_ids(gateway)
    after_start = logged[logged.index(start) + 1 :]
    # What it was given is the log's beginning, without a gap; it was well behind.
    assert received == after_start[: len(received)]
    assert len(received) < UPDATES - MAX_LAG
    # Resuming after the last event it received gives exactly the rest.
    async with socket(url, gateway.key) as again:
        await again.subscribe("resumed", variables={"after": received[-1]})
        rest = await again.events("resumed", len(after_start) - len(received))
    assert received + [event["id"] for event in rest] == after_start


class TestKeepalive:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"keepalive_seconds": 0.3}

    async def test_idle_sockets_and_streams_are_pinged(self, gateway: Gateway) -> None:
        await _pinged(gateway)


async def _pinged(gateway: Gateway) -> None:
    url = str(gateway.client.make_url("/graphql"))
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(url, protocols=(PROTOCOL,), autoping=False)
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.PING
        await ws.close()
    async with event_stream(url, gateway.key) as stream:
        comment = await stream.response.content.readuntil(b"\n\n")
        assert comment == b":\n\n"


async def _event_ids(gateway: Gateway) -> list[str]:
    data = await gateway.data("{ customerEvents(first: 1000) { nodes { id } } }")
    return [node["id"] for node in data["customerEvents"]["nodes"]]
