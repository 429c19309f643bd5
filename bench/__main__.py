"""`python -m bench`: seed, start the gateway and the raw handler, drive both with wrk.

Each workload runs A/B interleaved (gateway then raw, raw then gateway, …) for --runs
rounds; the table shows medians, and the ratio is the median of gateway/raw req/s
measured in the same round. Servers are pinned to one core, wrk to the other. With
--baseline-without or --rev the "raw" side is another gateway instead: this one with
features switched off, or the gateway at a git revision (bench/trees.py). With --peer
postgraphile, PostGraphile 5 (bench/peer.py) runs in the same rounds as a third server on
PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
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

from bench import peer, peer_documents, procstat, trees, workloads
from bench.seed import Database, prepare
from bench.servers import (
    DATABASE_CONNECTIONS,
    ROOT,
    Server,
    free_port,
    spawn,
    start_gateway,
    stop,
    wait_ready,
)

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
    if arguments.rev and (arguments.baseline_without or arguments.without):
        print("--rev compares two trees as they are: no --without with it", file=sys.stderr)
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
        "--rev",
        default="",
        help="compare with the gateway at this git revision instead of the raw handler (run "
        "from a temporary git worktree; each tree on a new database seeded by its own "
        "bench.seed, interleaved in one run)",
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
    parser.add_argument(
        "--peer",
        choices=peer.PEERS,
        help="also measure this server in the same rounds, on PostgreSQL only (its npm "
        "packages are installed in bench/postgraphile on first use)",
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
    work_dir = Path(tempfile.mkdtemp(prefix="bench-", dir=data_dir))
    with contextlib.ExitStack() as stack:
        baseline_tree = ROOT
        if arguments.rev:
            baseline_tree, databases = _prepare_revision(stack, backend, arguments, work_dir)
        else:
            database = asyncio.run(
                prepare(
                    backend,
                    arguments.customers,
                    data_dir=data_dir,
                    postgres_url=arguments.postgres_url,
                )
            )
            databases = {"gateway": database, "raw": database}
        chosen = {side: workloads.build(databases[side], names) for side in databases}
        # Workers get every core; one process is pinned beside the raw handler.
        gateway_core = server_core if arguments.workers == 1 else None
        gateway = start_gateway(
            databases["gateway"],
            work_dir,
            gateway_core,
            without=arguments.without,
            workers=arguments.workers,
        )
        if arguments.rev:
            raw = start_gateway(
                databases["raw"],
                work_dir,
                gateway_core,
                workers=arguments.workers,
                name="baseline",
                tree=baseline_tree,
            )
        elif arguments.baseline_without:
            # The baseline is the same gateway with some features off: what they cost.
            print(
                "   baseline (the 'raw' columns): the gateway --without "
                f"{arguments.baseline_without}"
            )
            raw = start_gateway(
                databases["raw"],
                work_dir,
                gateway_core,
                without=arguments.baseline_without,
                workers=arguments.workers,
                name="baseline",
            )
        else:
            raw = _start_raw(databases["raw"], chosen["raw"], arguments, work_dir, server_core)
        rows: dict[str, Any] = {}
        servers = [gateway, raw]
        try:
            wait_ready(gateway)
            wait_ready(raw)
            other = _launch_peer(backend, arguments, databases, chosen, work_dir, server_core)
            if other is not None:
                servers.append(other.server)
            for ours, theirs in zip(chosen["gateway"], chosen["raw"], strict=True):
                sides = {
                    "gateway": _Side(gateway, databases["gateway"], ours),
                    "raw": _Side(raw, databases["raw"], theirs),
                }
                peer_note = None
                if other is not None:
                    peer_workload = other.workloads[ours.name]
                    if isinstance(peer_workload, str):
                        peer_note = peer_workload
                    else:
                        sides["peer"] = _Side(other.server, databases["gateway"], peer_workload)
                rows[ours.name] = _run_workload(
                    sides, arguments, work_dir, load_core, peer_note=peer_note
                )
        finally:
            for server in servers:
                stop(server)
    baseline = (
        f"at {arguments.rev}"
        if arguments.rev
        else "baseline"
        if arguments.baseline_without
        else "raw"
    )
    _print_table(backend, rows, baseline, peer=arguments.peer)
    return {"rows": rows}


def _launch_peer(
    backend: str,
    arguments: argparse.Namespace,
    databases: dict[str, Database],
    chosen: dict[str, list[workloads.Workload]],
    work_dir: Path,
    core: int | None,
) -> peer.Peer | None:
    """The --peer server, ready, on the gateway's database (PostgreSQL only)."""
    if not arguments.peer:
        return None
    if backend == "sqlite":
        print(f"   peer {arguments.peer}: skipped on SQLite (it runs on PostgreSQL only)")
        return None
    print(f"   peer {arguments.peer}: PostGraphile 5 on the same database and core", flush=True)
    return peer.launch(databases["gateway"], chosen["gateway"], work_dir, core)


