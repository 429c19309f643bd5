"""Accounts, API keys, customers and idempotency records.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

sort_key = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
json_document = sa.JSON().with_variant(JSONB(), "postgresql")
customer_id = sa.String(26).with_variant(sa.String(26, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(40), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("live", sa.Boolean, nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hint", sa.String(40), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_api_keys_account_id", "api_keys", ["account_id"])
    op.create_table(
        "customers",
        sa.Column("id", customer_id, primary_key=True),
        sa.Column("account_id", sa.String(40), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("live", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("name", sa.Text, nullable=True),
        sa.Column("email", sa.Text, nullable=True),
        sa.Column("phone", sa.Text, nullable=True),
        sa.Column("name_key", sort_key, nullable=True),
        sa.Column("email_key", sort_key, nullable=True),
        sa.Column("metadata", json_document, nullable=False),
    )
    op.create_index("ix_customers_created", "customers", ["account_id", "live", "created_at", "id"])
    op.create_index("ix_customers_name_key", "customers", ["account_id", "live", "name_key", "id"])
    op.create_index(
        "ix_customers_email_key", "customers", ["account_id", "live", "email_key", "id"]
    )
    op.create_index("ix_customers_email", "customers", ["account_id", "live", "email"])
    op.create_table(
        "idempotency_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(40), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("live", sa.Boolean, nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response", json_document, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "ux_idempotency_scope", "idempotency_records", ["account_id", "live", "key"], unique=True
    )
    op.create_index("ix_idempotency_created", "idempotency_records", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_records")
    op.drop_table("customers")
    op.drop_table("api_keys")
    op.drop_table("accounts")
