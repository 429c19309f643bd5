"""The fast path answers exactly as graphql-core does: same status, same bytes.

Hypothesis writes documents over the shapes the fast path plans (the customers
connection, customer, node, nodes, __typename) with aliases, named and inline
fragments, @include/@skip on literals and variables, repeated fields that merge, and
arguments that fail (first: 1001, first with last, bad or foreign cursors, null inside a
filter, 1001 ids, variables of the wrong type). Each goes through the gateway twice,
through an app with the fast path and one with FAST_PATH off on the same database,
on every backend.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import graphql
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.api.fastpath import run as fastpath
from app.api.schema import build_schema
from app.web.app import create_app
from tests.conftest import make_settings
from tests.gateway import Gateway

EXAMPLES = 60

# Every field of the served Customer type, so a new field is compared too.
_CUSTOMER_TYPE = build_schema()._schema.type_map["Customer"]
assert isinstance(_CUSTOMER_TYPE, graphql.GraphQLObjectType)
CUSTOMER_FIELDS = tuple(_CUSTOMER_TYPE.fields)
PAGE_INFO_FIELDS = ("hasNextPage", "hasPreviousPage", "startCursor", "endCursor")
# Each response key always names the same field, so documents never fail validation for
# conflicting fields, while repeated keys still exercise merging. Some are names the
# planned serializers' code uses, or Python keywords.
ALIASES = {
    "id": ("cid",),
    "name": ("n", "fullName", "lambda"),
    "email": ("e",),
    "phone": ("record",),
    "createdAt": ("born",),
    "metadata": ("meta",),
    "__typename": ("kind",),
    "edges": ("es",),
    "nodes": ("items",),
    "pageInfo": ("info",),
    "totalCount": ("total",),
    "cursor": ("at", "record"),
    "node": ("who", "node_"),
    "hasNextPage": ("more",),
    "endCursor": ("last",),
}
FILTERS = (
    "{}",
    '{name: {startsWith: "a"}}',
    '{name: {startsWith: "É"}, or: [{email: {contains: "EX"}}, {phone: {isNull: true}}]}',
    '{not: {name: {eq: "Zoë"}}, metadata: [{key: "tier", exists: true}]}',
    '{and: [], email: {endsWith: ".COM"}}',
    "{name: null}",
    "{email: {eq: null}}",
)
FILTER_VARIABLES = (
    {"name": {"contains": "e"}},
    {"or": [{"id": {"in": []}}, {"createdAt": {"gt": 0}}]},
    {"email": {"contains": None}},
)
ORDERS = (
    "{field: NAME, direction: ASC}",
    "{field: EMAIL, direction: DESC}",
    "{field: CREATED_AT, direction: DESC}",
)


@pytest.fixture
async def world(gateway: Gateway) -> dict[str, Any]:
    """A few customers with nulls, non-ASCII names and metadata, and cursors into them."""
    people: list[dict[str, Any]] = [
        {"name": "Ada", "email": "ada@example.com", "metadata": {"tier": "gold"}},
        {"name": "Émile", "email": "EMILE@Example.COM", "phone": "+33 1 23"},
        {"name": "zoë", "email": None},
        {"name": None, "email": "nobody@example.org", "metadata": {"tier": ""}},
        {"name": "Straße", "email": "strasse@example.com", "phone": "555-0100 x12"},
        {"name": "al_ice%", "email": "alice@example.com"},
    ]
    ids = [(await gateway.create_customer(**person))["id"] for person in people]
    body = await gateway.data("{ customers { edges { cursor } } }")
    cursors = [edge["cursor"] for edge in body["customers"]["edges"]]
    named = await gateway.data(
        "{ customers(orderBy: {field: NAME, direction: ASC}) { edges { cursor } } }"
    )
    cursors.append(named["customers"]["edges"][2]["cursor"])
    return {"ids": ids, "cursors": cursors}


class _Document:
    """Builds one document from Hypothesis draws."""

    def __init__(self, draw: Callable[..., Any], world: dict[str, Any]) -> None:
        self.draw = draw
        self.world = world
        self.variables: dict[str, tuple[str, Any]] = {}
        self.fragments: dict[str, str] = {}

    def text(self) -> tuple[str, dict[str, Any]]:
        # At most one root field that can fail: when two non-null root fields fail,
        # graphql-core reports whichever failed first, so its own answers differ run to run.
        failing = self.draw(st.sampled_from(("customers", "nodes", None)))
        others = self.draw(
            st.lists(st.sampled_from(("customer", "node", "__typename")), max_size=2)
        )
        roots = self.draw(st.permutations([*others, *([failing] if failing else [])]))
        if not roots:
            roots = ["__typename"]
        keys = iter(("customers", "list", "page", "one", "two", "three"))
        selections = []
        for name in roots:
            key = next(keys)
            prefix = name if key == name and name == "customers" else f"{key}: {name}"
            if name == "__typename":
                selections.append(f"{prefix}{self.directives()}")
            elif name == "customers":
                selections.append(
                    f"{prefix}{self.page_arguments()}{self.directives()} {{ {self.connection()} }}"
                )
            elif name == "nodes":
                selections.append(f"{prefix}(ids: {self.ids()}) {{ {self.customer('Node')} }}")
            else:
                context = "Node" if name == "node" else "Customer"
                selections.append(f"{prefix}(id: {self.one_id()}) {{ {self.customer(context)} }}")
        header = ", ".join(f"${name}: {kind}" for name, (kind, _) in self.variables.items())
        operation = f"query Q({header})" if header else "query Q"
        text = " ".join([f"{operation} {{ {' '.join(selections)} }}", *self.fragments.values()])
        return text, {name: value for name, (_, value) in self.variables.items()}

    def key(self, field: str) -> str:
        alias = self.draw(st.sampled_from((None, *ALIASES.get(field, ()))))
        return field if alias is None else f"{alias}: {field}"

    def directives(self) -> str:
        choice = self.draw(st.integers(0, 5))
        if choice == 0:
            return " @include(if: false)"
        if choice == 1:
            return " @skip(if: false)"
        if choice == 2:
            value = self.draw(st.booleans())
            self.variables["show"] = ("Boolean!", value)
            return " @include(if: $show)"
        if choice == 3:
            self.variables["hide"] = ("Boolean = false", self.draw(st.sampled_from((True, False))))
            return " @skip(if: $hide)"
        return ""

    def selection(self, options: list[str]) -> str:
        chosen = self.draw(st.lists(st.sampled_from(options), min_size=1, max_size=5))
        return " ".join(chosen)

    def connection(self) -> str:
        parts = []
        for kind in self.draw(
            st.lists(
                st.sampled_from(
                    ("edges", "nodes", "pageInfo", "totalCount", "__typename", "inline")
                ),
                min_size=1,
                max_size=4,
            )
        ):
            if kind == "edges":
                inner = (
                    [f"{self.key('cursor')}{self.directives()}"] if self.draw(st.booleans()) else []
                )
                inner.append(f"{self.key('node')} {{ {self.customer('Customer')} }}")
                if self.draw(st.booleans()):
                    inner.append("__typename")
                parts.append(f"{self.key('edges')} {{ {' '.join(inner)} }}")
            elif kind == "nodes":
                parts.append(
                    f"{self.key('nodes')}{self.directives()} {{ {self.customer('Customer')} }}"
                )
            elif kind == "pageInfo":
                fields = self.selection([self.key(f) for f in (*PAGE_INFO_FIELDS, "__typename")])
                parts.append(f"{self.key('pageInfo')} {{ {fields} }}")
            elif kind == "inline":
                parts.append(
                    f"... on CustomerConnection{self.directives()} {{ {self.key('totalCount')} }}"
                )
            else:
                parts.append(f"{self.key(kind)}{self.directives()}")
        return " ".join(parts)

    def customer(self, context: str) -> str:
        parts = []
        for kind in self.draw(
            st.lists(
                st.sampled_from(("field", "field", "inline", "fragment", "node_fragment")),
                min_size=1,
                max_size=4,
            )
        ):
            if kind == "field":
                names = (
                    ("id", "__typename") if context == "Node" else (*CUSTOMER_FIELDS, "__typename")
                )
                field = self.draw(st.sampled_from(names))
                parts.append(f"{self.key(field)}{self.directives()}")
            elif kind == "inline":
                condition = self.draw(st.sampled_from(("Customer", "Node", None)))
                on = f" on {condition}" if condition else ""
                inner: tuple[str, ...] = CUSTOMER_FIELDS if condition != "Node" else ("id",)
                if condition is None and context == "Node":
                    inner = ("id", "__typename")
                fields = self.selection([self.key(f) for f in inner])
                parts.append(f"...{on}{self.directives()} {{ {fields} }}")
            else:
                on = "Customer" if kind == "fragment" else "Node"
                name = f"{on}Fields{self.draw(st.integers(0, 1))}"
                if name not in self.fragments:
                    shared = CUSTOMER_FIELDS if on == "Customer" else ("id", "__typename")
                    fields = self.selection([self.key(f) for f in shared])
                    self.fragments[name] = f"fragment {name} on {on} {{ {fields} }}"
                parts.append(f"...{name}{self.directives()}")
        return " ".join(parts)

    def page_arguments(self) -> str:
        arguments = []
        size = self.draw(st.sampled_from((None, 1, 2, 3, 50, 0, 1001, "var", "bad_var")))
        if size == "var":
            self.variables["size"] = ("Int", self.draw(st.sampled_from((2, None, 1000, -1))))
            arguments.append("first: $size")
        elif size == "bad_var":
            self.variables["size"] = ("Int", "three")
            arguments.append("first: $size")
        elif size is not None:
            arguments.append(f"first: {size}")
        if self.draw(st.integers(0, 7)) == 0:
            arguments.append(f"last: {self.draw(st.sampled_from((1, 2)))}")
        cursor = self.draw(st.sampled_from((None, None, "good", "id", "bad", "unknown")))
        if cursor is not None:
            value = {
                "good": self.draw(st.sampled_from(self.world["cursors"])),
                "id": self.draw(st.sampled_from(self.world["ids"])),
                "bad": "bm90IGEgY3Vyc29y",
                "unknown": "cus_" + "0" * 22,
            }[cursor]
            direction = self.draw(st.sampled_from(("after", "before")))
            if self.draw(st.booleans()):
                self.variables["cursor"] = ("String", value)
                arguments.append(f"{direction}: $cursor")
            else:
                arguments.append(f"{direction}: {json.dumps(value)}")
        if self.draw(st.booleans()):
            arguments.append(f"orderBy: {self.draw(st.sampled_from(ORDERS))}")
        filter_choice = self.draw(st.integers(0, 3))
        if filter_choice == 1:
            arguments.append(f"filter: {self.draw(st.sampled_from(FILTERS))}")
        elif filter_choice == 2:
            self.variables["where"] = (
                "CustomerFilter",
                self.draw(st.sampled_from(FILTER_VARIABLES)),
            )
            arguments.append("filter: $where")
        return f"({', '.join(arguments)})" if arguments else ""

    def one_id(self) -> str:
        value = self.draw(st.sampled_from((*self.world["ids"], "cus_nope", "x")))
        if self.draw(st.booleans()):
            self.variables["id"] = ("ID!", value)
            return "$id"
        return json.dumps(value)

    def ids(self) -> str:
        choice = self.draw(st.integers(0, 5))
        if choice == 0:
            self.variables["ids"] = ("[ID!]!", ["cus_" + "1" * 22] * 1001)
            return "$ids"
        values = self.draw(st.lists(st.sampled_from((*self.world["ids"], "x")), max_size=4))
        return json.dumps(values)


@st.composite
def documents(draw: Callable[..., Any], world: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return _Document(draw, world).text()


@pytest.fixture
async def core(database: dict[str, Any], gateway: Gateway) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    """The gateway's database, served by an app that sends everything through graphql-core."""
    client = TestClient(TestServer(create_app(make_settings(**database, fast_path=False))))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def answer(
    client: TestClient,  # type: ignore[type-arg]
    key: str,
    query: str,
    variables: dict[str, Any],
) -> tuple[int, bytes]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {key}"},
    )
    return response.status, await response.read()


