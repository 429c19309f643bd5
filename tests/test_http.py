"""GraphQL over HTTP: media types, status codes, methods, and the request id on every answer."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

from app.web.middleware import RandomIds
from tests.gateway import Gateway

STRICT = "application/graphql-response+json"
JSON = "application/json"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def backend() -> str:
    # The HTTP layer is the same on both backends; the GraphQL tests cover the databases.
    return "sqlite"


def auth(gateway: Gateway, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {gateway.key}", **headers}


async def post(gateway: Gateway, body: Any, accept: str | None = None) -> Any:
    headers = auth(gateway)
    if accept is not None:
        headers["Accept"] = accept
    return await gateway.client.post("/graphql", json=body, headers=headers)


async def assert_error_body(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status == status
    assert response.content_type in (JSON, STRICT)
    text = await response.text()
    assert "<html" not in text.lower()
    body = json.loads(text)
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == code
    assert "X-Request-Id" in response.headers
    return dict(body)


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (STRICT, STRICT),
        (JSON, JSON),
        (f"{STRICT}, {JSON};q=0.9", STRICT),
        ("*/*", JSON),
        (None, JSON),
    ],
)
async def test_accept_picks_the_response_media_type(
    gateway: Gateway, accept: str | None, media_type: str
) -> None:
    response = await post(gateway, {"query": "{ __typename }"}, accept)
    assert response.status == 200
    assert response.content_type == media_type
    assert response.charset == "utf-8"
    assert await response.json(content_type=None) == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    ("query", "code"),
    [("{ customers(", "GRAPHQL_PARSE_FAILED"), ("{ nope }", "GRAPHQL_VALIDATION_FAILED")],
)
async def test_document_errors_are_400_strict_and_200_json(
    gateway: Gateway, query: str, code: str
) -> None:
    strict = await post(gateway, {"query": query}, STRICT)
    await assert_error_body(strict, 400, code)
    assert strict.content_type == STRICT
    plain = await post(gateway, {"query": query}, JSON)
    await assert_error_body(plain, 200, code)


async def test_variable_coercion_errors(gateway: Gateway) -> None:
    query = "query($id: ID!) { customer(id: $id) { id } }"
    await assert_error_body(await post(gateway, {"query": query}, STRICT), 400, "BAD_USER_INPUT")
    await assert_error_body(await post(gateway, {"query": query}, JSON), 200, "BAD_USER_INPUT")


async def test_resolver_errors_are_200_with_data(gateway: Gateway) -> None:
    response = await post(gateway, {"query": "{ customers(first: 0) { nodes { id } } }"}, STRICT)
    assert response.status == 200
    body = await response.json(content_type=None)
    assert body["data"] is None or "customers" not in (body["data"] or {})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_unsupported_content_type_is_415(gateway: Gateway) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        headers = auth(gateway, **{"Content-Type": content_type})
        response = await gateway.client.post("/graphql", data="query={__typename}", headers=headers)
        await assert_error_body(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_unacceptable_accept_is_406_in_json(gateway: Gateway) -> None:
    for accept in ("text/html", "application/xml", "image/png"):
        response = await post(gateway, {"query": "{ __typename }"}, accept)
        await assert_error_body(response, 406, "NOT_ACCEPTABLE")
        assert response.content_type == JSON


@pytest.mark.parametrize(
    "raw",
    [b"{", b"not json", b"", b"[1, 2]", b'"query"', b"\xff\xfe", b'{"query": 1}', b"null"],
)
async def test_bad_bodies_get_a_graphql_error_body(gateway: Gateway, raw: bytes) -> None:
    for accept in (STRICT, JSON):
        response = await gateway.client.post(
            "/graphql",
            data=raw,
            headers=auth(gateway, **{"Content-Type": JSON, "Accept": accept}),
        )
        await assert_error_body(response, 400, "BAD_REQUEST")


async def test_body_over_the_limit_is_413(gateway: Gateway) -> None:
    response = await gateway.client.post(
        "/graphql",
        data=b"{" + b" " * 200_000 + b"}",
        headers=auth(gateway, **{"Content-Type": JSON}),
    )
    await assert_error_body(response, 413, "QUERY_TOO_COMPLEX")


async def test_get_runs_a_query_with_variables(gateway: Gateway) -> None:
    created = await gateway.create_customer(name="Ada")
    response = await gateway.client.get(
        "/graphql",
        params={
            "query": "query Q($id: ID!) { customer(id: $id) { name } }",
            "variables": json.dumps({"id": created["id"]}),
            "operationName": "Q",
        },
        headers=auth(gateway, Accept=STRICT),
    )
    assert response.status == 200
    assert response.content_type == STRICT
    assert await response.json(content_type=None) == {"data": {"customer": {"name": "Ada"}}}


async def test_get_with_a_query_is_graphql_even_for_a_browser(gateway: Gateway) -> None:
    response = await gateway.client.get(
        "/graphql", params={"query": "{ __typename }"}, headers=auth(gateway, Accept=BROWSER_ACCEPT)
    )
    assert response.status == 200
    assert await response.json() == {"data": {"__typename": "Query"}}


async def test_mutation_over_get_is_405_and_changes_nothing(gateway: Gateway) -> None:
    response = await gateway.client.get(
        "/graphql",
        params={"query": 'mutation { createCustomer(input: {name: "x"}) { customer { id } } }'},
        headers=auth(gateway),
    )
    body = await assert_error_body(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"] == "POST"
    assert "POST" in body["errors"][0]["message"]
    assert await gateway.data("{ customers { totalCount } }") == {"customers": {"totalCount": 0}}


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "HEAD"])
async def test_other_methods_are_405_with_allow(gateway: Gateway, method: str) -> None:
    response = await gateway.client.request(method, "/graphql", headers=auth(gateway))
    assert response.status == 405
    assert response.headers["Allow"] == "GET, POST"
    assert "X-Request-Id" in response.headers
    if method != "HEAD":
        await assert_error_body(response, 405, "METHOD_NOT_ALLOWED")


async def test_missing_or_bad_key_is_401_with_www_authenticate(gateway: Gateway) -> None:
    for headers in ({}, {"Authorization": "Bearer sk_test_nope"}, {"Authorization": "Basic x"}):
        response = await gateway.client.post(
            "/graphql", json={"query": "{ __typename }"}, headers=headers
        )
        await assert_error_body(response, 401, "UNAUTHENTICATED")
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_request_id_on_every_response(gateway: Gateway) -> None:
    responses = [
        await gateway.client.post("/graphql", json={"query": "{ __typename }"}),  # 401
        await gateway.client.get("/nowhere"),  # 404
        await gateway.client.put("/graphql"),  # 405
        await gateway.client.post("/healthz"),  # 405 from the router
        await post(gateway, {"query": "{ __typename }"}),  # 200
        await gateway.client.get("/healthz"),
        await gateway.client.get("/graphql", headers={"Accept": BROWSER_ACCEPT}),  # GraphiQL
    ]
    assert [r.status for r in responses] == [401, 404, 405, 405, 200, 200, 200]
    ids = [r.headers["X-Request-Id"] for r in responses]
    assert all(ids) and len(set(ids)) == len(ids)
    for response in responses[1:4]:
        assert response.content_type == JSON  # the router's own errors too


async def test_a_sane_incoming_request_id_is_kept(gateway: Gateway) -> None:
    response = await gateway.client.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers=auth(gateway, **{"X-Request-Id": "trace-123.abc_DEF"}),
    )
    assert response.headers["X-Request-Id"] == "trace-123.abc_DEF"
    response = await gateway.client.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers=auth(gateway, **{"X-Request-Id": "bad id with spaces"}),
    )
    assert response.headers["X-Request-Id"] != "bad id with spaces"


async def test_graphiql_page_and_assets(gateway: Gateway) -> None:
    page = await gateway.client.get("/graphql", headers={"Accept": BROWSER_ACCEPT})
    assert page.status == 200
    assert page.content_type == "text/html"
    html = await page.text()
    assert "Headers" in html and "Authorization" in html and "Bearer" in html
    assert "http://" not in html and "https://" not in html  # nothing from elsewhere
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    for name, content_type in (
        ("graphiql.min.js", "application/javascript"),
        ("graphiql.min.css", "text/css"),
        ("react.production.min.js", "application/javascript"),
        ("react-dom.production.min.js", "application/javascript"),
    ):
        assert f"/graphiql/assets/{name}" in html
        asset = await gateway.client.get(f"/graphiql/assets/{name}")
        assert asset.status == 200, name
        assert asset.content_type in (content_type, "text/javascript"), name
        assert len(await asset.read()) > 1000
    missing = await gateway.client.get("/graphiql/assets/..%2Fpackage.json")
    assert missing.status == 404


async def test_answers_are_never_cached_or_sniffed(gateway: Gateway) -> None:
    for response in (
        await post(gateway, {"query": "{ __typename }"}),
        await post(gateway, {"query": "{ nope }"}),
        await gateway.client.post("/graphql", json={"query": "{ __typename }"}),  # 401
    ):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_body_sent_in_pieces_is_read_whole(gateway: Gateway) -> None:
    server = gateway.client.server
    body = json.dumps({"query": "{ __typename }", "variables": {"pad": "x" * 3000}}).encode()
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(
            b"POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {gateway.key}\r\nConnection: close\r\n".encode()
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:100]
        )
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.write(body[100:])
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
        await writer.wait_closed()
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert answer.endswith(b'{"data":{"__typename":"Query"}}')


async def test_a_chunked_body_is_read_whole_and_limited(gateway: Gateway) -> None:
    async def pieces(total: int) -> Any:
        for _ in range(total // 1000):
            yield b" " * 1000
        yield b'{"query": "{ __typename }"}'

    headers = auth(gateway, **{"Content-Type": JSON})
    response = await gateway.client.post("/graphql", data=pieces(5000), headers=headers)
    assert response.status == 200
    assert await response.json() == {"data": {"__typename": "Query"}}
    response = await gateway.client.post("/graphql", data=pieces(200_000), headers=headers)
    await assert_error_body(response, 413, "QUERY_TOO_COMPLEX")


def test_request_ids_are_128_random_bits_unique_across_batches() -> None:
    ids = RandomIds(batch=4)
    made = [ids.new() for _ in range(10)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", made_id) for made_id in made)
    assert len(set(made)) == len(made)
