"""Subscriber processes for `python -m bench.live`: each holds its share of WebSockets, one
`customerEvents` subscription on each (graphql-transport-ws, as the npm graphql-ws client
speaks it), and notes every event with the time it arrived.

A process is driven over a multiprocessing pipe by the bench, one command at a time:
`open` (up to a number of subscribers), `seen` (how many of its subscribers have received
the event of each named customer), `results` (every subscriber's deliveries, errors and
close code) and `exit`. A subscriber's reader only stamps and parses what arrives, so
the client's own cost per event stays small; the bench reports the processes' CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import orjson
import uvloop

PROTOCOL = "graphql-transport-ws"
QUERY = (
    "subscription Live($after: ID) { customerEvents(after: $after) "
    "{ id type createdAt customer { id name } } }"
)
# One delivery: the event's id, its customer's name, its createdAt (ms, the server's
# clock) and time.time() when the message was read.
Delivery = tuple[str, str, int, float]


@dataclass(frozen=True, slots=True)
class Config:
    port: int
    # One API key per subscriber of this process, in the order they are opened.
    secrets: list[str]
    # Subscribe after this event id (every event after it, replayed if need be), or from
    # the moment of subscribing when None.
    after: str | None
    # False: connection_init and its ack only, no subscription (what a socket alone costs).
    subscribe: bool = True
    concurrency: int = 100


@dataclass(slots=True)
class _Subscriber:
    deliveries: list[Delivery] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    close_code: int | None = None
    closed: bool = False


def run(connection: Connection, config: Config) -> None:
    """The process: as many sockets as the open-file limit allows, on uvloop."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    uvloop.run(_serve(connection, config))


async def _serve(connection: Connection, config: Config) -> None:
    loop = asyncio.get_running_loop()
    async with _Pool(config) as pool:
        while True:
            command: dict[str, Any] = await loop.run_in_executor(None, connection.recv)
            operation = command["op"]
            if operation == "exit":
                break
            reply: Any
            if operation == "open":
                reply = await pool.open(command["count"])
            elif operation == "seen":
                reply = {name: pool.seen[name] for name in command["names"]}
            elif operation == "results":
                reply = pool.results()
            else:
                reply = {"error": f"unknown command {operation!r}"}
            connection.send(reply)
    connection.send(None)


class _Pool:
    def __init__(self, config: Config) -> None:
        self._config = config
        self._url = f"http://127.0.0.1:{config.port}/graphql"
        self._subscribers: list[_Subscriber] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._sockets: list[aiohttp.ClientWebSocketResponse] = []
        self._failures: list[str] = []
        self.seen: Counter[str] = Counter()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> _Pool:
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        self._session = aiohttp.ClientSession(connector=connector)
        return self

    async def __aexit__(self, *_exception: object) -> None:
        for socket in self._sockets:
            with contextlib.suppress(Exception):
                await socket.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def open(self, count: int) -> dict[str, Any]:
        """Opens subscribers until `count` have been started; how many are open now."""
        started = time.monotonic()
        gate = asyncio.Semaphore(self._config.concurrency)
        first = len(self._subscribers)
        wanted = min(count, len(self._config.secrets))
        new = [_Subscriber() for _ in range(first, wanted)]
        self._subscribers.extend(new)

        async def one(index: int, subscriber: _Subscriber) -> None:
            async with gate:
                try:
                    await self._open_one(self._config.secrets[index], subscriber)
                except Exception as error:
                    subscriber.closed = True
                    self._failures.append(f"{type(error).__name__}: {error}"[:300])

        await asyncio.gather(*(one(first + n, s) for n, s in enumerate(new)))
        return {
            "open": sum(not s.closed for s in self._subscribers),
            "failed": len(self._failures),
            "failures": self._failures[:5],
            "seconds": time.monotonic() - started,
        }

    async def _open_one(self, secret: str, subscriber: _Subscriber) -> None:
        assert self._session is not None
        socket = await self._session.ws_connect(
            self._url, protocols=(PROTOCOL,), autoping=True, timeout=aiohttp.ClientWSTimeout(60)
        )
        self._sockets.append(socket)
        await socket.send_str(
            orjson.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {secret}"}}
            ).decode()
        )
        ack = await socket.receive(timeout=60)
        if ack.type != aiohttp.WSMsgType.TEXT or orjson.loads(ack.data).get("type") != (
            "connection_ack"
        ):
            raise RuntimeError(f"no connection_ack: {ack.type} {ack.data!r} {socket.close_code}")
        if self._config.subscribe:
            await self._subscribe(socket)
        task = asyncio.create_task(self._read(socket, subscriber))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _subscribe(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        variables = {} if self._config.after is None else {"after": self._config.after}
        await socket.send_str(
            orjson.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": QUERY, "variables": variables},
                }
            ).decode()
        )

    async def _read(self, socket: aiohttp.ClientWebSocketResponse, subscriber: _Subscriber) -> None:
        deliveries, seen = subscriber.deliveries, self.seen
        try:
            async for message in socket:
                if message.type != aiohttp.WSMsgType.TEXT:
                    subscriber.problems.append(f"{message.type.name}: {message.data!r}"[:300])
                    continue
                now = time.time()
                body = orjson.loads(message.data)
                data = (body.get("payload") or {}).get("data") if body["type"] == "next" else None
                if data is None:
                    if body["type"] == "ping":
                        await socket.send_str('{"type":"pong"}')
                        continue
                    subscriber.problems.append(message.data[:300])
                    continue
                event = data["customerEvents"]
                name = event["customer"]["name"]
                deliveries.append((event["id"], name, event["createdAt"], now))
                seen[name] += 1
        finally:
            subscriber.closed = True
            subscriber.close_code = socket.close_code

    def results(self) -> dict[str, Any]:
        return {
            "subscribers": [
                {
                    "deliveries": s.deliveries,
                    "problems": s.problems,
                    "closed": s.closed,
                    "close_code": s.close_code,
                }
                for s in self._subscribers
            ],
            "failures": self._failures,
        }
