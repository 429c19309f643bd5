"""The cases: each starts what it needs, drives the load, breaks something, and returns
one row of the table."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from faults.cluster import Cluster
from faults.gateways import Gateway
from faults.load import ACKED, Tally, run_load
from faults.verify import Findings, check, status_summary

# Rate limits need Redis and are not under test here; everything else is as shipped.
_SETTINGS = {"RATE_LIMIT_BUCKET": "0", "REQUEST_TIMEOUT_SECONDS": "10"}


@dataclass
class Row:
    case: str
    backend: str
    clients: int
    requests: int
    faults: str
    findings: Findings
    tally: Tally
    recovery: str
    tracebacks: int

    @property
    def passed(self) -> bool:
        return (
            self.findings.problems == 0
            and not self.tally.unclean
            and self.tally.hangs == 0
            and self.tracebacks == 0
        )


async def _ready_status(session: aiohttp.ClientSession, gateway: Gateway) -> int:
    try:
        async with session.get(f"{gateway.url}/readyz", timeout=aiohttp.ClientTimeout(2)) as r:
            return r.status
    except (aiohttp.ClientError, TimeoutError):
        return 0


def _first_success_after(tally: Tally, moment: float, *, writes: bool = False) -> float | None:
    done = [
        at + seconds
        for at, seconds, ok, write in tally.latencies
        if ok and at >= moment and (write or not writes)
    ]
    return min(done) - moment if done else None


async def postgres_restart(clients: int, outage_seconds: float) -> Row:
    """The database stops for a while, then restarts at once; the gateway stays up."""
    cluster = Cluster()
    cluster.create()
    gateway = Gateway(cluster.url, _SETTINGS)
    try:
        gateway.start()
        stop = asyncio.Event()
        load = asyncio.create_task(
            run_load([gateway.url], gateway.secret(), clients=clients, stop=stop)
        )
        recoveries: list[float] = []
        ready_while_down: set[int] = set()
        async with aiohttp.ClientSession() as session:
            await asyncio.sleep(3)
            await asyncio.to_thread(cluster.stop)
            await asyncio.sleep(0.5)
            ready_while_down.add(await _ready_status(session, gateway))
            await asyncio.sleep(outage_seconds)
            await asyncio.to_thread(cluster.start)
            await asyncio.to_thread(cluster.wait_accepting)
            accepting = time.monotonic()
            await asyncio.sleep(3)
            await asyncio.to_thread(cluster.stop)
            await asyncio.to_thread(cluster.start)
            await asyncio.to_thread(cluster.wait_accepting)
            second = time.monotonic()
            await asyncio.sleep(3)
            stop.set()
            tally = await load
            for moment in (accepting, second):
                found = _first_success_after(tally, moment)
                recoveries.append(found if found is not None else float("inf"))
            ready_after = await _ready_status(session, gateway)
        findings = await check(cluster.url, tally)
        return Row(
            "1 PostgreSQL restarts",
            "postgres",
            clients,
            tally.requests,
            f"stop {outage_seconds:g} s, then a restart; /readyz while down "
            f"{sorted(ready_while_down)}, after {ready_after}",
            findings,
            tally,
            " / ".join(f"{seconds:.2f} s" for seconds in recoveries),
            gateway.tracebacks(),
        )
    finally:
        gateway.remove()
        cluster.remove()


async def replica_killed(clients: int) -> Row:
    """Two replicas on one PostgreSQL; one is SIGKILLed mid-write."""
    cluster = Cluster()
    cluster.create()
    first, second = Gateway(cluster.url, _SETTINGS), Gateway(cluster.url, _SETTINGS)
    try:
        first.start()
        second.start()
        stop = asyncio.Event()
        urls = [first.url, second.url]
        load = asyncio.create_task(run_load(urls, first.secret(), clients=clients, stop=stop))
        await asyncio.sleep(3)
        first.signal(signal.SIGKILL)
        killed = time.monotonic()
        await asyncio.sleep(5)
        stop.set()
        tally = await load
        findings = await check(cluster.url, tally)
        recovery = _first_success_after(tally, killed)
        return Row(
            "2 replica SIGKILLed",
            "postgres",
            clients,
            tally.requests,
            "SIGKILL 1 of 2 replicas",
            findings,
            tally,
            f"{recovery:.2f} s" if recovery is not None else "never",
            second.tracebacks(),
        )
    finally:
        first.remove()
        second.remove()
        cluster.remove()


async def sigterm_under_load(clients: int, backend: str) -> Row:
    """SIGTERM while clients write; a new gateway takes over and clients retry there."""
    cluster: Cluster | None = None
    folder = Path(tempfile.mkdtemp(prefix="faults-sqlite-"))
    if backend == "postgres":
        cluster = Cluster()
        cluster.create()
        url = cluster.url
    else:
        url = f"sqlite+aiosqlite:///{folder / 'gateway.db'}"
    gateway = Gateway(url, _SETTINGS)
    successor: Gateway | None = None
    try:
        gateway.start()
        secret = gateway.secret()
        stop = asyncio.Event()
        load = asyncio.create_task(run_load([gateway.url], secret, clients=clients, stop=stop))
        await asyncio.sleep(3)
        gateway.signal(signal.SIGTERM)
        code = await asyncio.to_thread(gateway.process.wait) if gateway.process else None
        successor = Gateway(url, _SETTINGS, gateway.port)
        successor.start()
        restarted = time.monotonic()
        await asyncio.sleep(3)
        stop.set()
        tally = await load
        findings = await check(url, tally)
        recovery = _first_success_after(tally, restarted)
        lost = tally.codes["CONNECTION_LOST"]
        return Row(
            "3 SIGTERM under load",
            backend,
            clients,
            tally.requests,
            f"SIGTERM (exit {code}), cut mid-request: {lost}",
            findings,
            tally,
            f"{recovery:.2f} s after restart" if recovery is not None else "never",
            gateway.tracebacks() + successor.tracebacks(),
        )
    finally:
        gateway.remove()
        if successor is not None:
            successor.remove()
        if cluster is not None:
            cluster.remove()


def acknowledged(row: Row) -> int:
    return sum(write.outcome == ACKED for write in row.tally.writes)


def describe(row: Row) -> list[str]:
    f = row.findings
    return [
        row.case,
        row.backend,
        f"{row.clients} clients, {row.requests} requests",
        row.faults,
        str(acknowledged(row)),
        str(len(f.lost)),
        str(len(f.duplicated)),
        str(len(f.unexpected) + len(f.keys_split) + len(f.wrong_state)),
        str(len(row.tally.unclean)),
        str(row.tally.hangs),
        str(row.tracebacks),
        row.recovery,
        status_summary(row.tally),
    ]


async def sqlite_disk_full(clients: int) -> Row:
    """SQLite on a small file system of its own, filled up under load, then freed."""
    mount = Path(tempfile.mkdtemp(prefix="faults-disk-"))
    await asyncio.to_thread(_run, "mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount))
    database = mount / "gateway.db"
    url = f"sqlite+aiosqlite:///{database}"
    gateway = Gateway(url, _SETTINGS)
    filler = mount / "filler"
    try:
        gateway.start()
        stop = asyncio.Event()
        load = asyncio.create_task(
            run_load([gateway.url], gateway.secret(), clients=clients, stop=stop)
        )
        await asyncio.sleep(3)
        await asyncio.to_thread(_fill, filler)
        full = time.monotonic()
        await asyncio.sleep(4)
        filler.unlink()
        freed = time.monotonic()
        await asyncio.sleep(3)
        stop.set()
        tally = await load
        integrity = _integrity(database)
        findings = await check(url, tally)
        recovery = _first_success_after(tally, freed, writes=True)
        full_reads = sum(
            1 for at, _s, ok, write in tally.latencies if ok and not write and full <= at < freed
        )
        full_writes = sum(
            1 for at, _s, ok, write in tally.latencies if ok and write and full + 0.5 <= at < freed
        )
        return Row(
            "4 SQLite disk full",
            "sqlite",
            clients,
            tally.requests,
            f"24 MiB tmpfs full for 4 s: {full_reads} reads, {full_writes} writes answered; "
            f"integrity_check {integrity}",
            findings,
            tally,
            f"{recovery:.2f} s after freeing" if recovery is not None else "never",
            gateway.tracebacks(),
        )
    finally:
        gateway.remove()
        await asyncio.to_thread(_run, "umount", str(mount))
        await asyncio.to_thread(mount.rmdir)


def _fill(filler: Path) -> None:
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65_536)
                out.flush()
        except OSError:
            pass


def _integrity(database: Path) -> str:
    connection = sqlite3.connect(database)
    try:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        connection.close()


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=60)
