"""Parsing, limiting and validating GraphQL documents once per distinct text."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    NoSchemaIntrospectionCustomRule,
    parse,
    specified_rules,
    validate,
)

from app.settings import Settings
from app.web import limits
from app.web.limits import NodeCounts

# graphql-core's syntax error when a parse limit stops it; the edge answers QUERY_TOO_COMPLEX.
_PARSE_LIMIT = re.compile(r"^(Document|Source) contains more than [0-9]+ ")
_SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class CheckedDocument:
    """A document and what parsing and validating it found; errors empty means usable."""

    document: DocumentNode | None
    parse_errors: list[GraphQLError]
    validation_errors: list[GraphQLError]
    limit_errors: list[GraphQLError]

    @property
    def errors(self) -> list[GraphQLError]:
        return self.parse_errors + self.limit_errors + self.validation_errors


class DocumentCache:
    """An LRU of parsed and validated documents, keyed by the query text."""

    def __init__(
        self,
        schema: GraphQLSchema,
        *,
        rules: Sequence[type[ASTValidationRule]] = specified_rules,
        size: int = 512,
        max_tokens: int | None = None,
        limits: limits.Limits | None = None,
        hide_suggestions: bool = False,
    ) -> None:
        self._schema = schema
        self._rules = tuple(rules)
        self._size = size
        self._max_tokens = max_tokens
        self._limits = limits
        self._hide_suggestions = hide_suggestions
        self._entries: OrderedDict[str, CheckedDocument] = OrderedDict()
        self.node_counts = NodeCounts(schema, size)

    @classmethod
    def for_settings(cls, schema: GraphQLSchema, settings: Settings) -> DocumentCache:
        """The checks a served request gets: limits, validation, introspection if allowed."""
        rules = list(specified_rules)
        if not settings.introspection_enabled:
            rules.append(NoSchemaIntrospectionCustomRule)
        return cls(
            schema,
            rules=rules,
            max_tokens=settings.max_tokens,
            limits=limits.Limits.from_settings(settings),
            hide_suggestions=not settings.detailed_errors,
        )

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
            # Comments count too: a body of comments costs the lexer as much as tokens.
            document = parse(
                query, max_lexical_tokens=self._max_tokens, max_comments=self._max_tokens
            )
        except GraphQLSyntaxError as error:
            if _PARSE_LIMIT.match(error.description):
                return CheckedDocument(None, [], [], [_token_limit(error)])
            return CheckedDocument(None, [error], [], [])
        except GraphQLError as error:
            return CheckedDocument(None, [error], [], [])
        if self._limits is not None:
            # Before validation, whose cost grows faster than the document.
            too_complex = limits.document_errors(document, self._limits)
            if too_complex:
                return CheckedDocument(document, [], [], too_complex)
        errors = validate(
            self._schema, document, self._rules, hide_suggestions=self._hide_suggestions
        )
        if self._hide_suggestions:
            errors = [_without_suggestion(error) for error in errors]
        return CheckedDocument(document, [], list(errors), [])


def _without_suggestion(error: GraphQLError) -> GraphQLError:
    """hide_suggestions covers the schema's names; a few rules suggest syntax
    ("Did you mean 'customers { ... }'?"), and production says no "Did you mean" at all."""
    message = _SUGGESTION.sub("", error.message)
    if message == error.message:
        return error
    return GraphQLError(message, error.nodes, extensions=error.extensions)


def _token_limit(error: GraphQLSyntaxError) -> GraphQLError:
    return GraphQLError(
        f"{error.description} Send a smaller document.",
        extensions={"code": limits.CODE, "limit": "tokens"},
    )
