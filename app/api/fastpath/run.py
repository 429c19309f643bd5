"""Running planned operations: the resolvers' service calls, then the planned serializers."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

import graphql
import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLSchema,
    OperationDefinitionNode,
    get_argument_values,
    get_variable_values,
)
from graphql.execution import VariableValues
from graphql.pyutils import AwaitableOrValue, is_awaitable

from app.api.context import GatewayContext
from app.api.fastpath.plan import (
    TYPENAME,
    ConnectionPlan,
    EdgePlan,
    Plan,
    RootField,
    directive_variables,
    plan_operation,
)
from app.api.filter_inputs import to_filter
from app.customers import service
from app.customers.cursors import encode_cursor
from app.customers.models import CustomerRecord
from app.customers.ordering import DEFAULT_ORDER, Order, position_of
from app.customers.pagination import Page
from app.errors import BadUserInput
from app.store.connections import connections

# Tests switch this off to get graphql-core's answer to the same request.
ENABLED = True
PLAN_CACHE_SIZE = 512
PLANS_PER_DOCUMENT = 16

log = logging.getLogger("app.fastpath")


def execute(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    context_value: GatewayContext,
    variable_values: dict[str, Any] | None = None,
    operation_name: str | None = None,
    **options: Any,
) -> AwaitableOrValue[ExecutionResult]:
    """graphql-core's `execute` for a validated document, answered by a plan when one fits."""

    def fallback() -> AwaitableOrValue[ExecutionResult]:
        return graphql.execute(
            schema,
            document,
            context_value=context_value,
            variable_values=variable_values,
            operation_name=operation_name,
            **options,
        )

    if not ENABLED:
        return fallback()
    family = _cache_for(schema).family(document, operation_name)
    if family is None:
        return fallback()
    variables = get_variable_values(
        schema,
        family.operation.variable_definitions or (),
        variable_values or {},
        max_errors=options.get("max_coercion_errors", 50),
        hide_suggestions=options.get("hide_suggestions", False),
    )
    if isinstance(variables, list):
        return fallback()  # graphql-core words the coercion errors
    plan = family.plan(schema, variables)
    if plan is None:
        return fallback()
    return _run(plan, context_value, variables, fallback)


async def _run(
    plan: Plan,
    context: GatewayContext,
    variables: VariableValues,
    fallback: Callable[[], AwaitableOrValue[ExecutionResult]],
) -> ExecutionResult:
    try:
        data = {root.key: await _ROOTS[root.name](root, context, variables) for root in plan.roots}
        return ExecutionResult(data=data)
    except BadUserInput:
        pass  # graphql-core words the error, with its locations and path
    except Exception:
        log.warning("fast path failed; graphql-core answers instead", exc_info=True)
    outcome = fallback()
    return await outcome if is_awaitable(outcome) else outcome  # type: ignore[return-value]


class _Family:
    """One operation of one document: its plans, one per value of the directive variables."""

    def __init__(
        self, operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
    ) -> None:
        self.operation = operation
        self._fragments = fragments
        self._directive_variables = tuple(sorted(directive_variables(operation, fragments)))
        self._plans: dict[tuple[Any, ...], Plan | None] = {}

    def plan(self, schema: GraphQLSchema, variables: VariableValues) -> Plan | None:
        key = tuple(variables.coerced.get(name) for name in self._directive_variables)
        if key in self._plans:
            return self._plans[key]
        plan = plan_operation(schema, self.operation, self._fragments, variables)
        if len(self._plans) < PLANS_PER_DOCUMENT:
            self._plans[key] = plan
        return plan


