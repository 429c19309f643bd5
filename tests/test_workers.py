"""`serve --workers N`: N processes on one port, a worker killed is replaced while the
others serve, /metrics sums them all, and one SIGTERM stops everything."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import (
    assert_one_clear_line,
    environment,
    free_port,
    run_cli,
    start_serving,
    wait_until_healthy,
)

QUERY = {"query": "query Count { customers { totalCount } }"}


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def listening(pids: set[int], port: int) -> set[int]:
    """Which of these processes hold a socket listening on 127.0.0.1:port."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "0A" and int(local.split(":")[1], 16) == port:
            inodes.add(f"socket:[{inode}]")
    holders = set()
    for pid in pids:
        try:
            targets = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
        except OSError:
            continue
        if targets & inodes:
            holders.add(pid)
    return holders


async def until(condition: Any, seconds: float = 15) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def operations_counted(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "gateway_graphql_operations_total"
    )


async def test_workers_share_the_port_survive_a_kill_and_stop_together(
    database: dict[str, Any],
) -> None:
    env = environment(database, WORKERS="2")
    minted = run_cli(env, "keys", "create", "--account", "workers")
    key = re.search(r"sk_test_\w{32}", minted.stdout)
    assert key
    headers = {"Authorization": f"Bearer {key.group(0)}"}
    port = free_port()
    supervisor = await start_serving(env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_healthy(base, supervisor)
        await until(lambda: len(listening(children(supervisor.pid), port)) == 2)
        first = children(supervisor.pid)

        sent = 0
        async with aiohttp.ClientSession() as session:
            for _ in range(20):
                async with session.post(f"{base}/graphql", json=QUERY, headers=headers) as answer:
                    assert answer.status == 200
                    sent += 1
            async with session.get(f"{base}/metrics") as metrics:
                assert operations_counted(await metrics.text()) == sent

            victim = min(first)
            os.kill(victim, signal.SIGKILL)
            # Connections the kernel had already queued for the victim are reset with it
            # (clients retry those); once it is gone, the other worker takes every new one
            # while the supervisor replaces the victim.
            await until(lambda: victim not in children(supervisor.pid))
            for _ in range(20):
                connector = aiohttp.TCPConnector(force_close=True)
                async with (
                    aiohttp.ClientSession(connector=connector) as fresh,
                    fresh.post(f"{base}/graphql", json=QUERY, headers=headers) as answer,
                ):
                    assert answer.status == 200
                await asyncio.sleep(0.02)
            await until(lambda: len(listening(children(supervisor.pid), port)) == 2)
            replacement = children(supervisor.pid) - first
            assert len(replacement) == 1
            await wait_until_healthy(base, supervisor)
    finally:
        workers = children(supervisor.pid)
        supervisor.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(supervisor.wait(), timeout=60)
    assert code == 0
    await until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers))


@pytest.mark.parametrize("value", ["0", "many", "-2"])
def test_a_bad_worker_count_gives_one_line(tmp_path: Path, value: str) -> None:
    env = environment({"database_url": f"sqlite+aiosqlite:///{tmp_path / 'w.sqlite3'}"})
    result = run_cli(env, "serve", "--port", str(free_port()), "--workers", value)
    assert_one_clear_line(result, "WORKERS")
