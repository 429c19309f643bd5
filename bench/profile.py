"""`python -m bench.profile`: where one workload's requests spend the gateway's time,
sampled by pyinstrument.

    python -m bench.profile -w customer -b sqlite

seeds as `scripts/bench` does (`bench.seed`, 2,000 customers by default), starts the
gateway as the bench does (production, rate limits on with a bucket nothing empties)
under `python -m bench.profile --record FILE INTERVAL -- serve`, sends warm-up requests, starts
the sampler (SIGUSR1), sends `--requests` more from `--concurrency` clients, and stops
the gateway; the sampler's call tree (statistical, every `--interval` seconds of the
main thread; aiosqlite's thread and the database server are not in it) is printed and
saved under data/bench/. Sampling
slows the gateway, so its rates mean nothing: read the shares of the tree, and compare
trees profiled the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import servers, workloads
from bench.seed import Database, prepare

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
RESULTS = servers.ROOT / "data" / "bench"


def main() -> int:
    if sys.argv[1:2] == ["--record"]:
        return _record(Path(sys.argv[2]), float(sys.argv[3]), sys.argv[5:])
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("-w", "--workload", default="customer", choices=workloads.ORDER)
    parser.add_argument("-b", "--backend", default="sqlite", choices=("sqlite", "postgres"))
    parser.add_argument("-n", "--customers", type=int, default=2_000)
    parser.add_argument("-N", "--requests", type=int, default=4_000)
    parser.add_argument("-c", "--concurrency", type=int, default=8)
    parser.add_argument("--interval", type=float, default=0.0005, help="seconds between samples")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    arguments = parser.parse_args()
    text = asyncio.run(_profile(arguments))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    saved = RESULTS / f"profile-{arguments.workload}-{arguments.backend}-{stamp}.txt"
    saved.write_text(text)
    print(text)
    print(f"saved in {saved.relative_to(servers.ROOT)}")
    return 0


def _record(output: Path, interval: float, serve_arguments: list[str]) -> int:
    """The gateway's own command line, sampled from SIGUSR1 until it exits."""
    from pyinstrument import Profiler

    from app import cli

    # Not async-aware: the sampler starts inside whatever coroutine runs at the signal,
    # and every request on the main thread is wanted, not that one coroutine's awaits.
    profiler = Profiler(interval=interval, async_mode="disabled")
    signal.signal(signal.SIGUSR1, lambda *_signal: profiler.start())
    try:
        return cli.main(serve_arguments)
    finally:
        if profiler.is_running:
            profiler.stop()
            output.write_text(profiler.output_text(unicode=True))


async def _profile(arguments: argparse.Namespace) -> str:
    backend = "postgresql" if arguments.backend == "postgres" else "sqlite"
    with tempfile.TemporaryDirectory(prefix="profile-") as work:
        work_dir = Path(work)
        database = await prepare(
            backend,
            arguments.customers,
            data_dir=RESULTS / "databases",
            postgres_url=arguments.postgres_url,
        )
        [workload] = workloads.build(database, [arguments.workload])
        output = work_dir / "profile.txt"
        server = servers.start_gateway(
            database, work_dir, core=None, profile=(output, arguments.interval)
        )
        try:
            await asyncio.to_thread(servers.wait_ready, server)
            url = f"http://127.0.0.1:{server.port}/graphql"
            await _register(url, database, workload)
            await _send(url, database, workload, max(100, arguments.requests // 10), arguments)
            server.process.send_signal(signal.SIGUSR1)
            await asyncio.sleep(0.2)
            started = time.perf_counter()
            await _send(url, database, workload, arguments.requests, arguments)
            seconds = time.perf_counter() - started
        finally:
            # Writing the profile out takes a while after the gateway has stopped.
            server.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.process.wait(timeout=300)
            servers.stop(server)
        heading = (
            f"bench.profile: {arguments.workload} on {backend}, {arguments.requests:,} "
            f"requests from {arguments.concurrency} clients in {seconds:.1f} s while sampled "
            f"every {arguments.interval * 1000:g} ms\n"
        )
        return heading + output.read_text()


async def _register(url: str, database: Database, workload: workloads.Workload) -> None:
    """Persisted documents are stored by sending their text once (as the bench does)."""
    async with aiohttp.ClientSession() as session:
        for case in workload.cases:
            if case.get_path:
                headers = {"Authorization": f"Bearer {database.secret(case.writes)}"}
                async with session.post(url, json=case.body, headers=headers) as response:
                    await response.read()


async def _send(
    url: str,
    database: Database,
    workload: workloads.Workload,
    count: int,
    arguments: argparse.Namespace,
) -> None:
    """`count` requests of the workload's cases in turn, each answered 200."""
    cases = workload.cases

    async def client(session: aiohttp.ClientSession, number: int) -> None:
        for index in range(number, count, arguments.concurrency):
            case = cases[index % len(cases)]
            secret = database.secret(case.writes)
            headers = {"Authorization": f"Bearer {secret}"}
            request: Any = (
                session.get(url.removesuffix("/graphql") + case.get_path, headers=headers)
                if case.get_path
                else session.post(url, json=case.body, headers=headers)
            )
            async with request as response:
                body = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{response.status}: {body[:300]!r}")

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session, n) for n in range(arguments.concurrency)))


if __name__ == "__main__":
    sys.exit(main())
