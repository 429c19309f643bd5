"""Query limits, checked on the parsed document before it is validated or executed.

Depth, aliases and the number of operations depend only on the text, so they are checked
once per distinct document, next to parsing (`DocumentCache`). The node budget depends on
the variables (`customers(first: $n)`), so it is remembered per operation and per value
of the variables its walk read (`NodeCounts`): a client paging with the same page size
walks its document once.

Every count follows fragment spreads, so a fragment spread ten times counts ten times;
each fragment is walked once (memoised), so a document cannot make the walk itself slow.
A fragment cycle counts as nothing here: validation refuses it right after.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)

from app.customers.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from app.settings import Settings

CODE = "QUERY_TOO_COMPLEX"
PAGE_ARGUMENTS = ("first", "last")
MUTATION_COST = 10


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_operations: int
    max_node_budget: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_aliases,
            max_operations=settings.max_operations,
            max_node_budget=settings.max_node_budget,
        )


def too_complex(message: str, limit: str, maximum: int, actual: int) -> GraphQLError:
    return GraphQLError(
        message,
        extensions={"code": CODE, "limit": limit, "maximum": maximum, "actual": actual},
    )


def document_errors(document: DocumentNode, limits: Limits) -> list[GraphQLError]:
    """Limits that depend on the document alone: operations, depth, aliases."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) > limits.max_operations:
        return [
            too_complex(
                f"The document holds {len(operations)} operations; at most "
                f"{limits.max_operations} are allowed in one request.",
                "operations",
                limits.max_operations,
                len(operations),
            )
        ]
    fragments = _fragments(document)
    depth = _Walk(fragments, _depth_of)
    aliases = _Walk(fragments, _aliases_in)
    errors = []
    deepest = max((depth.of(o.selection_set) for o in operations), default=0)
    if deepest > limits.max_depth:
        errors.append(
            too_complex(
                f"The query is nested {deepest} fields deep; at most {limits.max_depth} "
                "levels are allowed.",
                "depth",
                limits.max_depth,
                deepest,
            )
        )
    most = max((aliases.of(o.selection_set) for o in operations), default=0)
    if most > limits.max_aliases:
        errors.append(
            too_complex(
                f"The operation uses {most} aliases (fragments counted each time they are "
                f"spread); at most {limits.max_aliases} are allowed.",
                "aliases",
                limits.max_aliases,
                most,
            )
        )
    return errors


def request_nodes(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
) -> int:
    """GitHub's node count: every connection's page size times its parents' page sizes,
    plus 1 for each lookup by id and one per id of `nodes`. The node budget and the rate
    limit's cost both come from this one walk."""
    given = {} if variables is None else variables
    budget = _NodeBudget(schema, _fragments(document), operation, given)
    root = schema.get_root_type(operation.operation)
    return budget.unit(operation.selection_set, root) if root else 0


NODE_COUNTS_PER_OPERATION = 16


class NodeCounts:
    """`request_nodes`, remembered for each operation and each signature of the variables
    the walk read: a page size's value, an id list's length, whether each was given."""

    def __init__(self, schema: GraphQLSchema, size: int = 512) -> None:
        self._schema = schema
        self._size = size
        self._entries: OrderedDict[int, _Counted] = OrderedDict()

    def count(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
    ) -> int:
        given = variables or {}
        entry = self._entries.get(id(operation))
        if entry is not None and entry.operation is operation:
            self._entries.move_to_end(id(operation))
            signature = tuple(_signature(given, name) for name in entry.read)
            found = entry.counts.get(signature)
            if found is not None:
                return found
        watched = _Watched(given)
        nodes = request_nodes(self._schema, document, operation, watched)
        read = tuple(sorted(watched.read))
        if entry is None or entry.operation is not operation or entry.read != read:
            entry = _Counted(operation, read)
            self._entries[id(operation)] = entry
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        if len(entry.counts) < NODE_COUNTS_PER_OPERATION:
            entry.counts[tuple(_signature(given, name) for name in entry.read)] = nodes
        return nodes


class _Counted:
    __slots__ = ("counts", "operation", "read")

    def __init__(self, operation: OperationDefinitionNode, read: tuple[str, ...]) -> None:
        self.operation = operation  # kept, so its id is not reused meanwhile
        self.read = read
        self.counts: dict[tuple[Any, ...], int] = {}


class _Watched(Mapping[str, Any]):
    """Variables that note which of them were looked at."""

    def __init__(self, variables: Mapping[str, Any]) -> None:
        self._variables = variables
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> Any:
        self.read.add(name)
        return self._variables[name]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.read.add(name)
        return name in self._variables

    def __iter__(self) -> Iterator[str]:
        return iter(self._variables)

    def __len__(self) -> int:
        return len(self._variables)


def _signature(variables: Mapping[str, Any], name: str) -> Any:
    """All of a variable's value that the node count can depend on."""
    if name not in variables:
        return "absent"
    value = variables[name]
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, list):
        return ("list", len(value))
    return "other"


def operation_cost(nodes: int, operation: OperationDefinitionNode) -> int:
    """The contract's cost: 1, plus every node the operation may return; a mutation at
    least MUTATION_COST."""
    cost = 1 + nodes
    if operation.operation is OperationType.MUTATION:
        return max(cost, MUTATION_COST)
    return cost


def cost_error(cost: int, bucket: int) -> GraphQLError | None:
    """A request costing more than a full bucket could never run (0: rate limits off)."""
    if bucket == 0 or cost <= bucket:
        return None
    return too_complex(
        f"The request costs {cost} points and an API key's bucket holds {bucket}, so it "
        "could never run. Ask for smaller pages.",
        "cost",
        bucket,
        cost,
    )


