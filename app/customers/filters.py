"""Customer filters: a plain tree, its size rules, and its compilation to SQL.

Every compiled condition is two-valued (true or false, never SQL NULL), so `not` is
the plain complement of what it negates, and every operand is a bound parameter.
Case-insensitive operators compare `str.casefold()` of both sides, using the stored
*_key columns; lists travel as one parameter (a PostgreSQL array, a JSON text on
SQLite) so that 200 lists of 1000 values stay within the drivers' parameter limits.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, fields
from functools import lru_cache

from sqlalchemy import (
    Boolean,
    ColumnElement,
    TableValuedAlias,
    Text,
    and_,
    any_,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from app.customers.models import TEXT_FIELDS, customers_table
from app.errors import BadUserInput

MAX_DEPTH = 10
MAX_CONDITIONS = 200
MAX_LIST_VALUES = 1_000
COMPILED_FILTERS = 256
ARGUMENT = "filter"

_c = customers_table.c
_LIKE_ESCAPE = "\\"


@dataclass(frozen=True, slots=True)
class IdOperators:
    eq: str | None = None
    neq: str | None = None
    in_: tuple[str, ...] | None = None
    not_in: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class TextOperators:
    eq: str | None = None
    neq: str | None = None
    in_: tuple[str, ...] | None = None
    not_in: tuple[str, ...] | None = None
    contains: str | None = None
    starts_with: str | None = None
    ends_with: str | None = None
    is_null: bool | None = None


@dataclass(frozen=True, slots=True)
class MillisOperators:
    eq: int | None = None
    neq: int | None = None
    gt: int | None = None
    gte: int | None = None
    lt: int | None = None
    lte: int | None = None


@dataclass(frozen=True, slots=True)
class MetadataOperators:
    key: str
    eq: str | None = None
    neq: str | None = None
    in_: tuple[str, ...] | None = None
    exists: bool | None = None


@dataclass(frozen=True, slots=True)
class FilterTree:
    """One filter object; None means "not given". Everything given must hold."""

    and_: tuple[FilterTree, ...] | None = None
    or_: tuple[FilterTree, ...] | None = None
    not_: FilterTree | None = None
    id: IdOperators | None = None
    # (text field name, its operators) for the customer's TEXT_FIELDS that are given.
    text: tuple[tuple[str, TextOperators], ...] = ()
    created_at: MillisOperators | None = None
    updated_at: MillisOperators | None = None
    metadata: tuple[MetadataOperators, ...] | None = None

    def children(self) -> Iterator[FilterTree]:
        yield from self.and_ or ()
        yield from self.or_ or ()
        if self.not_ is not None:
            yield self.not_


OperatorSet = IdOperators | TextOperators | MillisOperators | MetadataOperators


def too_deep() -> BadUserInput:
    return BadUserInput(
        ARGUMENT, f"filter nests more than {MAX_DEPTH} FilterTree levels; simplify it."
    )


# The text fields' columns and casefolded key columns, by field name.
TEXT_COLUMNS: dict[str, tuple[ColumnElement[str], ColumnElement[str]]] = {
    field.name: (_c[field.name], _c[field.key]) for field in TEXT_FIELDS
}


class CompiledFilter:
    """A checked filter tree and its condition for one dialect.

    Equal trees compile to the same object (`compile_filter` remembers them), and it
    hashes by the tree, computed once: statements built on its condition are cached by
    it (app/customers/pagination.py), so a client paging through one search does not
    pay for compiling or building them again.
    """

    __slots__ = ("_hash", "_key", "condition")

    def __init__(
        self,
        tree: FilterTree,
        dialect: str,
        unindexed_prefixes: frozenset[str],
        condition: ColumnElement[bool],
    ) -> None:
        self._key = (tree, dialect, unindexed_prefixes)
        self._hash = hash(self._key)
        self.condition = condition

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, CompiledFilter) and self._key == other._key)


@lru_cache(maxsize=COMPILED_FILTERS)
def compile_filter(
    tree: FilterTree, *, dialect: str, unindexed_prefixes: frozenset[str] = frozenset()
) -> CompiledFilter:
    """Check the rules, then build the condition for `dialect` ("sqlite" or "postgresql").

    `startsWith` on the fields named in `unindexed_prefixes` is written so that no index
    can serve it (see app/customers/prefix_plans.py); the rows it matches are the same.
    A tree that broke a rule raised and was not remembered.
    """
    check_filter(tree)
    condition = _Compiler(
        postgres=dialect == "postgresql", unindexed_prefixes=unindexed_prefixes
    ).customer(tree)
    return CompiledFilter(tree, dialect, unindexed_prefixes, condition)


def index_prefixes(tree: FilterTree) -> Iterator[tuple[str, str]]:
    """(field, casefolded prefix) of each `startsWith` that every match must satisfy:
    those at the top of the tree or under `and`, where an index range can serve them."""
    for field, strings in tree.text:
        if strings.starts_with:
            yield field, strings.starts_with.casefold()
    for child in tree.and_ or ():
        yield from index_prefixes(child)


def _unindexed(key: ColumnElement[str]) -> ColumnElement[str]:
    """SQLite's unary `+`: the value unchanged, from an expression no index serves."""
    return UnaryExpression(key, operator=custom_op("+"), type_=key.type)


