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

A client paging through a search sends the same prefix page after page, so each probe's
answer is kept for BREADTH_SECONDS per store, account and mode: a prefix's breadth
changes slowly, and a stale answer can only choose the slower plan for a while, never
change a page's rows. The probe was a statement of its own (a crossing to the
connection's thread) and up to BROAD_PREFIX_ROWS index entries read, on every page.
"""

from __future__ import annotations

from functools import lru_cache
from weakref import WeakKeyDictionary

from sqlalchemy import Select, func, literal, select

from app.accounts.keys import Principal
from app.customers.filters import TEXT_COLUMNS, FilterTree, index_prefixes, prefix_range
from app.customers.models import customers_table
from app.customers.ordering import Order
from app.customers.pagination import SCOPE, scope_values
from app.store.driver import Reader
from app.store.store import Store
from app.timed_cache import TimedCache

BROAD_PREFIX_ROWS = 1_000
BREADTH_SECONDS = 10.0
BREADTHS_KEPT = 1_024
# (account, live, field, prefix) -> whether the prefix is broad, for each store.
_Breadths = TimedCache[tuple[str, bool, str, str], bool]
_breadths: WeakKeyDictionary[Store, _Breadths] = WeakKeyDictionary()


def breadths(store: Store) -> _Breadths:
    """The store's remembered probe answers."""
    found = _breadths.get(store)
    if found is None:
        found = _breadths[store] = TimedCache(BREADTH_SECONDS, BREADTHS_KEPT)
    return found


async def unindexed_prefixes(
    store: Store, reader: Reader, principal: Principal, tree: FilterTree, order: Order
) -> frozenset[str]:
    """The fields whose `startsWith` the page should check row by row, not by index."""
    if reader.dialect != "sqlite":
        return frozenset()
    known = breadths(store)
    broad = set()
    for field, prefix in index_prefixes(tree):
        if field in broad or TEXT_COLUMNS[field][1] is order.key_column:
            continue  # in the order's own index, the range is the walk
        key = (principal.account_id, principal.live, field, prefix)
        is_broad = known.get(key)
        if is_broad is None:
            [(found,)] = await reader.rows(
                _probe(field, prefix, BROAD_PREFIX_ROWS), scope_values(principal)
            )
            is_broad = found >= BROAD_PREFIX_ROWS
            known.put(key, is_broad)
        if is_broad:
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
