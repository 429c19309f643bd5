"""graphql-core's variable coercion for one operation, its definitions read once.

`get_variable_values` resolves each definition's type from the document's AST on every
request (`get_variable_signature`) before coercing the value. A planned operation keeps
its signatures, and coerces each request's values with graphql-core's own functions, in
the same order, to the same `VariableValues`. Where graphql-core would report an error,
`coerce` answers None instead and the caller lets graphql-core coerce the values again
and word the errors.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLSchema,
    Undefined,
    VariableDefinitionNode,
    coerce_input_value,
    is_non_null_type,
)
from graphql.execution import VariableValues
from graphql.execution.get_variable_signature import (
    GraphQLVariableSignature,
    get_variable_signature,
)
from graphql.execution.values import (
    VariableValueSource,
    input_is_nested_too_deeply,
    maybe_use_default_value,
)


class _Refused(Exception):
    """A default value graphql-core would refuse."""


def _refuse(_error: GraphQLError, _path: list[str | int]) -> None:
    raise _Refused


class VariableCoercion:
    """The variables of one operation's definitions, coerced as `get_variable_values`
    coerces them."""

    __slots__ = ("_signatures",)

    def __init__(
        self, schema: GraphQLSchema, definitions: Collection[VariableDefinitionNode]
    ) -> None:
        signatures: list[GraphQLVariableSignature] | None = []
        for definition in definitions:
            signature = get_variable_signature(schema, definition)
            if isinstance(signature, GraphQLError):
                signatures = None  # graphql-core reports it
                break
            assert signatures is not None
            signatures.append(signature)
        self._signatures = signatures

    def coerce(self, inputs: dict[str, Any]) -> VariableValues | None:
        """The coerced values with their sources; None where graphql-core would answer
        errors instead."""
        if self._signatures is None:
            return None
        sources: dict[str, VariableValueSource] = {}
        coerced: dict[str, Any] = {}
        for signature in self._signatures:
            name = signature.name
            value = inputs.get(name, Undefined)
            if value is Undefined:
                sources[name] = VariableValueSource(signature)
                if signature.default is not None:
                    try:
                        maybe_use_default_value(coerced, name, signature, _refuse)
                    except _Refused:
                        return None
                    continue
                if is_non_null_type(signature.type):
                    return None  # a required variable not given
                continue
            sources[name] = VariableValueSource(signature, value)
            if input_is_nested_too_deeply(value, signature.type):
                return None
            result = coerce_input_value(value, signature.type)
            if result is Undefined:
                return None
            coerced[name] = result
        return VariableValues(sources, coerced)
