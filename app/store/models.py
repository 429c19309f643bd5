"""The gateway's own secrets table (app/store/migrations creates it)."""

from __future__ import annotations

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel


class GatewaySecret(SQLModel, table=True):
    __tablename__ = "gateway_secrets"

    # What the secret is for, e.g. "cursor_key" (app/customers/cursors.py).
    name: str = Field(primary_key=True, max_length=40)
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
