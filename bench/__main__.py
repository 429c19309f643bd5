"""`python -m bench`: seed, start the gateway and the raw handler, drive both with wrk.

Each workload runs A/B interleaved (gateway then raw, raw then gateway, …) for --runs
rounds; the table shows medians, and the ratio is the median of gateway/raw req/s
measured in the same round. Servers are pinned to one core, wrk to the other.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from bench import procstat, workloads
from bench.seed import Database, prepare

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "requests.lua"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    requests: int
    errors: int


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    # A gateway (POST /graphql); the raw handler answers /raw/CASE instead.
    speaks_graphql: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid


def main() -> int:
    arguments = _parser().parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (scripts/bench installs it with apt-get)", file=sys.stderr)
        return 1
    data_dir = ROOT / "data" / "bench"
    data_dir.mkdir(parents=True, exist_ok=True)
    names = arguments.workloads.split(",")
    unknown = set(names) - set(workloads.ORDER)
    if unknown:
        print(f"unknown workloads: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    cores = os.sched_getaffinity(0)
    server_core, load_core = (1, 0) if {0, 1} <= cores else (None, None)
    print(
        f"bench: {arguments.customers:,} customers, {arguments.connections} connections, "
        f"{arguments.runs} interleaved rounds of {arguments.duration}s, "
        f"server on core {server_core}, wrk on core {load_core}"
        + (f", gateway WITHOUT {arguments.without}" if arguments.without else ""),
        flush=True,
    )
    results: dict[str, Any] = {"settings": vars(arguments), "backends": {}}
    for backend in arguments.backends.split(","):
        results["backends"][backend] = _run_backend(
            backend, arguments, names, data_dir, server_core, load_core
        )
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = data_dir / f"results-{stamp}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nresults saved in {out.relative_to(ROOT)}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-n", "--customers", type=int, default=200_000)
    parser.add_argument(
        "-d", "--duration", type=int, default=4, help="seconds per measured run (default 4)"
    )
    parser.add_argument("-r", "--runs", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per server")
    parser.add_argument(
        "-b", "--backends", default="sqlite,postgres", help="comma-separated: sqlite,postgres"
    )
    parser.add_argument(
        "-w",
        "--workloads",
        default=",".join(workloads.ORDER),
        help=f"comma-separated subset of {','.join(workloads.ORDER)}",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="gateway worker processes (serve --workers); above 1 they are not pinned",
    )
    parser.add_argument(
        "--baseline-without",
        default="",
        help="compare with the same gateway without these (see --without) instead of the raw "
        "handler: what they cost, interleaved in one run",
    )
    parser.add_argument(
        "--without",
        default="",
        help="ablation: switch these optimisations off in the gateway (comma-separated: "
        "fastpath,keycache,autocommit,fairqueue,sqlitewriter,sqlitepool,sqlitehops,orjson,"
        "cursors,sealing,gc,prefixprobe,pingless,metrics,ratelimits; see bench/launch.py)",
    )
    parser.add_argument(
        "--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    )
    return parser


def _run_backend(
    backend: str,
    arguments: argparse.Namespace,
    names: list[str],
    data_dir: Path,
    server_core: int | None,
    load_core: int | None,
) -> dict[str, Any]:
    print(f"\n== {backend} ==", flush=True)
    database = asyncio.run(
        prepare(
            backend, arguments.customers, data_dir=data_dir, postgres_url=arguments.postgres_url
        )
    )
    chosen = workloads.build(database, names)
    work_dir = Path(tempfile.mkdtemp(prefix="bench-", dir=data_dir))
    # Workers get every core; one process is pinned beside the raw handler.
    gateway_core = server_core if arguments.workers == 1 else None
    gateway = _start_gateway(database, work_dir, gateway_core, arguments.without, arguments.workers)
    if arguments.baseline_without:
        # The baseline is the same gateway with some features off: what they cost.
        print(
            f"   baseline (the 'raw' columns): the gateway --without {arguments.baseline_without}"
        )
        raw = _start_gateway(
            database,
            work_dir,
            gateway_core,
            arguments.baseline_without,
            arguments.workers,
            name="baseline",
        )
    else:
        raw = _start_raw(database, chosen, arguments, work_dir, server_core)
    rows: dict[str, Any] = {}
    try:
        _wait_ready(gateway)
        _wait_ready(raw)
        for workload in chosen:
            rows[workload.name] = _run_workload(
                workload, database, gateway, raw, arguments, work_dir, load_core
            )
    finally:
        for server in (gateway, raw):
            _stop(server)
    _print_table(backend, rows)
    return {"rows": rows}


def _start_gateway(
    database: Database,
    work_dir: Path,
    core: int | None,
    without: str,
    workers: int,
    *,
    name: str = "gateway",
) -> Server:
    port = _free_port()
    env = {
        **os.environ,
        **database.environment(),
        "ENVIRONMENT": "production",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        # Rate limits on, charging every request, with a bucket wrk cannot empty.
        "RATE_LIMIT_BUCKET": str(10**12),
        "RATE_LIMIT_RESTORE_PER_SECOND": str(10**12),
        "WORKERS": str(workers),
    }
    command = [str(ROOT / ".venv" / "bin" / "python"), "-m", "app", "serve"]
    if without:
        # Ablation: the same gateway with the named optimisations switched off.
        command[2:3] = ["bench.launch", "--without", without, "--"]
    return _spawn(name, command, env, port, work_dir, core, speaks_graphql=True)


def _start_raw(
    database: Database,
    chosen: list[workloads.Workload],
    arguments: argparse.Namespace,
    work_dir: Path,
    core: int | None,
) -> Server:
    port = _free_port()
    config: dict[str, Any] = {
        "backend": database.backend,
        "port": port,
        "account": database.read_account,
        "write_account": database.write_account,
        "cases": {
            f"{workload.name}-{index}": case.raw
            for workload in chosen
            for index, case in enumerate(workload.cases)
        },
    }
    if database.backend == "sqlite":
        config["path"] = database.url.split("///", 1)[1]
    else:
        config["dsn"] = arguments.postgres_url.replace("+asyncpg", "")
        config["schema"] = database.schema
    path = work_dir / "raw.json"
    path.write_bytes(orjson.dumps(config))
    command = [sys.executable, "-m", "bench.raw", str(path)]
    return _spawn("raw", command, dict(os.environ), port, work_dir, core)


def _spawn(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    work_dir: Path,
    core: int | None,
    *,
    speaks_graphql: bool = False,
) -> Server:
    if core is not None:
        command = ["taskset", "-c", str(core), *command]
    log = work_dir / f"{name}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=handle)
    return Server(name, process, port, log, speaks_graphql)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {server.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not start: {server.log.read_text()[-2000:]}")


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def _requests_file(
    path: Path, workload: workloads.Workload, database: Database, *, raw: bool
) -> Path:
    lines = []
    for index, case in enumerate(workload.cases):
        secret = database.write_secret if case.writes else database.read_secret
        if not raw and case.get_path:
            # An empty body makes requests.lua send a GET.
            lines.append(f"{case.get_path}\tBearer {secret}\t")
            continue
        target = f"/raw/{workload.name}-{index}" if raw else "/graphql"
        lines.append(f"{target}\tBearer {secret}\t{orjson.dumps(case.body).decode()}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _post(server: Server, path: str, secret: str, body: dict[str, Any] | None) -> bytes:
    """POST `body`, or GET `path` when there is no body."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}",
        data=None if body is None else orjson.dumps(body),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {secret}"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return bytes(response.read())


