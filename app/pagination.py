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

from dataclasses import dataclass
from itertools import takewhile

from sqlalchemy import ColumnElement, Select, and_, or_, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from app.keys import Principal
from app.models import CustomerRecord, customer_columns, customers_table
from app.ordering import Order, Position, compare, sort_value

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1_000

_id = customers_table.c.id


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


def position_of(order: Order, customer: CustomerRecord) -> Position:
    value = sort_value(
        order, created_at=customer.created_at, name=customer.name, email=customer.email
    )
    return Position(value=value, id=customer.id)


def scope(principal: Principal) -> ColumnElement[bool]:
    """The customers a principal may see: its account, its mode."""
    return and_(
        customers_table.c.account_id == principal.account_id,
        customers_table.c.live == principal.live,
    )


async def fetch_page(
    connection: AsyncConnection,
    *,
    principal: Principal,
    order: Order,
    condition: ColumnElement[bool] | None,
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
    # `condition or ...` would ask a SQL expression for its truth value: test for None.
    matching = true() if condition is None else condition
    walk = _Walk(connection, order, and_(scope(principal), matching))
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
        self, connection: AsyncConnection, order: Order, condition: ColumnElement[bool]
    ) -> None:
        self._connection = connection
        self._order = order
        self._condition = condition

    async def read(
        self, *, start: Position | None, backward: bool, limit: int
    ) -> tuple[list[CustomerRecord], bool]:
        """Up to `limit` matches beyond `start` in walk order, and whether a match lies at
        or behind `start` (False without a start). One statement, unless a segment runs
        out before the page is full."""
        first, *others = self._statements(select(*customer_columns), start, backward, False)
        probes = [] if start is None else self._statements(select(_id), start, not backward, True)
        if probes:
            # Uncorrelated, so both backends evaluate it once for the whole statement. Not
            # EXISTS: PostgreSQL drops ORDER BY/LIMIT there and may pick a sequential scan
            # it hopes ends early; the nearest row by the index is a seek from the cursor.
            behind_start = or_(*(probe.limit(1).scalar_subquery().is_not(None) for probe in probes))
            first = first.add_columns(behind_start.label("behind"))
        rows = (await self._connection.execute(first.limit(limit))).all()
        found = [CustomerRecord.from_row(row) for row in rows]
        for statement in others:
            if len(found) >= limit:
                break
            result = await self._connection.execute(statement.limit(limit - len(found)))
            found.extend(CustomerRecord.from_row(row) for row in result)
        if not probes:
            return found, False
        if rows:
            return found, bool(rows[0].behind)
        return found, await self.any_beyond(start, backward=not backward, inclusive=True)

    async def any_beyond(
        self, bound: Position | None, *, backward: bool, inclusive: bool = False
    ) -> bool:
        """Whether a match lies beyond `bound` (or at it, if inclusive) in this direction."""
        for statement in self._statements(select(_id), bound, backward, inclusive):
            if (await self._connection.execute(statement.limit(1))).first() is not None:
                return True
        return False

    def _statements(
        self,
        columns: Select[tuple[object, ...]],
        start: Position | None,
        backward: bool,
        inclusive: bool,
    ) -> list[Select[tuple[object, ...]]]:
        segments = self._segments(backward)
        start_index = 0 if start is None else _segment_index(segments, start)
        statements = []
        for index, segment in enumerate(segments[start_index:], start=start_index):
            statement = columns.where(self._condition, *self._segment_bounds(segment))
            if start is not None and index == start_index:
                statement = statement.where(self._after(segment, start, inclusive))
            statements.append(statement.order_by(*self._sort(segment)))
        return statements

    def _segments(self, backward: bool) -> list[_Segment]:
        ascending = self._order.ascending != backward
        segments = [_Segment(null_group=False, ascending=ascending)]
        if self._order.nullable:
            segments.append(_Segment(null_group=True, ascending=ascending))
        return segments[::-1] if backward else segments

    def _segment_bounds(self, segment: _Segment) -> list[ColumnElement[bool]]:
        if not self._order.nullable:
            return []
        key = self._order.key_column
        return [key.is_(None) if segment.null_group else key.is_not(None)]

    def _after(self, segment: _Segment, start: Position, inclusive: bool) -> ColumnElement[bool]:
        left = _id if segment.null_group else tuple_(self._order.key_column, _id)
        right = start.id if segment.null_group else tuple_(start.value, start.id)
        if segment.ascending:
            return left >= right if inclusive else left > right
        return left <= right if inclusive else left < right

    def _sort(self, segment: _Segment) -> list[ColumnElement[object]]:
        # The key is NULL all through the null group, but naming it lets PostgreSQL see
        # that the (key, id) index already delivers this order (IS NULL is no equality).
        columns = [self._order.key_column, _id]
        return [column.asc() if segment.ascending else column.desc() for column in columns]


def _segment_index(segments: list[_Segment], start: Position) -> int:
    in_null_group = start.value is None
    return next(i for i, segment in enumerate(segments) if segment.null_group == in_null_group)
