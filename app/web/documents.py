"""Parsing and validating GraphQL documents once per distinct text."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    parse,
    specified_rules,
    validate,
)


@dataclass(frozen=True, slots=True)
class CheckedDocument:
    """A document and what parsing and validating it found; errors empty means usable."""

    document: DocumentNode | None
    parse_errors: list[GraphQLError]
    validation_errors: list[GraphQLError]


class DocumentCache:
    """An LRU of parsed and validated documents, keyed by the query text."""

    def __init__(
        self,
        schema: GraphQLSchema,
        *,
        rules: Sequence[type[ASTValidationRule]] = specified_rules,
        size: int = 512,
        max_tokens: int | None = None,
    ) -> None:
        self._schema = schema
        self._rules = tuple(rules)
        self._size = size
        self._max_tokens = max_tokens
        self._entries: OrderedDict[str, CheckedDocument] = OrderedDict()

    def check(self, query: str) -> CheckedDocument:
        entry = self._entries.get(query)
        if entry is not None:
            self._entries.move_to_end(query)
            return entry
        entry = self._check(query)
        self._entries[query] = entry
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return entry

    def _check(self, query: str) -> CheckedDocument:
        try:
            document = parse(query, max_tokens=self._max_tokens)
        except GraphQLError as error:
            return CheckedDocument(None, [error], [])
        errors = validate(self._schema, document, self._rules)
        return CheckedDocument(document, [], list(errors))
