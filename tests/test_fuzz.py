"""Hostile input against the running gateway: bodies, documents, variables and headers.

Whatever arrives, the answer is never a 5xx, never a masked INTERNAL_SERVER_ERROR (that
would be a bug the mask hides), and never shows a traceback, SQL or a file path that the
request did not itself contain.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import graphql
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.documents.registry import SOURCE_FILE, NewDocument, add_documents
from tests.gateway import Gateway

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

LEAKS = [
    "Traceback",
    'File "',
    ".py",
    "/work/",
    "/usr/",
    "site-packages",
    "sqlalchemy",
    "asyncpg",
    "aiosqlite",
    "sqlite3",
    "psycopg",
    "SELECT ",
    "INSERT ",
    "UPDATE ",
    "DELETE FROM",
    " FROM ",
    " WHERE ",
    "[SQL:",
    "Background on this error",
    "/root/",
]
_LEAK_CASE_INSENSITIVE = re.compile(r"(?i)\b(select|insert|update)\b.*\b(from|into|set)\b")

# --- what requests are made of ------------------------------------------------------

names = st.sampled_from(
    [
        "customers",
        "customer",
        "node",
        "nodes",
        "__typename",
        "id",
        "name",
        "email",
        "edges",
        "pageInfo",
        "totalCount",
        "metadata",
        "cursor",
        "hasNextPage",
        "createCustomer",
        "updateCustomer",
        "deleteCustomer",
        "userErrors",
        "__schema",
        "__type",
        "types",
        "x",
    ]
)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)
graphql_strings = st.text(max_size=12).map(lambda s: json.dumps(s))
graphql_values = st.recursive(
    st.integers(-(2**70), 2**70).map(str)
    | graphql_strings
    | st.sampled_from(["true", "false", "null", "ASC", "DESC", "NAME", "CREATED_AT", "$v", "1.5"]),
    lambda inner: (
        st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]")
        | st.dictionaries(names, inner, max_size=4).map(
            lambda d: "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}"
        )
    ),
    max_leaves=5,
)
arguments = st.dictionaries(
    st.sampled_from(
        ["id", "ids", "first", "last", "after", "before", "filter", "orderBy", "input", "name"]
    ),
    graphql_values,
    max_size=3,
).map(lambda d: "(" + ", ".join(f"{k}: {v}" for k, v in d.items()) + ")" if d else "")


@st.composite
def selections(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        alias = draw(st.sampled_from(["", "", "a: ", "b: "]))
        field = alias + draw(names) + draw(arguments)
        if depth < 3 and draw(st.booleans()):
            field += " { " + draw(selections(depth + 1)) + " }"
        if draw(st.integers(0, 9)) == 0:
            field += draw(st.sampled_from([" @include(if: $v)", " @skip(if: true)", " @x"]))
        parts.append(field)
    if draw(st.integers(0, 7)) == 0:
        parts.append("...F")
    if draw(st.integers(0, 7)) == 0:
        parts.append("... on Customer { id }")
    return " ".join(parts)


@st.composite
def documents(draw: st.DrawFn) -> str:
    kind = draw(
        st.sampled_from(
            [
                "",
                "query Q",
                "mutation M",
                "query Q($v: Boolean)",
                "subscription S",
                "query Q($v: Int = 3)",
            ]
        )
    )
    document = f"{kind} {{ {draw(selections())} }}"
    if draw(st.booleans()):
        document += (
            f" fragment F on {draw(st.sampled_from(['Query', 'Customer', 'X']))} "
            f"{{ {draw(selections(2))} }}"
        )
    # Sometimes break it: cut, duplicate or insert a character.
    if draw(st.integers(0, 3)) == 0 and document:
        at = draw(st.integers(0, len(document) - 1))
        edit = draw(st.sampled_from(["cut", "dup", "insert"]))
        if edit == "cut":
            document = document[:at] + document[at + 1 :]
        elif edit == "dup":
            document = document[:at] + document[at] + document[at:]
        else:
            document = document[:at] + draw(st.characters()) + document[at:]
    return document


VARIABLE_DOCUMENTS = [
    """query($first: Int, $last: Int, $after: String, $before: String,
             $filter: CustomerFilter, $orderBy: CustomerOrder) {
         customers(first: $first, last: $last, after: $after, before: $before,
                   filter: $filter, orderBy: $orderBy) {
           totalCount edges { cursor node { id name email phone metadata createdAt } }
           pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
         }
       }""",
    "query($id: ID!) { customer(id: $id) { id name } node(id: $id) { id } }",
    "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
    """mutation($input: CreateCustomerInput!) {
         createCustomer(input: $input) { customer { id name metadata } userErrors { field code } }
       }""",
    """mutation($input: UpdateCustomerInput!) {
         updateCustomer(input: $input) { customer { id } userErrors { field code } }
       }""",
    """mutation($input: DeleteCustomerInput!) {
         deleteCustomer(input: $input) { deletedCustomerId userErrors { field code } }
       }""",
]
filter_names = st.sampled_from(
    [
        "and",
        "or",
        "not",
        "id",
        "email",
        "name",
        "phone",
        "createdAt",
        "updatedAt",
        "metadata",
        "eq",
        "neq",
        "in",
        "notIn",
        "contains",
        "startsWith",
        "endsWith",
        "isNull",
        "gt",
        "gte",
        "lt",
        "lte",
        "key",
        "exists",
        "field",
        "direction",
        "input",
    ]
)
structured = st.recursive(
    json_scalars | st.sampled_from(["NAME", "EMAIL", "ASC", "DESC", "cus_0000000000000000000000"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(filter_names, inner, max_size=4),
    max_leaves=20,
)
variables = st.dictionaries(
    st.sampled_from(
        ["first", "last", "after", "before", "filter", "orderBy", "id", "ids", "input"]
    ),
    structured,
    max_size=5,
)

# Well-typed variables, so that the resolvers and the database see the hostile values.
nasty_text = st.text(max_size=20) | st.sampled_from(
    ["\x00", "%", "_", "\\", "'; DROP TABLE customers; --", "ß", "\ud7ff", " ", "", "a" * 600]
)
string_filter = st.fixed_dictionaries(
    {},
    optional={
        "eq": nasty_text,
        "neq": nasty_text,
        "contains": nasty_text,
        "startsWith": nasty_text,
        "endsWith": nasty_text,
        "isNull": st.booleans(),
        "in": st.lists(nasty_text, max_size=3),
        "notIn": st.lists(nasty_text, max_size=3),
    },
)
millis = st.integers(-(2**53), 2**53) | st.integers(-(2**70), 2**70)
typed_filter = st.recursive(
    st.fixed_dictionaries(
        {},
        optional={
            "name": string_filter,
            "email": string_filter,
            "phone": string_filter,
            "id": st.fixed_dictionaries(
                {}, optional={"eq": nasty_text, "in": st.lists(nasty_text, max_size=3)}
            ),
            "createdAt": st.fixed_dictionaries({}, optional={"gt": millis, "lte": millis}),
            "metadata": st.lists(
                st.fixed_dictionaries(
                    {"key": nasty_text},
                    optional={"eq": nasty_text, "neq": nasty_text, "exists": st.booleans()},
                ),
                max_size=2,
            ),
        },
    ),
    lambda inner: st.fixed_dictionaries(
        {},
        optional={
            "and": st.lists(inner, max_size=2),
            "or": st.lists(inner, max_size=2),
            "not": inner,
        },
    ),
    max_leaves=4,
)
page_size = st.integers(-2, 1002) | st.sampled_from([2**31 - 1, -(2**31)])
cursor = nasty_text | st.sampled_from(
    ["cus_0000000000000000000000", "WyJ4Il0", "e30", "====", "bnVsbA"]
)
stored_text = nasty_text
customer_input = st.fixed_dictionaries(
    {},
    optional={
        "name": stored_text,
        "email": stored_text,
        "phone": stored_text,
        "metadata": st.dictionaries(stored_text, stored_text, max_size=3)
        | json_values.filter(lambda value: "\\u0000" not in json.dumps(value)),
        "idempotencyKey": stored_text,
        "clientMutationId": stored_text,
    },
)
typed_variables = [
    (
        VARIABLE_DOCUMENTS[0],
        st.fixed_dictionaries(
            {},
            optional={
                "first": page_size,
                "last": page_size,
                "after": cursor,
                "before": cursor,
                "filter": typed_filter,
                "orderBy": st.fixed_dictionaries(
                    {
                        "field": st.sampled_from(["CREATED_AT", "NAME", "EMAIL"]),
                        "direction": st.sampled_from(["ASC", "DESC"]),
                    }
                ),
            },
        ),
    ),
    (VARIABLE_DOCUMENTS[1], st.fixed_dictionaries({"id": cursor})),
    (VARIABLE_DOCUMENTS[2], st.fixed_dictionaries({"ids": st.lists(cursor, max_size=4)})),
    (VARIABLE_DOCUMENTS[3], st.fixed_dictionaries({"input": customer_input})),
    (
        VARIABLE_DOCUMENTS[4],
        st.fixed_dictionaries(
            {
                "input": customer_input.map(
                    lambda fields: {
                        "id": "cus_0000000000000000000000",
                        **{k: v for k, v in fields.items() if k not in ("idempotencyKey",)},
                    }
                )
            }
        ),
    ),
    (
        VARIABLE_DOCUMENTS[5],
        st.fixed_dictionaries({"input": st.fixed_dictionaries({"id": cursor})}),
    ),
]


# --- checking an answer -------------------------------------------------------------


async def check(response: Any, sent: str) -> None:
    raw = await response.read()
    text = raw.decode("utf-8", errors="replace")
    assert response.status < 500, text
    for leak in LEAKS:
        if leak in text and leak not in sent:
            raise AssertionError(f"response shows {leak!r}: {text[:500]}")
    if _LEAK_CASE_INSENSITIVE.search(text) and not _LEAK_CASE_INSENSITIVE.search(sent):
        raise AssertionError(f"response looks like SQL: {text[:500]}")
    assert "X-Request-Id" in response.headers
    if response.method == "HEAD" or response.status == 204:
        return
    body = orjson.loads(raw)  # always JSON, never an HTML error page
    # A batch (a JSON array of operations) is answered with an array of answers.
    answers = body if isinstance(body, list) and response.status == 200 else [body]
    for answer in answers:
        assert isinstance(answer, dict), body
        for error in answer.get("errors") or []:
            assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", error


def auth(gateway: Gateway) -> dict[str, str]:
    return {"Authorization": f"Bearer {gateway.key}"}


# --- the tests ------------------------------------------------------------------------


@FUZZ
@given(
    raw=st.binary(max_size=600) | json_values.map(lambda v: json.dumps(v).encode()),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/graphql-response+json",
            "text/plain",
            "application/json; charset=latin-1",
            "multipart/form-data",
            "",
        ]
    ),
    accept=st.sampled_from(
        [
            "",
            "*/*",
            "application/json",
            "application/graphql-response+json",
            "text/html",
            "application/graphql-response+json;q=0, application/json",
            "garbage/,,;;",
        ]
    ),
)
async def test_arbitrary_bodies(
    gateway: Gateway, raw: bytes, content_type: str, accept: str
) -> None:
    headers = {**auth(gateway), "Content-Type": content_type, "Accept": accept}
    response = await gateway.client.post("/graphql", data=raw, headers=headers)
    await check(response, raw.decode("utf-8", errors="replace"))


STORED_TEXT = "query Stored { customers(first: 2) { nodes { id } } }"
STORED_ID = hashlib.sha256(STORED_TEXT.encode()).hexdigest()
document_ids = (
    st.sampled_from([STORED_ID, f"sha256:{STORED_ID}", STORED_ID.upper(), "f" * 64]) | json_values
)
persisted_operations = st.fixed_dictionaries(
    {},
    optional={
        "query": st.sampled_from([STORED_TEXT, "{ __typename }", "{"]) | json_values,
        "documentId": document_ids,
        "extensions": st.fixed_dictionaries(
            {},
            optional={
                "persistedQuery": st.fixed_dictionaries(
                    {},
                    optional={
                        "version": st.sampled_from([1, 2, "1"]) | json_values,
                        "sha256Hash": document_ids,
                    },
                )
                | json_values
            },
        )
        | json_values,
        "variables": st.none() | st.dictionaries(st.text(max_size=5), json_values, max_size=2),
        "operationName": st.none() | st.sampled_from(["Stored", "nope"]) | json_values,
    },
)


@pytest.mark.parametrize(
    "settings_overrides",
    [{"persisted_documents": mode} for mode in ("off", "apq", "trusted")],
    ids=["off", "apq", "trusted"],
)
@FUZZ
@given(
    body=persisted_operations | st.lists(persisted_operations, max_size=12),
    via_get=st.booleans(),
)
async def test_persisted_and_batched_bodies(
    gateway: Gateway, settings_overrides: dict[str, Any], body: Any, via_get: bool
) -> None:
    await store_once(gateway, STORED_TEXT)
    if via_get and isinstance(body, dict):
        params = {
            name: value if isinstance(value, str) else json.dumps(value)
            for name, value in body.items()
        }
        response = await gateway.client.get("/graphql", params=params, headers=auth(gateway))
    else:
        response = await gateway.client.post("/graphql", json=body, headers=auth(gateway))
    await check(response, json.dumps(body))


async def store_once(gateway: Gateway, text: str) -> None:
    async with gateway.engine.begin() as connection:
        await add_documents(
            connection, [NewDocument.of(text, graphql.parse(text))], source=SOURCE_FILE
        )


@pytest.mark.parametrize(
    "settings_overrides",
    [{}, {"environment": "production"}],
    ids=["development", "production"],
)
@FUZZ
@given(
    document=documents(),
    operation_name=st.none() | st.sampled_from(["Q", "M", "S", "nope"]),
    variables=st.none() | st.dictionaries(st.sampled_from(["v", "x"]), json_values, max_size=2),
    via_get=st.booleans(),
)
async def test_generated_documents(
    gateway: Gateway,
    settings_overrides: dict[str, Any],
    document: str,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    via_get: bool,
) -> None:
    payload: dict[str, Any] = {
        "query": document,
        "operationName": operation_name,
        "variables": variables,
    }
    # aiohttp refuses request lines over 8190 bytes in its HTTP parser, before the app.
    if via_get and len(document.encode()) < 1500:
        params = {"query": document, "variables": json.dumps(variables)}
        if operation_name:
            params["operationName"] = operation_name
        response = await gateway.client.get("/graphql", params=params, headers=auth(gateway))
    else:
        response = await gateway.client.post("/graphql", json=payload, headers=auth(gateway))
    await check(response, json.dumps(payload, ensure_ascii=False))
    if settings_overrides.get("environment") == "production":
        assert "Did you mean" not in await response.text()


@FUZZ
@given(document=st.sampled_from(VARIABLE_DOCUMENTS), values=variables)
async def test_generated_variables(gateway: Gateway, document: str, values: dict[str, Any]) -> None:
    payload = {"query": document, "variables": values}
    response = await gateway.client.post("/graphql", json=payload, headers=auth(gateway))
    await check(response, json.dumps(payload, ensure_ascii=False))


@pytest.mark.parametrize("case", range(len(typed_variables)))
@FUZZ
@given(data=st.data())
async def test_well_typed_hostile_variables(
    gateway: Gateway, case: int, data: st.DataObject
) -> None:
    document, strategy = typed_variables[case]
    if data.draw(st.integers(0, 3)) == 0:
        await gateway.create_customer(name="Ada", email="ada@example.com", metadata={"k": "v"})
    payload = {"query": document, "variables": data.draw(strategy)}
    response = await gateway.client.post("/graphql", json=payload, headers=auth(gateway))
    await check(response, json.dumps(payload, ensure_ascii=False))


CREATE_DOCUMENT = VARIABLE_DOCUMENTS[3]
KNOWN_HOSTILE = {
    "nul in name": (CREATE_DOCUMENT, {"input": {"name": "a\x00b"}}),
    "nul in a metadata key": (CREATE_DOCUMENT, {"input": {"metadata": {"k\x00": "v"}}}),
    "nul in a metadata value": (CREATE_DOCUMENT, {"input": {"metadata": {"k": "\x00"}}}),
    "nul in an idempotency key": (CREATE_DOCUMENT, {"input": {"idempotencyKey": "\x00"}}),
    "lone surrogate in name": (CREATE_DOCUMENT, {"input": {"name": "\ud800"}}),
    "nul in a filter": (VARIABLE_DOCUMENTS[0], {"filter": {"name": {"contains": "\x00"}}}),
    "nul in a cursor": (VARIABLE_DOCUMENTS[0], {"after": "\x00"}),
    "nul in an id": (VARIABLE_DOCUMENTS[1], {"id": "cus_\x00"}),
    "huge first": (VARIABLE_DOCUMENTS[0], {"first": 2**31 - 1}),
    "epoch beyond 2^53": (VARIABLE_DOCUMENTS[0], {"filter": {"createdAt": {"gt": 2**60}}}),
}


@pytest.mark.parametrize("case", sorted(KNOWN_HOSTILE))
async def test_known_hostile_variables(gateway: Gateway, case: str) -> None:
    document, values = KNOWN_HOSTILE[case]
    payload = {"query": document, "variables": values}
    response = await gateway.client.post("/graphql", json=payload, headers=auth(gateway))
    await check(response, json.dumps(payload, ensure_ascii=False))


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "OPTIONS", "HEAD", "DELETE"]),
    authorization=st.none() | header_text | st.just("Bearer ") | header_text.map("Bearer ".__add__),
    extra=st.dictionaries(
        st.sampled_from(
            [
                "Accept",
                "Origin",
                "X-Request-Id",
                "Access-Control-Request-Method",
                "Access-Control-Request-Headers",
                "Content-Type",
            ]
        ),
        header_text,
        max_size=4,
    ),
    use_key=st.booleans(),
)
async def test_generated_headers(
    gateway: Gateway,
    method: str,
    authorization: str | None,
    extra: dict[str, str],
    use_key: bool,
) -> None:
    headers = dict(extra)
    if use_key:
        headers["Authorization"] = f"Bearer {gateway.key}"
    elif authorization is not None:
        headers["Authorization"] = authorization
    body = orjson.dumps({"query": "{ __typename }"}) if method == "POST" else None
    params = {"query": "{ __typename }"} if method == "GET" else None
    response = await gateway.client.request(
        method, "/graphql", headers=headers, data=body, params=params
    )
    await check(response, json.dumps(headers))
