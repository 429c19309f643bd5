"""On SQLite, whether a broad `startsWith` should leave the index to the page's order.

SQLite keeps no statistics on how values spread, so it prefers any index range to a
sort: for `name startsWith "ma"` in createdAt order it reads every "ma…" customer
through the name index and sorts them all, even when an eighth of the customers
match and walking the createdAt index would fill the page within a few hundred rows
(40 ms against 0.8 ms at 200,000 customers). The probe reads at most
BROAD_PREFIX_ROWS index entries (about 60 µs).

So before such a page, an index-only probe counts the prefix's customers, stopping at
BROAD_PREFIX_ROWS. Below that, the range and a sort of at most that many rows are
cheap; at it, the prefix is compiled so that no index serves it, and SQLite walks the
order's index, checking the prefix row by row. PostgreSQL keeps statistics and
chooses well by itself.
"""

from __future__ import annotations

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.accounts.keys import Principal
from app.customers.filters import TEXT_COLUMNS, FilterTree, index_prefixes, prefix_range
from app.customers.models import customers_table
from app.customers.ordering import Order
from app.customers.pagination import SCOPE, scope_values

BROAD_PREFIX_ROWS = 1_000


async def unindexed_prefixes(
    connection: AsyncConnection, principal: Principal, tree: FilterTree, order: Order
) -> frozenset[str]:
    """The fields whose `startsWith` the page should check row by row, not by index."""
    if connection.dialect.name != "sqlite":
        return frozenset()
    broad = set()
    for field, prefix in index_prefixes(tree):
        key = TEXT_COLUMNS[field][1]
        if field in broad or key is order.key_column:
            continue  # in the order's own index, the range is the walk
        in_range = (
            select(literal(1))
            .select_from(customers_table)
            .where(SCOPE, *prefix_range(key, prefix))
            .limit(BROAD_PREFIX_ROWS)
            .subquery()
        )
        probe = select(func.count()).select_from(in_range)
        found = (await connection.execute(probe, scope_values(principal))).scalar_one()
        if found >= BROAD_PREFIX_ROWS:
            broad.add(field)
    return frozenset(broad)
