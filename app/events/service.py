"""Reading the event log: one event, or a page of it (a Relay connection over ids)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, bindparam, exists, false, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.accounts.keys import Principal
from app.customers.cursors import CursorCodec, InvalidCursor
from app.customers.pagination import DEFAULT_PAGE_SIZE
from app.customers.service import PageArguments, check_page_sizes
from app.errors import BadUserInput
from app.events.log import EventRecord, event_from_row
from app.events.models import EventType, events_table
from app.ids import is_customer_id, is_event_id
from app.store.store import Store

_e = events_table.c
_COLUMNS = (_e.id, _e.type, _e.live, _e.created_at, _e.customer, _e.previous_attributes)
_CURSOR_TAG = "EVENT"


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[EventRecord]
    has_next_page: bool
    has_previous_page: bool


@dataclass(frozen=True, slots=True)
class EventFilter:
    """`types` None matches every type, an empty list none; `customer_id` one customer's."""

    types: Sequence[EventType] | None = None
    customer_id: str | None = None

    def matches(self, event: EventRecord) -> bool:
        """What the filter's SQL selects, for an event already read."""
        if self.types is not None and event.type not in self.types:
            return False
        return self.customer_id is None or event.customer.id == self.customer_id


def event_cursor(cursors: CursorCodec, event_id: str) -> str:
    return cursors.seal_payload([_CURSOR_TAG, event_id])


def event_cursors(cursors: CursorCodec, events: Sequence[EventRecord]) -> list[str]:
    return [event_cursor(cursors, event.id) for event in events]


async def get_event(store: Store, *, principal: Principal, event_id: str) -> EventRecord | None:
    """The event with this id if the principal can see it; malformed ids included."""
    return (await get_events(store, principal=principal, event_ids=[event_id]))[0]


async def get_events(
    store: Store, *, principal: Principal, event_ids: Sequence[str]
) -> list[EventRecord | None]:
    """One entry per id, in order, None where not visible (or not an event id); one query
    for the whole list."""
    wanted = sorted({event_id for event_id in event_ids if is_event_id(event_id)})
    found: dict[str, EventRecord] = {}
    if wanted:
        async with store.read() as connection:
            rows = await connection.execute(
                select(*_COLUMNS).where(_scope(principal), _e.id.in_(wanted))
            )
        found = {row.id: event_from_row(row._mapping) for row in rows}
    return [found.get(event_id) for event_id in event_ids]


async def list_events(
    store: Store,
    *,
    principal: Principal,
    page: PageArguments,
    event_filter: EventFilter,
    cursors: CursorCodec,
) -> EventPage:
    """A page of the log, oldest first; argument problems raise BadUserInput before any
    statement but the lookup of a plain event id given as `after` or `before`."""
    first, last = check_page_sizes(page)
    after_bound = parse_bound(cursors, "after", page.after)
    before_bound = parse_bound(cursors, "before", page.before)
    condition = _condition(principal, event_filter)
    async with store.read() as connection:
        after = await visible_position(connection, principal, "after", after_bound)
        before = await visible_position(connection, principal, "before", before_bound)
        if last is None:
            return await _forward(connection, condition, first or DEFAULT_PAGE_SIZE, after, before)
        return await _backward(connection, condition, last, after, before)


@dataclass(frozen=True, slots=True)
class Bound:
    """An `after`/`before`: an event id, and whether it came as a plain id (which must
    name an event the key can see) rather than a cursor (a position, valid for good)."""

    event_id: str
    plain: bool


def parse_bound(cursors: CursorCodec, argument: str, value: str | None) -> Bound | None:
    if value is None:
        return None
    if is_event_id(value):
        return Bound(value, plain=True)
    try:
        payload = cursors.open_payload(value)
    except InvalidCursor as error:
        raise BadUserInput(argument, f"{argument} {error}.") from error
    if not (
        isinstance(payload, list)
        and len(payload) == 2
        and payload[0] == _CURSOR_TAG
        and isinstance(payload[1], str)
        and is_event_id(payload[1])
    ):
        raise BadUserInput(argument, f"{argument} is not a valid cursor of customerEvents.")
    return Bound(payload[1], plain=False)


