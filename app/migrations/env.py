"""Alembic environment: runs on the connection that app.db.migrate hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from app.models import SQLModel

connection: Connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=SQLModel.metadata)
with context.begin_transaction():
    context.run_migrations()
