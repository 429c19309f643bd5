"""The accounts and API keys tables (app/store/migrations creates them)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, String
from sqlmodel import Field, SQLModel


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
