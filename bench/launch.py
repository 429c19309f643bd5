"""Ablation runs: `python -m bench.launch --without fastpath,keycache -- serve …`.

Starts the gateway like `python -m app`, after switching named optimisations off, so
`scripts/bench --without NAME` measures what each one buys on the same tree. The main
table always runs the gateway as users do, through `python -m app serve`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

from app import cli


def _no_fastpath() -> None:
    os.environ["FAST_PATH"] = "false"


def _no_keycache() -> None:
    from app.accounts.keys import KeyCache

    remember = KeyCache.__init__

    def forgetful(self: Any, seconds: float = 0.0, size: int = 1) -> None:
        remember(self, 0.0, size)

    KeyCache.__init__ = forgetful  # type: ignore[method-assign]


def _connections_without(attribute: str, *, keep: Callable[[Any], Any] = lambda _e: None) -> None:
    """The store as built, then with one attribute replaced (None: the feature is off)."""
    from app.store.store import Store

    build = Store.__init__

    def patched(self: Any, engine: Any, driver_pool: Any) -> None:
        build(self, engine, driver_pool)
        setattr(self, attribute, keep(engine))

    Store.__init__ = patched  # type: ignore[method-assign]


def _no_driver_reads() -> None:
    """The customers' reads through SQLAlchemy's AsyncConnection (`Store.read()`), as
    before app/store/driver.py; rows are SQLAlchemy's Row objects, which the services
    read as they read the driver's rows."""
    from app.store.store import Store

    class EngineReader:
        def __init__(self, connection: Any) -> None:
            self._connection = connection
            self.dialect = connection.dialect.name

        async def rows(self, statement: Any, values: Any) -> list[Any]:
            return list((await self._connection.execute(statement, values)).all())

    @contextlib.asynccontextmanager
    async def reader(self: Store) -> AsyncIterator[Any]:
        async with self.read() as connection:
            yield EngineReader(connection)

    Store.reader = reader  # type: ignore[assignment,method-assign]


def _no_gc_tuning() -> None:
    import gc

    vars(gc)["freeze"] = lambda: None
    vars(gc)["set_threshold"] = lambda *_thresholds: None


def _no_prefix_probe() -> None:
    from app.customers import service

    async def nothing_unindexed(*_arguments: Any) -> frozenset[str]:
        return frozenset()

    vars(service)["unindexed_prefixes"] = nothing_unindexed


def _no_breadth_memory() -> None:
    """A prefix probe before every page, as before their answers were kept."""
    from app.customers import prefix_plans

    prefix_plans.BREADTH_SECONDS = 0.0


def _adjust_engine_options(adjust: Callable[[Any, dict[str, Any]], None]) -> None:
    """Every engine the gateway creates gets its options changed by `adjust` first."""
    from app.store import engine as db

    create = vars(db)["create_async_engine"]

    def adjusted(url: Any, **options: Any) -> Any:
        adjust(url, options)
        return create(url, **options)

    vars(db)["create_async_engine"] = adjusted


def _pre_ping(url: Any, options: dict[str, Any]) -> None:
    if url.get_backend_name() != "sqlite":
        options["pool_pre_ping"] = True


def _drop(*names: str, sqlite_only: bool = False) -> Callable[[Any, dict[str, Any]], None]:
    def drop(url: Any, options: dict[str, Any]) -> None:
        if not sqlite_only or url.get_backend_name() == "sqlite":
            for name in names:
                options.pop(name, None)

    return drop


def _plain_aiosqlite(_url: Any, options: dict[str, Any]) -> None:
    options.get("connect_args", {}).pop("async_creator_fn", None)


