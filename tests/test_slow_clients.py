"""Clients that hold a connection without completing a request head: a slowloris
trickling its headers, or a keep-alive left idle. Both are closed after
IDLE_TIMEOUT_SECONDS, while other clients are served as usual."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.processes import environment, free_port, serving

IDLE_SECONDS = 1.0


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def seconds_until_closed(port: int, trickle: bool) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\n")
    try:
        for number in range(100):
            if trickle:
                writer.write(f"X-Slow-{number}: y\r\n".encode())
            try:
                if await asyncio.wait_for(reader.read(1), 0.2) == b"":
                    return time.monotonic() - started
            except TimeoutError:
                continue
    except ConnectionError:
        return time.monotonic() - started
    finally:
        writer.close()
    return float("inf")


async def test_slow_and_idle_connections_are_closed_after_the_idle_time(
    database: dict[str, Any], tmp_path: Path
) -> None:
    env = environment(database, IDLE_TIMEOUT_SECONDS=str(IDLE_SECONDS))
    port = free_port()
    async with serving(env, port) as url:
        slow = [asyncio.create_task(seconds_until_closed(port, trickle=True)) for _ in range(20)]
        idle = [asyncio.create_task(seconds_until_closed(port, trickle=False)) for _ in range(20)]
        async with aiohttp.ClientSession() as session:
            for _ in range(5):  # meanwhile a well-behaved client is answered at once
                async with session.get(url.replace("/graphql", "/healthz")) as response:
                    assert response.status == 200
        closed = await asyncio.gather(*slow, *idle)
    assert all(IDLE_SECONDS * 0.9 <= seconds < IDLE_SECONDS + 2 for seconds in closed), closed


async def test_connections_beyond_the_ceiling_are_refused_and_open_ones_served(
    database: dict[str, Any],
) -> None:
    ceiling = 20
    env = environment(database, MAX_CONNECTIONS=str(ceiling), IDLE_TIMEOUT_SECONDS="60")
    port = free_port()
    async with serving(env, port):
        await asyncio.sleep(0.2)  # the start-up health checks' connection is closed
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(ceiling)]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            refused = await asyncio.wait_for(reader.read(), 5)  # then it is closed
            writer.close()
            head, _, body = refused.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503 ")
            assert b"Retry-After: 1" in head
            assert orjson.loads(body)["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            # A connection already open is served as usual.
            first_reader, first_writer = held[0]
            first_writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = await asyncio.wait_for(first_reader.readuntil(b"\r\n\r\n"), 5)
            assert answer.startswith(b"HTTP/1.1 200 ")
        finally:
            for _, held_writer in held:
                held_writer.close()
        await asyncio.sleep(0.3)  # the gateway sees them go
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            assert response.status == 200