# Every cursor in an answer, as its bytes show it.
_CURSOR = re.compile(rb'"(cursor|startCursor|endCursor)":"[^"]*"')


def _comparable(body: bytes, writes: bool, *, same_cursors: bool) -> Any:
    if not same_cursors:
        # One side makes unsealed cursors (`--without sealing`): compare the rest.
        body = _CURSOR.sub(rb'"\1":""', body)
    if not writes:
        return body
    document = orjson.loads(body)
    customer = (document.get("data") or {}).get("createCustomer", {}).get("customer") or {}
    for volatile in ("id", "createdAt", "updatedAt"):
        customer.pop(volatile, None)
    return document


def _check(
    workload: workloads.Workload,
    database: Database,
    gateway: Server,
    raw: Server,
    *,
    same_cursors: bool,
) -> str | None:
    """None when the gateway and raw answer every case alike, else why not."""
    for index, case in enumerate(workload.cases):
        secret = database.write_secret if case.writes else database.read_secret
        ours = _post(gateway, "/graphql", secret, case.body)
        if case.get_path:
            # The POST registered the document; what is timed is the GET by id.
            ours = _post(gateway, case.get_path, secret, None)
        if raw.speaks_graphql:
            theirs = _post(raw, "/graphql", secret, case.body)
            if case.get_path:
                theirs = _post(raw, case.get_path, secret, None)
        else:
            theirs = _post(raw, f"/raw/{workload.name}-{index}", secret, case.body)
        if b'"errors"' in ours[:200] or _comparable(
            ours, case.writes, same_cursors=same_cursors
        ) != _comparable(theirs, case.writes, same_cursors=same_cursors):
            return (
                f"case {index}: gateway and raw answers differ\n"
                f"    gateway: {ours[:300]!r}\n    raw:     {theirs[:300]!r}"
            )
    return None


