"""The workloads: each request is a GraphQL body for the gateway and a spec for the raw handler.

Both come from one description, so the document the gateway parses and the SQL/JSON the
raw handler produces cannot drift apart; the bench also compares their responses.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.seed import Database

ALL_FIELDS = (
    "id",
    "object",
    "live",
    "createdAt",
    "updatedAt",
    "name",
    "email",
    "phone",
    "metadata",
)
PAGE_INFO = ("hasNextPage", "hasPreviousPage", "startCursor", "endCursor")
# startsWith AND (contains OR contains), in mixed case: matching is case-insensitive.
DEMO_FILTER = {
    "name": {"startsWith": "Ma"},
    "or": [{"email": {"contains": "SON"}}, {"email": {"contains": "li"}}],
}
CREATE_INPUT = {
    "name": "  Bench Customer ",
    "email": "bench@example.com",
    "phone": "+1 555 0100",
    "metadata": {"source": "bench"},
}
ORDER = (
    "page50",
    "persisted_page50",
    "page1000",
    "deep",
    "filter",
    "customer",
    "persisted_customer",
    "burst",
    "create",
)
DESCRIPTIONS = {
    "page50": "50-customer page, all fields, edges, cursors, pageInfo",
    "persisted_page50": "page50 as a GET by documentId (registered by APQ first)",
    "page1000": "1,000-customer page, same selection",
    "deep": "50-customer page after a cursor 60 from the end",
    "filter": "startsWith AND (contains OR contains), 50 rows",
    "customer": "customer(id), all fields",
    "persisted_customer": "customer as a GET by documentId",
    "burst": "20 different page documents in turn",
    "create": "createCustomer with all fields",
}


@dataclass(frozen=True, slots=True)
class Case:
    """One request: the GraphQL body, the raw handler's spec, and which key sends it."""

    body: dict[str, Any]
    raw: dict[str, Any]
    writes: bool = False
    # A GET by documentId that the gateway is sent instead of `body` (which registers it).
    get_path: str | None = None


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    cases: list[Case] = field(default_factory=list)


def build(database: Database, names: list[str]) -> list[Workload]:
    makers: dict[str, Callable[[], list[Case]]] = {
        "page50": lambda: [_page_case("Page50", 50)],
        "page1000": lambda: [_page_case("Page1000", 1000)],
        "deep": lambda: [_page_case("Deep", 50, after=database.deep_cursor)],
        "filter": lambda: [_page_case("Filtered", 50, filter_=DEMO_FILTER)],
        "customer": lambda: [_customer_case(database.sample_id)],
        "persisted_page50": lambda: [_persisted(_page_case("Page50", 50))],
        "persisted_customer": lambda: [_persisted(_customer_case(database.sample_id))],
        "burst": _burst_cases,
        "create": lambda: [_create_case()],
    }
    return [Workload(name, makers[name]()) for name in ORDER if name in names]


def _fields(
    names: tuple[str, ...] | list[str], aliases: dict[str, str] | None = None
) -> list[list[str]]:
    aliases = aliases or {}
    return [[aliases.get(name, name), name] for name in names]


@dataclass(frozen=True, slots=True)
class Dialect:
    """How a GraphQL server spells the customers' page and lookup: the gateway's own
    schema, or a peer's (bench/peer_documents.py) serving the same customers."""

    connection: str = "customers"
    cursor_type: str = "String"
    filter_type: str = "CustomerFilter"
    # Arguments every page takes besides first, after and filter (a peer's order).
    page_arguments: str = ""
    lookup: str = "customer(id: $id)"
    id_type: str = "ID!"
    # The server's name of a field the gateway's documents select, where it differs.
    renames: Mapping[str, str] = field(default_factory=dict)


GATEWAY = Dialect()


def _selection(fields: list[list[str]], dialect: Dialect = GATEWAY) -> str:
    spelled = ((key, dialect.renames.get(name, name)) for key, name in fields)
    return " ".join(name if key == name else f"{key}: {name}" for key, name in spelled)


def page_document(
    operation: str, spec: dict[str, Any], *, variables: bool, dialect: Dialect = GATEWAY
) -> str:
    """The page the spec describes as a document of `dialect`'s schema."""
    parts = []
    for key, kind, payload in spec["parts"]:
        prefix = kind if key == kind else f"{key}: {kind}"
        if kind == "edges":
            inner = []
            if payload["cursor"]:
                inner.append(
                    payload["cursor"]
                    if payload["cursor"] == "cursor"
                    else f"{payload['cursor']}: cursor"
                )
            node = payload["node"] if payload["node"] == "node" else f"{payload['node']}: node"
            inner.append(f"{node} {{ {_selection(payload['fields'], dialect)} }}")
            parts.append(f"{prefix} {{ {' '.join(inner)} }}")
        else:
            parts.append(f"{prefix} {{ {_selection(payload, dialect)} }}")
    connection = dialect.connection
    root = spec["root"] if spec["root"] == connection else f"{spec['root']}: {connection}"
    extra = dialect.page_arguments
    if variables:
        return (
            f"query {operation}($first: Int, $after: {dialect.cursor_type}, "
            f"$filter: {dialect.filter_type}) {{ {root}(first: $first, after: $after, "
            f"filter: $filter{extra}) {{ {' '.join(parts)} }} }}"
        )
    return f"query {operation} {{ {root}(first: {spec['first']}{extra}) {{ {' '.join(parts)} }} }}"