async def visible_position(
    connection: AsyncConnection, principal: Principal, argument: str, bound: Bound | None
) -> str | None:
    if bound is None:
        return None
    if bound.plain:
        found = await connection.scalar(
            select(exists().where(_scope(principal), _e.id == bound.event_id))
        )
        if not found:
            raise BadUserInput(argument, f"{argument} does not name an event you can see.")
    return bound.event_id


def _scope(principal: Principal) -> ColumnElement[bool]:
    return and_(_e.account_id == principal.account_id, _e.live == principal.live)


def _condition(principal: Principal, event_filter: EventFilter) -> ColumnElement[bool]:
    parts = [_scope(principal)]
    if event_filter.types is not None:
        if not event_filter.types:
            return false()
        parts.append(_e.type.in_(sorted({kind.value for kind in event_filter.types})))
    if event_filter.customer_id is not None:
        if not is_customer_id(event_filter.customer_id):
            return false()
        parts.append(_e.customer_id == event_filter.customer_id)
    return and_(*parts)


async def _forward(
    connection: AsyncConnection,
    condition: ColumnElement[bool],
    size: int,
    after: str | None,
    before: str | None,
) -> EventPage:
    """hasNextPage: a match after the page's last edge (for an empty page, after
    `after`); hasPreviousPage: a match at or before `after` (for an empty page with
    `before`, before `before`), none without `after`; as for customers."""
    rows = await _rows_after(connection, condition, after, size + 1)
    page = [row for row in rows if before is None or row.id < before][:size]
    if after is None:
        has_previous = False
    elif page or before is None:
        has_previous = await _any(connection, and_(condition, _e.id <= after))
    else:
        has_previous = await _any(connection, and_(condition, _e.id < before))
    return EventPage(
        [event_from_row(row._mapping) for row in page],
        has_next_page=len(rows) > len(page),
        has_previous_page=has_previous,
    )


async def _backward(
    connection: AsyncConnection,
    condition: ColumnElement[bool],
    size: int,
    after: str | None,
    before: str | None,
) -> EventPage:
    start = condition if before is None else and_(condition, _e.id < before)
    rows = (
        await connection.execute(
            select(*_COLUMNS).where(start).order_by(_e.id.desc()).limit(size + 1)
        )
    ).all()
    page = [row for row in rows if after is None or row.id > after][:size]
    if before is None:
        has_next = False
    elif page or after is None:
        has_next = await _any(connection, and_(condition, _e.id >= before))
    else:
        has_next = await _any(connection, and_(condition, _e.id > after))
    return EventPage(
        [event_from_row(row._mapping) for row in reversed(page)],
        has_next_page=has_next,
        has_previous_page=len(rows) > len(page),
    )


async def _rows_after(
    connection: AsyncConnection,
    condition: ColumnElement[bool],
    position: str | None,
    limit: int,
) -> Sequence[Row[*tuple[Any, ...]]]:
    if position is not None:
        condition = and_(condition, _e.id > position)
    statement = select(*_COLUMNS).where(condition).order_by(_e.id).limit(limit)
    return (await connection.execute(statement)).all()


# The log's newest events of one account and mode, after a position ("" for all), for
# the shared reader of followers (app/events/stream.py): built once, run per wake-up.
_TAIL = (
    select(*_COLUMNS)
    .where(
        _e.account_id == bindparam("account_id"),
        _e.live == bindparam("live"),
        _e.id > bindparam("position"),
    )
    .order_by(_e.id)
    .limit(bindparam("limit"))
)


async def log_rows_after(
    connection: AsyncConnection, principal: Principal, position: str, limit: int
) -> Sequence[Row[*tuple[Any, ...]]]:
    """Up to `limit` of the principal's events after `position`, of every type, oldest
    first."""
    values = {
        "account_id": principal.account_id,
        "live": principal.live,
        "position": position,
        "limit": limit,
    }
    return (await connection.execute(_TAIL, values)).all()


async def newest_event_id(connection: AsyncConnection, principal: Principal) -> str | None:
    """The id of the principal's newest event, of any type."""
    newest = await connection.scalar(select(func.max(_e.id)).where(_scope(principal)))
    return None if newest is None else str(newest)


async def _any(connection: AsyncConnection, condition: ColumnElement[bool]) -> bool:
    return bool(await connection.scalar(select(exists().where(condition))))
