"""Document ids: `sha256:` and the lowercase hex SHA-256 of the document's text."""

from __future__ import annotations

import hashlib
import re

PREFIX = "sha256:"
_HEX = re.compile(r"^[0-9a-f]{64}\Z")


def document_id(text: str) -> str:
    """The bare hex id of a document's text, as stored."""
    return hashlib.sha256(text.encode()).hexdigest()


def parse_document_id(value: str) -> str | None:
    """The bare lowercase hex id of `sha256:<hex>` or `<hex>` (any case), else None."""
    candidate = value[len(PREFIX) :] if value.lower().startswith(PREFIX) else value
    candidate = candidate.lower()
    return candidate if _HEX.match(candidate) else None
