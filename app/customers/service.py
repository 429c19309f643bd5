"""Customer rules: lookups, the list, and create/update/delete with their user errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import JSON, Select, String, any_, bindparam, case, delete, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from app.accounts.keys import Principal
from app.clock import now_ms
from app.customers import idempotency
from app.customers.cursors import CursorCodec, InvalidCursor
from app.customers.filters import CompiledFilter, FilterTree, check_filter, compile_filter
from app.customers.models import (
    TEXT_FIELD_NAMES,
    CustomerRecord,
    customer_columns,
    customers_table,
    stored_values,
)
from app.customers.ordering import DEFAULT_ORDER, Order, Position, position_of
from app.customers.pagination import MAX_PAGE_SIZE, SCOPE, Page, fetch_page, scope_values
from app.customers.prefix_plans import unindexed_prefixes
from app.customers.validation import check_idempotency_key, clean_customer_fields
from app.errors import BadUserInput, UserError, UserErrorCode
from app.events.log import record_creation, record_event
from app.events.models import EventType
from app.ids import is_customer_id, new_customer_id
from app.store.driver import Reader
from app.store.store import Store

MAX_LOOKUP_IDS = 1_000
_c = customers_table.c
_BY_ID = select(*customer_columns).where(SCOPE, _c.id == bindparam("customer_id"))
_BY_ID_FOR_UPDATE = _BY_ID.with_for_update()
_COUNT = select(func.count()).select_from(customers_table).where(SCOPE)


@dataclass(frozen=True, slots=True)
class MutationResult:
    """A customer, or the user errors that stopped the mutation (then nothing was written)."""

    customer: CustomerRecord | None = None
    user_errors: list[UserError] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PageArguments:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


async def get_customer(
    store: Store, *, principal: Principal, customer_id: str
) -> CustomerRecord | None:
    """The customer with this id if the principal can see it; malformed ids included."""
    if not is_customer_id(customer_id):
        return None
    async with store.reader() as reader:
        return await _get_customer(reader, principal, customer_id)


async def get_customers(
    store: Store, *, principal: Principal, customer_ids: Sequence[str]
) -> list[CustomerRecord | None]:
    """One entry per id, in order, None where not visible; one query for the whole list."""
    if len(customer_ids) > MAX_LOOKUP_IDS:
        raise BadUserInput("ids", f"ids may hold at most {MAX_LOOKUP_IDS} ids.")
    wanted = {customer_id for customer_id in customer_ids if is_customer_id(customer_id)}
    found: dict[str, CustomerRecord] = {}
    if wanted:
        values = {**scope_values(principal), "customer_ids": sorted(wanted)}
        async with store.reader() as reader:
            rows = await reader.rows(_by_ids(reader.dialect), values)
        found = {row[0]: CustomerRecord.from_row(row) for row in rows}
    return [found.get(customer_id) for customer_id in customer_ids]


@cache
def _by_ids(dialect: str) -> Select[Any]:
    """The customers whose ids are in `customer_ids`, one parameter holding the whole
    list (an array on PostgreSQL, a JSON array on SQLite), so the statement is the same
    for any number of ids and is compiled once (app/store/statements.py)."""
    if dialect == "postgresql":
        wanted = _c.id == any_(bindparam("customer_ids", type_=ARRAY(String)))
    else:
        listed = func.json_each(bindparam("customer_ids", type_=JSON)).table_valued("value")
        wanted = _c.id.in_(select(listed.c.value))
    return select(*customer_columns).where(SCOPE, wanted)


async def list_customers(
    store: Store,
    *,
    principal: Principal,
    page: PageArguments,
    order: Order = DEFAULT_ORDER,
    customer_filter: FilterTree | None = None,
    cursors: CursorCodec,
) -> Page:
    """A page of the principal's customers; argument problems raise BadUserInput.

    Every argument rule is checked before the first statement: a refused request
    costs the database nothing.
    """
    if customer_filter is not None:
        check_filter(customer_filter)
    first, last = check_page_sizes(page)
    after = _parse_cursor(cursors, order, "after", page.after)
    before = _parse_cursor(cursors, order, "before", page.before)
    async with store.reader() as reader:
        unindexed: frozenset[str] = frozenset()
        if customer_filter is not None:
            unindexed = await unindexed_prefixes(store, reader, principal, customer_filter, order)
        return await fetch_page(
            reader,
            principal=principal,
            order=order,
            condition=_compiled(store, customer_filter, unindexed),
            first=first,
            after=await _position(reader, principal, order, "after", after),
            last=last,
            before=await _position(reader, principal, order, "before", before),
        )


async def count_customers(
    store: Store,
    *,
    principal: Principal,
    customer_filter: FilterTree | None = None,
) -> int:
    """How many of the principal's customers match, ignoring pagination."""
    compiled = _compiled(store, customer_filter)
    statement = _COUNT if compiled is None else _filtered_count(compiled)
    async with store.reader() as reader:
        [(count,)] = await reader.rows(statement, scope_values(principal))
    return int(count)