def _wrk(
    server: Server, requests: Path, seconds: float, connections: int, core: int | None
) -> Sample:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{server.port}",
        "--",
        str(requests),
    ]
    if core is not None:
        command = ["taskset", "-c", str(core), *command]
    cpu_before = procstat.cpu_seconds(server.pid)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = procstat.cpu_seconds(server.pid) - cpu_before
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    summary = json.loads(line[len("BENCH ") :])
    count = max(summary["requests"], 1)
    return Sample(
        rps=summary["requests"] / (summary["duration_us"] / 1e6),
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        cpu_us=cpu / count * 1e6,
        requests=summary["requests"],
        errors=summary["socket_errors"] + summary["status_errors"],
    )


def _run_workload(
    workload: workloads.Workload,
    database: Database,
    gateway: Server,
    raw: Server,
    arguments: argparse.Namespace,
    work_dir: Path,
    load_core: int | None,
) -> dict[str, Any]:
    print(f"-- {workload.name}: {workloads.DESCRIPTIONS[workload.name]}", flush=True)
    ablated = {*arguments.without.split(","), *arguments.baseline_without.split(",")}
    problem = _check(workload, database, gateway, raw, same_cursors="sealing" not in ablated)
    if problem:
        print(f"   skipped: {problem}", flush=True)
        return {"skipped": problem}
    files = {
        "gateway": _requests_file(
            work_dir / f"{workload.name}-gateway.txt", workload, database, raw=False
        ),
        "raw": _requests_file(
            work_dir / f"{workload.name}-raw.txt", workload, database, raw=not raw.speaks_graphql
        ),
    }
    servers = {"gateway": gateway, "raw": raw}
    for name in ("gateway", "raw"):
        _wrk(servers[name], files[name], arguments.warmup, arguments.connections, load_core)
    samples: dict[str, list[Sample]] = {"gateway": [], "raw": []}
    for round_number in range(arguments.runs):
        order = ("gateway", "raw") if round_number % 2 == 0 else ("raw", "gateway")
        for name in order:
            sample = _wrk(
                servers[name], files[name], arguments.duration, arguments.connections, load_core
            )
            samples[name].append(sample)
        gw, rw = samples["gateway"][-1], samples["raw"][-1]
        print(
            f"   round {round_number + 1}: gateway {gw.rps:8.0f} req/s p50 {gw.p50_ms:6.2f} ms"
            f" | raw {rw.rps:8.0f} req/s p50 {rw.p50_ms:6.2f} ms | ratio {gw.rps / rw.rps:.3f}"
            + (f" | errors {gw.errors}/{rw.errors}" if gw.errors or rw.errors else ""),
            flush=True,
        )
    row: dict[str, Any] = {"samples": {k: [asdict(s) for s in v] for k, v in samples.items()}}
    for name in ("gateway", "raw"):
        values = samples[name]
        row[name] = {
            "rps": statistics.median(s.rps for s in values),
            "p50_ms": statistics.median(s.p50_ms for s in values),
            "p99_ms": statistics.median(s.p99_ms for s in values),
            "cpu_us": statistics.median(s.cpu_us for s in values),
            "errors": sum(s.errors for s in values),
            "peak_rss_mib": procstat.peak_rss_mib(servers[name].pid),
        }
    row["ratio"] = statistics.median(
        g.rps / r.rps for g, r in zip(samples["gateway"], samples["raw"], strict=True)
    )
    return row


def _print_table(backend: str, rows: dict[str, Any]) -> None:
    print(f"\n### {backend}\n")
    print(
        "| workload | gateway req/s | raw req/s | ratio | gateway p50 / p99 ms "
        "| raw p50 / p99 ms | CPU µs/req gateway / raw | peak RSS MiB gateway / raw |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        if "skipped" in row:
            print(f"| {name} | skipped: {row['skipped'].splitlines()[0]} | | | | | | |")
            continue
        gw, raw = row["gateway"], row["raw"]
        errors = f" ({gw['errors']} errors)" if gw["errors"] else ""
        print(
            f"| {name} | {gw['rps']:,.0f}{errors} | {raw['rps']:,.0f} | {row['ratio']:.3f} "
            f"| {gw['p50_ms']:.2f} / {gw['p99_ms']:.2f} | {raw['p50_ms']:.2f} / "
            f"{raw['p99_ms']:.2f} | {gw['cpu_us']:,.0f} / {raw['cpu_us']:,.0f} "
            f"| {gw['peak_rss_mib']:.0f} / {raw['peak_rss_mib']:.0f} |"
        )
    if "page50" in rows and "deep" in rows and "gateway" in rows["deep"]:
        first, deep = rows["page50"]["gateway"]["p50_ms"], rows["deep"]["gateway"]["p50_ms"]
        print(f"\ndeep page p50 / first page p50 (gateway): {deep / first:.2f}")
    print(flush=True)


if __name__ == "__main__":
    sys.exit(main())
