"""The raw baseline: a minimal aiohttp handler running the SQL the gateway needs, orjson out.

Run by the bench as `python -m bench.raw CONFIG.json`. No GraphQL: each path names a
case whose spec says which SQL to run and which JSON to write, byte for byte what the
gateway answers. This is the practical upper limit for one Python process on the
same driver, the same tables and the same event loop.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import uvloop
from aiohttp import web
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from app.clock import now_ms
from app.customers.cursors import CURSOR_KEY_NAME
from app.ids import new_customer_id

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

    async def open(self) -> None:
        if self.sqlite:
            import aiosqlite

            self.db = await aiosqlite.connect(self.config["path"], isolation_level=None)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
                await self.db.execute(f"PRAGMA {pragma}")
        else:
            import asyncpg  # type: ignore[import-untyped]

            self.db = await asyncpg.create_pool(
                self.config["dsn"],
                min_size=10,
                max_size=10,
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
    given = variables["input"]
    name, email, phone = (given.get(key, "").strip() or None for key in ("name", "email", "phone"))
    metadata = given.get("metadata") or {}
    created_at = now_ms()
    customer_id = new_customer_id(created_at)
    await store.execute(
        store.sql(
            "INSERT INTO customers (id, account_id, live, created_at, updated_at, name,"
            " email, phone, name_key, email_key, metadata)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        customer_id,
        store.config["write_account"],
        store.live,
        created_at,
        created_at,
        name,
        email,
        phone,
        name and name.casefold(),
        email and email.casefold(),
        orjson.dumps(metadata).decode(),
    )
    row = (customer_id, False, created_at, created_at, name, email, phone, orjson.dumps(metadata))
    return {"customer": _node(row, spec["fields"]), "userErrors": []}


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
