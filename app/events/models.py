"""The event log's tables: one row per change, and one head per account and mode.

`customer_events` holds each event with the customer as it was right after the change
(as it was before, for a delete), so an event outlives its customer.
`customer_event_heads` holds, per account and mode, the id time of the newest event:
the row every writer of that account and mode updates last in its transaction, and so
the lock that puts their event ids in commit order (app/events/log.py).
"""

from __future__ import annotations

import enum

from sqlalchemy import BigInteger, Boolean, Column, Index, String, Table
from sqlmodel import SQLModel

from app.customers.models import IdType, MetadataType


class EventType(enum.Enum):
    CUSTOMER_CREATED = "CUSTOMER_CREATED"
    CUSTOMER_UPDATED = "CUSTOMER_UPDATED"
    CUSTOMER_DELETED = "CUSTOMER_DELETED"


events_table = Table(
    "customer_events",
    SQLModel.metadata,
    Column("id", IdType, primary_key=True),
    Column("account_id", String(40), nullable=False),
    Column("live", Boolean, nullable=False),
    Column("type", String(32), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("customer_id", IdType, nullable=False),
    Column("customer", MetadataType, nullable=False),
    Column("previous_attributes", MetadataType, nullable=True),
    Index("ix_customer_events_scope", "account_id", "live", "id"),
    Index("ix_customer_events_customer", "account_id", "live", "customer_id", "id"),
    Index("ix_customer_events_created", "created_at"),
)

heads_table = Table(
    "customer_event_heads",
    SQLModel.metadata,
    Column("account_id", String(40), primary_key=True),
    Column("live", Boolean, primary_key=True),
    Column("last_ms", BigInteger, nullable=False),
)