def _no_fast_cursors() -> None:
    """Cursor plaintexts written by json.dumps (the bytes orjson writes, more slowly)."""
    from app.customers import cursors

    def compact(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    vars(cursors)["orjson"] = SimpleNamespace(dumps=compact)


def _unsealed_cursors() -> None:
    """Cursors as they were before they were encrypted: base64url of the plain triple (what
    sealing them costs, with `--baseline-without sealing`)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV

    from app.customers import cursors

    class Unsealed:
        def __init__(self, key: bytes) -> None:
            # The seeded `deep` cursor is sealed; this reads it, and any plain triple.
            self._sealed = AESSIV(key)

        def encrypt(self, plaintext: bytes, _associated: None) -> bytes:
            return plaintext

        def decrypt(self, text: bytes, _associated: None) -> bytes:
            try:
                return self._sealed.decrypt(text, None)
            except InvalidTag:
                return text

    vars(cursors)["AESSIV"] = Unsealed


def _no_metrics() -> None:
    from app.telemetry.metrics import Metrics

    Metrics.http_response = lambda self, status: None  # type: ignore[method-assign]
    Metrics.operation = lambda self, **_labels: None  # type: ignore[method-assign]


def _no_event_log() -> None:
    """Changes recorded without their events (what the log costs a write, with
    `--baseline-without eventlog`): a create inserts its customer's row, nothing more,
    in the same transaction as with the log (the engine's with an idempotency key, a
    driver connection's without)."""
    from sqlalchemy import insert

    from app.customers import service
    from app.customers.models import customers_table
    from app.store.statements import CompiledStatement

    insert_customer = insert(customers_table)

    async def unrecorded(connection: Any, *_event: Any, new_row: Any = None) -> None:
        if new_row is not None:
            await connection.execute(insert_customer, new_row)

    @functools.cache
    def compiled_insert(dialect: Any) -> CompiledStatement:
        return CompiledStatement(insert_customer, dialect)

    async def created_unrecorded(store: Any, _principal: Any, _customer: Any, row: Any) -> None:
        async with store.writer() as writer:
            if store.dialect == "postgresql":
                await writer.returning(insert_customer, row)
                return
            compiled = compiled_insert(store.engine.dialect)
            parameters = compiled.parameters(row)
            await writer.transaction(
                lambda database: database.execute(compiled.sql, parameters), compiled.sql
            )

    vars(service)["record_event"] = unrecorded
    vars(service)["record_creation"] = created_unrecorded


def _no_driver_writes() -> None:
    """Creations without an idempotency key in the engine's transaction again (SQLAlchemy's
    BEGIN, the statements and COMMIT), as before they ran on a driver connection."""
    from app.customers import service
    from app.events import log
    from app.events.models import EventType

    async def through_the_engine(store: Any, principal: Any, customer: Any, row: Any) -> Any:
        async with store.write() as connection:
            return await log.record_event(
                connection, principal, EventType.CUSTOMER_CREATED, customer, new_row=row
            )

    vars(service)["record_creation"] = through_the_engine


def _no_argument_plans() -> None:
    """Every argument converted by Strawberry's convert_arguments, as before fields had
    argument plans."""
    from app.api.fastpath import run

    build = run._ArgumentPlan.of

    def by_strawberry(field: Any, config: Any) -> Any:
        planned = build(field, config)
        everything = tuple(
            (name, python, run._BY_STRAWBERRY) for name, python, _ in planned._arguments
        )
        return run._ArgumentPlan(everything)

    run._ArgumentPlan.of = by_strawberry  # type: ignore[method-assign]


def _no_variable_plans() -> None:
    """Variables coerced by graphql-core's get_variable_values, definitions and all, as
    before operations kept their variable signatures."""
    import graphql

    from app.api.fastpath import variables

    def remember(self: Any, schema: Any, definitions: Any) -> None:
        self._signatures = (schema, definitions)

    def coerce(self: Any, inputs: Any) -> Any:
        schema, definitions = self._signatures
        values = graphql.get_variable_values(schema, definitions, inputs)
        return None if isinstance(values, list) else values

    variables.VariableCoercion.__init__ = remember  # type: ignore[method-assign]
    variables.VariableCoercion.coerce = coerce  # type: ignore[method-assign]


def _unbuffered_logs() -> None:
    """Each log line written as it is logged, as before they were buffered."""
    from app.logs import BufferedLineHandler

    BufferedLineHandler.MAX_PENDING_BYTES = 0


def _one_id_per_read() -> None:
    """A read of the OS's random generator per request id, as secrets.token_hex did."""
    from app.web import middleware

    middleware._request_ids = middleware.RandomIds(batch=1)


def _no_shared_reads() -> None:
    """Each SQLite read takes a turn and a driver connection of its own, as before reads
    shared two."""
    from app.store.driver import SqliteBackend

    SqliteBackend.shared_readers = 0


def _no_rate_limits() -> None:
    os.environ["RATE_LIMIT_BUCKET"] = "0"


ABLATIONS: dict[str, Callable[[], None]] = {
    "metrics": _no_metrics,
    "ratelimits": _no_rate_limits,
    "eventlog": _no_event_log,
    "fastpath": _no_fastpath,
    "driverreads": _no_driver_reads,
    "driverwrites": _no_driver_writes,
    "argplans": _no_argument_plans,
    "varplans": _no_variable_plans,
    "logbuffer": _unbuffered_logs,
    "idbatch": _one_id_per_read,
    "sharedreads": _no_shared_reads,
    "keycache": _no_keycache,
    "autocommit": lambda: _connections_without("_reads", keep=lambda engine: engine),
    "fairqueue": lambda: _connections_without("_turns"),
    "sqlitewriter": lambda: _connections_without("_writer"),
    "gc": _no_gc_tuning,
    "prefixprobe": _no_prefix_probe,
    "breadths": _no_breadth_memory,
    "pingless": lambda: _adjust_engine_options(_pre_ping),
    "sqlitepool": lambda: _adjust_engine_options(
        _drop("pool_size", "max_overflow", sqlite_only=True)
    ),
    "sqlitehops": lambda: _adjust_engine_options(_plain_aiosqlite),
    "orjson": lambda: _adjust_engine_options(_drop("json_deserializer")),
    "cursors": _no_fast_cursors,
    "sealing": _unsealed_cursors,
}


def main() -> int:
    arguments = sys.argv[1:]
    names: list[str] = []
    if arguments[:1] == ["--without"]:
        names = [name for name in arguments[1].split(",") if name]
        arguments = arguments[2:]
    if arguments[:1] == ["--"]:
        arguments = arguments[1:]
    for name in names:
        ABLATIONS[name]()
    return cli.main(arguments)


if __name__ == "__main__":
    sys.exit(main())
