"""Clients that hold a connection without completing a request head: a slowloris
trickling its headers, or a keep-alive left idle. Both are closed after
IDLE_TIMEOUT_SECONDS, while other clients are served as usual."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
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
