"""The `events` commands: purge (what the gateway does by itself every hour)."""

from __future__ import annotations

import argparse
from typing import TypeVar

from app.events.retention import purge_events
from app.settings import Settings
from app.store.engine import migrated_transaction
from app.store.store import Store

Parser = TypeVar("Parser", bound=argparse.ArgumentParser)


def add_commands(commands: argparse._SubParsersAction[Parser]) -> None:
    """Adds `events purge` to the command line's subcommands."""
    event_commands = commands.add_parser("events", help="the customer event log").add_subparsers(
        dest="events_command", required=True
    )
    event_commands.add_parser(
        "purge", help="delete events older than EVENT_RETENTION_DAYS (default 30)"
    ).set_defaults(run=_events_purge)


async def _events_purge(settings: Settings, _arguments: argparse.Namespace) -> int:
    async with migrated_transaction(settings):
        pass  # the database is reachable and migrated
    store = Store.for_settings(settings)
    try:
        purged = await purge_events(store, retention_days=settings.event_retention_days)
    finally:
        await store.close()
    print(f"purged {purged} event(s) older than {settings.event_retention_days} days")
    return 0
