"""Subscribing from tests: a graphql-transport-ws socket and an SSE stream over aiohttp."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson

PROTOCOL = "graphql-transport-ws"
WAIT = 15.0
EVENTS = "subscription Events($after: ID, $types: [CustomerEventType!], $customerId: ID) {"
EVENTS += " customerEvents(after: $after, types: $types, customerId: $customerId) {"
EVENTS += " id type customer { id name } } }"


class Socket:
    """One WebSocket; `messages` of one operation id, in order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._pending: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(orjson.dumps(message).decode())

    async def receive(self, seconds: float = WAIT) -> dict[str, Any]:
        """The next message; the close itself as {"type": "closed", "code": …}."""
        message = await self.ws.receive(timeout=seconds)
        if message.type == aiohttp.WSMsgType.TEXT:
            decoded: dict[str, Any] = orjson.loads(message.data)
            return decoded
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return {"type": "closed", "code": self.ws.close_code}
        raise AssertionError(f"unexpected message {message.type}: {message.data!r}")

    async def init(self, key: str | None) -> dict[str, Any]:
        payload = {} if key is None else {"Authorization": f"Bearer {key}"}
        await self.send({"type": "connection_init", "payload": payload})
        return await self.receive()

    async def subscribe(
        self, operation_id: str, query: str = EVENTS, variables: dict[str, Any] | None = None
    ) -> None:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        await self.send({"id": operation_id, "type": "subscribe", "payload": payload})

    async def of(self, operation_id: str, seconds: float = WAIT) -> dict[str, Any]:
        """The next message for `operation_id` (others are kept for later), or the close."""
        for index, message in enumerate(self._pending):
            if message.get("id") == operation_id:
                return self._pending.pop(index)
        async with asyncio.timeout(seconds):
            while True:
                message = await self.receive(seconds)
                if message["type"] == "closed" or message.get("id") == operation_id:
                    return message
                self._pending.append(message)

    async def events(self, operation_id: str, count: int) -> list[dict[str, Any]]:
        """The next `count` events of a customerEvents subscription."""
        received: list[dict[str, Any]] = []
        while len(received) < count:
            message = await self.of(operation_id)
            assert message["type"] == "next", message
            received.append(message["payload"]["data"]["customerEvents"])
        return received

    async def closed(self, seconds: float = WAIT) -> int | None:
        """The close code, once the server has closed the socket."""
        async with asyncio.timeout(seconds):
            while True:
                message = await self.receive(seconds)
                if message["type"] == "closed":
                    code: int | None = message["code"]
                    return code


@asynccontextmanager
async def socket(
    url: str,
    key: str | None,
    *,
    headers: dict[str, str] | None = None,
    protocols: tuple[str, ...] = (PROTOCOL,),
) -> AsyncIterator[Socket]:
    """A socket to `url`, initialised with `key` (expecting the ack) unless key is None."""
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(url, protocols=protocols, headers=headers or {})
        opened = Socket(ws)
        try:
            if key is not None:
                ack = await opened.init(key)
                assert ack == {"type": "connection_ack"}, ack
            yield opened
        finally:
            await ws.close()


class EventStream:
    """One SSE response: its events as (name, decoded data or None)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next_event(self, seconds: float = WAIT) -> tuple[str, Any]:
        async with asyncio.timeout(seconds):
            while True:
                block = await self.response.content.readuntil(b"\n\n")
                if block.startswith(b":"):
                    continue  # a keepalive comment
                fields = {}
                for line in block.decode().strip().split("\n"):
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                data = fields.get("data", "")
                return fields["event"], orjson.loads(data) if data else None

    async def events(self, count: int) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        while len(received) < count:
            name, data = await self.next_event()
            assert name == "next", (name, data)
            received.append(data["data"]["customerEvents"])
        return received


@asynccontextmanager
async def event_stream(
    url: str, key: str, query: str = EVENTS, variables: dict[str, Any] | None = None
) -> AsyncIterator[EventStream]:
    """POST with Accept: text/event-stream; the stream once its 200 head arrived."""
    body: dict[str, Any] = {"query": query, "variables": variables or {}}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url,
            data=orjson.dumps(body),
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Accept": "text/event-stream",
            },
        ) as response,
    ):
        assert response.status == 200, await response.text()
        yield EventStream(response)


async def until(condition: Callable[[], bool], seconds: float = 10) -> None:
    """Returns once `condition()` holds; fails after `seconds`."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition did not hold in time")
