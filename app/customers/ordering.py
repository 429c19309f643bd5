"""Orders of the customers list and positions within them.

An order sorts by one key column, then by id in the same direction. NAME and EMAIL
sort by the casefolded value (stored as name_key / email_key) in code-point order,
and customers without a value come after all others in both directions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import Enum
from operator import attrgetter
from typing import NamedTuple

from sqlalchemy import ColumnElement

from app.customers.models import TEXT_FIELDS_BY_NAME, CustomerRecord, customers_table


class OrderField(Enum):
    CREATED_AT = "CREATED_AT"
    NAME = "NAME"
    EMAIL = "EMAIL"


class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


SortValue = int | str | None

# Every other order field is a text field of the same name (lower case), sorted by its key.
_TEXT_ORDERS = {
    field: TEXT_FIELDS_BY_NAME[field.value.lower()]
    for field in OrderField
    if field is not OrderField.CREATED_AT
}
_KEY_COLUMNS: dict[OrderField, ColumnElement[SortValue]] = {
    OrderField.CREATED_AT: customers_table.c.created_at,
    **{order: customers_table.c[field.key] for order, field in _TEXT_ORDERS.items()},
}


@dataclass(frozen=True, slots=True)
class Order:
    field: OrderField = OrderField.CREATED_AT
    direction: OrderDirection = OrderDirection.DESC
    # How cursors name this order; computed once, as pages encode a cursor per row.
    tag: str = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tag", f"{self.field.value}:{self.direction.value}")

    @property
    def ascending(self) -> bool:
        return self.direction is OrderDirection.ASC

    @property
    def key_column(self) -> ColumnElement[SortValue]:
        return _KEY_COLUMNS[self.field]

    @property
    def nullable(self) -> bool:
        return self.field is not OrderField.CREATED_AT


DEFAULT_ORDER = Order()


class Position(NamedTuple):
    """Where a customer stands in an order: its sort value (None for no value) and id."""

    value: SortValue
    id: str


def position_of(order: Order, customer: CustomerRecord) -> Position:
    """Where this customer stands in `order`."""
    field = order.field
    if field is OrderField.CREATED_AT:
        return Position(customer.created_at, customer.id)
    value: str | None = getattr(customer, _TEXT_ORDERS[field].name)
    return Position(casefold_key(value), customer.id)


def sort_values(order: Order, customers: Sequence[CustomerRecord]) -> list[SortValue]:
    """Each customer's `position_of(order, customer).value`, for a whole page at once."""
    if order.field is OrderField.CREATED_AT:
        return [customer.created_at for customer in customers]
    value_of = attrgetter(_TEXT_ORDERS[order.field].name)
    return [
        None if (value := value_of(customer)) is None else value.casefold()
        for customer in customers
    ]


def casefold_key(value: str | None) -> str | None:
    return None if value is None else value.casefold()


def compare(order: Order, left: Position, right: Position) -> int:
    """-1, 0 or 1 as `left` comes before, at or after `right` in `order`."""
    if (left.value is None) != (right.value is None):
        return 1 if left.value is None else -1
    left_key = (left.value, left.id)
    right_key = (right.value, right.id)
    if left_key == right_key:
        return 0
    before = left_key < right_key
    return -1 if before == order.ascending else 1
