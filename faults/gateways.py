"""Gateway processes as users run them (`python -m app serve`), with their logs kept."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_SECRET = re.compile(r"\b(sk_test_[0-9A-Za-z_]+)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Gateway:
    """One `python -m app serve` on its own port; stderr and stdout go to a log file."""

    def __init__(
        self, database_url: str, settings: dict[str, str], port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.log_path = Path(tempfile.mkstemp(prefix="faults-gateway-", suffix=".log")[1])
        self._env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "PORT"))},
            "DATABASE_URL": database_url,
            "PORT": str(self.port),
            "LOG_LEVEL": "INFO",
            **settings,
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app", "serve"],
                cwd=ROOT,
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_listening()

    def wait_listening(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise RuntimeError("gateway did not listen in time")

    def secret(self) -> str:
        """The sandbox key the first start minted (printed once, in the log)."""
        found = _SECRET.search(self.log_path.read_text())
        if found is None:
            raise RuntimeError("no key in the gateway's first-start output")
        return found.group(1)

    def cli(self, *arguments: str) -> str:
        """`python -m app ARGUMENTS` on this gateway's database; its output."""
        done = subprocess.run(
            [sys.executable, "-m", "app", *arguments],
            cwd=ROOT,
            env=self._env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return done.stdout

    def minted_secret(self, account: str) -> str:
        found = _SECRET.search(self.cli("keys", "create", "--account", account))
        assert found is not None
        return found.group(1)

    def signal(self, number: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.terminate()
        return self.process.wait(timeout=60)

    def tracebacks(self) -> int:
        return self.log_path.read_text(errors="replace").count("Traceback")

    def remove(self) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)
