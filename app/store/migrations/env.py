"""Alembic environment: runs on the connection that app.store.engine.migrate hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

# Importing the models registers their tables on SQLModel.metadata.
import app.customers.models
import app.documents.models
import app.events.models
import app.store.models  # noqa: F401

connection: Connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=SQLModel.metadata)
with context.begin_transaction():
    context.run_migrations()
