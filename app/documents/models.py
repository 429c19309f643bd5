"""The persisted documents table (app/store/migrations creates it)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Text
from sqlmodel import Field, SQLModel


class PersistedDocument(SQLModel, table=True):
    __tablename__ = "persisted_documents"

    # The lowercase hex SHA-256 of `body`: a document never changes under its id.
    id: str = Field(primary_key=True, max_length=64)
    body: str = Field(sa_column=Column(Text, nullable=False))
    operation_name: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    # "file" (the documents command) or "apq" (registered by a request in apq mode).
    source: str = Field(sa_column=Column(String(10), nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
