"""Keyset pagination over an order, with the Relay cursor-connection algorithm.

The list is cut by `after` and `before`, then `first` or `last` items are taken. Each
page reads at most `first`/`last` + 1 rows through an index seek from its cursor, so a
deep page costs the same as the first. An order on a nullable key is walked as two
segments (customers with a value, then those without), each an index range.

A page is usually one statement: the index range it reads, plus (given a cursor) an
EXISTS probe behind the cursor that answers hasPreviousPage (hasNextPage when walking
backward). Crossing from one segment to the next, or an empty page, takes another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import takewhile
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, or_, select, true, tuple_

from app.accounts.keys import Principal
from app.customers.filters import CompiledFilter
from app.customers.models import CustomerRecord, customer_columns, customers_table
from app.customers.ordering import Order, Position, compare, position_of
from app.store.driver import Reader

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1_000

_id = customers_table.c.id
# Where a read statement with a start has its `behind` column: after the customer's.
_BEHIND = len(customer_columns)


@dataclass(frozen=True, slots=True)
class Page:
    customers: list[CustomerRecord]
    has_next_page: bool
    has_previous_page: bool


@dataclass(frozen=True, slots=True)
class _Segment:
    """One index range of a walk: the customers with a sort value, or those without."""

    null_group: bool
    ascending: bool


# The customers a principal may see: its account, its mode. Statements name these
# parameters rather than embedding values, so one statement object serves every
# request of its shape and SQLAlchemy finds it compiled in its cache at once.
SCOPE = and_(
    customers_table.c.account_id == bindparam("scope_account_id"),
    customers_table.c.live == bindparam("scope_live"),
)


def scope_values(principal: Principal) -> dict[str, object]:
    """The values of SCOPE's parameters for this principal."""
    return {"scope_account_id": principal.account_id, "scope_live": principal.live}


async def fetch_page(
    reader: Reader,
    *,
    principal: Principal,
    order: Order,
    condition: CompiledFilter | None,
    first: int | None,
    after: Position | None,
    last: int | None,
    before: Position | None,
) -> Page:
    """One page of the filtered, ordered list; page sizes must already be checked.

    hasNextPage: a match comes after the page's last edge (for an empty page, after
    `after`); hasPreviousPage: a match comes before its first edge (for an empty page,
    before `before`). With first and no after there is no previous page; with last and
    no before, no next page.
    """
    walk = _Walk(reader, order, principal, condition)
    if last is None:
        size = first if first is not None else DEFAULT_PAGE_SIZE
        fetched, behind = await walk.read(start=after, backward=False, limit=size + 1)
        page = list(takewhile(lambda row: _precedes(order, row, before), fetched))[:size]
        # Nothing matches between `after` and the first row read, so "before the first
        # edge" is "at or behind `after`" unless the page is empty with `before` given.
        if after is None:
            has_previous = False
        elif page or before is None:
            has_previous = behind
        else:
            has_previous = await walk.any_beyond(before, backward=True)
        return Page(page, has_next_page=len(fetched) > len(page), has_previous_page=has_previous)
    fetched, ahead = await walk.read(start=before, backward=True, limit=last + 1)
    reversed_page = list(takewhile(lambda row: _follows(order, row, after), fetched))[:last]
    if before is None:
        has_next = False
    elif reversed_page or after is None:
        has_next = ahead
    else:
        has_next = await walk.any_beyond(after, backward=False)
    return Page(
        list(reversed(reversed_page)),
        has_next_page=has_next,
        has_previous_page=len(fetched) > len(reversed_page),
    )


def _precedes(order: Order, customer: CustomerRecord, bound: Position | None) -> bool:
    return bound is None or compare(order, position_of(order, customer), bound) < 0


def _follows(order: Order, customer: CustomerRecord, bound: Position | None) -> bool:
    return bound is None or compare(order, position_of(order, customer), bound) > 0


class _Walk:
    """Reads the list from a position in either direction, segment by segment."""

    def __init__(
        self,
        reader: Reader,
        order: Order,
        principal: Principal,
        condition: CompiledFilter | None,
    ) -> None:
        self._reader = reader
        self._order = order
        self._condition = condition
        self._scope = scope_values(principal)

    async def read(
        self, *, start: Position | None, backward: bool, limit: int
    ) -> tuple[list[CustomerRecord], bool]:
        """Up to `limit` matches beyond `start` in walk order, and whether a match lies at
        or behind `start` (False without a start). One statement, unless a segment runs
        out before the page is full."""
        shape = _Shape(self._order, backward, _in_null_group(start), False)
        first, *others = self._statements(_read_statements, shape)
        rows = await self._reader.rows(first, self._values(start, limit))
        found = [CustomerRecord.from_row(row) for row in rows]
        for statement in others:
            if len(found) >= limit:
                break
            more = await self._reader.rows(statement, self._values(None, limit - len(found)))
            found.extend(CustomerRecord.from_row(row) for row in more)
        if start is None:
            return found, False
        if rows:
            return found, bool(rows[0][_BEHIND])
        return found, await self.any_beyond(start, backward=not backward, inclusive=True)

    async def any_beyond(
        self, bound: Position | None, *, backward: bool, inclusive: bool = False
    ) -> bool:
        """Whether a match lies beyond `bound` (or at it, if inclusive) in this direction."""
        shape = _Shape(self._order, backward, _in_null_group(bound), inclusive)
        for statement in self._statements(_probe_statements, shape):
            if await self._reader.rows(statement, self._values(bound, 1)):
                return True
        return False

    def _statements(self, build: _Builder, shape: _Shape) -> list[Select[Any]]:
        if self._condition is None:
            return _unfiltered(build, shape)
        return _filtered(build, shape, self._condition)

    def _values(self, start: Position | None, limit: int) -> dict[str, object]:
        values = {**self._scope, "limit": limit}
        if start is not None:
            values["start_value"] = start.value
            values["start_id"] = start.id
        return values


