"""SIGTERM with mutations in flight: stop accepting, finish within the grace period, and
never answer a mutation that was not committed nor commit one that was cut off.

The mutations are held in flight deterministically: the test takes SQLite's write lock
itself, so each `createCustomer` waits inside its transaction until the test lets go.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path

import aiohttp
import pytest

from tests.live import event_stream, socket
from tests.processes import environment, free_port, run_cli, start_serving, wait_until_healthy

IN_FLIGHT = 6
CREATE = "mutation($name: String!) { createCustomer(input: {name: $name}) { customer { id } } }"


@asynccontextmanager
async def gateway_process(
    tmp_path: Path, grace_seconds: float
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str, str, Path]]:
    database = tmp_path / "customers.sqlite3"
    env = environment(
        {"database_url": f"sqlite+aiosqlite:///{database}"},
        SHUTDOWN_GRACE_SECONDS=str(grace_seconds),
    )
    minted = run_cli(env, "keys", "create", "--account", "acme")
    assert minted.returncode == 0, minted.stderr
    key = re.search(r"sk_test_\w+", minted.stdout)
    assert key
    port = free_port()
    process = await start_serving(env, port, stderr=asyncio.subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_healthy(base, process)
        yield process, base, key.group(0), database
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def create(base: str, key: str, name: str) -> str | None:
    """The new customer's id if the gateway answered, None if it never did."""
    # A session per request: each mutation is on a connection of its own.
    async with aiohttp.ClientSession() as session:
        try:
            async with session.post(
                f"{base}/graphql",
                json={"query": CREATE, "variables": {"name": name}},
                headers={"Authorization": f"Bearer {key}"},
                timeout=aiohttp.ClientTimeout(total=30),
            ) as response:
                assert response.status == 200
                body = await response.json()
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            return None
    assert "errors" not in body, body
    return str(body["data"]["createCustomer"]["customer"]["id"])


def committed(database: Path) -> dict[str, str]:
    with closing(sqlite3.connect(database)) as connection:
        rows = connection.execute("SELECT name, id FROM customers").fetchall()
    return dict(rows)


async def refuses_connections(base: str) -> bool:
    async with aiohttp.ClientSession() as session:
        try:
            async with session.get(f"{base}/healthz") as response:
                await response.read()
        except aiohttp.ClientConnectorError:
            return True
    return False


async def run_scenario(
    tmp_path: Path, grace_seconds: float, release_after: float
) -> tuple[dict[str, str | None], dict[str, str], int, str]:
    async with gateway_process(tmp_path, grace_seconds) as (process, base, key, database):
        lock = sqlite3.connect(database, isolation_level=None, timeout=5)
        lock.execute("BEGIN IMMEDIATE")  # every write now waits for the test
        names = [f"in-flight-{i}" for i in range(IN_FLIGHT)]
        requests = [asyncio.create_task(create(base, key, name)) for name in names]
        await asyncio.sleep(1.5)  # all sent, all waiting on the lock inside their transaction
        assert not any(r.done() for r in requests)
        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        assert await refuses_connections(base), "still accepting after SIGTERM"
        await asyncio.sleep(max(release_after - 0.3, 0))
        lock.rollback()
        lock.close()
        answers = dict(zip(names, await asyncio.gather(*requests), strict=True))
        stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, stderr.decode()
        return answers, committed(database), process.returncode, stdout.decode()


async def test_in_flight_mutations_finish_within_the_grace_period(tmp_path: Path) -> None:
    started = time.monotonic()
    answers, rows, _, stdout = await run_scenario(tmp_path, grace_seconds=10, release_after=2)
    assert all(answers.values()), answers  # every request in flight was answered ...
    assert rows == answers  # ... and exactly those customers were committed
    assert "shutting down" in stdout and "stopped" in stdout
    assert time.monotonic() - started < 20


async def test_mutations_cut_off_by_the_grace_period_are_not_committed(tmp_path: Path) -> None:
    answers, rows, _, _ = await run_scenario(tmp_path, grace_seconds=0.5, release_after=4)
    # Cut off: no answer, and nothing committed; whatever was answered was committed.
    assert {name: id_ for name, id_ in answers.items() if id_} == rows
    assert not any(answers.values()), answers


@pytest.fixture(autouse=True)
def _posix_only() -> None:
    if sys.platform == "win32":
        pytest.skip("SIGTERM is POSIX")


async def test_answers_during_shutdown_close_their_connection(tmp_path: Path) -> None:
    """A client keeps no connection the gateway is about to close, so it never sends its
    next request on one and loses it without knowing whether it was received."""
    async with gateway_process(tmp_path, 10) as (process, base, key, database):
        lock = sqlite3.connect(database, isolation_level=None, timeout=5)
        lock.execute("BEGIN IMMEDIATE")
        async with aiohttp.ClientSession() as session:
            sent = session.post(
                f"{base}/graphql",
                json={"query": CREATE, "variables": {"name": "last"}},
                headers={"Authorization": f"Bearer {key}"},
            )
            answer = asyncio.create_task(sent.__aenter__())
            await asyncio.sleep(1)
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            lock.rollback()
            lock.close()
            response = await answer
            assert response.status == 200
            assert response.headers["Connection"] == "close"
            await sent.__aexit__(None, None, None)
        await asyncio.wait_for(process.communicate(), 30)


async def test_sigterm_ends_subscriptions_resumably_and_promptly(tmp_path: Path) -> None:
    async with gateway_process(tmp_path, grace_seconds=10) as (process, base, key, _database):
        url = f"{base}/graphql"
        async with socket(url, key) as ws, event_stream(url, key) as stream:
            await ws.subscribe("s")
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            assert await ws.closed() == 1001
            assert await stream.next_event() == ("complete", None)
            assert await asyncio.wait_for(process.wait(), 10) == 0
        # Open subscriptions do not hold the shutdown for its whole grace period.
        assert time.monotonic() - started < 5
