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

from functools import lru_cache

from sqlalchemy import Select, func, literal, select

from app.accounts.keys import Principal
from app.customers.filters import TEXT_COLUMNS, FilterTree, index_prefixes, prefix_range
from app.customers.models import customers_table
from app.customers.ordering import Order
from app.customers.pagination import SCOPE, scope_values
from app.store.driver import Reader

BROAD_PREFIX_ROWS = 1_000


async def unindexed_prefixes(
    reader: Reader, principal: Principal, tree: FilterTree, order: Order
) -> frozenset[str]:
    """The fields whose `startsWith` the page should check row by row, not by index."""
    if reader.dialect != "sqlite":
        return frozenset()
    broad = set()
    for field, prefix in index_prefixes(tree):
        if field in broad or TEXT_COLUMNS[field][1] is order.key_column:
            continue  # in the order's own index, the range is the walk
        [(found,)] = await reader.rows(
            _probe(field, prefix, BROAD_PREFIX_ROWS), scope_values(principal)
        )
        if found >= BROAD_PREFIX_ROWS:
            broad.add(field)
    return frozenset(broad)


@lru_cache(maxsize=512)
def _probe(field: str, prefix: str, most: int) -> Select[int]:
    """How many customers (up to `most`) have `prefix` in `field`; one statement object
    per prefix, so it is compiled once (app/store/statements.py)."""
    in_range = (
        select(literal(1))
        .select_from(customers_table)
        .where(SCOPE, *prefix_range(TEXT_COLUMNS[field][1], prefix))
        .limit(most)
        .subquery()
    )
    return select(func.count()).select_from(in_range)
