"""Running the gateway as users do: `python -m app …` in a subprocess."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Every request is charged to a bucket this large, so the charging path runs in every test
# and refuses nothing; tests of rate limits themselves set their own bucket.
TEST_BUCKET = 10_000_000


def environment(database: dict[str, Any], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "PORT", "HOST"))}
    env["RATE_LIMIT_BUCKET"] = str(TEST_BUCKET)
    env["DATABASE_URL"] = database["database_url"]
    if database.get("database_schema"):
        env["DATABASE_SCHEMA"] = database["database_schema"]
    env.update(extra)
    return env


def run_cli(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "app", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """The command failed with one `error: …` line holding every fragment, no traceback."""
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0]


async def start_serving(
    env: dict[str, str], port: int, *, stderr: int = asyncio.subprocess.DEVNULL
) -> asyncio.subprocess.Process:
    """`python -m app serve --port PORT`, its stdout piped; it may not be listening yet."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "serve",
        "--port",
        str(port),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
    )


@asynccontextmanager
async def serving(env: dict[str, str], port: int) -> AsyncIterator[str]:
    """A gateway process listening on `port`; yields its /graphql URL and stops it after."""
    process = await start_serving(env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_healthy(base, process)
        yield f"{base}/graphql"
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), timeout=30)


async def wait_until_healthy(base: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if process.returncode is not None:
                raise RuntimeError(f"gateway exited with {process.returncode}")
            try:
                async with session.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("gateway did not become healthy in 15 s")