@lru_cache(maxsize=512)
def _filtered_count(compiled: CompiledFilter) -> Select[int]:
    """One statement object per filter, so it is compiled once (app/store/statements.py)."""
    return _COUNT.where(compiled.condition)


async def create_customer(
    store: Store,
    *,
    principal: Principal,
    given: Mapping[str, Any],
    idempotency_key: str | None = None,
) -> MutationResult:
    """Validate and store a new customer; with a key, a retry returns the first result."""
    fields, errors = clean_customer_fields(given)
    if idempotency_key is not None and (key_error := check_idempotency_key(idempotency_key)):
        errors.append(key_error)
    if errors:
        return MutationResult(user_errors=errors)
    values = {name: fields.get(name) for name in TEXT_FIELD_NAMES}
    values["metadata"] = fields.get("metadata") or {}
    if idempotency_key is None:
        customer, row = _new_customer(principal, values)
        await record_creation(store, principal, customer, row)
        return MutationResult(customer)
    try:
        customer = await idempotency.run_once(
            store,
            principal=principal,
            key=idempotency_key,
            request=values,
            create=lambda connection: _insert_customer(connection, principal, values),
        )
    except idempotency.KeyReused:
        return MutationResult(
            user_errors=[
                UserError(
                    ("input", "idempotencyKey"),
                    "This idempotencyKey was already used with a different input.",
                    UserErrorCode.IDEMPOTENCY_KEY_REUSED,
                )
            ]
        )
    return MutationResult(customer)


async def update_customer(
    store: Store, *, principal: Principal, customer_id: str, given: Mapping[str, Any]
) -> MutationResult:
    """Change the given fields (None clears them); updatedAt always moves forward. The
    event's previousAttributes come from the row as this transaction locked it."""
    changes, errors = clean_customer_fields(given)
    async with store.write() as connection:
        if not is_customer_id(customer_id):
            return MutationResult(user_errors=[_not_found(), *errors])
        values = {**scope_values(principal), "customer_id": customer_id}
        if errors:
            if (await connection.execute(_BY_ID, values)).first() is None:
                errors.insert(0, _not_found())
            return MutationResult(user_errors=errors)
        before = (await connection.execute(_BY_ID_FOR_UPDATE, values)).first()
        if before is None:
            return MutationResult(user_errors=[_not_found()])
        now = now_ms()
        row = (
            await connection.execute(
                update(customers_table)
                .where(SCOPE, _c.id == customer_id)
                .values(
                    **stored_values(changes),
                    updated_at=case((_c.updated_at >= now, _c.updated_at + 1), else_=now),
                )
                .returning(*customer_columns),
                scope_values(principal),
            )
        ).one()
        customer = CustomerRecord.from_row(row)
        await record_event(
            connection,
            principal,
            EventType.CUSTOMER_UPDATED,
            customer,
            previous=CustomerRecord.from_row(before),
        )
    return MutationResult(customer)


