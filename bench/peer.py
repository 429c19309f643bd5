"""PostGraphile 5 as a peer of the gateway (`scripts/bench --peer postgraphile`).

Its npm packages, Node 22 among them, are pinned in bench/postgraphile/package-lock.json
and installed there by `npm ci` the first time a bench asks for the peer (never by
scripts/setup, never at the gateway's run time). PostGraphile introspects one schema of
the bench's database, `<schema>_postgraphile`, which holds a single view: the read
account's test-mode customers (the rows every read workload of the gateway serves), with
`object` as a column, `id` as its primary key and the table's NOT NULL columns marked so
(smart comments), so the peer's documents need no account or live arguments and answer
the same customers.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Select, String, literal, select, text
from sqlalchemy.schema import CreateSchema

from app.customers.models import TEXT_FIELDS, customer_columns, customers_table
from app.store.engine import create_engine
from bench import peer_documents
from bench.seed import Database
from bench.servers import DATABASE_CONNECTIONS, Server, free_port, spawn, stop, wait_ready
from bench.workloads import Workload

PEERS = ("postgraphile",)
FOLDER = Path(__file__).resolve().parent / "postgraphile"
NODE = FOLDER / "node_modules" / ".bin" / "node"


def install() -> None:
    """`npm ci` in bench/postgraphile unless this lock file's packages are there."""
    lock = FOLDER / "package-lock.json"
    stamp = FOLDER / "node_modules" / f".installed-{_digest(lock)}"
    if stamp.exists() and NODE.exists():
        return
    if shutil.which("npm") is None:
        raise RuntimeError("the PostGraphile peer needs npm (apt-get install npm)")
    print("   installing PostGraphile's npm packages (npm ci in bench/postgraphile) …", flush=True)
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=FOLDER, check=True
    )
    if not NODE.exists():
        # The `node` package brings its binary in a preinstall script, which npm may skip.
        raise RuntimeError(f"npm ci installed no {NODE} (were install scripts skipped?)")
    stamp.touch()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def schema_for(database: Database) -> str:
    return f"{database.schema}_postgraphile"


async def expose(database: Database) -> str:
    """(Re)create the schema PostGraphile introspects and its customers view; its name."""
    assert database.schema is not None
    schema = schema_for(database)
    c = customers_table.c
    # A customer's columns as the gateway reads them, `object`, and the casefolded keys
    # its filters match (the peer's filter documents name them, as the gateway's SQL does).
    rows = select(
        *customer_columns,
        literal("customer", String()).label("object"),
        *(c[field.key] for field in TEXT_FIELDS),
    ).where(c.account_id == database.read_account, c.live.is_(False))
    engine = create_engine(database.settings())
    # DDL takes no parameters: the account id is rendered by SQLAlchemy as a literal.
    body = str(rows.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    quoted = engine.dialect.identifier_preparer.quote(schema)
    try:
        async with engine.begin() as connection:
            await connection.execute(CreateSchema(schema, if_not_exists=True))
            # The gateway's search path resolves `customers` to the bench's own table.
            await connection.execute(text(f"DROP VIEW IF EXISTS {quoted}.customers"))
            await connection.execute(text(f"CREATE VIEW {quoted}.customers AS {body}"))
            await connection.execute(
                text(f"COMMENT ON VIEW {quoted}.customers IS '@primaryKey id'")
            )
            # A view's columns all look nullable; told which are not, PostGraphile compares
            # a cursor as a row, `(created_at, id) < ($1, $2)`, as the gateway does, where
            # its null-safe OR form made PostgreSQL's generic plan walk the whole index.
            for column in map(engine.dialect.identifier_preparer.quote, _not_null(rows)):
                await connection.execute(
                    text(f"COMMENT ON COLUMN {quoted}.customers.{column} IS '@notNull'")
                )
    finally:
        await engine.dispose()
    return schema


@dataclass(frozen=True, slots=True)
class Peer:
    """A running peer and its documents for each of the gateway's workloads (or why it
    has none)."""

    server: Server
    workloads: dict[str, Workload | str]


def launch(database: Database, chosen: list[Workload], work_dir: Path, core: int | None) -> Peer:
    """PostGraphile ready on `database`, with its documents for the `chosen` workloads."""
    install()
    asyncio.run(expose(database))
    server = start(database, work_dir, core)
    try:
        wait_ready(server)
        cursor = peer_documents.deep_cursor(server.port)
    except BaseException:
        stop(server)
        raise
    return Peer(server, peer_documents.build(chosen, cursor))


def _not_null(rows: Select[Any]) -> list[str]:
    """The view's columns that are never null: the table's NOT NULL ones and `object`."""
    table = customers_table.c
    return [
        column.name
        for column in rows.selected_columns
        if column.name not in table or not table[column.name].nullable
    ]


def start(database: Database, work_dir: Path, core: int | None) -> Server:
    """PostGraphile on `database`'s view schema, on 127.0.0.1, pinned to `core`."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database.url.replace("+asyncpg", ""),
        "PEER_SCHEMA": schema_for(database),
        "PORT": str(port),
        "POOL_SIZE": str(DATABASE_CONNECTIONS),
        "NODE_ENV": "production",
        "GRAPHILE_ENV": "production",
    }
    command = [str(NODE), str(FOLDER / "server.mjs")]
    return spawn("postgraphile", command, env, port, work_dir, core, speaks_graphql=True)
