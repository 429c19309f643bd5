"""The command line: serve, migrate and manage API keys."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.accounts import keys
from app.errors import StartupError
from app.logs import configure_logging
from app.settings import Settings
from app.store.engine import check_connection, create_engine, migrate


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        settings = _load_settings(arguments)
        configure_logging(settings.log_level)
        return asyncio.run(arguments.run(settings, arguments)) or 0
    except StartupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


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
    return parser


def _load_settings(arguments: argparse.Namespace) -> Settings:
    overrides = {
        name: value
        for name in ("host", "port")
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


@asynccontextmanager
async def _transaction(settings: Settings) -> AsyncIterator[AsyncConnection]:
    """A transaction on a reachable, migrated database; the engine is gone afterwards."""
    engine = create_engine(settings)
    try:
        try:
            await check_connection(engine)
            await migrate(engine)
        except (SQLAlchemyError, OSError) as error:
            raise StartupError(
                f"cannot use the database at {_safe_url(settings)}: {_first_line(error)}"
            ) from error
        async with engine.begin() as connection:
            yield connection
    finally:
        await engine.dispose()


async def _print_schema(_settings: Settings, _arguments: argparse.Namespace) -> int:
    from app.api.schema import schema_sdl

    sys.stdout.write(schema_sdl())
    return 0


async def _migrate(settings: Settings, _arguments: argparse.Namespace) -> int:
    async with _transaction(settings):
        pass
    print(f"database at {_safe_url(settings)} is up to date")
    return 0


async def _keys_create(settings: Settings, arguments: argparse.Namespace) -> int:
    async with _transaction(settings) as connection:
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
    async with _transaction(settings) as connection:
        listing = await keys.list_keys(connection)
    print(f"{'id':<22} {'account':<20} {'mode':<8} {'key':<20} {'created':<20} status")
    for key in listing:
        status = "revoked " + _when(key.revoked_at) if key.revoked_at else "active"
        mode = "live" if key.live else "sandbox"
        print(
            f"{key.key_id:<22} {key.account_name:<20} {mode:<8} {key.hint:<20} "
            f"{_when(key.created_at):<20} {status}"
        )
    return 0


async def _keys_revoke(settings: Settings, arguments: argparse.Namespace) -> int:
    async with _transaction(settings) as connection:
        revoked = await keys.revoke_key(connection, key_id=arguments.key_id)
    if not revoked:
        print(f"error: no active key has the id {arguments.key_id!r}", file=sys.stderr)
        return 1
    print(f"revoked {arguments.key_id}")
    return 0


async def _serve(settings: Settings, _arguments: argparse.Namespace) -> int:
    from aiohttp import web

    from app.web.app import create_app

    if settings.is_production:
        _refuse_unsafe_production(settings)
    async with _transaction(settings) as connection:
        minted = await keys.mint_default_key_if_empty(connection)
    runner = web.AppRunner(
        create_app(settings), shutdown_timeout=settings.shutdown_grace_seconds, access_log=None
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        reason = "the port is already in use" if error.errno == errno.EADDRINUSE else error.strerror
        raise StartupError(f"cannot listen on {settings.host}:{settings.port}: {reason}") from error
    # What exists now (modules, the schema, the engine) lives as long as the process.
    # Frozen, it is out of the cyclic collector's reach: a full collection walked all of
    # it, pausing every request for up to 90 ms (p99 at 4x p50 under load). A request
    # allocates thousands of short-lived containers, so the youngest generation is
    # collected every 7,000 allocations rather than 700 (a few % of CPU at default).
    gc.collect()
    gc.freeze()
    gc.set_threshold(7_000, 10, 10)
    url = f"http://{settings.host}:{settings.port}/graphql"
    print(
        f"customers gateway serving {url} ({settings.environment.value}, "
        f"database {_safe_url(settings)})",
        flush=True,
    )
    if minted:
        _print_welcome(url, minted.secret)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    await stop.wait()
    print(
        f"shutting down: no new connections; finishing requests in flight "
        f"(up to {settings.shutdown_grace_seconds:g} s)",
        flush=True,
    )
    # Closes the listening socket, waits up to shutdown_grace_seconds for handlers, cancels
    # the rest (their transactions roll back), then disposes the engine (cleanup_ctx).
    await runner.cleanup()
    if not await _cancelled_work_unwound():
        # A statement still blocked in the driver: nothing is committed, so leaving is safe,
        # and asyncio.run would otherwise cancel it a second time and wait for ever.
        print("stopped with unfinished cleanup", file=sys.stderr, flush=True)
        os._exit(1)
    print("stopped", flush=True)
    return 0


# Longer than SQLite's busy timeout (app/store/engine.py): a cancelled statement that
# waits on a lock gets its answer, and its transaction is rolled back, within this time.
_UNWIND_SECONDS = 35.0


async def _cancelled_work_unwound() -> bool:
    """Wait for cancelled requests to finish rolling back; False if some never do."""
    current = asyncio.current_task()
    leftovers = [task for task in asyncio.all_tasks() if task is not current]
    if not leftovers:
        return True
    _done, pending = await asyncio.wait(leftovers, timeout=_UNWIND_SECONDS)
    return not pending


def _refuse_unsafe_production(settings: Settings) -> None:
    """Checks that need the filesystem; Settings itself refuses the unsafe values."""
    if settings.sqlite_path is not None:
        problem = _sqlite_write_problem(Path(settings.sqlite_path))
        if problem:
            raise StartupError(f"refusing to start in production: {problem}")


def _sqlite_write_problem(path: Path) -> str | None:
    """Why the gateway could not write this SQLite file (and its -wal/-shm beside it)."""
    if path.exists():
        if not path.is_file():
            return f"the SQLite database {path} is not a file"
        try:
            with path.open("r+b"):
                pass
        except OSError as error:
            return f"the SQLite database {path} is not writable ({error.strerror})"
    directory = path.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    if not directory.is_dir():
        return f"the SQLite database's directory {directory} is not a directory"
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".gateway-write-check-"):
            pass
    except OSError as error:
        return f"cannot create files beside the SQLite database in {directory} ({error.strerror})"
    return None


def _print_welcome(url: str, secret: str) -> None:
    print(
        f"""
First start: created the account 'default' and this sandbox API key (shown only once):

    {secret}

In GraphiQL ({url}), open the Headers pane and paste:
    {{"Authorization": "Bearer {secret}"}}

With curl:
    curl {url} -H 'Authorization: Bearer {secret}' \\
      -H 'Content-Type: application/json' \\
      -d '{{"query": "{{ customers(first: 5) {{ nodes {{ id name email }} }} }}"}}'

More keys: python -m app keys create --account NAME [--live]
""",
        flush=True,
    )


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


def _when(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


with contextlib.suppress(ImportError):
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
