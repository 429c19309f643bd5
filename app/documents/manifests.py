"""Reading the files client tools write: Relay's `persisted_queries.json` and Apollo's
persisted query manifest, and finding what in them may not be stored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from app.documents.ids import document_id, parse_document_id

APOLLO_FORMAT = "apollo-persisted-query-manifest"
_MD5_HEX_LENGTH = 32


class ManifestError(Exception):
    """The file cannot be read as a manifest at all."""


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    given_id: str
    body: str
    name: str | None


def read_manifest(path: Path) -> list[ManifestEntry]:
    try:
        payload = orjson.loads(path.read_bytes())
    except OSError as error:
        raise ManifestError(f"{path}: cannot be read ({error.strerror})") from error
    except orjson.JSONDecodeError as error:
        raise ManifestError(f"{path}: is not JSON ({error})") from error
    if isinstance(payload, dict) and "format" in payload:
        return _apollo_entries(path, payload)
    if isinstance(payload, dict) and all(
        isinstance(key, str) and isinstance(value, str) for key, value in payload.items()
    ):
        return [ManifestEntry(key, value, None) for key, value in payload.items()]
    raise ManifestError(
        f"{path}: is neither Relay's persisted_queries.json (an object of id to text) "
        f'nor an Apollo manifest ({{"format": "{APOLLO_FORMAT}", ...}})'
    )


def _apollo_entries(path: Path, payload: dict[str, object]) -> list[ManifestEntry]:
    operations = payload.get("operations")
    if (
        payload.get("format") != APOLLO_FORMAT
        or payload.get("version") != 1
        or not isinstance(operations, list)
    ):
        raise ManifestError(
            f'{path}: an Apollo manifest has "format": "{APOLLO_FORMAT}", "version": 1 '
            'and a list of "operations"'
        )
    entries = []
    for index, operation in enumerate(operations):
        if not (
            isinstance(operation, dict)
            and isinstance(operation.get("id"), str)
            and isinstance(operation.get("body"), str)
            and isinstance(operation.get("name", ""), str)
        ):
            raise ManifestError(
                f'{path}: operation {index} needs a string "id" and "body" (and "name")'
            )
        entries.append(ManifestEntry(operation["id"], operation["body"], operation.get("name")))
    return entries


def entry_problems(
    entries: list[ManifestEntry], check: Callable[[str], list[str]]
) -> dict[str, str]:
    """Why each refused entry may not be stored, by its id; `check` validates a text."""
    problems: dict[str, str] = {}
    for entry in entries:
        stored_id = parse_document_id(entry.given_id)
        if stored_id is None:
            problems[entry.given_id] = _malformed_id(entry.given_id)
        elif stored_id != document_id(entry.body):
            problems[entry.given_id] = "the id is not the SHA-256 of the document's text"
        elif errors := check(entry.body):
            problems[entry.given_id] = "; ".join(errors)
    return problems


def _malformed_id(given: str) -> str:
    if len(given) == _MD5_HEX_LENGTH:
        return (
            "the id looks like an MD5 hash (relay-compiler's default); "
            'set "algorithm": "SHA256" in persistConfig and compile again'
        )
    return "the id is not a SHA-256 (64 hex digits, optionally after 'sha256:')"
