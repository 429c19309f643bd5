"""Planning: a validated operation becomes root fields with serializers, or None.

Field collection follows the GraphQL spec's CollectFields exactly (response-key order,
merging of same-key fields, `@skip`/`@include`, fragment type conditions, each fragment
spread once per selection set), so the planned shape is the one graphql-core executes.
Anything outside the shapes below makes `plan_operation` return None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLIncludeDirective,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    SelectionSetNode,
    VariableNode,
    get_directive_values,
    get_named_type,
    is_abstract_type,
)
from graphql.execution import VariableValues
from strawberry.utils.str_converters import to_camel_case

from app.customers.models import CustomerRecord
from app.errors import UserError

TYPENAME = "__typename"

# Customer's fields as graphql-core would complete them from a CustomerRecord: each
# scalar's serialize is the identity on these Python types (str, bool, int, dict).
# Values are read from the record's fields (by their GraphQL names) followed by these
# constants.
_CONSTANTS = ("customer", "Customer")
CUSTOMER_FIELD_INDEX: dict[str, int] = {
    **{to_camel_case(name): index for index, name in enumerate(CustomerRecord._fields)},
    "object": len(CustomerRecord._fields),
    TYPENAME: len(CustomerRecord._fields) + 1,
}
PAGE_INFO_FIELDS = ("hasNextPage", "hasPreviousPage", "startCursor", "endCursor")
QUERY_FIELDS = ("customers", "customer", "node", "nodes")
MUTATION_FIELDS = ("createCustomer",)
ROOT_FIELDS = QUERY_FIELDS + MUTATION_FIELDS

Serializer = Callable[[CustomerRecord], dict[str, Any]]
EdgeBuilder = Callable[[str | None, CustomerRecord], dict[str, Any]]
UserErrorSerializer = Callable[[UserError], dict[str, Any]]


class Unsupported(Exception):
    """The document holds something the fast path does not reproduce exactly."""


@dataclass(frozen=True, slots=True)
class EdgePlan:
    """An edge's selection: response keys for its cursor and node, in order."""

    parts: tuple[tuple[str, str], ...]  # (key, "cursor" | "node" | TYPENAME)
    build: EdgeBuilder


@dataclass(frozen=True, slots=True)
class ConnectionPlan:
    parts: tuple[tuple[str, str, Any], ...]  # (key, kind, payload)
    needs_cursors: bool
    needs_total: bool


@dataclass(frozen=True, slots=True)
class PayloadPlan:
    """A mutation payload's selection: (key, field name, payload) in response order, the
    payload a serializer for `customer`, an EdgePlan for `customerEdge`, one for each of
    `userErrors`, or the type's name for `__typename`."""

    parts: tuple[tuple[str, str, Any], ...]
    typename: str


@dataclass(frozen=True, slots=True)
class RootField:
    key: str
    name: str
    field: GraphQLField | None
    node: FieldNode
    customer: Serializer | None = None
    connection: ConnectionPlan | None = None
    payload: PayloadPlan | None = None
    typename: str | None = None  # the root type's name, for a root __typename


@dataclass(frozen=True, slots=True)
class Plan:
    roots: tuple[RootField, ...]