@dataclass(frozen=True)
class _Side:
    """One of the servers a workload compares, the database it serves, and the
    workload's requests for that database."""

    server: Server
    database: Database
    workload: workloads.Workload


def _prepare_revision(
    stack: contextlib.ExitStack, backend: str, arguments: argparse.Namespace, work_dir: Path
) -> tuple[Path, dict[str, Database]]:
    """`--rev`: the revision's checkout, and a database for this tree and one for the
    revision's, each new and seeded by its own tree's bench.seed with the same customers;
    dropped (or deleted) afterwards."""
    revision = subprocess.run(
        ["git", "rev-parse", "--short", arguments.rev],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(
        f"   baseline (the 'raw' columns): the gateway at {arguments.rev} ({revision}), from a "
        "git worktree; each tree on a new database of its own, seeded by its own bench.seed",
        flush=True,
    )
    files = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rev-", dir=work_dir)))
    checkout = stack.enter_context(trees.worktree(arguments.rev, files))
    databases = {}
    for side, tree, label in (("gateway", ROOT, "this tree"), ("raw", checkout, arguments.rev)):
        url = arguments.postgres_url
        if backend == "postgres":
            url = stack.enter_context(trees.scratch_database(url, f"bench_rev_{side}"))
        print(f"   seeding {arguments.customers:,} customers for {label} …", flush=True)
        databases[side] = trees.prepare(tree, backend, arguments.customers, files / side, url)
    return checkout, databases


def _start_raw(
    database: Database,
    chosen: list[workloads.Workload],
    arguments: argparse.Namespace,
    work_dir: Path,
    core: int | None,
) -> Server:
    port = free_port()
    config: dict[str, Any] = {
        "backend": database.backend,
        "port": port,
        "account": database.read_account,
        "write_account": database.write_account,
        "connections": DATABASE_CONNECTIONS,
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
    return spawn("raw", command, dict(os.environ), port, work_dir, core)


def _requests_file(
    path: Path, workload: workloads.Workload, database: Database, *, raw: bool
) -> Path:
    lines = []
    for index, case in enumerate(workload.cases):
        secret = database.secret(case.writes)
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


def _check(gateway: _Side, raw: _Side, *, same_cursors: bool, same_rows: bool) -> str | None:
    """None when the gateway and raw answer every case alike, else why not. Against
    another tree's gateway (`same_rows` false: its database holds equally seeded rows with
    other ids and times) reads need only answer without errors; writes still compare."""
    pairs = zip(gateway.workload.cases, raw.workload.cases, strict=True)
    for index, (case, their_case) in enumerate(pairs):
        ours = _answer(gateway, case, "/graphql")
        their_path = (
            "/graphql" if raw.server.speaks_graphql else f"/raw/{raw.workload.name}-{index}"
        )
        theirs = _answer(raw, their_case, their_path)
        if not same_rows and not case.writes:
            if b'"errors"' in ours[:200] or b'"errors"' in theirs[:200]:
                return (
                    f"case {index}: an answer has errors\n"
                    f"    gateway: {ours[:300]!r}\n    baseline: {theirs[:300]!r}"
                )
            continue
        if b'"errors"' in ours[:200] or _comparable(
            ours, case.writes, same_cursors=same_cursors
        ) != _comparable(theirs, case.writes, same_cursors=same_cursors):
            return (
                f"case {index}: gateway and raw answers differ\n"
                f"    gateway: {ours[:300]!r}\n    raw:     {theirs[:300]!r}"
            )
    return None


def _answer(side: _Side, case: workloads.Case, path: str) -> bytes:
    """The side's answer to the case (POSTed to `path`; for a case by documentId, the POST
    registers the document and the answer is the GET's, which is what is timed)."""
    secret = side.database.secret(case.writes)
    answer = _post(side.server, path, secret, case.body)
    if case.get_path and side.server.speaks_graphql:
        answer = _post(side.server, case.get_path, secret, None)
    return answer


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


def _check_peer(gateway: _Side, other: _Side) -> str | None:
    """None when the peer answers every case with the gateway's customers in the
    gateway's order, else why not."""
    pairs = zip(gateway.workload.cases, other.workload.cases, strict=True)
    for index, (case, their_case) in enumerate(pairs):
        ours = _answer(gateway, case, "/graphql")
        theirs = _answer(other, their_case, "/graphql")
        problem = peer_documents.differences(case.raw, ours, theirs)
        if problem:
            return f"case {index}: {problem}"
    return None


def _run_workload(
    sides: dict[str, _Side],
    arguments: argparse.Namespace,
    work_dir: Path,
    load_core: int | None,
    *,
    peer_note: str | None = None,
) -> dict[str, Any]:
    """Every side's rounds, interleaved (forward, then backward, …); `peer_note` says why
    a --peer has no documents for this workload."""
    name = sides["gateway"].workload.name
    print(f"-- {name}: {workloads.DESCRIPTIONS[name]}", flush=True)
    ablated = {*arguments.without.split(","), *arguments.baseline_without.split(",")}
    problem = _check(
        sides["gateway"],
        sides["raw"],
        same_cursors="sealing" not in ablated,
        same_rows=sides["gateway"].database is sides["raw"].database,
    )
    if problem:
        print(f"   skipped: {problem}", flush=True)
        return {"skipped": problem}
    if "peer" in sides:
        peer_note = _check_peer(sides["gateway"], sides["peer"])
        if peer_note:
            del sides["peer"]
    if peer_note and arguments.peer:
        print(f"   {arguments.peer}: not measured ({peer_note})", flush=True)
    names = list(sides)
    files = {
        side: _requests_file(
            work_dir / f"{name}-{side}.txt",
            sides[side].workload,
            sides[side].database,
            raw=not sides[side].server.speaks_graphql,
        )
        for side in names
    }
    servers = {side: sides[side].server for side in names}
    for side in names:
        _wrk(servers[side], files[side], arguments.warmup, arguments.connections, load_core)
    samples: dict[str, list[Sample]] = {side: [] for side in names}
    for round_number in range(arguments.runs):
        order = names if round_number % 2 == 0 else names[::-1]
        for side in order:
            sample = _wrk(
                servers[side], files[side], arguments.duration, arguments.connections, load_core
            )
            samples[side].append(sample)
        _print_round(round_number, {side: samples[side][-1] for side in names}, arguments.peer)
    row: dict[str, Any] = {"samples": {k: [asdict(s) for s in v] for k, v in samples.items()}}
    if peer_note:
        row["peer_skipped"] = peer_note
    for side in names:
        values = samples[side]
        row[side] = {
            "rps": statistics.median(s.rps for s in values),
            "p50_ms": statistics.median(s.p50_ms for s in values),
            "p99_ms": statistics.median(s.p99_ms for s in values),
            "cpu_us": statistics.median(s.cpu_us for s in values),
            "errors": sum(s.errors for s in values),
            "peak_rss_mib": procstat.peak_rss_mib(servers[side].pid),
        }
    for ratio, side in (("ratio", "raw"), ("peer_ratio", "peer")):
        if side in samples:
            row[ratio] = statistics.median(
                g.rps / r.rps for g, r in zip(samples["gateway"], samples[side], strict=True)
            )
    return row


def _cells(row: dict[str, Any], sides: list[str], ratios: list[str]) -> list[str]:
    """A table row's cells after the workload's name: each side's req/s, the ratios,
    each side's p50 / p99, then CPU and RSS of every side in one cell each."""

    def each(render: Any) -> list[str]:
        return [render(row[side]) if side in row else "-" for side in sides]

    gw = row["gateway"]
    errors = f" ({gw['errors']} errors)" if gw["errors"] else ""
    rates = each(lambda stats: f"{stats['rps']:,.0f}")
    rates[0] += errors
    return [
        *rates,
        *(f"{row[ratio]:.3f}" if ratio in row else "-" for ratio in ratios),
        *each(lambda stats: f"{stats['p50_ms']:.2f} / {stats['p99_ms']:.2f}"),
        " / ".join(each(lambda stats: f"{stats['cpu_us']:,.0f}")),
        " / ".join(each(lambda stats: f"{stats['peak_rss_mib']:.0f}")),
    ]


def _print_round(round_number: int, last: dict[str, Sample], peer_name: str | None) -> None:
    """One round's req/s and p50 of each side, and the gateway's ratios to the others."""
    labels = {"gateway": "gateway", "raw": "raw", "peer": peer_name or "peer"}
    gw = last["gateway"]
    parts = [
        f"{labels[side]} {sample.rps:8.0f} req/s p50 {sample.p50_ms:6.2f} ms"
        for side, sample in last.items()
    ]
    parts.append(f"ratio {gw.rps / last['raw'].rps:.3f}")
    if "peer" in last:
        parts.append(f"gateway/{labels['peer']} {gw.rps / last['peer'].rps:.3f}")
    errors = [sample.errors for sample in last.values()]
    if any(errors):
        parts.append("errors " + "/".join(str(count) for count in errors))
    print(f"   round {round_number + 1}: " + " | ".join(parts), flush=True)


def _print_table(
    backend: str, rows: dict[str, Any], baseline: str = "raw", *, peer: str | None = None
) -> None:
    """The medians; `baseline` names what the "raw" columns measured, `peer` the third
    server's (its columns are "-" where it had no documents or answered other customers)."""
    columns = {"gateway": "gateway", "raw": baseline, **({"peer": peer} if peer else {})}
    labels = " / ".join(columns.values())
    ratios = {"ratio": "ratio", **({"peer_ratio": f"gateway/{peer}"} if peer else {})}
    header = [
        "workload",
        *(f"{label} req/s" for label in columns.values()),
        *ratios.values(),
        *(f"{label} p50 / p99 ms" for label in columns.values()),
        f"CPU µs/req {labels}",
        f"peak RSS MiB {labels}",
    ]
    print(f"\n### {backend}\n")
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    for name, row in rows.items():
        if "skipped" in row:
            blanks = " |" * (len(header) - 2)
            print(f"| {name} | skipped: {row['skipped'].splitlines()[0]} |{blanks}")
            continue
        print("| " + " | ".join([name, *_cells(row, list(columns), list(ratios))]) + " |")
    if "page50" in rows and "deep" in rows and "gateway" in rows["deep"]:
        first, deep = rows["page50"]["gateway"]["p50_ms"], rows["deep"]["gateway"]["p50_ms"]
        print(f"\ndeep page p50 / first page p50 (gateway): {deep / first:.2f}")
    print(flush=True)


if __name__ == "__main__":
    sys.exit(main())
