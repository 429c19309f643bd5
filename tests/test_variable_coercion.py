"""The fast path's variable coercion gives graphql-core's VariableValues, or steps aside
(None) wherever graphql-core answers errors (app/api/fastpath/variables.py)."""

from __future__ import annotations

from typing import Any

import graphql
import pytest

from app.api.fastpath.variables import VariableCoercion
from app.api.schema import build_schema

SCHEMA = build_schema()._schema
DEFINITIONS = (
    "$id: ID!, $first: Int, $size: Int = 10, $show: Boolean = false, "
    "$ids: [ID!], $input: CreateCustomerInput, $where: CustomerFilter"
)


def _operation() -> graphql.OperationDefinitionNode:
    [operation] = graphql.parse(f"query Q({DEFINITIONS}) {{ __typename }}").definitions
    assert isinstance(operation, graphql.OperationDefinitionNode)
    return operation


DEFINITION_NODES = _operation().variable_definitions or ()


@pytest.mark.parametrize(
    "inputs",
    [
        {"id": "cus_1"},
        {"id": 7, "first": 3, "size": None, "show": True},
        {"id": "cus_1", "ids": "cus_2", "input": {"name": "Ada", "metadata": {"a": [1]}}},
        {"id": "cus_1", "where": {"name": {"startsWith": "ma"}, "or": [{"email": {"eq": "x"}}]}},
        {"id": "cus_1", "unknown": 1},
    ],
)
def test_coerced_as_graphql_core_coerces(inputs: dict[str, Any]) -> None:
    expected = graphql.get_variable_values(SCHEMA, DEFINITION_NODES, inputs)
    assert not isinstance(expected, list)
    coerced = VariableCoercion(SCHEMA, DEFINITION_NODES).coerce(inputs)
    assert coerced is not None
    assert coerced.coerced == expected.coerced
    assert _sources(coerced) == _sources(expected)


def _sources(values: graphql.execution.VariableValues) -> dict[str, Any]:
    """Each source's signature and value (a default's literal is the same node, in a new
    wrapper each time graphql-core makes the signature)."""
    return {
        name: (
            source.signature.name,
            str(source.signature.type),  # type_from_ast wraps types anew each time
            source.signature.default and source.signature.default.literal,
            source.value,
        )
        for name, source in values.sources.items()
    }


@pytest.mark.parametrize(
    "inputs",
    [
        {},  # $id is required
        {"id": None},
        {"id": "cus_1", "first": "three"},
        {"id": "cus_1", "input": {"nickname": "x"}},
        {"id": "cus_1", "where": {"name": {"startsWith": 5}}},
    ],
)
def test_values_graphql_core_refuses_are_left_to_it(inputs: dict[str, Any]) -> None:
    refused = graphql.get_variable_values(SCHEMA, DEFINITION_NODES, inputs)
    assert isinstance(refused, list) and refused
    assert VariableCoercion(SCHEMA, DEFINITION_NODES).coerce(inputs) is None
