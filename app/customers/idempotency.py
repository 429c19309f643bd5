"""Idempotent creation: one stored result per (account, mode, key) for 24 hours.

The database enforces "exactly once": the record is claimed with an INSERT that does
nothing on conflict, inside the same transaction that creates the customer. A
concurrent request with the same key waits on the unique index (PostgreSQL) or the
write lock (SQLite) and then reads the committed result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

from app.accounts.keys import Principal
from app.clock import now_ms
from app.customers.models import CustomerRecord, IdempotencyRecord
from app.store.inserts import insert_ignoring_conflicts
from app.store.store import Store

RETENTION_MS = 24 * 60 * 60 * 1000
records = SQLModel.metadata.tables[IdempotencyRecord.__tablename__]


class KeyReused(Exception):
    """The key was used before with a different input."""


async def run_once(
    store: Store,
    *,
    principal: Principal,
    key: str,
    request: Mapping[str, Any],
    create: Callable[[AsyncConnection], Awaitable[CustomerRecord]],
) -> CustomerRecord:
    """Run `create` once per key and input; raise KeyReused for the key with other input."""
    request_hash = _fingerprint(request)
    scope = (
        records.c.account_id == principal.account_id,
        records.c.live == principal.live,
        records.c.key == key,
    )
    while True:
        async with store.write() as connection:
            now = now_ms()
            claimed = (
                await connection.execute(
                    insert_ignoring_conflicts(
                        connection.dialect.name, records, ["account_id", "live", "key"]
                    )
                    .values(
                        account_id=principal.account_id,
                        live=principal.live,
                        key=key,
                        request_hash=request_hash,
                        created_at=now,
                    )
                    .returning(records.c.id)
                )
            ).first() is not None
            if claimed:
                customer = await create(connection)
                await connection.execute(
                    update(records).where(*scope).values(response=customer.to_json())
                )
                return customer
            existing = (
                await connection.execute(
                    select(records.c.request_hash, records.c.response, records.c.created_at).where(
                        *scope
                    )
                )
            ).one()
            if existing.created_at > now - RETENTION_MS:
                if existing.request_hash != request_hash:
                    raise KeyReused(key)
                return CustomerRecord.from_json(existing.response)
            await connection.execute(
                delete(records).where(*scope, records.c.created_at <= now - RETENTION_MS)
            )


def _fingerprint(request: Mapping[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
