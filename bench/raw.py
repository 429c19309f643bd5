"""The raw baseline: a minimal aiohttp handler running the SQL the gateway needs, orjson out.

Run by the bench as `python -m bench.raw CONFIG.json`. No GraphQL: each path names a
case whose spec says which SQL to run and which JSON to write, byte for byte what the
gateway answers. This is the practical upper limit for one Python process on the
same driver, the same tables and the same event loop.
"""

from __future__ import annotations

import base64
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import uvloop
from aiohttp import web
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

from app.clock import now_ms
from app.customers.cursors import CURSOR_KEY_NAME
from app.events.log import CREATE_POSTGRES
from app.ids import new_customer_id, new_event_id, random_bits
from app.store.statements import CompiledStatement

COLUMNS = "id, live, created_at, updated_at, name, email, phone, metadata"
CASES = web.AppKey("cases", dict)
STORE = web.AppKey("store", object)


class Store:
    """Plain SQL on the driver itself: aiosqlite or an asyncpg pool."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.sqlite = config["backend"] == "sqlite"
        self.live: Any = 0 if self.sqlite else False
        self.db: Any = None
        self.cursors: Any = None
        # The gateway's own creation statement, compiled for asyncpg.
        self.create = CompiledStatement(CREATE_POSTGRES, asyncpg_dialect.dialect())  # type: ignore[no-untyped-call]
        self.create_sql = self.create.sql

    async def open(self) -> None:
        if self.sqlite:
            import aiosqlite

            self.db = await aiosqlite.connect(self.config["path"], isolation_level=None)
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000"):
                await self.db.execute(f"PRAGMA {pragma}")
        else:
            import asyncpg  # type: ignore[import-untyped]

            self.db = await asyncpg.create_pool(
                self.config["dsn"],
                min_size=self.config["connections"],
                max_size=self.config["connections"],
                server_settings={"search_path": self.config["schema"]},
                # As the gateway's read pool does (app/store/driver.py): these statements
                # change no session state, so no reset query follows each one.
                reset=_keep_session,
            )
        # The gateway's cursor key; the bench's seeding made it (bench/seed.py).
        [key] = await self.fetch(
            self.sql("SELECT value FROM gateway_secrets WHERE name = ?"), CURSOR_KEY_NAME
        )
        self.cursors = AESSIV(bytes(key[0]))

    async def close(self) -> None:
        await self.db.close()

    def sql(self, text: str) -> str:
        """Write `?` placeholders; PostgreSQL gets $1, $2, …"""
        if self.sqlite:
            return text
        parts = text.split("?")
        return "".join(
            part + (f"${index}" if index < len(parts) else "")
            for index, part in enumerate(parts, start=1)
        )

    async def fetch(self, text: str, *params: Any) -> list[Any]:
        if self.sqlite:
            return list(await self.db.execute_fetchall(text, params))
        return list(await self.db.fetch(text, *params))

    async def execute(self, text: str, *params: Any) -> None:
        if self.sqlite:
            await self.db.execute(text, params)
        else:
            await self.db.execute(text, *params)


async def _keep_session(_connection: Any) -> None:
    return None


def _cursor(store: Store, created_at: int, customer_id: str) -> str:
    payload = b'["CREATED_AT:DESC",%d,"%s"]' % (created_at, customer_id.encode())
    return base64.urlsafe_b64encode(store.cursors.encrypt(payload, None)).decode().rstrip("=")


def _decode_cursor(store: Store, cursor: str) -> tuple[int, str]:
    sealed = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    payload = orjson.loads(store.cursors.decrypt(sealed, None))
    return payload[1], payload[2]


FIELD_VALUES: dict[str, Callable[[Any], Any]] = {
    "id": lambda row: row[0],
    "object": lambda row: "customer",
    "live": lambda row: bool(row[1]),
    "createdAt": lambda row: row[2],
    "updatedAt": lambda row: row[3],
    "name": lambda row: row[4],
    "email": lambda row: row[5],
    "phone": lambda row: row[6],
    "metadata": lambda row: orjson.loads(row[7]),
}


def _node(row: Any, fields: list[list[str]]) -> dict[str, Any]:
    return {key: FIELD_VALUES[name](row) for key, name in fields}


async def _page(store: Store, spec: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
    first = variables.get("first") or spec["first"]
    after = variables.get("after") or spec["after"]
    where = "account_id = ? AND live = ?"
    params: list[Any] = [store.config["account"], store.live]
    if spec["filter"]:
        where += (
            " AND name_key LIKE ? ESCAPE '\\'"
            " AND (email_key LIKE ? ESCAPE '\\' OR email_key LIKE ? ESCAPE '\\')"
        )
        params += ["ma%", "%son%", "%li%"]
    condition = list(params)
    if after:
        where += " AND (created_at, id) < (?, ?)"
        params += list(_decode_cursor(store, after))
    rows = await store.fetch(
        store.sql(
            f"SELECT {COLUMNS} FROM customers WHERE {where}"
            " ORDER BY created_at DESC, id DESC LIMIT ?"
        ),
        *params,
        first + 1,
    )
    page = rows[:first]
    has_previous = False
    if after:
        start = (page[0][2], page[0][0]) if page else _decode_cursor(store, after)
        comparison = ">" if page else ">="
        base = where.rsplit(" AND (created_at", 1)[0]
        has_previous = bool(
            await store.fetch(
                store.sql(
                    f"SELECT id FROM customers WHERE {base} AND (created_at, id) "
                    f"{comparison} (?, ?) ORDER BY created_at ASC, id ASC LIMIT 1"
                ),
                *condition,
                *start,
            )
        )
    cursors = [_cursor(store, row[2], row[0]) for row in page]
    page_info = {
        "hasNextPage": len(rows) > first,
        "hasPreviousPage": has_previous,
        "startCursor": cursors[0] if cursors else None,
        "endCursor": cursors[-1] if cursors else None,
    }
    connection: dict[str, Any] = {}
    for key, kind, payload in spec["parts"]:
        if kind == "edges":
            connection[key] = [
                {
                    **({payload["cursor"]: cursor} if payload["cursor"] else {}),
                    payload["node"]: _node(row, payload["fields"]),
                }
                for row, cursor in zip(page, cursors, strict=True)
            ]
        elif kind == "nodes":
            connection[key] = [_node(row, payload) for row in page]
        else:
            connection[key] = {out: page_info[name] for out, name in payload}
    return connection


async def _customer(store: Store, spec: dict[str, Any], variables: dict[str, Any]) -> Any:
    rows = await store.fetch(
        store.sql(f"SELECT {COLUMNS} FROM customers WHERE account_id = ? AND live = ? AND id = ?"),
        store.config["account"],
        store.live,
        variables.get("id", spec["id"]),
    )
    return _node(rows[0], spec["fields"]) if rows else None


async def _create(store: Store, spec: dict[str, Any], variables: dict[str, Any]) -> Any:
    """What the gateway writes for a creation: the customer's row, the account's event
    head advanced and the creation's event, in one transaction (one statement on
    PostgreSQL, the gateway's own; one crossing to aiosqlite's thread on SQLite), with
    SQLite's commit as durable as the gateway's default (synchronous=FULL)."""
    given = variables["input"]
    name, email, phone = (given.get(key, "").strip() or None for key in ("name", "email", "phone"))
    metadata = given.get("metadata") or {}
    created_at = now_ms()
    customer_id = new_customer_id(created_at)
    account, live = store.config["write_account"], store.live
    customer = {
        "id": customer_id,
        "live": False,
        "created_at": created_at,
        "updated_at": created_at,
        "name": name,
        "email": email,
        "phone": phone,
        "metadata": metadata,
    }
    keys = [value and value.casefold() for value in (name, email, phone)]
    row = [customer_id, account, live, created_at, created_at, name, email, phone, *keys]
    if store.sqlite:
        await store.db._execute(_create_on_sqlite, store.db._conn, row, metadata, customer)
    else:
        values = {f"row_{column}": value for column, value in zip(_ROW_COLUMNS, row, strict=True)}
        values["row_metadata"] = orjson.dumps(metadata).decode()
        values.update(
            account_id=account,
            live=live,
            now=created_at,
            topic=f"events:{account}:0",
            random=random_bits(),
            type="customer.created",
            customer_id=customer_id,
            customer=orjson.dumps(customer).decode(),
            previous_attributes="null",
        )
        await store.fetch(store.create_sql, *store.create.parameters(values))
    stored = (
        customer_id,
        False,
        created_at,
        created_at,
        name,
        email,
        phone,
        orjson.dumps(metadata),
    )
    return {"customer": _node(stored, spec["fields"]), "userErrors": []}


_ROW_COLUMNS = (
    "id",
    "account_id",
    "live",
    "created_at",
    "updated_at",
    "name",
    "email",
    "phone",
    "name_key",
    "email_key",
    "phone_key",
)


def _create_on_sqlite(
    database: sqlite3.Connection, row: list[Any], metadata: Any, customer: dict[str, Any]
) -> None:
    database.execute("BEGIN IMMEDIATE")
    try:
        database.execute(
            "INSERT INTO customers (id, account_id, live, created_at, updated_at, name, email,"
            " phone, name_key, email_key, phone_key, metadata)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [*row, orjson.dumps(metadata).decode()],
        )
        account, live, created_at = row[1], row[2], row[3]
        (last_ms,) = database.execute(
            "INSERT INTO customer_event_heads (account_id, live, last_ms) VALUES (?, ?, ?)"
            " ON CONFLICT (account_id, live) DO UPDATE"
            " SET last_ms = max(excluded.last_ms, customer_event_heads.last_ms + 1)"
            " RETURNING last_ms",
            (account, live, created_at),
        ).fetchone()
        database.execute(
            "INSERT INTO customer_events (id, account_id, live, type, created_at, customer_id,"
            " customer, previous_attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new_event_id(last_ms),
                account,
                live,
                "customer.created",
                created_at,
                row[0],
                orjson.dumps(customer).decode(),
                None,
            ),
        )
        database.execute("COMMIT")
    except BaseException:
        database.execute("ROLLBACK")
        raise


KINDS = {"page": _page, "customer": _customer, "create": _create}


async def handle(request: web.Request) -> web.Response:
    spec = request.app[CASES][request.match_info["case"]]
    body = orjson.loads(await request.read())
    variables = body.get("variables") or {}
    store: Store = request.app[STORE]  # type: ignore[assignment]
    data = {spec["root"]: await KINDS[spec["kind"]](store, spec, variables)}
    return web.Response(body=orjson.dumps({"data": data}), content_type="application/json")


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def create_app(config: dict[str, Any]) -> web.Application:
    app = web.Application()
    app[CASES] = config["cases"]
    store = Store(config)
    app[STORE] = store

    async def lifecycle(_app: web.Application) -> Any:
        await store.open()
        yield
        await store.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/raw/{case}", handle)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    config = orjson.loads(Path(sys.argv[1]).read_bytes())
    uvloop.install()
    web.run_app(
        create_app(config), host="127.0.0.1", port=config["port"], print=None, access_log=None
    )


if __name__ == "__main__":
    main()
