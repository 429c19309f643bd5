"""Each query limit: the largest allowed request passes, one more is refused before execution.

Limits are lowered through `settings_overrides` where the default would need a huge
document; the defaults themselves are checked where a document can reach them cheaply.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from graphql import OperationDefinitionNode, parse
from sqlalchemy import text

from app.api.schema import build_schema
from app.customers import service
from app.settings import Settings
from app.store.store import Store
from app.web.limits import NodeCounts, request_nodes
from tests.gateway import Gateway

DEFAULTS = Settings(_env_file=None)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"max_node_budget": 200}


def assert_too_complex(status: int, body: dict[str, Any], limit: str) -> dict[str, Any]:
    assert status == 200, body
    assert "data" not in body, "refused before execution, so no data entry"
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", error
    assert error["extensions"]["limit"] == limit
    return dict(error)


async def post_strict(gateway: Gateway, query: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    response = await gateway.client.post(
        "/graphql",
        json={"query": query, **extra},
        headers={
            "Authorization": f"Bearer {gateway.key}",
            "Accept": "application/graphql-response+json",
        },
    )
    return response.status, await response.json(content_type=None)


async def test_depth_at_the_limit_passes_and_one_more_is_refused(gateway: Gateway) -> None:
    limit = DEFAULTS.max_query_depth
    assert limit == 12
    # Refused before validation: the unknown fields would otherwise be validation errors.
    too_deep = "{ " + " { ".join(f"f{i}" for i in range(limit + 1)) + " }" * (limit + 1)
    error = assert_too_complex(*await gateway.post(too_deep), "depth")
    assert error["extensions"]["maximum"] == limit
    assert error["extensions"]["actual"] == limit + 1
    at_limit = "{ " + " { ".join(f"f{i}" for i in range(limit)) + " }" * limit
    _, body = await gateway.post(at_limit)
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_depth_follows_fragments(gateway: Gateway) -> None:
    limit = DEFAULTS.max_query_depth
    nested = " { ".join(f"f{i}" for i in range(limit)) + " }" * (limit - 1)
    query = f"{{ a {{ ...F }} }} fragment F on Query {{ {nested} }}"
    error = assert_too_complex(*await gateway.post(query), "depth")
    assert error["extensions"]["actual"] == limit + 1


async def test_aliases_at_the_limit_pass_and_one_more_is_refused(gateway: Gateway) -> None:
    limit = DEFAULTS.max_aliases
    assert limit == 30
    fields = " ".join(f"a{i}: __typename" for i in range(limit))
    assert await gateway.data("{ " + fields + " }") == {f"a{i}": "Query" for i in range(limit)}
    one_more = "{ " + fields + " extra: __typename }"
    error = assert_too_complex(*await gateway.post(one_more), "aliases")
    assert error["extensions"]["actual"] == limit + 1


async def test_aliases_in_a_fragment_count_each_time_it_is_spread(gateway: Gateway) -> None:
    ten = " ".join(f"a{i}: __typename" for i in range(10))
    query = (
        f"{{ ...F x: customers {{ ...G }} }} fragment F on Query {{ {ten} }} "
        f"fragment G on CustomerConnection {{ {ten} }}"
    )
    # 10 + (1 + 10) = 21: allowed; spreading F twice more makes 41.
    _, body = await gateway.post(query)
    assert "errors" not in body, body
    doubled = query.replace("{ ...F", "{ ...F ... on Query { ...F } ... on Query { ...F }", 1)
    error = assert_too_complex(*await gateway.post(doubled), "aliases")
    assert error["extensions"]["actual"] == 41


async def test_tokens_over_the_limit_are_refused_comments_included(gateway: Gateway) -> None:
    limit = DEFAULTS.max_tokens
    assert limit == 2000
    many_fields = "{ " + "__typename " * limit + "}"
    error = assert_too_complex(*await gateway.post(many_fields), "tokens")
    assert str(limit) in error["message"]
    many_comments = "#\n" * (limit + 1) + "{ __typename }"
    assert_too_complex(*await gateway.post(many_comments), "tokens")
    assert await gateway.data("#\n" * 100 + "{ " + "__typename " * 100 + "}") == {
        "__typename": "Query"
    }


async def test_number_of_operations(gateway: Gateway) -> None:
    limit = DEFAULTS.max_operations
    assert limit == 10
    operations = " ".join(f"query Q{i} {{ __typename }}" for i in range(limit))
    response = await gateway.client.post(
        "/graphql",
        json={"query": operations, "operationName": "Q3"},
        headers={"Authorization": f"Bearer {gateway.key}"},
    )
    assert (await response.json()) == {"data": {"__typename": "Query"}}
    status, body = await gateway.post(operations + " query Q10 { __typename }")
    error = assert_too_complex(status, body, "operations")
    assert error["extensions"]["actual"] == limit + 1


async def test_node_budget_counts_first_last_and_the_default(gateway: Gateway) -> None:
    # The budget is lowered to 200 for this module; the default is GitHub's 50,000.
    assert DEFAULTS.max_node_budget == 50_000
    four = "{ " + " ".join(f"c{i}: customers {{ nodes {{ id }} }}" for i in range(4)) + " }"
    assert "errors" not in (await gateway.post(four))[1]  # 4 x default 50 = 200
    five = four.replace("c0:", "c4: customers { nodes { id } } c0:")
    error = assert_too_complex(*await gateway.post(five), "nodes")
    assert error["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "nodes",
        "maximum": 200,
        "actual": 250,
    }
    pages = "{ a: customers(first: 150) { nodes { id } } b: customers(last: 50) { nodes { id } } }"
    assert "errors" not in (await gateway.post(pages))[1]
    over = pages.replace("last: 50", "last: 51")
    assert assert_too_complex(*await gateway.post(over), "nodes")["extensions"]["actual"] == 201


async def test_node_budget_resolves_variables_and_their_defaults(gateway: Gateway) -> None:
    query = (
        "query($n: Int = 120) { a: customers(first: $n) { nodes { id } } "
        "b: customers(first: $n) { nodes { id } } }"
    )
    assert_too_complex(*await gateway.post(query), "nodes")  # 2 x default 120
    assert "errors" not in (await gateway.post(query, {"n": 100}))[1]
    status, body = await gateway.post(query, {"n": 101})
    assert assert_too_complex(status, body, "nodes")["extensions"]["actual"] == 202


async def test_sizes_beyond_the_page_limit_count_as_the_page_limit(gateway: Gateway) -> None:
    status, body = await gateway.post("{ customers(first: 5000) { nodes { id } } }")
    assert assert_too_complex(status, body, "nodes")["extensions"]["actual"] == 1000


class TestDefaultBudget:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"max_aliases": 60}

    async def test_fifty_thousand_nodes_pass_and_one_more_connection_is_refused(
        self, gateway: Gateway
    ) -> None:
        fifty = " ".join(f"c{i}: customers(first: 1000) {{ nodes {{ id }} }}" for i in range(50))
        status, body = await gateway.post("{ " + fifty + " }")
        assert status == 200 and "errors" not in body, body
        one_more = "{ " + fifty + " d: customers(first: 1) { nodes { id } } }"
        error = assert_too_complex(*await gateway.post(one_more), "nodes")
        assert error["extensions"]["actual"] == 50_001

    async def test_first_beyond_the_page_limit_is_bad_user_input_not_too_complex(
        self, gateway: Gateway
    ) -> None:
        status, body = await gateway.post("{ customers(first: 100000) { nodes { id } } }")
        assert status == 200
        [error] = body["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "first"}


async def test_refusals_are_400_with_graphql_response_json(gateway: Gateway) -> None:
    too_deep = "{ " + " { ".join(f"f{i}" for i in range(20)) + " }" * 20
    status, body = await post_strict(gateway, too_deep)
    assert status == 400
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "data" not in body


async def test_body_size_is_413(gateway: Gateway) -> None:
    padding = " " * DEFAULTS.max_body_bytes
    status, body = await gateway.post("{ __typename }" + padding)
    assert status == 413
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


# Only the time-limit tests run with half a second: as the module default it failed
# ordinary first requests on a busy machine.
@pytest.mark.parametrize(
    "settings_overrides", [{"max_node_budget": 200, "request_timeout_seconds": 0.5}]
)
async def test_request_time_limit_stops_the_work_and_frees_the_connection(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    finished = asyncio.Event()

    async def slow(store: Store, **_kwargs: Any) -> None:
        async with store.read() as connection:  # holds a pooled connection while asleep
            await connection.execute(text("SELECT 1"))
            await asyncio.sleep(30)
        finished.set()

    monkeypatch.setattr(service, "list_customers", slow)
    started = time.monotonic()
    status, body = await gateway.post("{ customers { nodes { id } } }")
    elapsed = time.monotonic() - started
    assert status == 200
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["limit"] == "time"
    assert "0.5 seconds" in error["message"]
    assert 0.4 < elapsed < 5
    assert not finished.is_set()
    assert gateway.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    monkeypatch.undo()
    assert (await gateway.data("{ customers { nodes { id } } }")) == {"customers": {"nodes": []}}


class TestStatementTimeout:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"db_statement_timeout_ms": 200}

    async def test_postgres_cancels_a_runaway_statement_with_a_masked_error(
        self, gateway: Gateway, backend: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if backend != "postgres":
            pytest.skip("statement_timeout is a PostgreSQL setting")

        async def runaway(store: Store, **_kwargs: Any) -> None:
            async with store.read() as connection:
                await connection.execute(text("SELECT pg_sleep(5)"))

        monkeypatch.setattr(service, "list_customers", runaway)
        started = time.monotonic()
        response = await gateway.client.post(
            "/graphql",
            json={"query": "{ customers { nodes { id } } }"},
            headers={"Authorization": f"Bearer {gateway.key}"},
        )
        assert time.monotonic() - started < 3
        raw = await response.text()
        for leak in ("pg_sleep", "statement timeout", "canceling", "asyncpg", "Traceback"):
            assert leak not in raw
        body = await response.json()
        [error] = body["errors"]
        assert error["message"] == "Internal server error"
        assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        assert gateway.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("settings_overrides", [{"request_timeout_seconds": 0.5}])
async def test_a_body_trickling_in_is_cut_off_at_the_time_limit(gateway: Gateway) -> None:
    server = gateway.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(
            b"POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {gateway.key}\r\n".encode()
            + b"Content-Length: 40\r\n\r\n"
            + b'{"query": '
        )
        await writer.drain()
        started = time.monotonic()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 408 "), head
        assert 0.4 < time.monotonic() - started < 5
        assert b"X-Request-Id" in head
    finally:
        writer.close()
        await writer.wait_closed()


async def test_fragments_that_double_at_each_level_are_counted_without_expanding(
    gateway: Gateway,
) -> None:
    # F0 spreads F1 twice, F1 spreads F2 twice, …: 2^40 aliases if expanded naively.
    levels = 40
    fragments = " ".join(
        f"fragment F{i} on Query {{ a: __typename ...F{i + 1} ... on Query {{ ...F{i + 1} }} }}"
        for i in range(levels)
    )
    query = f"{{ ...F0 }} {fragments} fragment F{levels} on Query {{ b: __typename }}"
    started = time.monotonic()
    error = assert_too_complex(*await gateway.post(query), "aliases")
    assert time.monotonic() - started < 2
    assert error["extensions"]["actual"] > 2**levels


def test_remembered_node_counts_follow_the_variables_the_walk_reads() -> None:
    """One document counted under many variable values, in an order that revisits each:
    the remembered count is the walk's own count every time."""
    schema = build_schema()._schema
    document = parse(
        """query($n: Int, $m: Int = 3, $ids: [ID!]!, $unread: String) {
             customers(first: $n, filter: {name: {eq: $unread}}) {
               nodes { id } pageInfo { hasNextPage } }
             inner: customers(last: $m) { edges { node { id } } }
             nodes(ids: $ids) { id }
           }"""
    )
    [operation] = document.definitions
    assert isinstance(operation, OperationDefinitionNode)
    counts = NodeCounts(schema)
    given: list[dict[str, Any]] = [
        {},
        {"ids": ["a"]},
        {"n": 10, "ids": ["a", "b"]},
        {"n": 10, "m": 7, "ids": ["a", "b"]},
        {"n": None, "m": None, "ids": []},
        {"n": 10, "ids": ["a"], "unread": "x"},
        {"n": 2000, "ids": ["c"] * 5},
        {"n": "ten", "ids": "not a list"},
    ]
    seen = set()
    for variables in given * 2:
        expected = request_nodes(schema, document, operation, variables)
        assert counts.count(document, operation, variables) == expected, variables
        seen.add(expected)
    assert len(seen) >= 5  # the values above really change the count
