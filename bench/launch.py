"""Ablation runs: `python -m bench.launch --without fastpath,keycache -- serve …`.

Starts the gateway like `python -m app`, after switching named optimisations off, so
`scripts/bench --without NAME` measures what each one buys on the same tree. The main
table always runs the gateway as users do, through `python -m app serve`.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from typing import Any

from app import cli


def _no_fastpath() -> None:
    from app.fastpath import run

    run.ENABLED = False


def _no_keycache() -> None:
    from app import keys

    keys.KEY_CACHE_SECONDS = 0.0


def _connections_without(attribute: str, *, keep: Callable[[Any], Any] = lambda _e: None) -> None:
    """Connections as built, then with one attribute replaced (None: the feature is off)."""
    from app.connections import Connections

    build = Connections.__init__

    def patched(self: Any, engine: Any) -> None:
        build(self, engine)
        setattr(self, attribute, keep(engine))

    Connections.__init__ = patched  # type: ignore[method-assign]


def _no_gc_tuning() -> None:
    import gc

    gc.freeze = lambda: None
    gc.set_threshold = lambda *_thresholds: None  # type: ignore[assignment]


def _no_prefix_probe() -> None:
    from app import customers

    async def nothing_unindexed(*_arguments: Any) -> frozenset[str]:
        return frozenset()

    customers.unindexed_prefixes = nothing_unindexed  # type: ignore[assignment]


def _pre_ping() -> None:
    from app import db

    create = db.create_async_engine

    def with_pre_ping(url: Any, **options: Any) -> Any:
        if url.get_backend_name() != "sqlite":
            options["pool_pre_ping"] = True
        return create(url, **options)

    db.create_async_engine = with_pre_ping  # type: ignore[assignment]


def _engine_options(drop: tuple[str, ...], *, sqlite_only: bool = False) -> None:
    from app import db

    create = db.create_async_engine

    def without(url: Any, **options: Any) -> Any:
        if not sqlite_only or url.get_backend_name() == "sqlite":
            for name in drop:
                options.pop(name, None)
        return create(url, **options)

    db.create_async_engine = without  # type: ignore[assignment]


def _no_sqlite_crossing_savings() -> None:
    from app import db

    create = db.create_async_engine

    def plain_aiosqlite(url: Any, **options: Any) -> Any:
        options.get("connect_args", {}).pop("async_creator_fn", None)
        return create(url, **options)

    db.create_async_engine = plain_aiosqlite  # type: ignore[assignment]


def _json_cursor(order: Any, position: Any) -> str:
    payload = json.dumps([order.tag, position.value, position.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _no_fast_cursors() -> None:
    from app import cursors
    from app.api import types
    from app.fastpath import run

    for module in (cursors, types, run):
        module.encode_cursor = _json_cursor  # type: ignore[attr-defined]


ABLATIONS: dict[str, Callable[[], None]] = {
    "fastpath": _no_fastpath,
    "keycache": _no_keycache,
    "autocommit": lambda: _connections_without("_reads", keep=lambda engine: engine),
    "fairqueue": lambda: _connections_without("_turns"),
    "sqlitewriter": lambda: _connections_without("_writer"),
    "gc": _no_gc_tuning,
    "prefixprobe": _no_prefix_probe,
    "pingless": _pre_ping,
    "sqlitepool": lambda: _engine_options(("pool_size", "max_overflow"), sqlite_only=True),
    "sqlitehops": _no_sqlite_crossing_savings,
    "orjson": lambda: _engine_options(("json_deserializer",)),
    "cursors": _no_fast_cursors,
}


def main() -> int:
    arguments = sys.argv[1:]
    names: list[str] = []
    if arguments[:1] == ["--without"]:
        names = [name for name in arguments[1].split(",") if name]
        arguments = arguments[2:]
    if arguments[:1] == ["--"]:
        arguments = arguments[1:]
    for name in names:
        ABLATIONS[name]()
    return cli.main(arguments)


if __name__ == "__main__":
    sys.exit(main())
