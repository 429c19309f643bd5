"""customer_events and customer_event_heads: the event log and its order (app/events).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_id = sa.String(26).with_variant(sa.String(26, collation="C"), "postgresql")
_json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "customer_events",
        sa.Column("id", _id, primary_key=True),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("live", sa.Boolean, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("customer_id", _id, nullable=False),
        sa.Column("customer", _json, nullable=False),
        sa.Column("previous_attributes", _json, nullable=True),
    )
    op.create_index("ix_customer_events_scope", "customer_events", ["account_id", "live", "id"])
    op.create_index(
        "ix_customer_events_customer",
        "customer_events",
        ["account_id", "live", "customer_id", "id"],
    )
    op.create_index("ix_customer_events_created", "customer_events", ["created_at"])
    op.create_table(
        "customer_event_heads",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("live", sa.Boolean, primary_key=True),
        sa.Column("last_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("customer_event_heads")
    op.drop_table("customer_events")
