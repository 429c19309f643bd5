"""Bulk-load realistic fake customers into the configured database (DATABASE_URL).

    scripts/seed --count 1000000 [--account seed] [--random-seed 1]

Runs the migrations, mints a sandbox key for the account (created if new) and prints
it. Faker is slow per value, so it fills pools of names, emails and phones once and
rows combine them. Rows are written exactly as the gateway writes them: ids from
app.ids that sort by createdAt, and the casefolded *_key columns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from faker import Faker
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tqdm import tqdm  # type: ignore[import-untyped]

from app.accounts import keys
from app.customers.models import TEXT_FIELDS_BY_NAME, customers_table, stored_values
from app.customers.validation import PHONE_PATTERN
from app.ids import new_customer_id
from app.settings import Settings
from app.store.engine import create_engine, migrate

LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pl_PL", "sv_SE", "tr_TR"]
POOL_SIZE = 4_000
BATCH = 50_000
SPAN_MS = 2 * 365 * 24 * 3600 * 1000
METADATA_CHOICES: list[dict[str, str]] = [
    {},
    {},
    {"plan": "pro"},
    {"plan": "free", "source": "ads"},
    {"plan": "enterprise", "region": "eu"},
    {"source": "referral"},
    {"crm_id": "0", "region": "us"},
]


@dataclass(frozen=True)
class Pools:
    first_names: list[str]
    last_names: list[str]
    user_names: list[str]
    domains: list[str]
    phones: list[str]


def make_pools(seed: int) -> Pools:
    fake = Faker(LOCALES)
    Faker.seed(seed)

    def pool(make: Any) -> list[str]:
        return sorted({make() for _ in range(POOL_SIZE)})

    phones = [
        phone
        for phone in pool(fake.phone_number)
        if len(phone) <= TEXT_FIELDS_BY_NAME["phone"].max_length and PHONE_PATTERN.match(phone)
    ]
    return Pools(
        first_names=pool(fake.first_name),
        last_names=pool(fake.last_name),
        user_names=pool(fake["en_US"].user_name),
        domains=pool(fake["en_US"].free_email_domain) + pool(fake["en_US"].domain_name)[:200],
        phones=phones,
    )


Row = tuple[Any, ...]


def batches(
    count: int, pools: Pools, rng: random.Random, scope: dict[str, Any]
) -> Iterator[list[Row]]:
    """Rows in createdAt order (ties included), `BATCH` at a time."""
    now = int(time.time() * 1000)
    millis = now - SPAN_MS
    step = max(1, 2 * SPAN_MS // max(count, 1))
    # JSON text, as the JSON column type would write it.
    metadata = [json.dumps(choice) for choice in METADATA_CHOICES]
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        created = []
        for _ in range(size):
            millis += rng.randrange(step) if rng.random() > 0.02 else 0
            created.append(millis)
        ids = [new_customer_id(created_at) for created_at in created]
        rows = []
        account_id, live = scope["account_id"], scope["live"]
        for customer_id, created_at in zip(ids, created, strict=True):
            first, last = rng.choice(pools.first_names), rng.choice(pools.last_names)
            name = None if rng.random() < 0.04 else f"{first} {last}"
            email = None
            if rng.random() >= 0.03:
                email = f"{rng.choice(pools.user_names)}{rng.randrange(1000)}@" + rng.choice(
                    pools.domains
                )
                email = email[: TEXT_FIELDS_BY_NAME["email"].max_length]
            phone = None if rng.random() < 0.3 else rng.choice(pools.phones)
            columns = stored_values(
                {
                    "id": customer_id,
                    "account_id": account_id,
                    "live": live,
                    "created_at": created_at,
                    "updated_at": created_at,
                    "name": name,
                    "email": email,
                    "phone": phone,
                    "metadata": rng.choice(metadata),
                }
            )
            rows.append(tuple(columns[column] for column in COLUMNS))
        yield rows


async def seed(settings: Settings, *, count: int, account: str, random_seed: int) -> str:
    """Add `count` customers to the account; returns a new sandbox key's secret."""
    engine = create_engine(settings)
    try:
        return await _seed(engine, count=count, account=account, random_seed=random_seed)
    finally:
        await engine.dispose()


async def _seed(engine: AsyncEngine, *, count: int, account: str, random_seed: int) -> str:
    await migrate(engine)
    async with engine.begin() as connection:
        minted = await keys.mint_key(connection, account_name=account, live=False)
        principal = await keys.authenticate(connection, secret=minted.secret)
    assert principal is not None
    pools = make_pools(random_seed)
    rng = random.Random(random_seed)
    scope = {"account_id": principal.account_id, "live": False}
    with tqdm(total=count, unit="customers", unit_scale=True, file=sys.stderr) as progress:
        async with engine.begin() as connection:
            writer = _copy_rows if connection.dialect.name == "postgresql" else _insert_rows
            if connection.dialect.name == "sqlite":
                await connection.exec_driver_sql("PRAGMA cache_size = -1000000")
            # The next batch is generated in a thread while the database writes this one.
            loop = asyncio.get_running_loop()
            generator = batches(count, pools, rng, scope)
            upcoming = loop.run_in_executor(None, next, generator, None)
            while (rows := await upcoming) is not None:
                upcoming = loop.run_in_executor(None, next, generator, None)
                await writer(connection, rows)
                progress.update(len(rows))
        # Fresh statistics for the planner; on PostgreSQL VACUUM also sets the visibility
        # map, without which counts cannot be answered from the index alone.
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            postgres = connection.dialect.name == "postgresql"
            await autocommit.execute(text("VACUUM (ANALYZE) customers" if postgres else "ANALYZE"))
    return minted.secret


async def _insert_rows(connection: AsyncConnection, rows: list[Row]) -> None:
    """One executemany of the Core insert, compiled once, with plain tuples: no per-row
    processing by SQLAlchemy."""
    compiled = insert(customers_table).compile(
        dialect=connection.dialect, column_keys=list(COLUMNS)
    )
    positions = [COLUMNS.index(key) for key in compiled.positiontup or []]
    if positions != list(range(len(COLUMNS))):
        rows = [tuple(row[i] for i in positions) for row in rows]
    await connection.exec_driver_sql(str(compiled), rows)


COLUMNS = tuple(column.name for column in customers_table.columns)


async def _copy_rows(connection: AsyncConnection, rows: list[Row]) -> None:
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(
        "customers",
        records=rows,
        columns=COLUMNS,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True, help="customers to add")
    parser.add_argument("--account", default="seed", help="account name (created if new)")
    parser.add_argument("--random-seed", type=int, default=1, help="for repeatable data")
    arguments = parser.parse_args()
    started = time.perf_counter()
    secret = asyncio.run(
        seed(
            Settings(),
            count=arguments.count,
            account=arguments.account,
            random_seed=arguments.random_seed,
        )
    )
    elapsed = time.perf_counter() - started
    print(f"seeded {arguments.count} customers in {elapsed:.1f} s", file=sys.stderr)
    print(secret)


if __name__ == "__main__":
    main()
