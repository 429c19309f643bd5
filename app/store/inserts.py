"""INSERT … ON CONFLICT DO NOTHING, in the dialect of the connection at hand."""

from __future__ import annotations

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignoring_conflicts(dialect: str, table: Table, conflict_target: list[str]) -> Insert:
    """An insert into `table` that skips rows whose `conflict_target` columns already exist."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=conflict_target)