class _PlanCache:
    """Families by document text and operation name, least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, str | None], _Family | None] = OrderedDict()

    def family(self, document: DocumentNode, operation_name: str | None) -> _Family | None:
        if document.loc is None:
            return None
        key = (document.loc.source.body, operation_name)
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        family = _family(document, operation_name)
        self._entries[key] = family
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return family


_caches: WeakKeyDictionary[GraphQLSchema, _PlanCache] = WeakKeyDictionary()


def _cache_for(schema: GraphQLSchema) -> _PlanCache:
    cache_ = _caches.get(schema)
    if cache_ is None:
        cache_ = _caches[schema] = _PlanCache(PLAN_CACHE_SIZE)
    return cache_


def _family(document: DocumentNode, operation_name: str | None) -> _Family | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        operation = operations[0] if len(operations) == 1 else None
    else:
        operation = next(
            (o for o in operations if o.name is not None and o.name.value == operation_name),
            None,
        )
    if operation is None:
        return None  # graphql-core words the error
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return _Family(operation, fragments)


async def _typename(_root: RootField, _context: GatewayContext, _variables: VariableValues) -> Any:
    return "Query"


async def _customer(root: RootField, context: GatewayContext, variables: VariableValues) -> Any:
    arguments = get_argument_values(root.field, root.node, variables)  # type: ignore[arg-type]
    async with connections(context.engine).read() as connection:
        record = await service.get_customer(
            connection, principal=context.principal, customer_id=arguments["id"]
        )
    assert root.customer is not None
    return None if record is None else root.customer(record)


async def _nodes(root: RootField, context: GatewayContext, variables: VariableValues) -> Any:
    arguments = get_argument_values(root.field, root.node, variables)  # type: ignore[arg-type]
    async with connections(context.engine).read() as connection:
        found = await service.get_customers(
            connection, principal=context.principal, customer_ids=arguments["ids"]
        )
    serialize = root.customer
    assert serialize is not None
    return [None if record is None else serialize(record) for record in found]


async def _customers(root: RootField, context: GatewayContext, variables: VariableValues) -> Any:
    # The same translation as app.api.queries.Query.customers.
    arguments = get_argument_values(root.field, root.node, variables)  # type: ignore[arg-type]
    order_by = arguments.get("orderBy")
    order = (
        Order(field=order_by["field"], direction=order_by["direction"])
        if order_by is not None
        else DEFAULT_ORDER
    )
    given_filter = arguments.get("filter")
    customer_filter = (
        to_filter(_Given(given_filter))  # type: ignore[arg-type]
        if given_filter is not None
        else None
    )
    page_arguments = service.PageArguments(
        first=arguments.get("first"),
        after=arguments.get("after"),
        last=arguments.get("last"),
        before=arguments.get("before"),
    )
    async with connections(context.engine).read() as connection:
        page = await service.list_customers(
            connection,
            principal=context.principal,
            page=page_arguments,
            order=order,
            customer_filter=customer_filter,
        )
    plan = root.connection
    assert plan is not None
    total = None
    if plan.needs_total:
        async with connections(context.engine).read() as connection:
            total = await service.count_customers(
                connection, principal=context.principal, customer_filter=customer_filter
            )
    return _connection(plan, page, order, total)


def _connection(
    plan: ConnectionPlan, page: Page, order: Order, total: int | None
) -> dict[str, Any]:
    records = page.customers
    cursors = (
        [encode_cursor(order, position_of(order, record)) for record in records]
        if plan.needs_cursors
        else []
    )
    result: dict[str, Any] = {}
    for key, kind, payload in plan.parts:
        if kind == "edges":
            result[key] = _edges(payload, records, cursors)
        elif kind == "nodes":
            result[key] = [payload(record) for record in records]
        elif kind == "pageInfo":
            info = {
                "hasNextPage": page.has_next_page,
                "hasPreviousPage": page.has_previous_page,
                "startCursor": cursors[0] if cursors else None,
                "endCursor": cursors[-1] if cursors else None,
                TYPENAME: "PageInfo",
            }
            result[key] = {out: info[name] for out, name in payload}
        elif kind == "totalCount":
            result[key] = total
        else:
            result[key] = payload
    return result


def _edges(
    plan: EdgePlan, records: list[CustomerRecord], cursors: list[str]
) -> list[dict[str, Any]]:
    node = plan.node
    edges = []
    for index, record in enumerate(records):
        edge: dict[str, Any] = {}
        for key, kind in plan.parts:
            if kind == "cursor":
                edge[key] = cursors[index]
            elif kind == "node":
                assert node is not None
                edge[key] = node(record)
            else:
                edge[key] = "CustomerEdge"
        edges.append(edge)
    return edges


_ROOTS: dict[str, Callable[[RootField, GatewayContext, VariableValues], Awaitable[Any]]] = {
    TYPENAME: _typename,
    "customer": _customer,
    "node": _customer,
    "nodes": _nodes,
    "customers": _customers,
}


class _Given:
    """A coerced input object, read the way app/api reads a Strawberry input.

    Attributes use the Python names (`starts_with`, `and_`); an omitted field reads as
    UNSET and an explicit null as None, exactly what the translators check for.
    """

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getattr__(self, python_name: str) -> Any:
        name = _graphql_name(python_name)
        if name not in self._values:
            return strawberry.UNSET
        return _given(self._values[name])


def _given(value: Any) -> Any:
    if isinstance(value, dict):
        return _Given(value)
    if isinstance(value, list):
        return [_given(item) for item in value]
    return value


@cache
def _graphql_name(python_name: str) -> str:
    head, *rest = python_name.rstrip("_").split("_")
    return head + "".join(part.capitalize() for part in rest)
