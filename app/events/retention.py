"""Retention: events older than EVENT_RETENTION_DAYS are purged, by every gateway process
in the background (a minute after it starts, then once an hour), and by
`python -m app events purge`.

A purge deletes a batch per transaction, so a write waits at most one batch behind it
(on SQLite, where writers take turns); several processes purging at once only repeat
each other's deletes.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import delete, select

from app.clock import now_ms
from app.events.models import events_table
from app.store.store import Store

PURGE_BATCH = 1_000
PURGE_INTERVAL_SECONDS = 3_600.0
FIRST_PURGE_AFTER_SECONDS = 60.0
DAY_MS = 24 * 60 * 60 * 1000
_e = events_table.c
log = logging.getLogger(__name__)


async def purge_events(store: Store, *, retention_days: int) -> int:
    """Delete the events created more than `retention_days` ago; the number deleted."""
    cutoff = now_ms() - retention_days * DAY_MS
    purged = 0
    while True:
        batch = select(_e.id).where(_e.created_at < cutoff).limit(PURGE_BATCH).scalar_subquery()
        async with store.write() as connection:
            result = await connection.execute(delete(events_table).where(_e.id.in_(batch)))
        purged += result.rowcount
        if result.rowcount < PURGE_BATCH:
            return purged


async def purge_periodically(
    store: Store,
    *,
    retention_days: int,
    first_after: float = FIRST_PURGE_AFTER_SECONDS,
    interval: float = PURGE_INTERVAL_SECONDS,
) -> None:
    """Purge after `first_after` seconds, then every `interval` seconds, until cancelled;
    a failed purge (the database away, say) is logged and tried again at the next turn."""
    await asyncio.sleep(first_after)
    while True:
        try:
            purged = await purge_events(store, retention_days=retention_days)
            if purged:
                log.info("purged %d event(s) older than %d days", purged, retention_days)
        except Exception as error:  # the next turn tries again
            log.warning("event purge failed: %s", type(error).__name__)
        await asyncio.sleep(interval)
