"""Latency of customer pages at depth, on SQLite and PostgreSQL (a benchmark, not a test).

    scripts/bench_pages [--count 1000000] [--sqlite PATH] [--postgres URL] [--schema bench]

Calls the service layer (app.service.list_customers / count_customers with an
app.filters tree) directly, without HTTP, so the numbers are the database work
plus the Python around it. Each backend gets its own database (a SQLite file, a
PostgreSQL schema) seeded by scripts/seed.py when it holds fewer customers than --count.
Prints the median of several runs per query, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, nulls_last, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

sys.path.insert(0, str(Path(__file__).parent))

import seed

from app.accounts import keys
from app.customers import filters, service
from app.customers.cursors import CursorCodec
from app.customers.models import customers_table
from app.customers.ordering import Order, OrderDirection, OrderField, Position
from app.customers.pagination import SCOPE, scope_values
from app.settings import Settings
from app.store.engine import create_driver_pool, create_engine, migrate
from app.store.store import Store

ACCOUNT = "bench"
DEPTHS = (0, 10_000, 500_000, 990_000)
ORDERS = [Order(field, direction) for field in OrderField for direction in OrderDirection]
RUNS = 51
SLOW_RUNS = 7


async def prepare(settings: Settings, count: int) -> tuple[AsyncEngine, keys.Principal]:
    engine = create_engine(settings)
    await migrate(engine)
    async with engine.begin() as connection:
        minted = await keys.mint_key(connection, account_name=ACCOUNT, live=False)
        principal = await keys.authenticate(connection, secret=minted.secret)
        assert principal is not None
        have = (
            await connection.execute(
                select(func.count()).select_from(customers_table).where(SCOPE),
                scope_values(principal),
            )
        ).scalar_one()
    if have < count:
        print(f"seeding {count - have} customers ...", file=sys.stderr)
        await seed.seed(settings, count=count - have, account=ACCOUNT, random_seed=have + 1)
    return engine, principal


async def position_at(
    engine: AsyncEngine, principal: keys.Principal, order: Order, depth: int
) -> Position:
    """The position of the customer at `depth` in the order (setup only: uses OFFSET)."""
    key = order.key_column
    sort: list[ColumnElement[Any]] = [
        key.is_(None),  # nulls come last in both directions
        nulls_last(key.asc() if order.ascending else key.desc()),
        customers_table.c.id.asc() if order.ascending else customers_table.c.id.desc(),
    ]
    statement = (
        select(key.label("value"), customers_table.c.id)
        .where(SCOPE)
        .order_by(*sort)
        .offset(depth - 1)
        .limit(1)
    )
    async with engine.connect() as connection:
        row = (await connection.execute(statement, scope_values(principal))).one()
    return Position(value=row.value, id=row.id)


async def timed_together(calls: dict[str, Callable[[], Awaitable[Any]]]) -> dict[str, float]:
    """Median milliseconds of each call, run in turns so that load from other processes
    on the machine weighs on all of them alike."""
    for call in calls.values():
        await call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(RUNS):
        for name, call in calls.items():
            started = time.perf_counter()
            await call()
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(times) for name, times in samples.items()}


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    await call()  # warm the caches and the statement cache
    samples = []
    for _ in range(SLOW_RUNS):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def bench_backend(settings: Settings, count: int) -> dict[str, float]:
    engine, principal = await prepare(settings, count)
    store = Store(engine, create_driver_pool(settings, engine))
    cursors = await CursorCodec.for_engine(engine)
    results: dict[str, float] = {}

    def page(
        order: Order, after: str | None = None, condition: filters.FilterTree | None = None
    ) -> Callable[[], Awaitable[Any]]:
        async def call() -> Any:
            result = await service.list_customers(
                store,
                principal=principal,
                page=service.PageArguments(first=50, after=after),
                order=order,
                customer_filter=condition,
                cursors=cursors,
            )
            assert len(result.customers) == 50 or condition is not None
            return result

        return call

    def total(condition: filters.FilterTree | None) -> Callable[[], Awaitable[int]]:
        async def call() -> int:
            return await service.count_customers(
                store, principal=principal, customer_filter=condition
            )

        return call

    try:
        for order in ORDERS:
            calls = {}
            for depth in DEPTHS:
                after = None
                if depth:
                    position = await position_at(engine, principal, order, depth)
                    after = cursors.encode(order, position)
                calls[f"{order.tag} @ {depth:,}"] = page(order, after)
            results.update(await timed_together(calls))
        # The email order's position 123,457 is a customer with an email (nulls go last).
        sample = await position_at(engine, principal, Order(OrderField.EMAIL), 123_457)
        async with engine.connect() as connection:
            email = (
                await connection.execute(
                    select(customers_table.c.email).where(customers_table.c.id == sample.id)
                )
            ).scalar_one()
        assert email is not None
        selective = filters.FilterTree(text=(("email", filters.TextOperators(eq=email)),))
        common = filters.FilterTree(text=(("name", filters.TextOperators(contains="son")),))
        rare = filters.FilterTree(text=(("name", filters.TextOperators(contains="zzq")),))
        prefix = filters.FilterTree(text=(("name", filters.TextOperators(starts_with="mar")),))
        results["filter email eq (one customer)"] = await timed(page(Order(), condition=selective))
        results["filter name startsWith 'mar'"] = await timed(page(Order(), condition=prefix))
        results["filter name contains 'son' (common)"] = await timed(
            page(Order(), condition=common)
        )
        results["filter name contains 'zzq' (rare)"] = await timed(page(Order(), condition=rare))
        results["totalCount, no filter"] = await timed(total(None))
        results["totalCount, name contains 'son'"] = await timed(total(common))
        results["totalCount, email eq"] = await timed(total(selective))
    finally:
        await store.close()
    return results


async def ensure_schema(url: str, schema: str) -> None:
    admin = create_async_engine(url)
    try:
        async with admin.begin() as connection:
            quoted = connection.dialect.identifier_preparer.quote_identifier(schema)
            await connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
    finally:
        await admin.dispose()


async def run(arguments: argparse.Namespace) -> None:
    backends: dict[str, Settings] = {}
    if arguments.sqlite:
        backends["sqlite"] = Settings(
            _env_file=None, database_url=f"sqlite+aiosqlite:///{arguments.sqlite}"
        )
    if arguments.postgres:
        backends["postgres"] = Settings(
            _env_file=None,
            database_url=arguments.postgres,
            database_schema=arguments.schema,  # checked against a strict pattern
            db_statement_timeout_ms=60_000,
        )
        await ensure_schema(arguments.postgres, backends["postgres"].database_schema or "")
    columns = {}
    for name, settings in backends.items():
        columns[name] = await bench_backend(settings, arguments.count)
    print_table(columns)


def print_table(columns: dict[str, dict[str, float]]) -> None:
    names = list(columns)
    rows = list(next(iter(columns.values())))
    width = max(len(row) for row in rows)
    header = f"ms, median of {RUNS} (pages) or {SLOW_RUNS} (filters, counts)"
    print(f"{header:<{width}}  " + "  ".join(f"{n:>9}" for n in names))
    for row in rows:
        print(f"{row:<{width}}  " + "  ".join(f"{columns[n][row]:>9.2f}" for n in names))
    print()
    for order in ORDERS:
        ratios = [
            columns[n][f"{order.tag} @ {DEPTHS[-1]:,}"] / columns[n][f"{order.tag} @ 0"]
            for n in names
        ]
        print(
            f"{order.tag + ' 990k/first':<{width}}  "
            + "  ".join(f"{ratio:>8.2f}x" for ratio in ratios)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--sqlite", default="data/bench.sqlite3", help="'' to skip SQLite")
    parser.add_argument(
        "--postgres",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        help="'' to skip PostgreSQL",
    )
    parser.add_argument("--schema", default="bench", help="PostgreSQL schema for the data")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
