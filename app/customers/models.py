"""The tables. Alembic migrations (app/store/migrations) create them; this module describes them.

Customer limits live here too, beside the fields they constrain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import JSON, BigInteger, Boolean, Column, ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

NAME_MAX_LENGTH = 256
EMAIL_MAX_LENGTH = 512
PHONE_MAX_LENGTH = 40
METADATA_MAX_KEYS = 50
METADATA_KEY_MAX_LENGTH = 40
METADATA_VALUE_MAX_LENGTH = 500
IDEMPOTENCY_KEY_MAX_LENGTH = 255

# Sort keys compare by code point on every backend: SQLite's BINARY collation does so
# for UTF-8 text, PostgreSQL needs the "C" collation.
SortKey = Text().with_variant(Text(collation="C"), "postgresql")
MetadataType = JSON().with_variant(JSONB(), "postgresql")
# Ids sort by creation time only in code-point order, so they take the "C" collation too.
IdType = String(26).with_variant(String(26, collation="C"), "postgresql")


class Account(SQLModel, table=True):
    __tablename__ = "accounts"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=40)
    account_id: str = Field(
        sa_column=Column(String(40), ForeignKey("accounts.id"), nullable=False, index=True)
    )
    live: bool = Field(sa_column=Column(Boolean, nullable=False))
    secret_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    hint: str = Field(sa_column=Column(String(40), nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    revoked_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_created", "account_id", "live", "created_at", "id"),
        Index("ix_customers_name_key", "account_id", "live", "name_key", "id"),
        Index("ix_customers_email_key", "account_id", "live", "email_key", "id"),
        Index("ix_customers_email", "account_id", "live", "email"),
    )

    id: str = Field(sa_column=Column(IdType, primary_key=True))
    account_id: str = Field(sa_column=Column(String(40), ForeignKey("accounts.id"), nullable=False))
    live: bool = Field(sa_column=Column(Boolean, nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    name: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    email: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    phone: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    name_key: str | None = Field(default=None, sa_column=Column(SortKey, nullable=True))
    email_key: str | None = Field(default=None, sa_column=Column(SortKey, nullable=True))
    phone_key: str | None = Field(default=None, sa_column=Column(SortKey, nullable=True))
    metadata_: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column("metadata", MetadataType, nullable=False)
    )


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_records"
    __table_args__ = (
        Index("ux_idempotency_scope", "account_id", "live", "key", unique=True),
        Index("ix_idempotency_created", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(40), ForeignKey("accounts.id"), nullable=False))
    live: bool = Field(sa_column=Column(Boolean, nullable=False))
    key: str = Field(sa_column=Column(String(IDEMPOTENCY_KEY_MAX_LENGTH), nullable=False))
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    response: dict[str, Any] | None = Field(
        default=None, sa_column=Column(MetadataType, nullable=True)
    )
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


customers_table = SQLModel.metadata.tables["customers"]
customer_columns = (
    customers_table.c.id,
    customers_table.c.live,
    customers_table.c.created_at,
    customers_table.c.updated_at,
    customers_table.c.name,
    customers_table.c.email,
    customers_table.c.phone,
    customers_table.c.metadata,
)


class CustomerRecord(NamedTuple):
    """A customer as the services hand it out (read shape of the customers table).

    A named tuple: pages build fifty or a thousand of these per request, and a tuple is
    built from a row's values in one step, several times faster than a frozen dataclass.
    """

    id: str
    live: bool
    created_at: int
    updated_at: int
    name: str | None
    email: str | None
    phone: str | None
    metadata: dict[str, str]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> CustomerRecord:
        """The record from a row that starts with `customer_columns`, in their order."""
        return cls._make(row[:_RECORD_WIDTH])

    def to_json(self) -> dict[str, Any]:
        return self._asdict()

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> CustomerRecord:
        return cls(**document)


_RECORD_WIDTH = len(CustomerRecord._fields)
assert CustomerRecord._fields == tuple(column.key for column in customer_columns)
