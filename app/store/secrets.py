"""Secrets the gateway makes for itself and keeps in the database, so every replica shares them.

The first process that asks for a secret creates it: INSERT … ON CONFLICT DO NOTHING, then
SELECT in the same transaction, so replicas starting at once all read the one row that
won. Deleting a row makes the next start create a new secret.
"""

from __future__ import annotations

import os

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from app.store.inserts import insert_ignoring_conflicts
from app.store.models import GatewaySecret

secrets_table = SQLModel.metadata.tables[GatewaySecret.__tablename__]


async def shared_secret(engine: AsyncEngine, name: str, size: int) -> bytes:
    """The secret called `name`: `size` random bytes made the first time any replica asks."""
    stored = select(secrets_table.c.value).where(secrets_table.c.name == name)
    async with engine.connect() as connection:
        value = (await connection.execute(stored)).scalar_one_or_none()
    if value is not None:
        return bytes(value)
    insert = insert_ignoring_conflicts(engine.dialect.name, secrets_table, ["name"])
    async with engine.begin() as connection:
        await connection.execute(insert.values(name=name, value=os.urandom(size)))
        return bytes((await connection.execute(stored)).scalar_one())
