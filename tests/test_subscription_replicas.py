"""Two gateway processes on one PostgreSQL (contract part 2, the subscription: "Subscribers
on every gateway process receive the events committed through any other process"):
subscribers on both, over both transports, while several writers spread hundreds of
mixed mutations over both; every subscriber receives every event exactly once, in the
order of the customerEvents query, and one that disconnects midway and resumes with
`after` on the other process ends with exactly the same sequence."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import pytest

from tests.conftest import only_postgres
from tests.gateway import Gateway
from tests.live import Socket, event_stream, socket
from tests.processes import environment, free_port, serving

WRITERS = 4
ROUNDS = 25  # per writer: a create, two updates, and every other round a delete
CREATE = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id } userErrors { code } } }"""
UPDATE = """mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { customer { id } userErrors { code } } }"""
DELETE = """mutation($input: DeleteCustomerInput!) {
  deleteCustomer(input: $input) { deletedCustomerId userErrors { code } } }"""


@pytest.fixture
def backend() -> str:
    return only_postgres()


async def test_every_subscriber_on_every_process_gets_every_event_once_in_order(
    gateway: Gateway, database: dict[str, Any]
) -> None:
    await gateway.create_customer(name="Start")
    start = (await _logged(gateway))[-1]
    env = environment(database)
    async with serving(env, free_port()) as first, serving(env, free_port()) as second:
        urls = [first, second]
        written = Written()
        subscribers = [
            *(_over_socket(url, gateway.key, start, written) for url in urls for _ in range(2)),
            *(_over_sse(url, gateway.key, start, written) for url in urls),
            _resuming(urls, gateway.key, start, written, disconnect_after=60),
        ]
        receiving = asyncio.gather(*subscribers)
        async with aiohttp.ClientSession() as session:
            counts = await asyncio.gather(
                *(_writer(session, urls, gateway.key, number) for number in range(WRITERS))
            )
        logged = await _logged(gateway)
        expected = logged[logged.index(start) + 1 :]
        assert len(expected) == sum(counts) >= WRITERS * ROUNDS * 3
        written.total = len(expected)
        received = await asyncio.wait_for(receiving, 120)
    assert len(received) == 7
    for sequence in received:
        assert sequence == expected


class Written:
    """How many events the writers made, once they are done."""

    total: int | None = None

    def more_to_come(self, received: list[str]) -> bool:
        return self.total is None or len(received) < self.total


async def _writer(session: aiohttp.ClientSession, urls: list[str], key: str, number: int) -> int:
    """Mixed mutations, alternating between the processes; how many events they made."""
    events = 0
    for round_ in range(ROUNDS):
        target = urls[(number + round_) % 2]
        created = await _mutate(session, target, key, CREATE, {"name": f"W{number}-{round_}"})
        customer_id = created["createCustomer"]["customer"]["id"]
        for change in range(2):
            update = {"id": customer_id, "name": f"W{number}-{round_}-{change}"}
            await _mutate(session, urls[(number + round_ + change + 1) % 2], key, UPDATE, update)
        events += 3
        if round_ % 2:
            await _mutate(session, target, key, DELETE, {"id": customer_id})
            events += 1
    return events


async def _mutate(
    session: aiohttp.ClientSession, url: str, key: str, query: str, values: dict[str, Any]
) -> dict[str, Any]:
    body = {"query": query, "variables": {"input": values}}
    async with session.post(url, json=body, headers={"Authorization": f"Bearer {key}"}) as response:
        answer = await response.json()
    assert "errors" not in answer, answer
    data: dict[str, Any] = answer["data"]
    assert all(payload["userErrors"] == [] for payload in data.values()), data
    return data


async def _over_socket(url: str, key: str, after: str, written: Written) -> list[str]:
    received: list[str] = []
    async with socket(url, key) as ws:
        await ws.subscribe("events", variables={"after": after})
        await _collect(ws, received, written)
    return received


async def _over_sse(url: str, key: str, after: str, written: Written) -> list[str]:
    received: list[str] = []
    async with event_stream(url, key, variables={"after": after}) as stream:
        while written.more_to_come(received):
            with contextlib.suppress(TimeoutError):
                received += [event["id"] for event in await stream.events(1)]
    return received


async def _resuming(
    urls: list[str], key: str, after: str, written: Written, *, disconnect_after: int
) -> list[str]:
    """Takes some events from the first process, leaves, and resumes on the second."""
    async with socket(urls[0], key) as ws:
        await ws.subscribe("events", variables={"after": after})
        received = [event["id"] for event in await ws.events("events", disconnect_after)]
    async with socket(urls[1], key) as ws:
        await ws.subscribe("events", variables={"after": received[-1]})
        await _collect(ws, received, written)
    return received


async def _collect(ws: Socket, received: list[str], written: Written) -> None:
    while written.more_to_come(received):
        with contextlib.suppress(TimeoutError):
            received += [event["id"] for event in await ws.events("events", 1)]


async def _logged(gateway: Gateway) -> list[str]:
    data = await gateway.data("{ customerEvents(first: 1000) { nodes { id } } }")
    return [node["id"] for node in data["customerEvents"]["nodes"]]
