"""`python -m bench.instructions`: CPU instructions per request, counted by callgrind.

Time on a shared machine scatters by ±10-20 % between rounds; the instructions a request
executes do not (two runs agree within 0.1 %). Each gateway runs under
`valgrind --tool=callgrind` (every thread, so aiosqlite's too), takes a few warm-up
requests, then its counters are zeroed, N requests are sent one at a time, and the
counters dumped: the table shows their total over N. The gateway runs in development
mode with rate limits on, its address given as arguments (started with HOST and PORT from
the environment instead, callgrind_control's dump requests went unanswered here, for
reasons we did not find). The database server's own work is not in the count (on
PostgreSQL it runs in another process).

    python -m bench.instructions -w page50,page1000 --rev 398affe^

compares this tree with the gateway as it was at each --rev (checked out in a temporary
git worktree, run with this tree's virtualenv, seeded into a database of its own by its
own bench.seed), sending every tree the same documents.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from bench import workloads
from bench.seed import Database

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
WORKLOADS = ("page50", "page1000", "deep", "filter", "customer", "burst", "create")
WARMUP = 4
_SUMMARY = re.compile(rb"^summary:\s*(\d+)", re.MULTILINE)
# Run inside the measured tree: its own seeding, printed as JSON for this tree's workloads.
_PREPARE = """
import asyncio, dataclasses, json, pathlib, sys
from bench.seed import prepare
database = asyncio.run(prepare(sys.argv[1], int(sys.argv[2]), data_dir=pathlib.Path(sys.argv[3]),
                               postgres_url=sys.argv[4]))
print(json.dumps(dataclasses.asdict(database)))
"""


def main() -> int:
    arguments = _parser().parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 1
    names = arguments.workloads.split(",")
    unknown = set(names) - set(WORKLOADS)
    if unknown:
        print(f"unknown or unsupported workloads: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    trees = ["this tree", *arguments.rev]
    counts: dict[tuple[str, str, str], int] = {}
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ir-")))
        for index, tree in enumerate(trees):
            checkout = ROOT if index == 0 else stack.enter_context(_worktree(tree, work))
            for backend in arguments.backends.split(","):
                url = arguments.postgres_url
                if backend == "postgres":
                    url = stack.enter_context(_scratch_database(url, f"bench_ir_{index}"))
                database = _prepare(checkout, backend, arguments.customers, work / str(index), url)
                for workload in workloads.build(database, names):
                    counts[tree, backend, workload.name] = _count(
                        checkout, database, workload, arguments.requests, work
                    )
                    print(
                        f"  {tree} {backend} {workload.name}: "
                        f"{counts[tree, backend, workload.name] / 1e6:.2f} M",
                        flush=True,
                    )
    _print_table(trees, arguments.backends.split(","), names, counts)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.instructions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-n", "--customers", type=int, default=5_000)
    parser.add_argument("-N", "--requests", type=int, default=8, help="counted requests")
    parser.add_argument("-b", "--backends", default="sqlite,postgres")
    parser.add_argument("-w", "--workloads", default="page50,page1000,customer")
    parser.add_argument(
        "--rev", action="append", default=[], help="also count the gateway at this git revision"
    )
    parser.add_argument(
        "--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    )
    return parser


@contextlib.contextmanager
def _worktree(revision: str, work: Path) -> Iterator[Path]:
    path = work / f"tree-{re.sub(r'[^A-Za-z0-9]', '_', revision)}"
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--quiet", str(path), revision],
        cwd=ROOT,
        check=True,
    )
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False)


@contextlib.contextmanager
def _scratch_database(url: str, name: str) -> Iterator[str]:
    """A PostgreSQL database of this run's own beside `url`'s, dropped afterwards."""
    server = url.replace("+asyncpg", "").rsplit("/", 1)[0]
    subprocess.run(
        ["psql", f"{server}/postgres", "-qc", f'DROP DATABASE IF EXISTS "{name}"'], check=True
    )
    subprocess.run(["psql", f"{server}/postgres", "-qc", f'CREATE DATABASE "{name}"'], check=True)
    try:
        yield f"{url.rsplit('/', 1)[0]}/{name}"
    finally:
        subprocess.run(
            ["psql", f"{server}/postgres", "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
            check=False,
        )


def _prepare(tree: Path, backend: str, customers: int, data_dir: Path, url: str) -> Database:
    data_dir.mkdir(parents=True, exist_ok=True)
    printed = subprocess.run(
        [str(PYTHON), "-c", _PREPARE, backend, str(customers), str(data_dir), url],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Database(**json.loads(printed.strip().splitlines()[-1]))


def _count(
    tree: Path, database: Database, workload: workloads.Workload, requests: int, work: Path
) -> int:
    """Instructions per request of `workload` on the gateway in `tree`."""
    port = _free_port()
    dump = work / f"callgrind-{port}"
    env = {
        **os.environ,
        **database.environment(),
        "PYTHONPATH": str(tree),
        "PYTHONHASHSEED": "0",
        "RATE_LIMIT_BUCKET": str(10**12),
        "RATE_LIMIT_RESTORE_PER_SECOND": str(10**12),
    }
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={dump}.%p",
        str(PYTHON),
        "-m",
        "app",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log = (work / f"gateway-{port}.log").open("wb")
    process = subprocess.Popen(command, cwd=tree, env=env, stdout=log, stderr=log)
    try:
        _wait_ready(port, process)
        for _ in range(WARMUP):
            _send(port, database, workload)
        subprocess.run(
            ["callgrind_control", "-z", str(process.pid)], check=True, capture_output=True
        )
        for _ in range(requests):
            _send(port, database, workload)
        subprocess.run(
            ["callgrind_control", "-d", str(process.pid)], check=True, capture_output=True
        )
        dumped = Path(f"{dump}.{process.pid}.1")
        deadline = time.monotonic() + 30
        while not (dumped.exists() and _SUMMARY.search(dumped.read_bytes())):
            if time.monotonic() > deadline:
                raise RuntimeError(f"callgrind wrote no {dumped.name}")
            time.sleep(0.2)
        match = _SUMMARY.search(dumped.read_bytes())
        assert match is not None
        return int(match.group(1)) // (requests * len(workload.cases))
    finally:
        process.kill()
        process.wait()
        log.close()


def _send(port: int, database: Database, workload: workloads.Workload) -> None:
    """Each of the workload's requests once; a GraphQL error fails the count."""
    for case in workload.cases:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/graphql",
            data=orjson.dumps(case.body),
            headers={
                "Content-Type": "application/json",
                "Authorization": "Bearer "
                + (database.write_secret if case.writes else database.read_secret),
            },
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = orjson.loads(response.read())
        if "errors" in answer:
            raise RuntimeError(f"{workload.name} answered {answer['errors']}")


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the gateway exited under valgrind")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("the gateway did not start under valgrind")


def _print_table(
    trees: list[str], backends: list[str], names: list[str], counts: dict[Any, int]
) -> None:
    for backend in backends:
        print(f"\n{backend}: instructions per request (millions)")
        print("| workload | " + " | ".join(trees) + " |")
        print("|---|" + "---:|" * len(trees))
        for name in names:
            base = counts[trees[0], backend, name]
            cells = [f"{base / 1e6:.2f}"]
            for tree in trees[1:]:
                other = counts[tree, backend, name]
                cells.append(f"{other / 1e6:.2f} ({(base - other) / other:+.1%} here)")
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