@dataclass(frozen=True, slots=True)
class _Shape:
    """What decides a walk's statements; the values they compare with are parameters.

    `start_in_null_group` is None for a walk from the beginning, else whether the start
    position lies among the customers without a sort value.
    """

    order: Order
    backward: bool
    start_in_null_group: bool | None
    inclusive: bool

    @property
    def segments(self) -> list[_Segment]:
        ascending = self.order.ascending != self.backward
        segments = [_Segment(null_group=False, ascending=ascending)]
        if self.order.nullable:
            segments.append(_Segment(null_group=True, ascending=ascending))
        return segments[::-1] if self.backward else segments

    def reversed(self) -> _Shape:
        return _Shape(self.order, not self.backward, self.start_in_null_group, True)


def _in_null_group(start: Position | None) -> bool | None:
    return None if start is None else start.value is None


_Builder = Callable[[_Shape, ColumnElement[bool]], list[Select[Any]]]


@cache
def _unfiltered(build: _Builder, shape: _Shape) -> list[Select[Any]]:
    return build(shape, true())


@lru_cache(maxsize=512)
def _filtered(build: _Builder, shape: _Shape, compiled: CompiledFilter) -> list[Select[Any]]:
    return build(shape, compiled.condition)


def _read_statements(shape: _Shape, condition: ColumnElement[bool]) -> list[Select[Any]]:
    """The rows of each segment from the start on; the first statement also answers
    (as `behind`) whether a match lies at or behind the start."""
    first, *others = _walk(shape, condition, select(*customer_columns))
    if shape.start_in_null_group is not None:
        # Uncorrelated, so both backends evaluate it once for the whole statement. Not
        # EXISTS: PostgreSQL drops ORDER BY/LIMIT there and may pick a sequential scan
        # it hopes ends early; the nearest row by the index is a seek from the cursor.
        probes = _walk(shape.reversed(), condition, select(_id))
        behind = or_(*(probe.limit(1).scalar_subquery().is_not(None) for probe in probes))
        first = first.add_columns(behind.label("behind"))
    return [statement.limit(bindparam("limit")) for statement in (first, *others)]


def _probe_statements(shape: _Shape, condition: ColumnElement[bool]) -> list[Select[Any]]:
    return [statement.limit(1) for statement in _walk(shape, condition, select(_id))]


def _walk(shape: _Shape, condition: ColumnElement[bool], columns: Select[Any]) -> list[Select[Any]]:
    segments = shape.segments
    start = shape.start_in_null_group
    start_index = (
        0
        if start is None
        else next(index for index, segment in enumerate(segments) if segment.null_group == start)
    )
    statements = []
    for index, segment in enumerate(segments[start_index:], start=start_index):
        statement = columns.where(SCOPE, condition, *_segment_bounds(shape.order, segment))
        if start is not None and index == start_index:
            statement = statement.where(_beyond_start(shape.order, segment, shape.inclusive))
        statements.append(statement.order_by(*_sort(shape.order, segment)))
    return statements


def _segment_bounds(order: Order, segment: _Segment) -> list[ColumnElement[bool]]:
    if not order.nullable:
        return []
    key = order.key_column
    return [key.is_(None) if segment.null_group else key.is_not(None)]


def _beyond_start(order: Order, segment: _Segment, inclusive: bool) -> ColumnElement[bool]:
    start_id = bindparam("start_id", type_=_id.type)
    left: ColumnElement[Any] = _id
    right: ColumnElement[Any] = start_id
    if not segment.null_group:
        key = order.key_column
        left = tuple_(key, _id)
        right = tuple_(bindparam("start_value", type_=key.type), start_id)
    if segment.ascending:
        return left >= right if inclusive else left > right
    return left <= right if inclusive else left < right


def _sort(order: Order, segment: _Segment) -> list[ColumnElement[object]]:
    # The key is NULL all through the null group, but naming it lets PostgreSQL see
    # that the (key, id) index already delivers this order (IS NULL is no equality).
    columns = [order.key_column, _id]
    return [column.asc() if segment.ascending else column.desc() for column in columns]