def customer_document(spec: dict[str, Any], dialect: Dialect = GATEWAY) -> str:
    """The lookup by id the spec describes as a document of `dialect`'s schema."""
    selection = _selection(spec["fields"], dialect)
    root, lookup = spec["root"], dialect.lookup
    if not lookup.startswith(f"{root}("):
        lookup = f"{root}: {lookup}"
    return f"query One($id: {dialect.id_type}) {{ {lookup} {{ {selection} }} }}"


def _page_spec(first: int, after: str | None = None, filter_: Any = None) -> dict[str, Any]:
    return {
        "kind": "page",
        "root": "customers",
        "first": first,
        "after": after,
        "filter": "demo" if filter_ else None,
        "parts": [
            ["edges", "edges", {"cursor": "cursor", "node": "node", "fields": _fields(ALL_FIELDS)}],
            ["pageInfo", "pageInfo", _fields(PAGE_INFO)],
        ],
    }


def _page_case(
    operation: str, first: int, *, after: str | None = None, filter_: Any = None
) -> Case:
    spec = _page_spec(first, after, filter_)
    variables: dict[str, Any] = {"first": first, "after": after}
    if filter_ is not None:
        variables["filter"] = filter_
    body = {
        "query": page_document(operation, spec, variables=True),
        "variables": variables,
        "operationName": operation,
    }
    return Case(body, spec)


def _burst_cases() -> list[Case]:
    """Twenty documents that differ in size, fields, aliases and shape."""
    cases = []
    for number in range(20):
        fields = list(ALL_FIELDS[: 2 + number % 8])
        if number % 3 == 1:
            fields.reverse()
        aliases = {"id": "customerId", "createdAt": "created"} if number % 4 == 2 else {}
        node_fields = _fields(fields, aliases)
        parts: list[list[Any]] = []
        if number % 2 == 0:
            cursor = "cursor" if number % 6 else "position"
            parts.append(
                ["edges", "edges", {"cursor": cursor, "node": "node", "fields": node_fields}]
            )
        else:
            parts.append(["items" if number % 5 == 1 else "nodes", "nodes", node_fields])
        parts.append(["pageInfo", "pageInfo", _fields(PAGE_INFO[: 1 + number % 4])])
        spec: dict[str, Any] = {
            "kind": "page",
            "root": "list" if number % 7 == 3 else "customers",
            "first": 5 + number * 3,
            "after": None,
            "filter": None,
            "parts": parts,
        }
        body = {"query": page_document(f"Burst{number}", spec, variables=False)}
        cases.append(Case(body, spec))
    return cases


def _customer_case(customer_id: str) -> Case:
    spec: dict[str, Any] = {
        "kind": "customer",
        "root": "customer",
        "id": customer_id,
        "fields": _fields(ALL_FIELDS),
    }
    query = customer_document(spec)
    return Case({"query": query, "variables": {"id": customer_id}, "operationName": "One"}, spec)


def _create_case() -> Case:
    spec: dict[str, Any] = {
        "kind": "create",
        "root": "createCustomer",
        "input": CREATE_INPUT,
        "fields": _fields(ALL_FIELDS),
    }
    query = (
        "mutation Create($input: CreateCustomerInput!) { createCustomer(input: $input) { "
        f"customer {{ {_selection(spec['fields'])} }} userErrors {{ field code message }} }} }}"
    )
    body = {"query": query, "variables": {"input": CREATE_INPUT}, "operationName": "Create"}
    return Case(body, spec, writes=True)


def _persisted(case: Case) -> Case:
    """The case by id: its POST carries text and hash (Apollo's APQ registers it), the
    timed requests are GETs of the id alone, as Apollo's useGETForHashedQueries sends."""
    document_hash = hashlib.sha256(case.body["query"].encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": document_hash}}
    parameters = {
        "documentId": f"sha256:{document_hash}",
        "variables": orjson.dumps(case.body["variables"]).decode(),
        "operationName": case.body["operationName"],
    }
    return Case(
        {**case.body, "extensions": extensions},
        case.raw,
        case.writes,
        get_path="/graphql?" + urllib.parse.urlencode(parameters),
    )
