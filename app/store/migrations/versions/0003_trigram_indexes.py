"""PostgreSQL only: trigram indexes so contains/endsWith filters need no full scan.

The pg_trgm extension is installed once per database (in the public schema, so that
a gateway using a schema of its own does not take it away when the schema is dropped).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_INDEXED_KEYS = ("name_key", "email_key")


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    schema = connection.execute(
        sa.text(
            "SELECT n.nspname FROM pg_extension e"
            " JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
        )
    ).scalar()
    if schema is None:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        schema = "public"
    # Identifiers cannot be bound parameters; the schema name comes from the catalog.
    operator_class = f"{connection.dialect.identifier_preparer.quote(schema)}.gin_trgm_ops"
    for column in _INDEXED_KEYS:
        op.create_index(
            f"ix_customers_{column}_trgm",
            "customers",
            [sa.text(f"{column} {operator_class}")],
            postgresql_using="gin",
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in _INDEXED_KEYS:
        op.drop_index(f"ix_customers_{column}_trgm", table_name="customers")
