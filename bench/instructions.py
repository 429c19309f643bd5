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
own bench.seed), sending every tree the same documents. `--without metrics,ratelimits`
adds this tree with those features switched off (bench/launch.py's ablations).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from bench import trees, workloads
from bench.seed import Database
from bench.servers import PYTHON, ROOT, free_port

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
WORKLOADS = ("page50", "page1000", "deep", "filter", "customer", "burst", "create")
WARMUP = 4
_SUMMARY = re.compile(rb"^summary:\s*(\d+)", re.MULTILINE)


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
    ablations = [f"without {features}" for features in arguments.without]
    names_of_trees = ["this tree", *ablations, *arguments.rev]
    counts: dict[tuple[str, str, str], int] = {}
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ir-")))
        for index, tree in enumerate(names_of_trees):
            ablated = tree.removeprefix("without ") if tree in ablations else ""
            checkout = ROOT
            if index > len(ablations):
                checkout = stack.enter_context(trees.worktree(tree, work))
            for backend in arguments.backends.split(","):
                url = arguments.postgres_url
                if backend == "postgres":
                    url = stack.enter_context(trees.scratch_database(url, f"bench_ir_{index}"))
                database = trees.prepare(
                    checkout, backend, arguments.customers, work / str(index), url
                )
                for workload in workloads.build(database, names):
                    counts[tree, backend, workload.name] = _count(
                        checkout, database, workload, arguments.requests, work, ablated
                    )
                    print(
                        f"  {tree} {backend} {workload.name}: "
                        f"{counts[tree, backend, workload.name] / 1e6:.2f} M",
                        flush=True,
                    )
    _print_table(names_of_trees, arguments.backends.split(","), names, counts)
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
        "--without",
        action="append",
        default=[],
        help="also count this tree with these features off (bench/launch.py), e.g. "
        "metrics,ratelimits",
    )
    parser.add_argument(
        "--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    )
    return parser


def _count(
    tree: Path,
    database: Database,
    workload: workloads.Workload,
    requests: int,
    work: Path,
    without: str = "",
) -> int:
    """Instructions per request of `workload` on the gateway in `tree`, with the
    features named in `without` switched off (bench/launch.py)."""
    port = free_port()
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
        *(["bench.launch", "--without", without, "--"] if without else ["app"]),
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
                "Authorization": "Bearer " + database.secret(case.writes),
            },
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = orjson.loads(response.read())
        if "errors" in answer:
            raise RuntimeError(f"{workload.name} answered {answer['errors']}")


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
