"""The cases: each starts what it needs, drives the load, breaks something, and returns
one row of the table."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from faults.cluster import Cluster
from faults.gateways import ROOT, Gateway
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
    missed: str = ""  # a target the case did not meet

    @property
    def passed(self) -> bool:
        return (
            not self.missed
            and self.findings.problems == 0
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


async def soak(clients: int, minutes: float, backend: str) -> Row:
    """Mixed load for a long while, the process's RSS and open files sampled each minute."""
    cluster: Cluster | None = None
    folder = Path(tempfile.mkdtemp(prefix="faults-soak-"))
    if backend == "postgres":
        cluster = Cluster()
        cluster.create()
        url = cluster.url
    else:
        url = f"sqlite+aiosqlite:///{folder / 'gateway.db'}"
    gateway = Gateway(url, _SETTINGS)
    try:
        gateway.start()
        assert gateway.process is not None
        stop = asyncio.Event()
        load = asyncio.create_task(
            run_load([gateway.url], gateway.secret(), clients=clients, stop=stop)
        )
        samples: list[tuple[int, int]] = []
        interval = min(60.0, minutes * 60 / 4)
        ends = time.monotonic() + minutes * 60
        while time.monotonic() < ends:
            await asyncio.sleep(min(interval, max(ends - time.monotonic(), 0)))
            samples.append(_resources(gateway.process.pid))
        stop.set()
        tally = await load
        findings = await check(url, tally)
        # The first sample is the warm-up; growth is the last against the second.
        base = samples[1] if len(samples) > 2 else samples[0]
        rss = ", ".join(f"{kib // 1024}" for kib, _fds in samples)
        fds = ", ".join(str(count) for _kib, count in samples)
        growth = (samples[-1][0] - base[0]) / base[0] * 100
        return Row(
            f"6 soak {minutes:g} min",
            backend,
            clients,
            tally.requests,
            f"none; RSS MiB per sample [{rss}] ({growth:+.1f} % after warm-up), open files [{fds}]",
            findings,
            tally,
            "n/a",
            gateway.tracebacks(),
        )
    finally:
        gateway.remove()
        if cluster is not None:
            cluster.remove()


def _resources(pid: int) -> tuple[int, int]:
    """(RSS in KiB, open file descriptors) of a process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return rss, len(list(Path(f"/proc/{pid}/fd").iterdir()))


async def greedy_clients(clients: int) -> Row:
    """Well-behaved clients' p99 alone, then beside slow, idle, non-reading and flooding
    ones (faults/attackers.py, a process of its own); rate limits on, as shipped."""
    folder = Path(tempfile.mkdtemp(prefix="faults-greedy-"))
    url = f"sqlite+aiosqlite:///{folder / 'gateway.db'}"
    # Buckets the well-behaved readers never empty (about 4,000 points a second) and the
    # flooding key empties at once.
    settings = {
        **_SETTINGS,
        "RATE_LIMIT_BUCKET": "10000",
        "RATE_LIMIT_RESTORE_PER_SECOND": "5000",
        "IDLE_TIMEOUT_SECONDS": "5",
    }
    gateway = Gateway(url, settings)
    try:
        gateway.start()
        secret, flooder = gateway.secret(), gateway.minted_secret("flood")
        async with aiohttp.ClientSession() as session:
            for number in range(60):
                await _post(session, gateway, secret, {"name": f"seed {number}"})
            alone = await _p99_of_pages(gateway, secret, clients, seconds=8)
            attackers = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "faults.attackers",
                str(gateway.port),
                flooder,
                "14",
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
            )
            await asyncio.sleep(4)
            beside = await _p99_of_pages(gateway, secret, clients, seconds=8)
            seen, _ = await attackers.communicate()
        tally = Tally()
        ratio = beside[0] / alone[0]
        return Row(
            "5 slow and greedy clients",
            "sqlite",
            clients,
            alone[1] + beside[1],
            f"p99 alone {alone[0] * 1000:.1f} ms, beside them {beside[0] * 1000:.1f} ms "
            f"({ratio:.1f}x; {alone[2]} and {beside[2]} non-200); attackers: "
            f"{seen.decode().strip()}",
            Findings(),
            tally,
            "n/a",
            gateway.tracebacks(),
            missed=f"p99 beside greedy clients {ratio:.1f}x alone (target 3x)" if ratio > 3 else "",
        )
    finally:
        gateway.remove()


_CREATE_ONE = (
    "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id } } }"
)
_PAGE_OF_5 = "{ customers(first: 5) { edges { node { id name email } } } }"


async def _post(
    session: aiohttp.ClientSession, gateway: Gateway, secret: str, inputs: dict[str, str] | None
) -> int:
    body = (
        {"query": _PAGE_OF_5}
        if inputs is None
        else {"query": _CREATE_ONE, "variables": {"input": inputs}}
    )
    async with session.post(
        f"{gateway.url}/graphql", json=body, headers={"Authorization": f"Bearer {secret}"}
    ) as response:
        await response.read()
        return response.status


async def _p99_of_pages(
    gateway: Gateway, secret: str, clients: int, *, seconds: float
) -> tuple[float, int, int]:
    """(p99 in seconds, requests, non-200 answers) of `clients` sequential page readers."""
    latencies: list[float] = []
    failures = 0
    ends = time.monotonic() + seconds

    async def reader(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        while time.monotonic() < ends:
            started = time.monotonic()
            if await _post(session, gateway, secret, None) != 200:
                failures += 1
            latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.01)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(reader(session) for _ in range(clients)))
    latencies.sort()
    return latencies[int(len(latencies) * 0.99)], len(latencies), failures
