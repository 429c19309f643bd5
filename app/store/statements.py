"""Statements SQLAlchemy builds and compiles once, run on the driver itself.

SQLAlchemy stays the one place SQL is written: a statement is compiled for the store's
dialect (positional parameters, each parameter's bind processor, each selected column's
result processor) the first time it runs, and every later run only orders its values and
hands SQL and values to the driver. What that skips is SQLAlchemy's per-execution work
(the compiled cache's key, the execution context, the cursor and result objects, a
greenlet for each await), about a third of a lookup's CPU.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement, Select

Processor = Callable[[Any], Any]
STATEMENT_CACHE_SIZE = 1024


class CompiledStatement:
    """A statement compiled for one dialect's positional parameters."""

    __slots__ = ("_binds", "_results", "sql")

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if any(bind.expanding for bind in compiled.binds.values()):  # type: ignore[attr-defined]
            raise ValueError("a statement with expanding parameters is compiled per execution")
        self.sql = compiled.string
        self._binds: list[tuple[str, Any, Processor | None]] = []
        for name in compiled.positiontup or ():  # type: ignore[attr-defined]
            bind = compiled.binds[name]  # type: ignore[attr-defined]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            self._binds.append((name, bind.value, process))
        processors: list[Processor | None] = []
        if isinstance(statement, Select):
            processors = [
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in statement.selected_columns
            ]
        self._results = [(index, p) for index, p in enumerate(processors) if p is not None]

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The positional parameters: each value by its name (a literal's own when not
        given), as its type binds it."""
        bound = []
        for name, literal, process in self._binds:
            value = values.get(name, literal)
            bound.append(process(value) if process is not None else value)
        return tuple(bound)

    def rows(self, fetched: Iterable[Sequence[Any]]) -> list[Sequence[Any]]:
        """The driver's rows as SQLAlchemy would return them (its result processors run)."""
        if not self._results:
            return list(fetched)
        results = self._results
        processed: list[Sequence[Any]] = []
        for row in fetched:
            values = list(row)
            for index, process in results:
                values[index] = process(values[index])
            processed.append(values)
        return processed


class StatementCache:
    """Compiled statements by statement object, the least recently used dropped first.

    Statement objects are built once per shape (module constants, or functools caches
    in app/customers), so the object itself is the key."""

    def __init__(self, dialect: Dialect, size: int = STATEMENT_CACHE_SIZE) -> None:
        self._dialect = dialect
        self._size = size
        self._compiled: OrderedDict[int, tuple[ClauseElement, CompiledStatement]] = OrderedDict()

    def get(self, statement: ClauseElement) -> CompiledStatement:
        key = id(statement)
        found = self._compiled.get(key)
        if found is not None and found[0] is statement:
            self._compiled.move_to_end(key)
            return found[1]
        compiled = CompiledStatement(statement, self._dialect)
        # The statement is kept with its compilation, so its id is not reused meanwhile.
        self._compiled[key] = (statement, compiled)
        if len(self._compiled) > self._size:
            self._compiled.popitem(last=False)
        return compiled