def examples(count: int) -> settings:
    """Hypothesis settings for `count` documents against a live gateway."""
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@examples(EXAMPLES)
@given(data=st.data())
async def test_fast_path_answers_like_graphql_core(
    gateway: Gateway,
    core: TestClient,  # type: ignore[type-arg]
    world: dict[str, Any],
    data: st.DataObject,
) -> None:
    query, variables = data.draw(documents(world))
    fast = await answer(gateway.client, gateway.key, query, variables)
    slow = await answer(core, gateway.key, query, variables)
    assert fast == slow, query


async def test_each_node_of_an_edge_keeps_its_own_selection(
    gateway: Gateway,
    core: TestClient,  # type: ignore[type-arg]
    world: dict[str, Any],
) -> None:
    """Found by the test above: an edge's `node` and an aliased node were both
    serialized with the last one's selection."""
    query = (
        "{ customers(first: 2) { edges { node { id @include(if: false) } } "
        "edges { who: node { id name } node { email } } } }"
    )
    fast = await answer(gateway.client, gateway.key, query, {})
    assert fast == await answer(core, gateway.key, query, {})
    [first, _second] = orjson.loads(fast[1])["data"]["customers"]["edges"]
    assert set(first) == {"node", "who"}
    assert set(first["node"]) == {"email"} and set(first["who"]) == {"id", "name"}


