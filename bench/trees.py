"""Other versions of the gateway to measure this tree against: a git revision checked out
in a temporary worktree, run with this tree's virtualenv, on a database of its own that
its own bench.seed prepares (so each tree migrates and seeds its own schema, the same
way). Used by `python -m bench --rev` and `python -m bench.instructions --rev`."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

from bench.seed import Database
from bench.servers import PYTHON, ROOT

# Run inside the measured tree: its own seeding, printed as JSON for this tree's workloads.
_PREPARE = """
import asyncio, dataclasses, json, pathlib, sys
from bench.seed import prepare
database = asyncio.run(prepare(sys.argv[1], int(sys.argv[2]), data_dir=pathlib.Path(sys.argv[3]),
                               postgres_url=sys.argv[4]))
print(json.dumps(dataclasses.asdict(database)))
"""


@contextlib.contextmanager
def worktree(revision: str, work: Path) -> Iterator[Path]:
    """`revision` checked out (detached) under `work`, removed afterwards."""
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
def scratch_database(url: str, name: str) -> Iterator[str]:
    """A PostgreSQL database of this run's own beside `url`'s, dropped afterwards."""
    server = url.replace("+asyncpg", "").rsplit("/", 1)[0]
    quiet = {**os.environ, "PGOPTIONS": "-c client_min_messages=warning"}
    psql = ["psql", f"{server}/postgres", "-qc"]
    subprocess.run([*psql, f'DROP DATABASE IF EXISTS "{name}"'], check=True, env=quiet)
    subprocess.run([*psql, f'CREATE DATABASE "{name}"'], check=True, env=quiet)
    try:
        yield f"{url.rsplit('/', 1)[0]}/{name}"
    finally:
        subprocess.run(
            [*psql, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=False, env=quiet
        )


def prepare(tree: Path, backend: str, customers: int, data_dir: Path, url: str) -> Database:
    """`tree`'s own bench.seed.prepare, run in that tree (SQLite files under `data_dir`,
    PostgreSQL at `url`)."""
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
