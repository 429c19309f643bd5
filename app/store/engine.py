"""Engine lifecycle, per-backend connection settings and the Alembic upgrade."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.errors import StartupError
from app.settings import Settings, SqliteSynchronous
from app.store import sqlite_connection
from app.store.driver import DriverPool, InMemorySqliteBackend, PostgresBackend, SqliteBackend

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same in every replica.
_MIGRATION_LOCK_ID = 7_411_202_611


def create_engine(settings: Settings) -> AsyncEngine:
    """Build the engine for settings.database_url; no connection is opened yet."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url, settings.db_pool_size, settings.sqlite_synchronous)
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=0,
        connect_args=_postgres_connect_args(settings),
        json_deserializer=read_json,
    )

    @event.listens_for(engine.sync_engine, "checkout")
    def _replace_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # A connection the server closed while it sat in the pool (a restart, an idle
        # timeout, pg_terminate_backend) is replaced before use: the pool retries the
        # checkout with a new one. asyncpg notices the close as it happens, so unlike
        # pool_pre_ping (BEGIN, a query, ROLLBACK) this costs no round trip.
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the server closed this pooled connection")

    return engine


def create_driver_pool(settings: Settings, engine: AsyncEngine) -> DriverPool:
    """The driver connections for reads beside the engine (app/store/driver.py), with
    the engine's connection settings; none is opened yet."""
    url = make_url(settings.database_url)
    backend: PostgresBackend | SqliteBackend
    if url.get_backend_name() != "sqlite":
        backend = PostgresBackend.for_engine(url, engine.dialect, _postgres_connect_args(settings))
    elif settings.sqlite_path is None:
        backend = InMemorySqliteBackend(engine)
    else:
        backend = SqliteBackend(settings.sqlite_path, settings.sqlite_synchronous.value)
    return DriverPool(backend, engine.dialect, settings.db_pool_size)


def _postgres_connect_args(settings: Settings) -> dict[str, Any]:
    server_settings = {
        "statement_timeout": str(settings.db_statement_timeout_ms),
        "application_name": "customers-gateway",
    }
    if settings.database_schema:
        server_settings["search_path"] = settings.database_schema
    return {"server_settings": server_settings}


def _create_sqlite_engine(url: URL, pool_size: int, synchronous: SqliteSynchronous) -> AsyncEngine:
    pool: dict[str, Any] = {}
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # A fixed pool, as on PostgreSQL: the default lets 10 overflow connections come
        # and go under load, each a new thread, a new file handle and four PRAGMAs.
        pool = {"pool_size": pool_size, "max_overflow": 0}
    engine = create_async_engine(
        url,
        # The aiosqlite dialect opens connections with async_creator_fn when given one.
        connect_args={
            "timeout": sqlite_connection.BUSY_TIMEOUT_SECONDS,
            "async_creator_fn": sqlite_connection.connect,
        },
        json_deserializer=read_json,
        **pool,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in sqlite_connection.pragmas(synchronous.value):
            cursor.execute(pragma)
        cursor.close()

    return engine


def read_json(text: str) -> Any:
    """JSON columns as stored: orjson is several times faster than json.loads per row.

    json.dumps (SQLAlchemy's serializer) can write lone surrogates, which orjson refuses
    to read; json.loads reads those few.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


async def check_connection(engine: AsyncEngine) -> None:
    """Raise if the database cannot answer a trivial query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration; safe to run from several replicas at once.

    A database already there is recognised without loading Alembic, which (with Mako
    and Pygments) would keep 11 MiB in every serving process for nothing.
    """
    async with engine.connect() as connection:
        if await connection.run_sync(_revision) == head_revision():
            return
    async with engine.begin() as connection:
        # One migrator at a time; the others wait, then find the schema at its head.
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _MIGRATION_LOCK_ID}
            )
        else:
            # SQLite's write lock, taken now: Python's sqlite3 would begin a transaction
            # only at the first INSERT, after the CREATE TABLEs of a new database.
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
        await connection.run_sync(_upgrade_to_head)


@cache
def head_revision() -> str:
    """The newest migration's revision: migrations are named `<revision>_<what>.py` with
    revisions that count up (tests/test_migrations.py holds this equal to Alembic's head)."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS_DIR / "versions").glob("*.py"))


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if version is None else str(version)


def _upgrade_to_head(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


@asynccontextmanager
async def migrated_transaction(settings: Settings) -> AsyncIterator[AsyncConnection]:
    """A transaction on a reachable, migrated database; the engine is gone afterwards."""
    engine = create_engine(settings)
    try:
        try:
            await check_connection(engine)
            await migrate(engine)
        except (SQLAlchemyError, OSError) as error:
            raise StartupError(
                f"cannot use the database at {safe_url(settings)}: {_first_line(error)}"
            ) from error
        async with engine.begin() as connection:
            yield connection
    finally:
        await engine.dispose()


def safe_url(settings: Settings) -> str:
    """The database URL with its password hidden, for messages."""
    return make_url(settings.database_url).render_as_string(hide_password=True)


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__
