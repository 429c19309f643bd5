"""Every core: WORKERS processes serving one port, supervised by the process that started.

Each worker is `python -m app serve --worker`, a whole gateway of its own that binds the
port with SO_REUSEPORT, so the kernel spreads connections across them. The supervisor
migrated the database before starting them, and:

- restarts a worker that exits without being asked (after RESTART_DELAY_SECONDS, longer
  while workers keep dying within a second of starting), telling prometheus-client the
  old one is gone;
- on SIGTERM or SIGINT, passes SIGTERM to every worker, each of which drains as a single
  gateway does (README, "Graceful shutdown"), and waits for them all;
- gives every worker one PROMETHEUS_MULTIPROC_DIR, so /metrics, answered by any worker,
  sums them all.

Workers get SIGTERM if the supervisor dies (PR_SET_PDEATHSIG), so none outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import shutil
import signal
import socket
import sys
import tempfile
import time

from prometheus_client import multiprocess

from app.errors import StartupError
from app.settings import Settings

RESTART_DELAY_SECONDS = 0.2
MAX_RESTART_DELAY_SECONDS = 10.0
QUICK_EXIT_SECONDS = 1.0
# A worker drains for SHUTDOWN_GRACE_SECONDS and may then unwind for up to 35 s (app/serve.py).
UNWIND_SECONDS = 40.0
_PR_SET_PDEATHSIG = 1


class Supervisor:
    def __init__(self, settings: Settings, count: int, metrics_directory: str) -> None:
        self._settings = settings
        self._count = count
        self._environ = {
            **os.environ,
            "PROMETHEUS_MULTIPROC_DIR": metrics_directory,
            "HOST": settings.host,
            "PORT": str(settings.port),
        }
        self._metrics_directory = metrics_directory
        self._stopping = False
        self.workers: dict[int, asyncio.subprocess.Process] = {}

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        keepers = [asyncio.create_task(self._keep(slot)) for slot in range(self._count)]
        print(
            f"customers gateway serving http://{self._settings.host}:{self._settings.port}/graphql "
            f"with {self._count} workers (supervisor {os.getpid()})",
            flush=True,
        )
        await stop.wait()
        self._stopping = True
        print(f"shutting down {len(self.workers)} workers", flush=True)
        for process in list(self.workers.values()):
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = self._settings.shutdown_grace_seconds + UNWIND_SECONDS
        _done, pending = await asyncio.wait(keepers, timeout=deadline)
        for process in list(self.workers.values()):
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        for keeper in pending:
            keeper.cancel()
        print("stopped", flush=True)
        return 0

    async def _keep(self, slot: int) -> None:
        """Keep one worker running in this slot until the supervisor stops."""
        delay = RESTART_DELAY_SECONDS
        while not self._stopping:
            started = time.monotonic()
            process = await self._start()
            self.workers[slot] = process
            code = await process.wait()
            multiprocess.mark_process_dead(process.pid, self._metrics_directory)  # type: ignore[no-untyped-call]
            if self._stopping:
                return
            quick = time.monotonic() - started < QUICK_EXIT_SECONDS
            delay = min(delay * 2, MAX_RESTART_DELAY_SECONDS) if quick else RESTART_DELAY_SECONDS
            print(
                f"worker {process.pid} exited with status {code}; starting another in {delay:g} s",
                file=sys.stderr,
                flush=True,
            )
            await asyncio.sleep(delay)

    async def _start(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app",
            "serve",
            "--worker",
            env=self._environ,
            preexec_fn=_die_with_parent,
        )


async def supervise(settings: Settings) -> int:
    _check_port(settings.host, settings.port)
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    directory = given or tempfile.mkdtemp(prefix="gateway-metrics-")
    try:
        return await Supervisor(settings, settings.worker_count, directory).run()
    finally:
        if not given:
            shutil.rmtree(directory, ignore_errors=True)


def _check_port(host: str, port: int) -> None:
    """Fail with one line if the port is taken by a process that is not a worker of ours."""
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        probe.bind((host, port))
    except OSError as error:
        reason = "the port is already in use" if error.errno == errno.EADDRINUSE else error.strerror
        raise StartupError(f"cannot listen on {host}:{port}: {reason}") from error
    finally:
        probe.close()


def _die_with_parent() -> None:
    """In the worker before exec: SIGTERM when the supervisor dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
