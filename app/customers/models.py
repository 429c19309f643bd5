"""The customer's model, declared once: its text fields, its record, its table.

`TEXT_FIELDS` and `CustomerRecord` are the declaration. Everything else is derived
from them: the table's columns (each text field with its casefolded `<name>_key`
sort column), the input rules (app/customers/validation.py), the filterable fields
(app/customers/filters.py), the fast path's field index and the test helpers.
CONTRIBUTING.md lists what adding a field takes.

Alembic migrations (app/store/migrations) create the tables; this module describes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.accounts.models import Account

METADATA_MAX_KEYS = 50
METADATA_KEY_MAX_LENGTH = 40
METADATA_VALUE_MAX_LENGTH = 500
IDEMPOTENCY_KEY_MAX_LENGTH = 255


@dataclass(frozen=True, slots=True)
class TextField:
    """An optional text field of the customer: trimmed, at most `max_length` characters,
    of a checked `format` if given ("email", "phone"), filterable (StringFilter in GraphQL)."""

    name: str
    max_length: int
    format: str | None = None

    @property
    def key(self) -> str:
        """The column of its casefolded value, for case-insensitive filters and orders."""
        return f"{self.name}_key"


TEXT_FIELDS = (
    TextField("name", max_length=256),
    TextField("email", max_length=512, format="email"),
    TextField("phone", max_length=40, format="phone"),
)
TEXT_FIELD_NAMES = tuple(field.name for field in TEXT_FIELDS)
TEXT_FIELDS_BY_NAME = {field.name: field for field in TEXT_FIELDS}
# What a mutation may set: the text fields and metadata.
WRITABLE_FIELDS = (*TEXT_FIELD_NAMES, "metadata")


class CustomerRecord(NamedTuple):
    """A customer as the services hand it out (read shape of the customers table).

    A named tuple: pages build fifty or a thousand of these per request, and a tuple is
    built from a row's values in one step, several times faster than a frozen dataclass.
    Its text fields are TEXT_FIELDS, in their order.
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
    def from_json(cls, document: Mapping[str, Any]) -> CustomerRecord:
        """A record stored as JSON, perhaps before a field existed (then it is unset)
        or after one was removed (then it is ignored)."""
        return cls._make(document.get(name, _ABSENT.get(name)) for name in cls._fields)


_ABSENT: dict[str, Any] = {name: None for name in TEXT_FIELD_NAMES}
_RECORD_WIDTH = len(CustomerRecord._fields)
assert CustomerRecord._fields == ("id", "live", "created_at", "updated_at", *WRITABLE_FIELDS)

# Sort keys compare by code point on every backend: SQLite's BINARY collation does so
# for UTF-8 text, PostgreSQL needs the "C" collation.
SortKey = Text().with_variant(Text(collation="C"), "postgresql")
MetadataType = JSON().with_variant(JSONB(), "postgresql")
# Ids sort by creation time only in code-point order, so they take the "C" collation too.
IdType = String(26).with_variant(String(26, collation="C"), "postgresql")

customers_table = Table(
    "customers",
    SQLModel.metadata,
    Column("id", IdType, primary_key=True),
    Column("account_id", String(40), ForeignKey(Account.id), nullable=False),
    Column("live", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    *(Column(field.name, Text, nullable=True) for field in TEXT_FIELDS),
    *(Column(field.key, SortKey, nullable=True) for field in TEXT_FIELDS),
    Column("metadata", MetadataType, nullable=False),
    Index("ix_customers_created", "account_id", "live", "created_at", "id"),
    Index("ix_customers_name_key", "account_id", "live", "name_key", "id"),
    Index("ix_customers_email_key", "account_id", "live", "email_key", "id"),
    Index("ix_customers_email", "account_id", "live", "email"),
)
customer_columns = tuple(customers_table.c[name] for name in CustomerRecord._fields)


def stored_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Table columns for the given writable fields, each text field's sort key included."""
    columns = dict(fields)
    for field in TEXT_FIELDS:
        if field.name in fields:
            value = fields[field.name]
            columns[field.key] = None if value is None else value.casefold()
    return columns


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