async def delete_customer(
    store: Store, *, principal: Principal, customer_id: str
) -> MutationResult:
    """Remove the customer for good and return it as it was."""
    if not is_customer_id(customer_id):
        return MutationResult(user_errors=[_not_found()])
    async with store.write() as connection:
        row = (
            await connection.execute(
                delete(customers_table)
                .where(SCOPE, _c.id == customer_id)
                .returning(*customer_columns),
                scope_values(principal),
            )
        ).first()
        if row is None:
            return MutationResult(user_errors=[_not_found()])
        customer = CustomerRecord.from_row(row)
        await record_event(connection, principal, EventType.CUSTOMER_DELETED, customer)
    return MutationResult(customer)


async def _insert_customer(
    connection: AsyncConnection, principal: Principal, values: Mapping[str, Any]
) -> CustomerRecord:
    customer, row = _new_customer(principal, values)
    # The row is inserted with the event (one statement on PostgreSQL).
    await record_event(connection, principal, EventType.CUSTOMER_CREATED, customer, new_row=row)
    return customer


def _new_customer(
    principal: Principal, values: Mapping[str, Any]
) -> tuple[CustomerRecord, dict[str, Any]]:
    """A new customer, and its row in the customers table."""
    created_at = now_ms()
    customer = CustomerRecord(
        id=new_customer_id(created_at),
        live=principal.live,
        created_at=created_at,
        updated_at=created_at,
        **values,
    )
    row = {
        "id": customer.id,
        "account_id": principal.account_id,
        "live": customer.live,
        "created_at": customer.created_at,
        "updated_at": customer.updated_at,
        **stored_values(values),
    }
    return customer, row


def _compiled(
    store: Store,
    customer_filter: FilterTree | None,
    unindexed: frozenset[str] = frozenset(),
) -> CompiledFilter | None:
    if customer_filter is None:
        return None
    return compile_filter(customer_filter, dialect=store.dialect, unindexed_prefixes=unindexed)


async def _get_customer(
    reader: Reader, principal: Principal, customer_id: str
) -> CustomerRecord | None:
    if not is_customer_id(customer_id):
        return None
    rows = await reader.rows(_BY_ID, {**scope_values(principal), "customer_id": customer_id})
    return CustomerRecord.from_row(rows[0]) if rows else None


def check_page_sizes(page: PageArguments) -> tuple[int | None, int | None]:
    if page.first is not None and page.last is not None:
        raise BadUserInput("first", "Give first or last, not both.")
    for argument, size in (("first", page.first), ("last", page.last)):
        if size is not None and not 1 <= size <= MAX_PAGE_SIZE:
            raise BadUserInput(
                argument, f"{argument} must be between 1 and {MAX_PAGE_SIZE}, got {size}."
            )
    return page.first, page.last


def _parse_cursor(
    cursors: CursorCodec, order: Order, argument: str, cursor: str | None
) -> Position | str | None:
    """The position a cursor names, or the customer id a cursor may also be (looked up
    later, as the only part of a cursor that needs the database)."""
    if cursor is None or is_customer_id(cursor):
        return cursor
    try:
        return cursors.decode(order, cursor)
    except InvalidCursor as error:
        raise BadUserInput(argument, f"{argument} {error}.") from error


async def _position(
    reader: Reader,
    principal: Principal,
    order: Order,
    argument: str,
    parsed: Position | str | None,
) -> Position | None:
    if not isinstance(parsed, str):
        return parsed
    customer = await _get_customer(reader, principal, parsed)
    if customer is None:
        raise BadUserInput(argument, f"{argument} does not name a customer you can see.")
    return position_of(order, customer)


def _not_found() -> UserError:
    return UserError(("input", "id"), "No customer has this id.", UserErrorCode.NOT_FOUND)
