"""customers.phone_key: the casefolded phone, for case-insensitive phone filters.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

sort_key = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
_BATCH = 1_000


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("phone_key", sort_key, nullable=True))
    # str.casefold() has no exact SQL equivalent on either backend, so fill it in Python.
    customers = sa.table("customers", sa.column("id"), sa.column("phone"), sa.column("phone_key"))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(customers.c.id, customers.c.phone).where(customers.c.phone.is_not(None))
    ).all()
    update = (
        sa.update(customers)
        .where(customers.c.id == sa.bindparam("row_id"))
        .values(phone_key=sa.bindparam("key"))
    )
    for start in range(0, len(rows), _BATCH):
        batch_rows = rows[start : start + _BATCH]
        connection.execute(
            update, [{"row_id": row.id, "key": row.phone.casefold()} for row in batch_rows]
        )


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("phone_key")