def prefix_range(key: ColumnElement[str], prefix: str) -> list[ColumnElement[bool]]:
    """key starts with prefix, as an index range: prefix <= key < successor(prefix).

    Both backends compare these keys by code point, so every string with the prefix
    lies in the range and nothing else does.
    """
    if not prefix:
        return []
    bounds = [key >= literal(prefix, Text)]
    upper = _successor(prefix)
    if upper is not None:
        bounds.append(key < literal(upper, Text))
    return bounds


@lru_cache(maxsize=COMPILED_FILTERS)
def check_filter(tree: FilterTree) -> None:
    """Raise BadUserInput if the tree breaks a size rule or holds an unstorable string.

    A tree that passed is remembered (one that broke a rule raised and was not)."""
    conditions = 0
    pending = [(tree, 1)]
    while pending:
        node, level = pending.pop()
        if level > MAX_DEPTH:
            raise too_deep()
        for name, items in (("and", node.and_), ("or", node.or_), ("metadata", node.metadata)):
            _check_length(name, items)
        for operators in _operator_sets(node):
            conditions += _count(operators)
            _check_operands(operators)
        if conditions > MAX_CONDITIONS:
            raise BadUserInput(
                ARGUMENT, f"filter sets more than {MAX_CONDITIONS} conditions; simplify it."
            )
        pending.extend((child, level + 1) for child in node.children())


def _operator_sets(node: FilterTree) -> list[OperatorSet]:
    sets: list[OperatorSet | None] = [
        node.id,
        *(strings for _field, strings in node.text),
        node.created_at,
        node.updated_at,
    ]
    sets.extend(node.metadata or ())
    return [operators for operators in sets if operators is not None]


def _count(operators: OperatorSet) -> int:
    return sum(
        getattr(operators, spec.name) is not None
        for spec in fields(operators)
        if spec.name != "key"
    )


def _check_operands(operators: OperatorSet) -> None:
    for spec in fields(operators):
        value = getattr(operators, spec.name)
        if isinstance(value, tuple):
            _check_length(spec.name.rstrip("_"), value)
            strings = [item for item in value if isinstance(item, str)]
        else:
            strings = [value] if isinstance(value, str) else []
        if any("\x00" in text for text in strings):
            raise BadUserInput(ARGUMENT, "filter strings may not contain U+0000 (NUL).")


def _check_length(name: str, items: tuple[object, ...] | None) -> None:
    if items is not None and len(items) > MAX_LIST_VALUES:
        raise BadUserInput(
            ARGUMENT,
            f"a filter list ({name}) holds {len(items)} values; at most {MAX_LIST_VALUES}.",
        )


