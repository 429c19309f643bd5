"""The command line: serve, migrate, and manage API keys and persisted documents."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from pydantic import ValidationError

from app.accounts import keys
from app.clock import format_ms
from app.documents import commands as documents_commands
from app.errors import StartupError
from app.events import commands as events_commands
from app.logs import configure_logging
from app.settings import Settings
from app.store.engine import migrated_transaction, safe_url


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        settings = _load_settings(arguments)
        configure_logging(settings.log_level)
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(arguments.run(settings, arguments)) or 0
    except StartupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed, asyncio's own elsewhere."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _serve(settings: Settings, arguments: argparse.Namespace) -> int:
    from app.serve import serve

    return await serve(settings, worker=arguments.worker)


class _OneLineParser(argparse.ArgumentParser):
    """Reports a usage mistake as one line, like every other startup problem."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="apply migrations and serve /graphql")
    serve.add_argument("--host", help="address to listen on (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: PORT or 8000)")
    serve.add_argument(
        "--workers", help="processes serving the port: a number or auto (default: WORKERS or 1)"
    )
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(run=_serve)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(run=_migrate)
    commands.add_parser("schema", help="print the GraphQL schema (SDL)").set_defaults(
        run=_print_schema
    )
    key_commands = commands.add_parser("keys", help="manage API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = key_commands.add_parser("create", help="mint a key and print it once")
    create.add_argument("--account", required=True, help="account name (created if new)")
    create.add_argument("--live", action="store_true", help="a live key instead of a sandbox one")
    create.set_defaults(run=_keys_create)
    key_commands.add_parser("list", help="list keys (never their secrets)").set_defaults(
        run=_keys_list
    )
    revoke = key_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", help="the key's id, as `keys list` shows it (key_…)")
    revoke.set_defaults(run=_keys_revoke)
    documents_commands.add_commands(commands)
    events_commands.add_commands(commands)
    return parser


def _load_settings(arguments: argparse.Namespace) -> Settings:
    overrides = {
        name: value
        for name in ("host", "port", "workers")
        if (value := getattr(arguments, name, None)) is not None
    }
    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper() or 'settings'}: {e['msg']}"
            for e in error.errors()
        )
        raise StartupError(f"invalid settings: {problems}") from error


async def _print_schema(_settings: Settings, _arguments: argparse.Namespace) -> int:
    from app.api.schema import schema_sdl

    sys.stdout.write(schema_sdl())
    return 0


async def _migrate(settings: Settings, _arguments: argparse.Namespace) -> int:
    async with migrated_transaction(settings):
        pass
    print(f"database at {safe_url(settings)} is up to date")
    return 0


async def _keys_create(settings: Settings, arguments: argparse.Namespace) -> int:
    async with migrated_transaction(settings) as connection:
        minted = await keys.mint_key(
            connection, account_name=arguments.account, live=arguments.live
        )
    print(f"{minted.secret}\n")
    print(
        f"key {minted.key_id} for account {minted.account_name!r} "
        f"({'live' if minted.live else 'sandbox'}). It is shown only this once."
    )
    return 0


async def _keys_list(settings: Settings, _arguments: argparse.Namespace) -> int:
    async with migrated_transaction(settings) as connection:
        listing = await keys.list_keys(connection)
    print(f"{'id':<22} {'account':<20} {'mode':<8} {'key':<20} {'created':<20} status")
    for key in listing:
        status = "revoked " + format_ms(key.revoked_at) if key.revoked_at else "active"
        mode = "live" if key.live else "sandbox"
        print(
            f"{key.key_id:<22} {key.account_name:<20} {mode:<8} {key.hint:<20} "
            f"{format_ms(key.created_at):<20} {status}"
        )
    return 0


async def _keys_revoke(settings: Settings, arguments: argparse.Namespace) -> int:
    async with migrated_transaction(settings) as connection:
        revoked = await keys.revoke_key(connection, key_id=arguments.key_id)
    if not revoked:
        print(f"error: no active key has the id {arguments.key_id!r}", file=sys.stderr)
        return 1
    print(f"revoked {arguments.key_id}")
    return 0
