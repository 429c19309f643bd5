"""Recording the statements a gateway runs: on the engine, and on the driver's read
connections (app/store/driver.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from app.store.store import Store


@contextmanager
def recorded_statements(store: Store) -> Iterator[list[str]]:
    """The SQL of every statement the store runs meanwhile, on the engine or the driver."""
    with recorded_executions(store) as executions:
        yield executions.statements


class Executions:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.parameters: list[Any] = []

    def record(self, statement: str, parameters: Any) -> None:
        self.statements.append(statement)
        self.parameters.append(parameters)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(zip(self.statements, self.parameters, strict=True))


@contextmanager
def recorded_executions(store: Store) -> Iterator[Executions]:
    """Every statement the store runs meanwhile with its parameters, on the engine (SQL
    events) or on the driver's read connections (their observer)."""
    executions = Executions()

    def on_engine(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        executions.record(statement, parameters)

    def on_driver(statement: str, parameters: Any) -> contextlib.nullcontext[None]:
        executions.record(statement, parameters)
        return contextlib.nullcontext()

    event.listen(store.engine.sync_engine, "before_cursor_execute", on_engine)
    previous, store.driver_pool.observe = store.driver_pool.observe, on_driver
    try:
        yield executions
    finally:
        store.driver_pool.observe = previous
        event.remove(store.engine.sync_engine, "before_cursor_execute", on_engine)
