"""The `documents` commands: add (from client tools' files), list and remove."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TypeVar

from app.clock import format_ms
from app.documents import registry
from app.documents.ids import PREFIX, parse_document_id
from app.documents.manifests import ManifestError, entry_problems, read_manifest
from app.settings import Settings
from app.store.engine import migrated_transaction

Parser = TypeVar("Parser", bound=argparse.ArgumentParser)


def add_commands(commands: argparse._SubParsersAction[Parser]) -> None:
    """Adds `documents add|list|remove` to the command line's subcommands."""
    document_commands = commands.add_parser(
        "documents", help="manage persisted documents"
    ).add_subparsers(dest="documents_command", required=True)
    add = document_commands.add_parser(
        "add",
        help="store the documents of Relay's persisted_queries.json or Apollo's manifest "
        "(all or nothing)",
    )
    add.add_argument("files", nargs="+", type=Path, metavar="FILE")
    add.set_defaults(run=_documents_add)
    document_commands.add_parser("list", help="list persisted documents").set_defaults(
        run=_documents_list
    )
    remove = document_commands.add_parser("remove", help="remove a persisted document")
    remove.add_argument("document_id", help="the document's id (sha256:<hex> or <hex>)")
    remove.set_defaults(run=_documents_remove)


async def _documents_add(settings: Settings, arguments: argparse.Namespace) -> int:
    from app.api.schema import build_schema
    from app.web.documents import DocumentCache

    checks = DocumentCache.for_settings(build_schema()._schema, settings)
    new: list[registry.NewDocument] = []
    refused = False
    for path in arguments.files:
        try:
            entries = read_manifest(path)
        except ManifestError as error:
            print(f"error: {error}; nothing was stored", file=sys.stderr)
            return 1
        problems = entry_problems(
            entries, lambda text: [error.message for error in checks.check(text).errors]
        )
        if problems:
            refused = True
            print(
                f"error: {path}: {len(problems)} of its {len(entries)} documents cannot be stored:",
                file=sys.stderr,
            )
            for given_id, problem in problems.items():
                print(f"  {given_id}: {problem}", file=sys.stderr)
            continue
        for entry in entries:
            parsed = checks.check(entry.body).document
            assert parsed is not None
            new.append(registry.NewDocument.of(entry.body, parsed, entry.name))
    if refused:
        print("nothing was stored", file=sys.stderr)
        return 1
    async with migrated_transaction(settings) as connection:
        added = await registry.add_documents(connection, new, source=registry.SOURCE_FILE)
    print(f"stored {added} new documents ({len(new) - added} were stored already)")
    return 0


async def _documents_list(settings: Settings, _arguments: argparse.Namespace) -> int:
    async with migrated_transaction(settings) as connection:
        listing = await registry.list_documents(connection)
    print(f"{'id':<71} {'source':<6} {'created':<20} {'bytes':>7} operation")
    for document in listing:
        print(
            f"{PREFIX + document.document_id:<71} {document.source:<6} "
            f"{format_ms(document.created_at):<20} {document.size:>7} "
            f"{document.operation_name or '-'}"
        )
    return 0


async def _documents_remove(settings: Settings, arguments: argparse.Namespace) -> int:
    document_id = parse_document_id(arguments.document_id)
    if document_id is None:
        print(
            f"error: {arguments.document_id!r} is not a document id (sha256:<64 hex digits>)",
            file=sys.stderr,
        )
        return 1
    async with migrated_transaction(settings) as connection:
        removed = await registry.remove_document(connection, document_id)
    if not removed:
        print(f"error: no persisted document has the id {arguments.document_id!r}", file=sys.stderr)
        return 1
    print(
        f"removed {PREFIX}{document_id}; running gateways stop running it within "
        f"{registry.REMEMBER_SECONDS:g} s"
    )
    return 0
