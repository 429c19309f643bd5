"""`python -m bench.live`: the customerEvents subscription under load, over WebSocket.

    python -m bench.live latency   # live-latency: 1,000 subscribers, creates/updates at 25/s
    python -m bench.live idle      # live-idle: idle subscriptions and the server's RSS

Both seed and start the gateway as `scripts/bench` does (bench/seed.py, bench/servers.py:
`python -m app serve`, production, one process, pinned to core 1) and run the clients,
the writer and every subscriber process, on core 0. Subscribers use keys of the account
the writer writes to, minted for the run, 100 subscriptions per key (SUBSCRIPTIONS_PER_KEY's
default, left as it is); each holds one WebSocket with one subscription (bench/subscribers.py).

latency: the subscribers follow the log from an event id taken before they subscribe (so
each must receive every later event, whenever its subscription started), a first event
is awaited by all, then a writer sends createCustomer and updateCustomer (alternately,
each naming its customer uniquely) over HTTP at a steady rate, open loop: each mutation
is sent at its time whether the last has been answered or not. The latency of a delivery
is the time its message was read by the subscriber minus the event's createdAt: both
are this machine's clock, and createdAt is taken in the mutation's transaction just
before its last statements and the commit, so this is an upper bound on commit to
delivery, too high by the commit's own time and up to 1 ms (createdAt is whole
milliseconds, truncated). Also shown: from just before the mutation was sent (a looser
upper bound) and from its answer's arrival (negative when the event arrived first). At
the end every subscriber's events are compared with the log read over HTTP: each must
have received every event after its starting id exactly once, in the log's order.

idle: N sockets each with one subscription (from now on), opened in steps; the server's
RSS (VmRSS, /proc) after each step, held past a keepalive round, then a createCustomer
that every open subscription must receive.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from app.accounts import keys
from app.settings import Settings
from app.store.engine import create_engine
from bench import procstat, subscribers
from bench.seed import WRITE_ACCOUNT, Database, prepare
from bench.servers import ROOT, Server, start_gateway, stop, wait_ready

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PER_KEY: int = Settings.model_fields["subscriptions_per_key"].default
RSS_TARGET_MIB = 300
CREATE = (
    "mutation Create($input: CreateCustomerInput!) { createCustomer(input: $input) "
    "{ customer { id } userErrors { code message } } }"
)
UPDATE = (
    "mutation Update($input: UpdateCustomerInput!) { updateCustomer(input: $input) "
    "{ customer { id } userErrors { code message } } }"
)
NEWEST = "{ customerEvents(last: 1) { edges { node { id } } } }"
LOG_PAGE = (
    "query Log($after: String) { customerEvents(first: 1000, after: $after) "
    "{ edges { node { id customer { name } } } pageInfo { hasNextPage endCursor } } }"
)


def main() -> int:
    arguments = _parser().parse_args()
    data_dir = ROOT / "data" / "bench"
    data_dir.mkdir(parents=True, exist_ok=True)
    cores = os.sched_getaffinity(0)
    server_core, client_core = (1, 0) if {0, 1} <= cores else (None, None)
    if client_core is not None:
        # The writer and every subscriber process (which inherit it) beside the server.
        os.sched_setaffinity(0, {client_core})
    print(
        f"bench.live {arguments.kind}: {os.cpu_count()} cores, server on core {server_core}, "
        f"clients on core {client_core}; {PER_KEY} subscriptions per key",
        flush=True,
    )
    results: dict[str, Any] = {"settings": vars(arguments), "backends": {}}
    for backend in arguments.backends.split(","):
        print(f"\n== {backend} ==", flush=True)
        database = asyncio.run(
            prepare(
                backend,
                arguments.customers,
                data_dir=data_dir,
                postgres_url=arguments.postgres_url,
            )
        )
        work_dir = Path(tempfile.mkdtemp(prefix="live-", dir=data_dir))
        run = _latency if arguments.kind == "latency" else _idle
        results["backends"][backend] = run(arguments, database, work_dir, server_core)
    printer = _print_latency if arguments.kind == "latency" else _print_idle
    printer(results["backends"])
    out = data_dir / f"live-{arguments.kind}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nresults saved in {out.relative_to(ROOT)}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.live",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=("latency", "idle"))
    parser.add_argument(
        "-b", "--backends", default="sqlite,postgres", help="comma-separated: sqlite,postgres"
    )
    parser.add_argument(
        "-n", "--customers", type=int, default=2_000, help="seeded customers (reads only)"
    )
    parser.add_argument("-s", "--subscribers", type=int, default=1_000, help="latency")
    parser.add_argument("--rate", type=float, default=25.0, help="latency: mutations per second")
    parser.add_argument("-d", "--duration", type=float, default=30.0, help="latency: seconds")
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="latency: seconds of writes before measuring"
    )
    parser.add_argument(
        "--steps", default="1000,5000,10000,15000", help="idle: subscriptions after each step"
    )
    parser.add_argument(
        "--hold", type=float, default=20.0, help="idle: seconds to hold them after the last step"
    )
    parser.add_argument(
        "--sockets-only",
        action="store_true",
        help="idle: acknowledged sockets without a subscription (what the socket alone costs)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        help="subscriber processes (default: 1 for latency, one per 4,000 sockets for idle)",
    )
    parser.add_argument(
        "--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    )
    return parser


# -- shared --------------------------------------------------------------------------------


async def _mint_keys(database: Database, count: int) -> list[str]:
    """`count` new sandbox keys of the write account (the writer's)."""
    engine: AsyncEngine = create_engine(database.settings())
    try:
        async with engine.begin() as connection:
            return [
                (await keys.mint_key(connection, account_name=WRITE_ACCOUNT, live=False)).secret
                for _ in range(count)
            ]
    finally:
        await engine.dispose()


class _Clients:
    """The subscriber processes; subscriber i uses key i // PER_KEY and lives in process
    i % processes."""

    def __init__(
        self,
        port: int,
        secrets: list[str],
        after: str | None,
        processes: int,
        *,
        subscribe: bool = True,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.processes: list[BaseProcess] = []
        self._pipes: list[Connection] = []
        self.sizes: list[int] = []
        for number in range(processes):
            mine = secrets[number::processes]
            ours, theirs = context.Pipe()
            config = subscribers.Config(port=port, secrets=mine, after=after, subscribe=subscribe)
            process = context.Process(target=subscribers.run, args=(theirs, config), daemon=True)
            process.start()
            theirs.close()
            self.processes.append(process)
            self._pipes.append(ours)
            self.sizes.append(len(mine))

    def ask(self, commands: Sequence[dict[str, Any]]) -> list[Any]:
        """One command to each process (in turn), and their replies."""
        for pipe, command in zip(self._pipes, commands, strict=True):
            pipe.send(command)
        return [pipe.recv() for pipe in self._pipes]

    def ask_all(self, command: dict[str, Any]) -> list[Any]:
        return self.ask([command] * len(self._pipes))

    def open(self, total: int) -> dict[str, Any]:
        """Open subscribers until `total` are started across the processes."""
        count = len(self._pipes)
        replies = self.ask(
            [{"op": "open", "count": (total - n + count - 1) // count} for n in range(count)]
        )
        return {
            "open": sum(reply["open"] for reply in replies),
            "failed": sum(reply["failed"] for reply in replies),
            "failures": [f for reply in replies for f in reply["failures"]][:5],
            "seconds": max(reply["seconds"] for reply in replies),
        }

    def seen(self, names: list[str]) -> dict[str, int]:
        totals = dict.fromkeys(names, 0)
        for reply in self.ask_all({"op": "seen", "names": names}):
            for name, count in reply.items():
                totals[name] += count
        return totals

    def cpu_seconds(self) -> float:
        return sum(procstat.cpu_seconds(p.pid) for p in self.processes if p.pid is not None)

    def close(self) -> None:
        for pipe in self._pipes:
            try:
                pipe.send({"op": "exit"})
                if pipe.poll(30):
                    pipe.recv()
            except (OSError, EOFError):
                pass
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()


@dataclass
class Mutation:
    name: str
    kind: str
    sent: float
    answered: float = 0.0
    error: str | None = None


class _Writer:
    """Mutations over HTTP with the writer's key, as a client sends them."""

    def __init__(self, session: aiohttp.ClientSession, port: int, secret: str) -> None:
        self._session = session
        self._url = f"http://127.0.0.1:{port}/graphql"
        self._headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        self.customers: list[str] = []

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = orjson.dumps({"query": query, "variables": variables or {}})
        async with self._session.post(self._url, data=body, headers=self._headers) as response:
            answer: dict[str, Any] = orjson.loads(await response.read())
        if "errors" in answer:
            raise RuntimeError(f"answered {answer['errors']}")
        data: dict[str, Any] = answer["data"]
        return data

    async def mutate(self, mutation: Mutation) -> Mutation:
        """Creates (or renames the newest customer), naming the customer mutation.name."""
        try:
            if mutation.kind == "create":
                data = await self.post(
                    CREATE, {"input": {"name": mutation.name, "email": "live@example.com"}}
                )
                payload = data["createCustomer"]
            else:
                data = await self.post(
                    UPDATE, {"input": {"id": self.customers[-1], "name": mutation.name}}
                )
                payload = data["updateCustomer"]
            if payload["userErrors"]:
                raise RuntimeError(f"userErrors {payload['userErrors']}")
            if mutation.kind == "create":
                self.customers.append(payload["customer"]["id"])
        except Exception as error:
            mutation.error = f"{type(error).__name__}: {error}"[:300]
        mutation.answered = time.time()
        return mutation

    async def steady(self, prefix: str, rate: float, seconds: float) -> list[Mutation]:
        """rate * seconds mutations, the i-th sent at start + i / rate (open loop)."""
        count = max(1, round(rate * seconds))
        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = []
        for number in range(count):
            delay = start + number / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            kind = "update" if number % 2 and self.customers else "create"
            mutation = Mutation(f"{prefix}-{number}", kind, time.time())
            tasks.append(asyncio.create_task(self.mutate(mutation)))
        return list(await asyncio.gather(*tasks))

    async def newest_event(self) -> str | None:
        edges = (await self.post(NEWEST))["customerEvents"]["edges"]
        return str(edges[0]["node"]["id"]) if edges else None

    async def log_after(self, after: str | None) -> list[tuple[str, str]]:
        """Every event after `after` in the log, as (id, customer name), oldest first."""
        found: list[tuple[str, str]] = []
        cursor = after
        while True:
            page = (await self.post(LOG_PAGE, {"after": cursor}))["customerEvents"]
            found.extend((e["node"]["id"], e["node"]["customer"]["name"]) for e in page["edges"])
            if not page["pageInfo"]["hasNextPage"]:
                return found
            cursor = page["pageInfo"]["endCursor"]


async def _wait_seen(clients: _Clients, name: str, wanted: int, seconds: float) -> float | None:
    """Seconds until `wanted` subscribers have received `name`'s event, None on time out."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if (await asyncio.to_thread(clients.seen, [name]))[name] >= wanted:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    return None


def _failed(opened: dict[str, Any]) -> str:
    if not opened["failed"]:
        return ""
    return f", {opened['failed']} failed: {opened['failures'][:2]}"


def _server_problems(server: Server) -> list[str]:
    """Lines of the server's log that report errors (its access lines are JSON at INFO)."""
    lines = server.log.read_text(errors="replace").splitlines()
    return [
        line[:400]
        for line in lines
        if "Traceback" in line or '"level": "ERROR"' in line or '"level":"ERROR"' in line
    ]


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest rank."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": _percentile(ordered, 0.50),
        "p99": _percentile(ordered, 0.99),
        "max": ordered[-1] if ordered else math.nan,
        "count": len(ordered),
    }


# -- live-latency --------------------------------------------------------------------------


def _latency(
    arguments: argparse.Namespace, database: Database, work_dir: Path, core: int | None
) -> dict[str, Any]:
    secrets = asyncio.run(_mint_keys(database, math.ceil(arguments.subscribers / PER_KEY)))
    secrets = [secrets[i // PER_KEY] for i in range(arguments.subscribers)]
    server = start_gateway(database, work_dir, core)
    try:
        wait_ready(server)
        return asyncio.run(_latency_run(arguments, database, server, secrets))
    finally:
        stop(server)


async def _latency_run(
    arguments: argparse.Namespace, database: Database, server: Server, secrets: list[str]
) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector) as session:
        writer = _Writer(session, server.port, database.write_secret)
        await writer.mutate(Mutation("live-start", "create", time.time()))
        after = await writer.newest_event()
        clients = _Clients(server.port, secrets, after, arguments.processes or 1)
        try:
            opened = await asyncio.to_thread(clients.open, len(secrets))
            print(
                f"   {opened['open']:,} subscribers open in {opened['seconds']:.1f} s"
                + (
                    f", {opened['failed']} failed: {opened['failures']}" if opened["failed"] else ""
                ),
                flush=True,
            )
            first = await writer.mutate(Mutation("live-first", "create", time.time()))
            if first.error or await _wait_seen(clients, "live-first", opened["open"], 60) is None:
                raise RuntimeError(f"the first event did not reach every subscriber: {first}")
            await writer.steady("live-warmup", arguments.rate, arguments.warmup)
            # The measured window: the writer's mutations and their deliveries.
            cpu = _cpu_marks(server, clients)
            mutations = await writer.steady("live", arguments.rate, arguments.duration)
            # Until the last mutation that succeeded has reached every subscriber.
            answered = [m for m in mutations if m.error is None]
            last = max(answered, key=lambda m: m.sent).name if answered else "live-first"
            drained = await _wait_seen(clients, last, opened["open"], 60)
            cpu = _cpu_marks(server, clients, since=cpu)
            await asyncio.sleep(1.0)
            log = await writer.log_after(after)
            replies = await asyncio.to_thread(clients.ask_all, {"op": "results"})
        finally:
            await asyncio.to_thread(clients.close)
    subscribers_seen = [s for reply in replies for s in reply["subscribers"]]
    row = _latency_row(mutations, log, subscribers_seen, opened["failed"])
    row.update(cpu)
    row["drained_seconds"] = drained
    row["server_problems"] = _server_problems(server)
    row["rate"] = arguments.rate
    row["duration"] = arguments.duration
    row["peak_rss_mib"] = procstat.peak_rss_mib(server.pid)
    row["rss_mib"] = procstat.rss_mib(server.pid)
    _print_latency_lines(row)
    return row


def _cpu_marks(
    server: Server, clients: _Clients, since: dict[str, float] | None = None
) -> dict[str, float]:
    """CPU seconds of the server, the clients (subscriber processes and this one) and the
    machine; given earlier marks, each as a share of one core over the time between."""
    busy, total = procstat.machine_busy_seconds()
    marks = {
        "wall": time.monotonic(),
        "server": procstat.cpu_seconds(server.pid),
        "clients": clients.cpu_seconds() + time.process_time(),
        "machine_busy": busy,
        "machine_total": total,
    }
    if since is None:
        return marks
    wall = marks["wall"] - since["wall"]
    return {
        "window_seconds": wall,
        "server_cpu": (marks["server"] - since["server"]) / wall,
        "client_cpu": (marks["clients"] - since["clients"]) / wall,
        "machine_busy": (marks["machine_busy"] - since["machine_busy"])
        / (marks["machine_total"] - since["machine_total"]),
    }


def _latency_row(
    mutations: list[Mutation],
    log: list[tuple[str, str]],
    seen_by: list[dict[str, Any]],
    failed_opens: int,
) -> dict[str, Any]:
    by_name = {m.name: m for m in mutations if m.error is None}
    expected = [event_id for event_id, _name in log]
    expected_set = set(expected)
    from_commit, from_sent, from_answer = [], [], []
    missing = duplicates = unexpected = disordered = exact = 0
    problems: list[str] = []
    closed = 0
    for subscriber in seen_by:
        received = [d[0] for d in subscriber["deliveries"]]
        unique = set(received)
        missing += len(expected_set - unique)
        duplicates += len(received) - len(unique)
        unexpected += len(unique - expected_set)
        if received == expected:
            exact += 1
        elif [r for r in received if r in expected_set] != [e for e in expected if e in unique]:
            disordered += 1
        problems.extend(subscriber["problems"][:2])
        closed += bool(subscriber["closed"])
        for _event_id, name, created_at, arrived in subscriber["deliveries"]:
            mutation = by_name.get(name)
            if mutation is None:
                continue  # the first event and the warm-up
            from_commit.append(arrived * 1000 - created_at)
            from_sent.append((arrived - mutation.sent) * 1000)
            from_answer.append((arrived - mutation.answered) * 1000)
    measured = [name for _id, name in log if name in by_name]
    round_trips = [(m.answered - m.sent) * 1000 for m in by_name.values()]
    return {
        "subscribers": len(seen_by),
        "failed_opens": failed_opens,
        "closed_early": closed,
        "mutations": len(mutations),
        "mutation_errors": [m.error for m in mutations if m.error][:5],
        "mutation_error_count": sum(1 for m in mutations if m.error),
        "events_in_log": len(expected),
        "measured_events": len(measured),
        "expected_deliveries": len(measured) * len(seen_by),
        "deliveries": len(from_commit),
        "exact_subscribers": exact,
        "missing": missing,
        "duplicates": duplicates,
        "unexpected": unexpected,
        "out_of_order_subscribers": disordered,
        "subscriber_problems": problems[:5],
        "latency_ms": _summary(from_commit),
        "from_sent_ms": _summary(from_sent),
        "from_answer_ms": _summary(from_answer),
        "mutation_ms": _summary(round_trips),
    }


def _print_latency_lines(row: dict[str, Any]) -> None:
    latency, sent, answer = row["latency_ms"], row["from_sent_ms"], row["from_answer_ms"]
    print(
        f"   {row['measured_events']} events × {row['subscribers']} subscribers: "
        f"{row['deliveries']:,} of {row['expected_deliveries']:,} deliveries; "
        f"{row['exact_subscribers']} subscribers got exactly the log "
        f"(missing {row['missing']}, duplicates {row['duplicates']}, "
        f"out of order {row['out_of_order_subscribers']})\n"
        f"   delivery − createdAt ms p50 {latency['p50']:.1f} p99 {latency['p99']:.1f} "
        f"max {latency['max']:.1f} | − sent p50 {sent['p50']:.1f} p99 {sent['p99']:.1f} "
        f"| − answered p50 {answer['p50']:.1f} p99 {answer['p99']:.1f}\n"
        f"   CPU (share of a core): server {row['server_cpu']:.2f}, clients "
        f"{row['client_cpu']:.2f}; machine {row['machine_busy']:.0%} busy; "
        f"drained {_seconds(row['drained_seconds'])} after the last send; server RSS "
        f"{row['rss_mib']:.0f} MiB (peak {row['peak_rss_mib']:.0f})",
        flush=True,
    )
    for key in ("mutation_errors", "subscriber_problems", "server_problems"):
        if row[key]:
            print(f"   {key}: {row[key][:3]}", flush=True)


def _seconds(value: float | None) -> str:
    return "not within 60 s" if value is None else f"{value:.2f} s"


def _print_latency(rows: dict[str, dict[str, Any]]) -> None:
    print(
        "\n| backend | events × subscribers | deliveries / expected | missing / duplicate / "
        "out of order | p50 / p99 / max ms | from sent p50 / p99 ms | mutation p50 / p99 ms "
        "| CPU server / clients | p99 ≤ 100 ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for backend, row in rows.items():
        latency, sent, mutation = row["latency_ms"], row["from_sent_ms"], row["mutation_ms"]
        print(
            f"| {backend} | {row['measured_events']} × {row['subscribers']:,} "
            f"| {row['deliveries']:,} / {row['expected_deliveries']:,} "
            f"| {row['missing']} / {row['duplicates']} / {row['out_of_order_subscribers']} "
            f"| {latency['p50']:.1f} / {latency['p99']:.1f} / {latency['max']:.1f} "
            f"| {sent['p50']:.1f} / {sent['p99']:.1f} "
            f"| {mutation['p50']:.1f} / {mutation['p99']:.1f} "
            f"| {row['server_cpu']:.2f} / {row['client_cpu']:.2f} "
            f"| {'yes' if latency['p99'] <= 100 else 'no'} |"
        )


# -- live-idle -----------------------------------------------------------------------------


def _idle(
    arguments: argparse.Namespace, database: Database, work_dir: Path, core: int | None
) -> dict[str, Any]:
    steps = [int(step) for step in arguments.steps.split(",")]
    secrets = asyncio.run(_mint_keys(database, math.ceil(steps[-1] / PER_KEY)))
    secrets = [secrets[i // PER_KEY] for i in range(steps[-1])]
    # Room for every socket and a few HTTP connections (serve raises its open-file limit).
    environment = {"MAX_CONNECTIONS": str(steps[-1] + 200)}
    server = start_gateway(database, work_dir, core, environment=environment)
    try:
        wait_ready(server)
        return asyncio.run(_idle_run(arguments, database, server, secrets, steps))
    finally:
        stop(server)


async def _idle_run(
    arguments: argparse.Namespace,
    database: Database,
    server: Server,
    secrets: list[str],
    steps: list[int],
) -> dict[str, Any]:
    processes = arguments.processes or math.ceil(steps[-1] / 4_000)
    async with aiohttp.ClientSession() as session:
        writer = _Writer(session, server.port, database.write_secret)
        await writer.mutate(Mutation("idle-start", "create", time.time()))
        await writer.newest_event()
        await asyncio.sleep(1.0)
        baseline = procstat.rss_mib(server.pid)
        print(f"   server RSS before any subscription: {baseline:.1f} MiB", flush=True)
        clients = _Clients(
            server.port, secrets, None, processes, subscribe=not arguments.sockets_only
        )
        rows: list[dict[str, Any]] = []
        try:
            for step in steps:
                opened = await asyncio.to_thread(clients.open, step)
                await asyncio.sleep(3.0)
                rss = procstat.rss_mib(server.pid)
                row = {
                    "subscriptions": opened["open"],
                    "failed": opened["failed"],
                    "failures": opened["failures"],
                    "open_seconds": opened["seconds"],
                    "rss_mib": rss,
                    "kib_per_subscription": (rss - baseline) * 1024 / max(opened["open"], 1),
                }
                rows.append(row)
                print(
                    f"   {opened['open']:,} open (in {opened['seconds']:.1f} s"
                    + (
                        f", {opened['failed']} failed: {opened['failures'][:2]}"
                        if opened["failed"]
                        else ""
                    )
                    + f"): server RSS {rss:.1f} MiB, {row['kib_per_subscription']:.1f} KiB each",
                    flush=True,
                )
            cpu_before, held_from = procstat.cpu_seconds(server.pid), time.monotonic()
            await asyncio.sleep(arguments.hold)
            held_cpu = (procstat.cpu_seconds(server.pid) - cpu_before) / (
                time.monotonic() - held_from
            )
            still = await asyncio.to_thread(clients.open, steps[-1])
            rss_held = procstat.rss_mib(server.pid)
            if arguments.sockets_only:
                await asyncio.to_thread(clients.ask_all, {"op": "results"})
                return {
                    "baseline_rss_mib": baseline,
                    "steps": rows,
                    "held_seconds": arguments.hold,
                    "held_server_cpu": held_cpu,
                    "open_after_hold": still["open"],
                    "rss_after_hold_mib": rss_held,
                    "check_reached": 0,
                    "sockets_only": True,
                    "server_problems": _server_problems(server),
                }
            sent = time.monotonic()
            check = await writer.mutate(Mutation("idle-check", "create", time.time()))
            reached = await _wait_seen(clients, "idle-check", still["open"], 120)
            count = (await asyncio.to_thread(clients.seen, ["idle-check"]))["idle-check"]
            delivered_seconds = time.monotonic() - sent
            replies = await asyncio.to_thread(clients.ask_all, {"op": "results"})
        finally:
            await asyncio.to_thread(clients.close)
    problems = [p for reply in replies for s in reply["subscribers"] for p in s["problems"]]
    result = {
        "baseline_rss_mib": baseline,
        "steps": rows,
        "held_seconds": arguments.hold,
        "held_server_cpu": held_cpu,
        "open_after_hold": still["open"],
        "rss_after_hold_mib": rss_held,
        "check_error": check.error,
        "check_reached": count,
        "check_all_seconds": reached,
        "check_seconds": delivered_seconds,
        "rss_after_check_mib": procstat.rss_mib(server.pid),
        "peak_rss_mib": procstat.peak_rss_mib(server.pid),
        "subscriber_problems": problems[:5],
        "server_problems": _server_problems(server),
        "processes": processes,
    }
    print(
        f"   after {arguments.hold:.0f} s idle: {still['open']:,} still open, RSS "
        f"{rss_held:.1f} MiB, server CPU {held_cpu:.3f} of a core; a create reached "
        f"{count:,} of them"
        + (f" in {reached:.2f} s" if reached is not None else " (not all, 120 s)")
        + f"; peak RSS {result['peak_rss_mib']:.1f} MiB",
        flush=True,
    )
    for key in ("subscriber_problems", "server_problems"):
        if result[key]:
            print(f"   {key}: {result[key][:3]}", flush=True)
    return result


def _print_idle(rows: dict[str, dict[str, Any]]) -> None:
    print(
        "\n| backend | subscriptions | server RSS MiB | KiB per subscription "
        f"| within {RSS_TARGET_MIB} MiB |"
    )
    print("|---|---:|---:|---:|---|")
    for backend, result in rows.items():
        print(f"| {backend} | 0 | {result['baseline_rss_mib']:.1f} | | yes |")
        for step in result["steps"]:
            print(
                f"| {backend} | {step['subscriptions']:,} | {step['rss_mib']:.1f} "
                f"| {step['kib_per_subscription']:.1f} "
                f"| {'yes' if step['rss_mib'] <= RSS_TARGET_MIB else 'no'} |"
            )
        reached = (
            "sockets only"
            if result.get("sockets_only")
            else f"create reached {result['check_reached']:,}"
        )
        print(
            f"| {backend} | {result['open_after_hold']:,} after {result['held_seconds']:.0f} s "
            f"| {result['rss_after_hold_mib']:.1f} | | {reached} |"
        )


if __name__ == "__main__":
    sys.exit(main())