class _Compiler:
    def __init__(self, *, postgres: bool, unindexed_prefixes: frozenset[str]) -> None:
        self._postgres = postgres
        self._unindexed_prefixes = unindexed_prefixes

    def customer(self, node: FilterTree) -> ColumnElement[bool]:
        """The node's conditions, cheap and selective ones first: SQLite checks a row's
        terms in the order written and stops at the first false one, so a page walking
        an index rejects most rows on a prefix or an equality before it scans their
        text for `contains` (a filter page's statement took half the time). The order
        changes no result."""
        parts: list[ColumnElement[bool]] = []
        later: list[ColumnElement[bool]] = []
        if node.id is not None:
            parts.extend(self._ids(node.id))
        for field, operators in node.text:
            column, key = TEXT_COLUMNS[field]
            selective, scanning = self._strings(operators, column, key, field)
            parts.extend(selective)
            later.extend(scanning)
        for millis, column in ((node.created_at, _c.created_at), (node.updated_at, _c.updated_at)):
            if millis is not None:
                parts.extend(_millis(millis, column))
        parts.extend(later)
        if node.and_ is not None:
            parts.append(and_(true(), *(self.customer(child) for child in node.and_)))
        if node.or_ is not None:
            parts.append(or_(false(), *(self.customer(child) for child in node.or_)))
        if node.not_ is not None:
            parts.append(not_(self.customer(node.not_)))
        for entry in node.metadata or ():
            parts.extend(self._metadata(entry))
        return and_(true(), *parts)

    def _ids(self, ids: IdOperators) -> Iterator[ColumnElement[bool]]:
        column = _c.id
        if ids.eq is not None:
            yield column == ids.eq
        if ids.neq is not None:
            yield column != ids.neq
        if ids.in_ is not None:
            yield self._in(column, ids.in_)
        if ids.not_in is not None:
            yield not_(self._in(column, ids.not_in))

    def _strings(
        self,
        strings: TextOperators,
        column: ColumnElement[str],
        key: ColumnElement[str],
        field: str,
    ) -> tuple[list[ColumnElement[bool]], list[ColumnElement[bool]]]:
        """The field's conditions: those settled by comparing a value, and those that
        scan its text (`contains`, `endsWith`)."""
        present = column.is_not(None)
        selective: list[ColumnElement[bool]] = []
        if strings.eq is not None:
            selective.append(and_(present, column == strings.eq))
        if strings.in_ is not None:
            selective.append(and_(present, self._in(column, strings.in_)))
        if strings.starts_with is not None:
            # `+key` is the same text, but no index column: SQLite cannot range over it
            # (its documented way to keep a term off an index, at no cost per row).
            ranged = _unindexed(key) if field in self._unindexed_prefixes else key
            selective.append(and_(present, *prefix_range(ranged, strings.starts_with.casefold())))
        if strings.is_null is not None:
            selective.append(column.is_(None) if strings.is_null else present)
        if strings.neq is not None:
            selective.append(or_(column.is_(None), column != strings.neq))
        if strings.not_in is not None:
            selective.append(or_(column.is_(None), not_(self._in(column, strings.not_in))))
        scanning: list[ColumnElement[bool]] = []
        if strings.ends_with is not None:
            scanning.append(and_(present, _like(key, "%" + _like_literal(strings.ends_with))))
        if strings.contains is not None:
            scanning.append(and_(present, _like(key, "%" + _like_literal(strings.contains) + "%")))
        return selective, scanning

    def _metadata(self, entry: MetadataOperators) -> Iterator[ColumnElement[bool]]:
        if entry.eq is not None:
            yield self._metadata_value_in(entry.key, (entry.eq,))
        if entry.neq is not None:
            yield not_(self._metadata_value_in(entry.key, (entry.neq,)))
        if entry.in_ is not None:
            yield self._metadata_value_in(entry.key, entry.in_)
        if entry.exists is not None:
            has_key = self._metadata_has_key(entry.key)
            yield has_key if entry.exists else not_(has_key)

    def _metadata_value_in(self, key: str, values: tuple[str, ...]) -> ColumnElement[bool]:
        if not values:
            return false()
        if self._postgres:
            value = _c.metadata.op("->>", return_type=Text)(literal(key, Text))
            matches = value == values[0] if len(values) == 1 else self._in(value, values)
            return and_(value.is_not(None), matches)
        entry = _sqlite_entries()
        entry_value = entry.c.value
        matches = entry_value == values[0] if len(values) == 1 else self._in(entry_value, values)
        return exists(
            select(1).select_from(entry).where(entry.c.key == literal(key, Text), matches)
        )

    def _metadata_has_key(self, key: str) -> ColumnElement[bool]:
        if self._postgres:
            has_key: ColumnElement[bool] = _c.metadata.op("?", return_type=Boolean)(
                literal(key, Text)
            )
            return has_key
        entry = _sqlite_entries()
        return exists(select(1).select_from(entry).where(entry.c.key == literal(key, Text)))

    def _in(self, column: ColumnElement[str], values: tuple[str, ...]) -> ColumnElement[bool]:
        """`column` is one of `values`; false for an empty list. `column` must not be NULL."""
        if not values:
            return false()
        if self._postgres:
            return column == any_(literal(list(values), ARRAY(Text)))
        listed = func.json_each(literal(json.dumps(values), Text)).table_valued("value")
        return column.in_(select(listed.c.value))


def _millis(millis: MillisOperators, column: ColumnElement[int]) -> Iterator[ColumnElement[bool]]:
    if millis.eq is not None:
        yield column == millis.eq
    if millis.neq is not None:
        yield column != millis.neq
    if millis.gt is not None:
        yield column > millis.gt
    if millis.gte is not None:
        yield column >= millis.gte
    if millis.lt is not None:
        yield column < millis.lt
    if millis.lte is not None:
        yield column <= millis.lte


def _sqlite_entries() -> TableValuedAlias:
    return func.json_each(_c.metadata).table_valued("key", "value").alias("entry")


def _like(key: ColumnElement[str], pattern: str) -> ColumnElement[bool]:
    return key.like(literal(pattern, Text), escape=_LIKE_ESCAPE)


def _like_literal(operand: str) -> str:
    """The casefolded operand as a LIKE pattern that matches it literally."""
    folded = operand.casefold()
    for special in (_LIKE_ESCAPE, "%", "_"):
        folded = folded.replace(special, _LIKE_ESCAPE + special)
    return folded


def _successor(prefix: str) -> str | None:
    """The least string greater than every string that starts with `prefix`."""
    while prefix:
        code = ord(prefix[-1]) + 1
        if 0xD800 <= code <= 0xDFFF:  # surrogates cannot be stored; skip past them
            code = 0xE000
        if code <= sys.maxunicode:
            return prefix[:-1] + chr(code)
        prefix = prefix[:-1]
    return None
