"""Running planned operations: the resolvers' service calls, then the planned serializers."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import MISSING
from typing import Any

import graphql
import orjson
import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    get_argument_values,
    get_operation_ast,
    is_non_null_type,
    located_error,
)
from graphql.execution import VariableValues
from graphql.pyutils import AwaitableOrValue
from strawberry.relay import GlobalID
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import convert_arguments
from strawberry.types.base import StrawberryList, StrawberryOptional, has_object_definition
from strawberry.types.field import StrawberryField

from app.api import mutations
from app.api.arguments import customers_arguments
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
from app.api.fastpath.variables import VariableCoercion
from app.api.inputs import optional
from app.api.types import default_order_cursor
from app.customers import service
from app.customers.cursors import CursorCodec
from app.customers.models import CustomerRecord
from app.customers.ordering import Order
from app.customers.pagination import Page
from app.ids import is_event_id

PLAN_CACHE_SIZE = 512
PLANS_PER_DOCUMENT = 16


class Executor:
    """graphql-core's `execute` for validated documents, answered by a plan when one fits.

    One per application, with its own plan cache; `enabled=False` (the FAST_PATH
    setting) sends every document through graphql-core.
    """

    def __init__(self, schema: strawberry.Schema, *, enabled: bool = True) -> None:
        self.schema = schema._schema
        self._enabled = enabled
        self._plans = _PlanCache(self.schema, PLAN_CACHE_SIZE)
        self._converter = _Converter(schema)

    def execute(
        self,
        document: DocumentNode,
        *,
        context_value: GatewayContext,
        variable_values: dict[str, Any] | None = None,
        operation_name: str | None = None,
        **options: Any,
    ) -> AwaitableOrValue[ExecutionResult]:
        def fallback() -> AwaitableOrValue[ExecutionResult]:
            return graphql.execute(
                self.schema,
                document,
                context_value=context_value,
                variable_values=variable_values,
                operation_name=operation_name,
                **options,
            )

        if not self._enabled:
            return fallback()
        family = self._plans.family(document, operation_name)
        if family is None:
            return fallback()
        variables = family.variables.coerce(variable_values or {})
        if variables is None:
            return fallback()  # graphql-core words the coercion errors
        plan = family.plan(self.schema, variables)
        if plan is None:
            return fallback()
        call = _Call(self._converter, context_value, variables)
        if _looks_up_events(plan, call):
            return fallback()  # plans serialize customers only
        return _run(plan, call)


class _Call:
    """What a root field's runner needs: the context, the variables, argument conversion."""

    __slots__ = ("_converter", "context", "variables")

    def __init__(
        self, converter: _Converter, context: GatewayContext, variables: VariableValues
    ) -> None:
        self._converter = converter
        self.context = context
        self.variables = variables

    def arguments(self, root: RootField) -> dict[str, Any]:
        """The root field's arguments as its resolver receives them (Python names, inputs
        as Strawberry objects, omitted ones absent)."""
        assert root.field is not None
        coerced = get_argument_values(root.field, root.node, self.variables)
        return self._converter.convert(root.field, coerced)


class _Converter:
    """Strawberry's `convert_arguments`, planned once per field where that is plain
    renaming, and remembered for the other input objects.

    Strawberry passes a scalar, a list of scalars or an input object of scalars on as
    graphql-core coerced it (`customer(id:)`, `nodes(ids:)`, `createCustomer(input:)`,
    `customers(first:, after:)`), so converting one is renaming it, and building the
    input's class: each field's `_ArgumentPlan` does that. The others (a filter tree
    with nested inputs and enums, orderBy) go through Strawberry when given: converting
    a filter tree costs about 200 µs, and clients repeat the same filters and orders
    page after page, so each distinct one is converted once.
    """

    def __init__(self, schema: strawberry.Schema, size: int = PLAN_CACHE_SIZE) -> None:
        self._schema = schema
        self._size = size
        self._converted: OrderedDict[tuple[str, bytes], dict[str, Any]] = OrderedDict()
        self._plans: dict[int, tuple[graphql.GraphQLField, _ArgumentPlan]] = {}

    def convert(self, field: graphql.GraphQLField, coerced: dict[str, Any]) -> dict[str, Any]:
        built, left = self._argument_plan(field).build(coerced)
        if not left:
            return built
        definition: StrawberryField = field.extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
        inputs = {name: value for name, value in left.items() if isinstance(value, dict)}
        if not inputs:
            return {**built, **self._plain(definition, left)}
        others = {name: value for name, value in left.items() if name not in inputs}
        return {**built, **self._plain(definition, others), **self._inputs(definition, inputs)}

    def _argument_plan(self, field: graphql.GraphQLField) -> _ArgumentPlan:
        found = self._plans.get(id(field))
        if found is not None and found[0] is field:
            return found[1]
        plan = _ArgumentPlan.of(field, self._schema.config)
        self._plans[id(field)] = (field, plan)
        return plan

    def _inputs(self, definition: StrawberryField, values: dict[str, Any]) -> dict[str, Any]:
        try:
            key = (definition.python_name, orjson.dumps(values, option=orjson.OPT_SORT_KEYS))
        except orjson.JSONEncodeError:
            return self._plain(definition, values)
        found = self._converted.get(key)
        if found is not None:
            self._converted.move_to_end(key)
            return found
        found = self._plain(definition, values)
        self._converted[key] = found
        if len(self._converted) > self._size:
            self._converted.popitem(last=False)
        return found

    def _plain(self, definition: StrawberryField, values: dict[str, Any]) -> dict[str, Any]:
        return convert_arguments(
            values,
            definition.arguments,
            scalar_registry=self._schema.schema_converter.scalar_registry,
            config=self._schema.config,
        )


