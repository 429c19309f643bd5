"""Custom scalars of the contract: EpochMillis and JSON (registered in SCALAR_MAP)."""

from __future__ import annotations

from typing import Any, NewType

import strawberry
from graphql import IntValueNode, ValueNode, value_from_ast_untyped
from strawberry.types.scalar import ScalarDefinition

MAX_SAFE_INTEGER = 2**53

EpochMillis = NewType("EpochMillis", int)
JSON = NewType("JSON", object)


def _parse_epoch_millis(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("EpochMillis must be an integer number of milliseconds.")
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise ValueError("EpochMillis must be within ±2^53.")
    return value


def _parse_epoch_millis_literal(node: ValueNode, _variables: Any = None) -> int:
    if not isinstance(node, IntValueNode):
        raise ValueError("EpochMillis must be an integer literal.")
    return _parse_epoch_millis(int(node.value))


def _parse_json_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
    return value_from_ast_untyped(node, variables)


def _identity(value: object) -> object:
    return value


SCALAR_MAP: dict[object, ScalarDefinition] = {
    EpochMillis: strawberry.scalar(
        name="EpochMillis",
        description="Milliseconds since the Unix epoch, as a JSON integer (beyond 32 bits).",
        serialize=int,
        parse_value=_parse_epoch_millis,
        parse_literal=_parse_epoch_millis_literal,
    ),
    JSON: strawberry.scalar(
        name="JSON",
        description="Any JSON value. Customer metadata is a flat object of string values.",
        serialize=_identity,
        parse_value=_identity,
        parse_literal=_parse_json_literal,
    ),
}
