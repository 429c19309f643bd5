"""Customers written straight into the gateway's database, to control createdAt and ids.

Rows are shaped like the GraphQL Customer (createdAt, updatedAt, ...), so the reference
model reads the same dicts the database holds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert

from app.accounts import keys
from app.customers.models import TEXT_FIELD_NAMES, customers_table, stored_values
from app.ids import new_customer_id
from tests.gateway import Gateway


def customer_row(
    created_at: int, *, metadata: dict[str, str] | None = None, **text: str | None
) -> dict[str, Any]:
    """A customer created at `created_at`, with the given text fields (name=…, email=…)."""
    unknown = set(text) - set(TEXT_FIELD_NAMES)
    assert not unknown, f"not text fields of the customer: {unknown}"
    return {
        "id": new_customer_id(created_at),
        "createdAt": created_at,
        "updatedAt": created_at,
        **{field: text.get(field) for field in TEXT_FIELD_NAMES},
        "metadata": metadata or {},
    }


async def insert_customers(gateway: Gateway, customers: list[dict[str, Any]]) -> None:
    """Store the customers for the gateway's key, with the sort keys the app derives."""
    async with gateway.engine.begin() as connection:
        principal = await keys.authenticate(connection, secret=gateway.key)
        assert principal is not None
        if customers:
            await connection.execute(
                insert(customers_table),
                [_columns(customer, principal) for customer in customers],
            )


async def delete_all_customers(gateway: Gateway) -> None:
    async with gateway.engine.begin() as connection:
        await connection.execute(delete(customers_table))


def _columns(customer: dict[str, Any], principal: keys.Principal) -> dict[str, Any]:
    return stored_values(
        {
            "id": customer["id"],
            "account_id": principal.account_id,
            "live": principal.live,
            "created_at": customer["createdAt"],
            "updated_at": customer["updatedAt"],
            **{name: customer.get(name) for name in TEXT_FIELD_NAMES},
            "metadata": customer["metadata"],
        }
    )
