"""The persisted documents in the database, and each process's memory of them.

Every replica reads the same table, so a document registered through one (by the
`documents` command or, in apq mode, by a request) runs on all of them. A text found
is remembered for REMEMBER_SECONDS, so a busy id costs no database round trip; an id
not found is never remembered, so a newly registered document runs at once. A removed
document stops running on every replica within those seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import DocumentNode, OperationDefinitionNode
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

from app.clock import now_ms
from app.documents.ids import document_id
from app.documents.models import PersistedDocument
from app.store.inserts import insert_ignoring_conflicts
from app.store.store import Store
from app.timed_cache import TimedCache

documents = SQLModel.metadata.tables[PersistedDocument.__tablename__]

REMEMBER_SECONDS = 60.0
REMEMBER_SIZE = 10_000
NAME_LENGTH = 200
SOURCE_FILE = "file"
SOURCE_APQ = "apq"


@dataclass(frozen=True, slots=True)
class NewDocument:
    document_id: str
    body: str
    operation_name: str | None

    @classmethod
    def of(cls, body: str, parsed: DocumentNode, name: str | None = None) -> NewDocument:
        """The document with its id, named by `name` or else its operations' names."""
        if name is None:
            names = [
                definition.name.value
                for definition in parsed.definitions
                if isinstance(definition, OperationDefinitionNode) and definition.name
            ]
            name = ", ".join(names) or None
        return cls(document_id(body), body, name[:NAME_LENGTH] if name else None)


@dataclass(frozen=True, slots=True)
class DocumentListing:
    document_id: str
    operation_name: str | None
    source: str
    created_at: int
    size: int


class DocumentRegistry:
    """Stored texts by id, for one application (so one database)."""

    def __init__(self, seconds: float = REMEMBER_SECONDS, size: int = REMEMBER_SIZE) -> None:
        self.texts: TimedCache[str, str] = TimedCache(seconds, size)

    async def text(self, store: Store, document_id: str) -> str | None:
        text = self.texts.get(document_id)
        if text is not None:
            return text
        async with store.read() as connection:
            text = (
                await connection.execute(
                    select(documents.c.body).where(documents.c.id == document_id)
                )
            ).scalar_one_or_none()
        if text is not None:
            self.texts.put(document_id, text)
        return text

    async def register(self, store: Store, document: NewDocument) -> None:
        """Store a document a request sent in apq mode (already checked)."""
        async with store.write() as connection:
            await add_documents(connection, [document], source=SOURCE_APQ)
        self.texts.put(document.document_id, document.body)


async def add_documents(connection: AsyncConnection, new: list[NewDocument], *, source: str) -> int:
    """Store documents not stored yet; how many were new."""
    if not new:
        return 0
    insert = insert_ignoring_conflicts(connection.dialect.name, documents, ["id"])
    created_at = now_ms()
    # RETURNING counts what was new; executemany's rowcount is not reliable on asyncpg.
    result = await connection.execute(
        insert.returning(documents.c.id),
        [
            {
                "id": document.document_id,
                "body": document.body,
                "operation_name": document.operation_name,
                "source": source,
                "created_at": created_at,
            }
            for document in new
        ],
    )
    return len(result.all())


async def list_documents(connection: AsyncConnection) -> list[DocumentListing]:
    rows = await connection.execute(
        select(
            documents.c.id,
            documents.c.operation_name,
            documents.c.source,
            documents.c.created_at,
            documents.c.body,
        ).order_by(documents.c.created_at, documents.c.id)
    )
    return [
        DocumentListing(
            document_id=row.id,
            operation_name=row.operation_name,
            source=row.source,
            created_at=row.created_at,
            size=len(row.body),
        )
        for row in rows
    ]


async def remove_document(connection: AsyncConnection, document_id: str) -> bool:
    result = await connection.execute(delete(documents).where(documents.c.id == document_id))
    return result.rowcount == 1