class _InputPlan:
    """An input object of scalars built as Strawberry builds it: its class called with
    each given field under its Python name, and None for those without a default."""

    __slots__ = ("_cls", "_defaults", "_fields")

    def __init__(
        self, cls: type, fields: tuple[tuple[str, str], ...], defaults: dict[str, None]
    ) -> None:
        self._cls = cls
        self._fields = fields
        self._defaults = defaults

    def build(self, value: dict[str, Any]) -> Any:
        kwargs: dict[str, Any] = dict(self._defaults)
        for name, python in self._fields:
            if name in value:
                kwargs[python] = value[name]
        return self._cls(**kwargs)


# How an argument is converted: passed on as it is, built by an _InputPlan, or by Strawberry.
_AS_IS = None
_BY_STRAWBERRY = "strawberry"


class _ArgumentPlan:
    """One field's arguments as `convert_arguments` makes them from graphql-core's
    coerced values: scalars and lists of scalars renamed (lists copied: graphql-core may
    share a default list between requests), input objects of scalars built, the others
    left for Strawberry."""

    __slots__ = ("_arguments",)

    def __init__(self, arguments: tuple[tuple[str, str, _InputPlan | str | None], ...]) -> None:
        self._arguments = arguments

    @classmethod
    def of(cls, field: graphql.GraphQLField, config: StrawberryConfig) -> _ArgumentPlan:
        definition: StrawberryField = field.extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
        arguments: list[tuple[str, str, _InputPlan | str | None]] = []
        for argument in definition.arguments:
            name = config.name_converter.from_argument(argument)
            named = graphql.get_named_type(field.args[name].type)
            how: _InputPlan | str | None = _AS_IS
            if not _passed_as_is(named, argument.type):
                how = _input_plan(argument.type, named, config) or _BY_STRAWBERRY
            arguments.append((name, argument.python_name, how))
        return cls(tuple(arguments))

    def build(self, coerced: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The arguments converted by name in Python, and those left for Strawberry
        (their coerced values by GraphQL name)."""
        built: dict[str, Any] = {}
        left: dict[str, Any] = {}
        for name, python, how in self._arguments:
            if name not in coerced:
                continue
            value = coerced[name]
            if how is _AS_IS:
                built[python] = list(value) if isinstance(value, list) else value
            elif how is _BY_STRAWBERRY:
                left[name] = value
            else:
                assert isinstance(how, _InputPlan)
                built[python] = None if value is None else how.build(value)
        return built, left


def _passed_as_is(named: graphql.GraphQLNamedType, annotation: Any) -> bool:
    """Whether Strawberry passes a value on as graphql-core coerced it: a scalar's, or a
    list of scalars', but a GlobalID's (which it decodes)."""
    while isinstance(annotation, StrawberryOptional | StrawberryList):
        annotation = annotation.of_type
    return graphql.is_scalar_type(named) and annotation is not GlobalID


def _input_plan(
    annotation: Any, named: graphql.GraphQLNamedType, config: StrawberryConfig
) -> _InputPlan | None:
    """The plan of an input object whose fields are all passed as they are; None for
    other types."""
    if not isinstance(named, graphql.GraphQLInputObjectType):
        return None
    while isinstance(annotation, StrawberryOptional):
        annotation = annotation.of_type
    if not has_object_definition(annotation):
        return None
    definition = annotation.__strawberry_definition__
    if definition.from_input is not None:
        return None
    fields = []
    for field in definition.fields:
        name = config.name_converter.from_field(field)
        graphql_type = graphql.get_named_type(named.fields[name].type)
        if not _passed_as_is(graphql_type, field.resolve_type(type_definition=definition)):
            return None
        fields.append((name, field.python_name))
    defaults = {
        field.python_name: None
        for field in definition.fields
        if field.default_value is MISSING and field.default_factory is MISSING
    }
    return _InputPlan(annotation, tuple(fields), defaults)


def _looks_up_events(plan: Plan, call: _Call) -> bool:
    """Whether a node or nodes field of the plan is asked for an event id."""
    for root in plan.roots:
        if root.name not in ("node", "nodes"):
            continue
        try:
            arguments = call.arguments(root)
        except GraphQLError:
            return False  # _run reports it as graphql-core would
        ids = [arguments["id"]] if root.name == "node" else arguments["ids"]
        if any(is_event_id(node_id) for node_id in ids):
            return True
    return False


async def _run(plan: Plan, call: _Call) -> ExecutionResult:
    """Each root field in turn, failing as graphql-core fails: a located error, and null
    for the field (for the whole data where the field may not be null)."""
    data: dict[str, Any] | None = {}
    errors: list[GraphQLError] = []
    for root in plan.roots:
        try:
            value = await _ROOTS[root.name](root, call)
        except Exception as error:
            errors.append(located_error(error, [root.node], [root.key]))
            if root.field is not None and is_non_null_type(root.field.type):
                data = None
            value = None
        if data is not None:
            data[root.key] = value
    return ExecutionResult(data=data, errors=errors or None)


class _Family:
    """One operation of one document: its plans, one per value of the directive variables."""

    def __init__(
        self,
        schema: graphql.GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDefinitionNode],
    ) -> None:
        self.operation = operation
        self.variables = VariableCoercion(schema, operation.variable_definitions or ())
        self._fragments = fragments
        self._directive_variables = tuple(sorted(directive_variables(operation, fragments)))
        self._plans: dict[tuple[Any, ...], Plan | None] = {}

    def plan(self, schema: graphql.GraphQLSchema, variables: VariableValues) -> Plan | None:
        key = tuple(variables.coerced.get(name) for name in self._directive_variables)
        if key in self._plans:
            return self._plans[key]
        plan = plan_operation(schema, self.operation, self._fragments, variables)
        if len(self._plans) < PLANS_PER_DOCUMENT:
            self._plans[key] = plan
        return plan


class _PlanCache:
    """Families by document text and operation name, least recently used dropped first."""

    def __init__(self, schema: graphql.GraphQLSchema, size: int) -> None:
        self._schema = schema
        self._size = size
        self._entries: OrderedDict[tuple[str, str | None], _Family | None] = OrderedDict()

    def family(self, document: DocumentNode, operation_name: str | None) -> _Family | None:
        if document.loc is None:
            return None
        key = (document.loc.source.body, operation_name)
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        family = _family(self._schema, document, operation_name)
        self._entries[key] = family
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return family


def _family(
    schema: graphql.GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> _Family | None:
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None  # graphql-core words the error
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return _Family(schema, operation, fragments)


async def _typename(root: RootField, _call: _Call) -> Any:
    return root.typename


async def _customer(root: RootField, call: _Call) -> Any:
    context = call.context
    record = await service.get_customer(
        context.store, principal=context.principal, customer_id=call.arguments(root)["id"]
    )
    assert root.customer is not None
    return None if record is None else root.customer(record)


async def _nodes(root: RootField, call: _Call) -> Any:
    context = call.context
    found = await service.get_customers(
        context.store, principal=context.principal, customer_ids=call.arguments(root)["ids"]
    )
    serialize = root.customer
    assert serialize is not None
    return [None if record is None else serialize(record) for record in found]


async def _create_customer(root: RootField, call: _Call) -> Any:
    arguments = call.arguments(root)
    result = await mutations.create_customer(call.context, arguments["input"])
    plan = root.payload
    assert plan is not None
    record = result.customer
    payload: dict[str, Any] = {}
    for key, name, part in plan.parts:
        if name == "customer":
            payload[key] = None if record is None else part(record)
        elif name == "customerEdge":
            payload[key] = None if record is None else _new_edge(part, record, call.context)
        elif name == "userErrors":
            payload[key] = [part(error) for error in result.user_errors]
        elif name == "clientMutationId":
            payload[key] = optional(arguments["input"].client_mutation_id)
        else:
            payload[key] = plan.typename
    return payload


def _new_edge(plan: EdgePlan, record: CustomerRecord, context: GatewayContext) -> dict[str, Any]:
    """createCustomer's customerEdge: its cursor in the default order, as the resolver's."""
    cursor = None
    if any(kind == "cursor" for _key, kind in plan.parts):
        cursor = default_order_cursor(record, context.cursors)
    return plan.build(cursor, record)


async def _customers(root: RootField, call: _Call) -> Any:
    arguments = customers_arguments(**call.arguments(root))
    page = await arguments.read_page(call.context)
    plan = root.connection
    assert plan is not None
    total = await arguments.count(call.context) if plan.needs_total else None
    return _connection(plan, page, arguments.order, total, call.context.cursors)


def _connection(
    plan: ConnectionPlan, page: Page, order: Order, total: int | None, codec: CursorCodec
) -> dict[str, Any]:
    records = page.customers
    cursors = codec.encode_page(order, records) if plan.needs_cursors else []
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
    build = plan.build
    if not cursors:
        return [build(None, record) for record in records]
    return [build(cursor, record) for cursor, record in zip(cursors, records, strict=True)]


_ROOTS: dict[str, Callable[[RootField, _Call], Awaitable[Any]]] = {
    TYPENAME: _typename,
    "customer": _customer,
    "node": _customer,
    "nodes": _nodes,
    "customers": _customers,
    "createCustomer": _create_customer,
}
