"""Seeding: N customers of one account on SQLite or PostgreSQL, reused while N matches."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.accounts import keys
from app.clock import now_ms
from app.customers.cursors import CursorCodec
from app.customers.models import customers_table, stored_values
from app.customers.ordering import DEFAULT_ORDER, Position
from app.ids import new_customer_id
from app.settings import Settings
from app.store.engine import create_engine, migrate

READ_ACCOUNT = "bench"
WRITE_ACCOUNT = "bench-writes"
BATCH = 10_000

FIRST_NAMES = (
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Marie",
    "Mario",
    "Martin",
    "Maya",
    "Émile",
    "Zoë",
    "Jürgen",
    "Straße",
    "Noah",
    "Olivia",
    "Liam",
    "Emma",
    "Sofia",
    "Lucas",
    "Mia",
    "Hugo",
    "Chloé",
    "Ines",
    "Omar",
    "Priya",
    "Ravi",
    "Sven",
    "Yuki",
    "Kenji",
    "Aisha",
    "Fatima",
    "Diego",
    "Lena",
    "Nora",
    "Ivan",
    "Olga",
    "Pablo",
)
LAST_NAMES = (
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Curie",
    "Rossi",
    "Lee",
    "Anderson",
    "Johnson",
    "Nilsson",
    "Müller",
    "Dubois",
    "García",
    "Silva",
    "Kim",
    "Tanaka",
    "Nakamura",
    "Patel",
    "Singh",
    "Khan",
    "Ivanova",
    "Novak",
    "Smith",
    "Jackson",
    "Davidson",
    "Li",
    "Wang",
    "Martinez",
    "Lopez",
    "Brown",
    "Olsen",
)
DOMAINS = ("example.com", "mail.test", "corp.example", "shop.test")
PLANS = ("free", "pro", "team", "enterprise")


@dataclass(frozen=True, slots=True)
class Database:
    """A seeded database: how to reach it and the facts the workloads need."""

    backend: str
    url: str
    schema: str | None
    read_secret: str
    write_secret: str
    read_account: str
    write_account: str
    deep_cursor: str
    sample_id: str

    def settings(self) -> Settings:
        values: dict[str, Any] = {"database_url": self.url}
        if self.schema:
            values["database_schema"] = self.schema
        return Settings(_env_file=None, **values)

    def secret(self, writes: bool) -> str:
        """The key a request is sent with: the write account's for writes."""
        return self.write_secret if writes else self.read_secret

    def environment(self) -> dict[str, str]:
        """The variables the gateway reads to use this database."""
        values = {"DATABASE_URL": self.url}
        if self.schema:
            values["DATABASE_SCHEMA"] = self.schema
        return values


async def prepare(backend: str, customers: int, *, data_dir: Path, postgres_url: str) -> Database:
    """Migrate, seed when needed, mint fresh keys and clear what the last run wrote."""
    if backend == "sqlite":
        path = data_dir / f"customers-{customers}.sqlite3"
        url, schema = f"sqlite+aiosqlite:///{path}", None
    else:
        url, schema = postgres_url, f"bench_{customers}"
        admin = create_async_engine(postgres_url)
        async with admin.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await admin.dispose()
    values: dict[str, Any] = {"database_url": url}
    if schema:
        values["database_schema"] = schema
    engine = create_engine(Settings(_env_file=None, **values))
    try:
        await migrate(engine)
        async with engine.begin() as connection:
            read_key = await keys.mint_key(connection, account_name=READ_ACCOUNT, live=False)
            write_key = await keys.mint_key(connection, account_name=WRITE_ACCOUNT, live=False)
        read_account = await _account_id(engine, READ_ACCOUNT)
        write_account = await _account_id(engine, WRITE_ACCOUNT)
        async with engine.begin() as connection:
            await connection.execute(
                delete(customers_table).where(customers_table.c.account_id == write_account)
            )
        if await _count(engine, read_account) != customers:
            print(f"  seeding {customers:,} customers on {backend} …", flush=True)
            await _seed(engine, read_account, customers)
        deep_cursor, sample_id = await _positions(engine, read_account)
    finally:
        await engine.dispose()
    return Database(
        backend=backend,
        url=url,
        schema=schema,
        read_secret=read_key.secret,
        write_secret=write_key.secret,
        read_account=read_account,
        write_account=write_account,
        deep_cursor=deep_cursor,
        sample_id=sample_id,
    )


async def _account_id(engine: AsyncEngine, name: str) -> str:
    async with engine.connect() as connection:
        found = await connection.execute(
            select(keys.accounts.c.id).where(keys.accounts.c.name == name)
        )
        return str(found.scalar_one())


async def _count(engine: AsyncEngine, account_id: str) -> int:
    async with engine.connect() as connection:
        statement = select(func.count()).where(customers_table.c.account_id == account_id)
        return int((await connection.execute(statement)).scalar_one())


async def _seed(engine: AsyncEngine, account_id: str, customers: int) -> None:
    generator = random.Random(20261125)
    async with engine.begin() as connection:
        await connection.execute(
            delete(customers_table).where(customers_table.c.account_id == account_id)
        )
    created_at = now_ms() - customers * 1_000
    rows: list[dict[str, Any]] = []
    for number in range(customers):
        created_at += generator.randint(1, 1_000)
        rows.append(_customer_row(generator, account_id, created_at, number))
        if len(rows) == BATCH:
            await _insert(engine, rows)
            rows = []
    if rows:
        await _insert(engine, rows)
    async with engine.connect() as connection:
        await connection.execute(text("ANALYZE"))
        await connection.commit()


def _customer_row(
    generator: random.Random, account_id: str, created_at: int, number: int
) -> dict[str, Any]:
    first, last = generator.choice(FIRST_NAMES), generator.choice(LAST_NAMES)
    name = None if generator.random() < 0.08 else f"{first} {last}"
    email = (
        None
        if generator.random() < 0.05
        else f"{first.lower()}.{last.lower()}{number}@{generator.choice(DOMAINS)}"
    )
    phone = None if generator.random() < 0.5 else f"+1 555 {generator.randint(0, 9_999_999):07d}"
    metadata = {} if generator.random() < 0.6 else {"plan": generator.choice(PLANS)}
    # Sort keys exactly as the gateway writes them.
    return stored_values(
        {
            "id": new_customer_id(created_at),
            "account_id": account_id,
            "live": False,
            "created_at": created_at,
            "updated_at": created_at,
            "name": name,
            "email": email,
            "phone": phone,
            "metadata": metadata,
        }
    )


async def _insert(engine: AsyncEngine, rows: list[dict[str, Any]]) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(customers_table), rows)


async def _positions(engine: AsyncEngine, account_id: str) -> tuple[str, str]:
    """A cursor 60 customers from the end of the default order, and one customer's id
    (making the database's cursor key if no gateway has run on it yet)."""
    c = customers_table.c
    mine = select(c.id, c.created_at).where(c.account_id == account_id, c.live.is_(False))
    async with engine.connect() as connection:
        oldest_first = mine.order_by(c.created_at.asc(), c.id.asc())
        near_end = (await connection.execute(oldest_first.offset(60).limit(1))).first()
        middle = (await connection.execute(mine.order_by(c.id).offset(1_000).limit(1))).first()
    assert near_end is not None and middle is not None
    cursors = await CursorCodec.for_engine(engine)
    cursor = cursors.encode(DEFAULT_ORDER, Position(value=near_end.created_at, id=near_end.id))
    return cursor, str(middle.id)
