"""Which text a request runs: its own, or a persisted document's (PERSISTED_DOCUMENTS).

- `off`: ids are refused with PERSISTED_QUERY_NOT_SUPPORTED (Apollo's persisted-queries
  link then stops sending hashes and sends the text).
- `apq`: an id runs its stored document; an unknown id sent alone is
  PERSISTED_QUERY_NOT_FOUND (the link retries with the text); an id sent with its text is
  registered once the document passed validation and every limit.
- `trusted`: only stored documents run, by id or by their exact text; anything else is
  PERSISTED_QUERY_NOT_IN_LIST, an unknown id alone PERSISTED_QUERY_NOT_FOUND.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.documents.ids import document_id
from app.documents.registry import DocumentRegistry
from app.settings import PersistedDocuments
from app.store.store import Store
from app.web.params import GraphQLParams, RequestError

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"


# Not frozen: built for every request, where frozen costs five times as much to build.
@dataclass(slots=True)
class DocumentText:
    text: str
    # An id sent with its text in apq mode, to be stored once the document is checked.
    register_as: str | None = None


def plain_document_text(params: GraphQLParams, mode: PersistedDocuments) -> DocumentText | None:
    """The text to run when it needs no lookup (sent as text, outside trusted mode)."""
    if params.document_id is None and mode is not PersistedDocuments.TRUSTED:
        assert params.query is not None
        return DocumentText(params.query)
    return None


async def document_text(
    params: GraphQLParams,
    *,
    mode: PersistedDocuments,
    registry: DocumentRegistry,
    store: Store,
    status: int,
) -> DocumentText:
    """The text to run, or a RequestError with `status` (the refusals are request errors)."""
    plain = plain_document_text(params, mode)
    if plain is not None:
        return plain
    if params.document_id is None:
        assert params.query is not None
        if await registry.text(store, document_id(params.query)) is None:
            raise _not_in_list(status)
        return DocumentText(params.query)
    if mode is PersistedDocuments.OFF:
        raise RequestError(
            status,
            "This gateway does not run persisted documents (PERSISTED_DOCUMENTS=off); "
            "send the query text instead.",
            code=NOT_SUPPORTED,
        )
    if params.query is not None and document_id(params.query) != params.document_id:
        raise RequestError(
            status,
            "The document id is not the SHA-256 of the query text sent with it.",
            code=HASH_MISMATCH,
        )
    stored = await registry.text(store, params.document_id)
    if stored is not None:
        return DocumentText(stored)
    if params.query is None:
        raise RequestError(
            status,
            "No persisted document has this id"
            + (
                "; send the query text with it."
                if mode is PersistedDocuments.APQ
                else "; register it with `python -m app documents add`."
            ),
            code=NOT_FOUND,
        )
    if mode is PersistedDocuments.TRUSTED:
        raise _not_in_list(status)
    return DocumentText(params.query, register_as=params.document_id)


def _not_in_list(status: int) -> RequestError:
    return RequestError(
        status,
        "This gateway runs only its persisted documents, and this is not one of them "
        "(PERSISTED_DOCUMENTS=trusted).",
        code=NOT_IN_LIST,
    )
