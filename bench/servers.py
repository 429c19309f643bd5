"""Starting and stopping the servers a bench measures: the gateway exactly as users start
it (`python -m app serve`, production, one process), from this tree or from another
checkout, optionally pinned to a core."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.seed import Database

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"


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


# PostgreSQL connections each server may hold for the workloads' statements: the raw
# handler's asyncpg pool, PostGraphile's pool, and the gateway's connections for reads and
# creations (its DB_POOL_SIZE; it keeps as many again for other writes, which no workload
# here makes). A filter waits for PostgreSQL more than for Python, so a side with fewer
# answered fewer (the gateway's default of 5: filter 0.51 of the raw handler's rate, 0.84
# with 10). On SQLite each keeps its own default (the raw handler has one connection).
DATABASE_CONNECTIONS = 10


def start_gateway(
    database: Database,
    work_dir: Path,
    core: int | None,
    *,
    without: str = "",
    workers: int = 1,
    name: str = "gateway",
    tree: Path = ROOT,
    environment: dict[str, str] | None = None,
    profile: tuple[Path, float] | None = None,
) -> Server:
    """The gateway of `tree` (this checkout by default, run with this tree's virtualenv)
    on `database`, with rate limits on and a bucket no load empties; `environment` adds
    or overrides settings; `profile` (a file, seconds between samples) runs it under
    bench.profile's sampler."""
    port = free_port()
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
        **({} if database.backend == "sqlite" else {"DB_POOL_SIZE": str(DATABASE_CONNECTIONS)}),
        **(environment or {}),
    }
    if tree != ROOT:
        env["PYTHONPATH"] = str(tree)
    command = [str(PYTHON), "-m", "app", "serve"]
    if without:
        # Ablation: the same gateway with the named optimisations switched off.
        command[2:3] = ["bench.launch", "--without", without, "--"]
    if profile is not None:
        if without:
            raise ValueError("a profiled gateway runs without ablations")
        output, interval = profile
        command[2:3] = ["bench.profile", "--record", str(output), str(interval), "--"]
    return spawn(name, command, env, port, work_dir, core, speaks_graphql=True, cwd=tree)


def spawn(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    work_dir: Path,
    core: int | None,
    *,
    speaks_graphql: bool = False,
    cwd: Path = ROOT,
) -> Server:
    if core is not None:
        command = ["taskset", "-c", str(core), *command]
    log = work_dir / f"{name}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=handle, stderr=handle)
    return Server(name, process, port, log, speaks_graphql)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(server: Server, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {server.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not start: {server.log.read_text()[-2000:]}")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