HOT_DOCUMENTS = (
    """query($first: Int, $after: String) { customers(first: $first, after: $after) {
         edges { cursor node { id object live createdAt updatedAt name email phone metadata } }
         pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }""",
    "query($id: ID!) { customer(id: $id) { ...F } node(id: $id) { id __typename } } "
    "fragment F on Customer { id name metadata }",
    '{ c: customers(filter: {name: {startsWith: "a"}}, orderBy: {field: NAME, direction: ASC})'
    " { nodes { id } totalCount } nodes(ids: []) { id } }",
)


@pytest.mark.parametrize("query", HOT_DOCUMENTS)
async def test_hot_shapes_never_reach_graphql_core(
    gateway: Gateway, world: dict[str, Any], query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("graphql-core executed a document the fast path plans")

    planned = []
    run_plan = fastpath._run

    def spy(*args: Any) -> Any:
        planned.append(args[0])
        return run_plan(*args)

    monkeypatch.setattr(graphql, "execute", refuse)
    monkeypatch.setattr(fastpath, "_run", spy)
    variables = {"first": 2, "after": world["cursors"][0], "id": world["ids"][0]}
    used = {name: value for name, value in variables.items() if f"${name}" in query}
    status, body = await answer(gateway.client, gateway.key, query, used)
    assert status == 200
    assert b'"errors"' not in body
    assert len(planned) == 1


async def test_the_fast_path_answers_argument_errors_itself_and_updates_go_to_graphql_core(
    gateway: Gateway, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    executed = []
    execute = graphql.execute

    def recorded(*args: Any, **kwargs: Any) -> Any:
        executed.append(args[1])
        return execute(*args, **kwargs)

    monkeypatch.setattr(graphql, "execute", recorded)
    status, body = await gateway.post("{ customers(first: 1001) { nodes { id } } }")
    assert executed == []
    assert status == 200
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "first"}
    assert body["errors"][0]["path"] == ["customers"]
    created = await gateway.create_customer(name="Planned")
    assert created["name"] == "Planned"
    assert executed == []
    updated = await gateway.data(
        'mutation($id: ID!) { updateCustomer(input: {id: $id, name: "Via graphql-core"}) '
        "{ customer { name } } }",
        {"id": created["id"]},
    )
    assert updated["updateCustomer"]["customer"]["name"] == "Via graphql-core"
    assert len(executed) == 1


# createCustomer's inputs: valid ones, and each kind of refusal (user errors, a
# BadUserInput idempotency key, variables that do not coerce).
CREATE_INPUTS: tuple[dict[str, Any], ...] = (
    {"name": "Ada", "email": "ada@example.com", "phone": "+1 555 0100", "metadata": {"a": "1"}},
    {"name": "Grace"},
    {},
    {"name": None, "email": None},
    {"name": "x" * 300},
    {"email": "not an email", "phone": "abc"},
    {"metadata": {f"k{i}": "v" for i in range(60)}},
    {"name": "Bad key", "idempotencyKey": "k" * 300},
    {"name": 5},
    {"nickname": "unknown field"},
)
PAYLOAD_SELECTIONS = (
    "customer { id name email phone metadata createdAt updatedAt object live }",
    "customerEdge { cursor node { id name } }",
    "customerEdge { __typename node { __typename id } }",
    "userErrors { field message code }",
    "userErrors { __typename code }",
    "clientMutationId",
    "__typename",
    "...P",
    "... on CreateCustomerPayload { who: customer { id } }",
)


@examples(30)
@given(data=st.data())
async def test_create_customer_answers_like_graphql_core(
    gateway: Gateway,
    core: TestClient,  # type: ignore[type-arg]
    data: st.DataObject,
) -> None:
    """The same create under one idempotency key through both executors: the second
    replays the first's customer, so the two answers are the same bytes."""
    given = dict(data.draw(st.sampled_from(CREATE_INPUTS)))
    if "idempotencyKey" not in given:
        given["idempotencyKey"] = data.draw(st.uuids()).hex
    if data.draw(st.booleans()):
        given["clientMutationId"] = data.draw(st.sampled_from(("m-1", "")))
    selections = data.draw(
        st.lists(st.sampled_from(PAYLOAD_SELECTIONS), min_size=1, max_size=4, unique=True)
    )
    alias = data.draw(st.sampled_from(("", "made: ", "record: ")))
    root_typename = " __typename" if data.draw(st.booleans()) else ""
    query = (
        f"mutation($input: CreateCustomerInput!) {{{root_typename} "
        f"{alias}createCustomer(input: $input) {{ {' '.join(selections)} }} }}"
    )
    if "...P" in selections:
        query += " fragment P on CreateCustomerPayload { userErrors { code } customer { email } }"
    clients = [gateway.client, core]
    if data.draw(st.booleans()):
        clients.reverse()
    first = await answer(clients[0], gateway.key, query, {"input": given})
    second = await answer(clients[1], gateway.key, query, {"input": given})
    assert first == second, (query, given)
