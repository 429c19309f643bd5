"""A throwaway PostgreSQL cluster of the harness's own: initdb on a spare port, started,
stopped and restarted at will, removed afterwards. Never the machine's own server."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from faults.gateways import free_port


class Cluster:
    def __init__(self) -> None:
        self.port = free_port()
        self._root = Path(tempfile.mkdtemp(prefix="faults-pg-"))
        self._data = self._root / "data"
        self._log = self._root / "server.log"
        if os.geteuid() == 0:
            shutil.chown(self._root, "postgres")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def create(self) -> None:
        self._run("initdb", "-D", str(self._data), "-U", "postgres", "--auth=trust", "-N")
        with (self._data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\nmax_connections = 200\n"
            )
        self.start()

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self._data), "-l", str(self._log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self._data), "-m", mode, "-w", "stop")

    def wait_accepting(self, timeout: float = 30.0) -> float:
        """Seconds until the server accepts connections."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            probe = subprocess.run(
                ["pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-q"], check=False
            )
            if probe.returncode == 0:
                return time.monotonic() - started
            time.sleep(0.02)
        raise RuntimeError("the throwaway PostgreSQL did not come back")

    def remove(self) -> None:
        if (self._data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self._root, ignore_errors=True)

    def _run(self, *command: str) -> None:
        # PostgreSQL refuses to run as root; the cluster belongs to the postgres user then.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)