def directive_variables(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> frozenset[str]:
    """The variables that `@skip`/`@include` read: a plan holds for one set of their values."""
    names: set[str] = set()
    pending: list[SelectionSetNode] = [operation.selection_set]
    pending.extend(fragment.selection_set for fragment in fragments.values())
    while pending:
        selection_set = pending.pop()
        for selection in selection_set.selections:
            for directive in selection.directives or ():
                for argument in directive.arguments or ():
                    if isinstance(argument.value, VariableNode):
                        names.add(argument.value.name.value)
            inner = getattr(selection, "selection_set", None)
            if inner is not None:
                pending.append(inner)
    return frozenset(names)


def plan_operation(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: VariableValues,
) -> Plan | None:
    """The plan for a query or mutation operation under these (coerced) variables, or
    None."""
    if operation.operation is OperationType.SUBSCRIPTION:
        return None
    if any(fragment.variable_definitions for fragment in fragments.values()):
        return None
    try:
        return _Planner(schema, fragments, variables).plan(operation)
    except Unsupported:
        return None


class _Planner:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: VariableValues,
    ) -> None:
        self._schema = schema
        self._fragments = fragments
        self._variables = variables

    def plan(self, operation: OperationDefinitionNode) -> Plan:
        mutation = operation.operation is OperationType.MUTATION
        root = self._schema.mutation_type if mutation else self._schema.query_type
        if root is None:
            raise Unsupported(operation.operation.value)
        allowed = MUTATION_FIELDS if mutation else QUERY_FIELDS
        roots = []
        for key, nodes in self._collect(root.name, [operation.selection_set]).items():
            name = nodes[0].name.value
            if name == TYPENAME:
                roots.append(RootField(key, name, None, nodes[0], typename=root.name))
                continue
            if name not in allowed:
                raise Unsupported(name)
            field = root.fields[name]
            if name == "customers":
                roots.append(
                    RootField(key, name, field, nodes[0], connection=self._connection(nodes))
                )
            elif mutation:
                payload = self._payload(get_named_type(field.type).name, nodes)
                roots.append(RootField(key, name, field, nodes[0], payload=payload))
            else:
                roots.append(RootField(key, name, field, nodes[0], customer=self._customer(nodes)))
        return Plan(tuple(roots))

    def _payload(self, type_name: str, nodes: list[FieldNode]) -> PayloadPlan:
        parts: list[tuple[str, str, Any]] = []
        for key, fields in self._subfields(type_name, nodes).items():
            name = fields[0].name.value
            if name == "customer":
                parts.append((key, name, self._customer(fields)))
            elif name == "customerEdge":
                parts.append((key, name, self._edge(fields)))
            elif name == "userErrors":
                parts.append((key, name, self._user_error(fields)))
            elif name in ("clientMutationId", TYPENAME):
                parts.append((key, name, None))
            else:
                raise Unsupported(name)
        return PayloadPlan(tuple(parts), type_name)

    def _user_error(self, nodes: list[FieldNode]) -> UserErrorSerializer:
        values = {
            "field": "list(error.field)",
            "message": "error.message",
            "code": "error.code.name",
            TYPENAME: repr("UserError"),
        }
        items = []
        for key, fields in self._subfields("UserError", nodes).items():
            name = fields[0].name.value
            if name not in values:
                raise Unsupported(name)
            items.append((key, values[name]))
        return _compiled("error", items, {"list": list})

    def _connection(self, nodes: list[FieldNode]) -> ConnectionPlan:
        parts: list[tuple[str, str, Any]] = []
        needs_cursors = needs_total = False
        for key, fields in self._subfields("CustomerConnection", nodes).items():
            name = fields[0].name.value
            if name == "edges":
                edge = self._edge(fields)
                needs_cursors |= any(kind == "cursor" for _key, kind in edge.parts)
                parts.append((key, name, edge))
            elif name == "nodes":
                parts.append((key, name, self._customer(fields)))
            elif name == "pageInfo":
                page_info = self._page_info(fields)
                needs_cursors |= any(n in ("startCursor", "endCursor") for _k, n in page_info)
                parts.append((key, name, page_info))
            elif name == "totalCount":
                needs_total = True
                parts.append((key, name, None))
            elif name == TYPENAME:
                parts.append((key, name, "CustomerConnection"))
            else:
                raise Unsupported(name)
        return ConnectionPlan(tuple(parts), needs_cursors, needs_total)

    def _edge(self, nodes: list[FieldNode]) -> EdgePlan:
        parts: list[tuple[str, str]] = []
        customers: dict[str, Serializer] = {}  # each node's own selection, by response key
        for key, fields in self._subfields("CustomerEdge", nodes).items():
            name = fields[0].name.value
            if name == "node":
                customers[key] = self._customer(fields)
            elif name not in ("cursor", TYPENAME):
                raise Unsupported(name)
            parts.append((key, name))
        return EdgePlan(tuple(parts), _edge_builder(parts, customers))

    def _page_info(self, nodes: list[FieldNode]) -> tuple[tuple[str, str], ...]:
        parts = []
        for key, fields in self._subfields("PageInfo", nodes).items():
            name = fields[0].name.value
            if name not in PAGE_INFO_FIELDS and name != TYPENAME:
                raise Unsupported(name)
            parts.append((key, name))
        return tuple(parts)

    def _customer(self, nodes: list[FieldNode]) -> Serializer:
        keys, indices = [], []
        for key, fields in self._subfields("Customer", nodes).items():
            name = fields[0].name.value
            if name not in CUSTOMER_FIELD_INDEX:
                raise Unsupported(name)
            keys.append(key)
            indices.append(CUSTOMER_FIELD_INDEX[name])
        return _serializer(tuple(keys), indices)

    def _subfields(self, type_name: str, nodes: list[FieldNode]) -> dict[str, list[FieldNode]]:
        return self._collect(
            type_name, [node.selection_set for node in nodes if node.selection_set is not None]
        )

    def _collect(
        self, type_name: str, selection_sets: Iterable[SelectionSetNode]
    ) -> dict[str, list[FieldNode]]:
        grouped: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()
        for selection_set in selection_sets:
            self._visit(type_name, selection_set, grouped, visited)
        return grouped

    def _visit(
        self,
        type_name: str,
        selection_set: SelectionSetNode,
        grouped: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                if selection.arguments and selection.name.value not in ROOT_FIELDS:
                    raise Unsupported("arguments")
                key = selection.alias.value if selection.alias else selection.name.value
                grouped.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is None or self._applies(condition.name.value, type_name):
                    self._visit(type_name, selection.selection_set, grouped, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self._fragments.get(name)
                if fragment is None or not self._applies(
                    fragment.type_condition.name.value, type_name
                ):
                    continue
                if name in visited:
                    continue
                visited.add(name)
                self._visit(type_name, fragment.selection_set, grouped, visited)
            else:
                raise Unsupported(type(selection).__name__)

    def _included(self, node: SelectionNode) -> bool:
        """The spec's @skip/@include rule; any other directive is not planned."""
        if not node.directives:
            return True
        if any(d.name.value not in ("skip", "include") for d in node.directives):
            raise Unsupported("directive")
        skip = get_directive_values(GraphQLSkipDirective, node, self._variables)
        if skip and skip["if"] is True:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self._variables)
        return not (include and include["if"] is False)

    def _applies(self, condition: str, type_name: str) -> bool:
        """Whether a fragment on `condition` applies to an object of type `type_name`."""
        if condition == type_name:
            return True
        conditional = self._schema.get_type(condition)
        runtime = self._schema.get_type(type_name)
        if conditional is None or runtime is None or not is_abstract_type(conditional):
            return False
        return self._schema.is_sub_type(conditional, runtime)  # type: ignore[arg-type,unused-ignore]


def _serializer(keys: tuple[str, ...], indices: list[int]) -> Serializer:
    """A record as the dict graphql-core would build: these keys, in this order."""
    width = len(CustomerRecord._fields)
    values = [
        f"record[{index}]" if index < width else repr(_CONSTANTS[index - width])
        for index in indices
    ]
    return _compiled("record", zip(keys, values, strict=True), {})


def _edge_builder(parts: list[tuple[str, str]], customers: Mapping[str, Serializer]) -> EdgeBuilder:
    """An edge as the dict graphql-core would build, from its cursor and its record; each
    node key (`node`, or an alias) serialized with its own selection."""
    items, serializers = [], {}
    for index, (key, name) in enumerate(parts):
        if name == "node":
            serializers[f"node_{index}"] = customers[key]
            items.append((key, f"node_{index}(record)"))
        else:
            items.append((key, "cursor" if name == "cursor" else repr("CustomerEdge")))
    return _compiled("cursor, record", items, serializers)


def _compiled(
    parameters: str, items: Iterable[tuple[str, str]], names: Mapping[str, Any]
) -> Callable[..., dict[str, Any]]:
    """`lambda parameters: {key: value, ...}` compiled once per plan.

    A dict display is built in one step, two to three times faster than dict(zip(...))
    over an itemgetter; a page of a thousand customers builds a thousand of each. The
    keys are response keys (GraphQL names, written with repr) and the values are
    expressions this module writes, so no client text becomes code.
    """
    display = ", ".join(f"{key!r}: {value}" for key, value in items)
    function: Callable[..., dict[str, Any]] = eval(  # noqa: S307
        f"lambda {parameters}: {{{display}}}", {"__builtins__": {}, **names}
    )
    return function
