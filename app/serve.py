"""The serving lifecycle: start-up, the GC tuning, signals, and a graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import os
import resource
import signal
import sys

from aiohttp import web

from app.accounts import keys
from app.errors import StartupError
from app.production import refuse_unsafe_production
from app.settings import Settings
from app.store.engine import migrated_transaction, safe_url
from app.web.app import create_app
from app.web.connections import LimitedSite
from app.web.metrics_endpoint import local_metrics_app
from app.web.state import SHUTTING_DOWN


async def serve(settings: Settings, *, worker: bool = False) -> int:
    """Migrate, listen, and serve until SIGINT or SIGTERM; then drain and stop.

    With WORKERS above 1 this process supervises that many workers on one port
    (app/workers.py); each worker runs `serve` with `worker=True`.
    """
    if worker:
        return await _serve_here(settings, reuse_port=True, minted=None)
    if settings.is_production:
        refuse_unsafe_production(settings)
        if "persisted_documents" not in settings.model_fields_set:
            print(
                "warning: PERSISTED_DOCUMENTS is not set, so this gateway runs in apq mode: it "
                "runs any document a client sends and stores new ones. Set "
                "PERSISTED_DOCUMENTS=trusted to run only your apps' documents (README, "
                '"Persisted documents").',
                file=sys.stderr,
                flush=True,
            )
    async with migrated_transaction(settings) as connection:
        minted = await keys.mint_default_key_if_empty(connection)
    if settings.worker_count > 1:
        from app.workers import supervise

        if minted:
            _print_welcome(_url(settings), minted.secret)
        return await supervise(settings)
    return await _serve_here(settings, reuse_port=False, minted=minted)


def _url(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.port}/graphql"


async def _serve_here(
    settings: Settings, *, reuse_port: bool, minted: keys.MintedKey | None
) -> int:
    app = create_app(settings)
    runner = web.AppRunner(
        app,
        shutdown_timeout=settings.shutdown_grace_seconds,
        keepalive_timeout=settings.idle_timeout_seconds,
        access_log=None,
    )
    await runner.setup()
    runners = [runner]
    try:
        await _listen(
            runner,
            settings.host,
            settings.port,
            reuse_port=reuse_port,
            max_connections=_connection_ceiling(settings.max_connections),
        )
        if settings.metrics_port is not None:
            metrics_runner = web.AppRunner(local_metrics_app(app), access_log=None)
            await metrics_runner.setup()
            runners.insert(0, metrics_runner)
            await _listen(
                metrics_runner, METRICS_HOST, settings.metrics_port, reuse_port=reuse_port
            )
    except StartupError:
        for each in runners:
            await each.cleanup()
        raise
    # What exists now (modules, the schema, the engine) lives as long as the process.
    # Frozen, it is out of the cyclic collector's reach: a full collection walked all of
    # it, pausing every request for up to 90 ms (p99 at 4x p50 under load). A request
    # allocates thousands of short-lived containers, so the youngest generation is
    # collected every 7,000 allocations rather than 700 (a few % of CPU at default).
    gc.collect()
    gc.freeze()
    gc.set_threshold(7_000, 10, 10)
    url = _url(settings)
    who = f"worker {os.getpid()}" if reuse_port else settings.environment.value
    print(f"customers gateway serving {url} ({who}, database {safe_url(settings)})", flush=True)
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
    app[SHUTTING_DOWN].set()
    # Closes the listening socket, waits up to shutdown_grace_seconds for handlers, cancels
    # the rest (their transactions roll back), then disposes the engine (cleanup_ctx).
    for each in runners:
        await each.cleanup()
    if not await _cancelled_work_unwound():
        # A statement still blocked in the driver: nothing is committed, so leaving is safe,
        # and asyncio.run would otherwise cancel it a second time and wait for ever.
        print("stopped with unfinished cleanup", file=sys.stderr, flush=True)
        logging.shutdown()  # the log lines still buffered: os._exit skips its exit hook
        os._exit(1)
    print("stopped", flush=True)
    return 0


# Descriptors kept free beside the connections: the database pool, logs, modules.
_SPARE_FILES = 256


def _connection_ceiling(wanted: int) -> int:
    """MAX_CONNECTIONS, within the open-file limit: its soft value is raised towards the hard
    one when it is lower, and the ceiling lowered (with a line saying so) when that is not
    enough, so that the ceiling is met before accept() runs out of descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + _SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        if soft < needed:
            print(
                f"MAX_CONNECTIONS lowered to {soft - _SPARE_FILES}: the open-file limit is {soft}",
                file=sys.stderr,
                flush=True,
            )
            return max(1, soft - _SPARE_FILES)
    return wanted


# The metrics listener is for a scraper on this machine (or its pod) only.
METRICS_HOST = "127.0.0.1"


async def _listen(
    runner: web.AppRunner,
    host: str,
    port: int,
    *,
    reuse_port: bool,
    max_connections: int | None = None,
) -> None:
    site = LimitedSite(runner, host, port, max_connections=max_connections, reuse_port=reuse_port)
    try:
        await site.start()
    except OSError as error:
        reason = "the port is already in use" if error.errno == errno.EADDRINUSE else error.strerror
        raise StartupError(f"cannot listen on {host}:{port}: {reason}") from error


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