def node_budget_error(total: int, max_node_budget: int) -> GraphQLError | None:
    if total <= max_node_budget:
        return None
    return too_complex(
        f"The query may return up to {total} nodes (each connection's first/last, default "
        f"{DEFAULT_PAGE_SIZE}, times its parents'); at most {max_node_budget} are allowed. "
        "Ask for smaller pages.",
        "nodes",
        max_node_budget,
        total,
    )


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


class _Walk:
    """A measure of selection sets that looks each fragment up once."""

    def __init__(
        self,
        fragments: dict[str, FragmentDefinitionNode],
        measure: Callable[[_Walk, SelectionSetNode], int],
    ) -> None:
        self.fragments = fragments
        self._measure = measure
        self._done: dict[str, int] = {}
        self._in_progress: set[str] = set()

    def of(self, selection_set: SelectionSetNode | None) -> int:
        return self._measure(self, selection_set) if selection_set else 0

    def fragment(self, name: str) -> int:
        if name in self._done:
            return self._done[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self._in_progress:
            return 0
        self._in_progress.add(name)
        value = self.of(fragment.selection_set)
        self._in_progress.discard(name)
        self._done[name] = value
        return value


def _depth_of(walk: _Walk, selection_set: SelectionSetNode) -> int:
    deepest = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            # Introspection is bounded by the schema, and GraphiQL's own query nests deeper
            # than any customer query needs; it counts as one level.
            below = 0 if selection.name.value.startswith("__") else walk.of(selection.selection_set)
            deepest = max(deepest, 1 + below)
        elif isinstance(selection, InlineFragmentNode):
            deepest = max(deepest, walk.of(selection.selection_set))
        elif isinstance(selection, FragmentSpreadNode):
            deepest = max(deepest, walk.fragment(selection.name.value))
    return deepest


def _aliases_in(walk: _Walk, selection_set: SelectionSetNode) -> int:
    count = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            count += (selection.alias is not None) + walk.of(selection.selection_set)
        elif isinstance(selection, InlineFragmentNode):
            count += walk.of(selection.selection_set)
        elif isinstance(selection, FragmentSpreadNode):
            count += walk.fragment(selection.name.value)
    return count


class _NodeBudget:
    """Nodes per unit of parent size: a connection of n adds n, plus n times what is below."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ) -> None:
        self._schema = schema
        self._fragments = fragments
        self._variables = variables
        self._defaults = {
            d.variable.name.value: d.default_value
            for d in operation.variable_definitions or ()
            if d.default_value is not None
        }
        self._done: dict[str, int] = {}
        self._in_progress: set[str] = set()

    def unit(self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self._schema.get_type(condition.name.value) if condition else parent
                total += self.unit(selection.selection_set, inner or parent)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value)
        return total

    def _field(self, node: FieldNode, parent: GraphQLNamedType) -> int:
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 0
        field = parent.fields.get(node.name.value)
        if field is None:
            return 0
        named = get_named_type(field.type)
        below = self.unit(node.selection_set, named)
        if _is_connection(named):
            size = self._page_size(node)
        elif (size := self._lookup_size(node, field)) == 0:
            return below
        return size + size * below

    def _fragment(self, name: str) -> int:
        if name in self._done:
            return self._done[name]
        fragment = self._fragments.get(name)
        if fragment is None or name in self._in_progress:
            return 0
        condition = self._schema.get_type(fragment.type_condition.name.value)
        if condition is None:
            return 0
        self._in_progress.add(name)
        value = self.unit(fragment.selection_set, condition)
        self._in_progress.discard(name)
        self._done[name] = value
        return value

    def _page_size(self, node: FieldNode) -> int:
        """The most this connection can return; sizes beyond the page limit are refused
        by the resolver itself (BAD_USER_INPUT), so they count as the page limit here."""
        sizes = [
            self._argument_int(argument.value)
            for argument in node.arguments or ()
            if argument.name.value in PAGE_ARGUMENTS
        ]
        given = [size for size in sizes if size is not None]
        if not given:
            return DEFAULT_PAGE_SIZE
        return min(max(max(given), 0), MAX_PAGE_SIZE)

    def _lookup_size(self, node: FieldNode, field: GraphQLField) -> int:
        """How many objects a lookup may return: 1 by `id`, one per entry of `ids`."""
        if "ids" in field.args:
            ids = next((a.value for a in node.arguments or () if a.name.value == "ids"), None)
            return min(self._list_length(ids), MAX_PAGE_SIZE)
        return 1 if "id" in field.args else 0

    def _list_length(self, value: Any) -> int:
        if isinstance(value, VariableNode):
            given = self._variables.get(value.name.value)
            if isinstance(given, list):
                return len(given)
            value = self._defaults.get(value.name.value)
        return len(value.values) if isinstance(value, ListValueNode) else 1

    def _argument_int(self, value: Any) -> int | None:
        if isinstance(value, VariableNode):
            name = value.name.value
            if name in self._variables:
                given = self._variables[name]
                return given if isinstance(given, int) and not isinstance(given, bool) else None
            value = self._defaults.get(name)
        if isinstance(value, IntValueNode):
            try:
                return int(value.value)
            except ValueError:
                return None
        return None


def _is_connection(named: GraphQLNamedType) -> bool:
    return isinstance(named, GraphQLObjectType) and "pageInfo" in named.fields
