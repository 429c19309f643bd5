"""Persisted documents over HTTP: the three modes, their error codes and statuses, what is
stored and when, the memory that spares round trips, and HTTP caching of GETs by id."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import graphql
import pytest
from sqlalchemy import select

from app.documents import registry
from app.documents.registry import NewDocument, add_documents
from app.web import documents as document_checks
from app.web.state import PERSISTED
from tests.gateway import Gateway
from tests.statements import recorded_statements

GRAPHQL_RESPONSE = "application/graphql-response+json"
PAGE = "query Page($first: Int!) { customers(first: $first) { nodes { id name } } }"
TYPENAME = "query Typename { __typename }"
CREATE = 'mutation Create { createCustomer(input: {name: "Ada"}) { customer { id } } }'


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(text: str | None, document_hash: str, **extra: Any) -> dict[str, Any]:
    """An Apollo automatic persisted query: the hash, and the text when given."""
    body: dict[str, Any] = {
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": document_hash}},
        **extra,
    }
    if text is not None:
        body["query"] = text
    return body


async def stored(gateway: Gateway) -> dict[str, str]:
    async with gateway.engine.connect() as connection:
        rows = await connection.execute(
            select(registry.documents.c.id, registry.documents.c.source)
        )
        return {row.id: row.source for row in rows}


async def store_documents(gateway: Gateway, *texts: str) -> None:
    """Documents stored as the `documents add` command stores them."""
    async with gateway.engine.begin() as connection:
        await add_documents(
            connection,
            [NewDocument.of(text, graphql.parse(text)) for text in texts],
            source=registry.SOURCE_FILE,
        )


def code_of(body: dict[str, Any]) -> str:
    [error] = body["errors"]
    code: str = error["extensions"]["code"]
    return code


@pytest.mark.parametrize(
    ("accept", "refused_status"), [("application/json", 200), (GRAPHQL_RESPONSE, 400)]
)
async def test_apq_registers_a_hash_sent_with_its_text_then_runs_it_by_hash(
    gateway: Gateway, accept: str, refused_status: int
) -> None:
    document_hash = sha256(PAGE)
    variables = {"variables": {"first": 2}}

    status, body, _ = await gateway.send(apq(None, document_hash, **variables), accept=accept)
    assert (status, code_of(body)) == (refused_status, "PERSISTED_QUERY_NOT_FOUND")
    assert "data" not in body
    assert await stored(gateway) == {}

    status, body, _ = await gateway.send(apq(PAGE, document_hash, **variables), accept=accept)
    assert (status, body) == (200, {"data": {"customers": {"nodes": []}}})
    assert await stored(gateway) == {document_hash: "apq"}

    await gateway.create_customer(name="Grace")
    for by_id in (
        apq(None, document_hash, **variables),
        {"documentId": f"sha256:{document_hash}", **variables},
        {"documentId": document_hash.upper(), **variables},
    ):
        status, body, _ = await gateway.send(by_id, accept=accept)
        assert status == 200, body
        assert [node["name"] for node in body["data"]["customers"]["nodes"]] == ["Grace"]


async def test_a_hash_that_is_not_the_texts_is_refused_and_nothing_is_stored(
    gateway: Gateway,
) -> None:
    for body in (apq(PAGE, sha256(TYPENAME)), {"documentId": sha256(TYPENAME), "query": PAGE}):
        status, answer, _ = await gateway.send(body, accept=GRAPHQL_RESPONSE)
        assert (status, code_of(answer)) == (400, "PERSISTED_QUERY_HASH_MISMATCH")
    assert await stored(gateway) == {}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("query { customers(first: 1) { nodes { id } ", "GRAPHQL_PARSE_FAILED"),
        ("query { customers(first: 1) { nodes { nope } } }", "GRAPHQL_VALIDATION_FAILED"),
        ("query { " + "a: __typename " * 31 + "}", "QUERY_TOO_COMPLEX"),
    ],
)
async def test_apq_stores_only_documents_that_pass_every_check(
    gateway: Gateway, text: str, code: str
) -> None:
    status, body, _ = await gateway.send(apq(text, sha256(text)))
    assert status == 200
    assert body["errors"][0]["extensions"]["code"] == code
    assert await stored(gateway) == {}


@pytest.mark.parametrize("settings_overrides", [{"max_node_budget": 10}])
async def test_apq_stores_nothing_over_the_node_budget(gateway: Gateway) -> None:
    body = apq(PAGE, sha256(PAGE), variables={"first": 50})
    status, answer, _ = await gateway.send(body)
    assert (status, code_of(answer)) == (200, "QUERY_TOO_COMPLEX")
    assert await stored(gateway) == {}
    status, answer, _ = await gateway.send({**body, "variables": {"first": 5}})
    assert (status, answer) == (200, {"data": {"customers": {"nodes": []}}})
    assert await stored(gateway) == {sha256(PAGE): "apq"}


async def test_free_text_runs_in_apq_mode_and_is_not_stored(gateway: Gateway) -> None:
    assert await gateway.data(TYPENAME) == {"__typename": "Query"}
    assert await stored(gateway) == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"documentId": "abc"}, "documentId must be 'sha256:'"),
        ({"documentId": 12}, "documentId must be 'sha256:'"),
        ({"documentId": "md5:" + "a" * 64}, "documentId must be 'sha256:'"),
        (
            {"extensions": {"persistedQuery": {"version": 2, "sha256Hash": "a" * 64}}},
            "extensions.persistedQuery must be",
        ),
        (
            {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "a" * 63}}},
            "extensions.persistedQuery must be",
        ),
        (
            {"documentId": "a" * 64, **apq(None, "b" * 64)},
            "name different documents",
        ),
        ({}, "Send the document as a non-empty query string, or its documentId."),
    ],
)
async def test_malformed_ids_are_bad_requests(
    gateway: Gateway, body: dict[str, Any], message: str
) -> None:
    status, answer, _ = await gateway.send(body)
    assert status == 400
    assert code_of(answer) == "BAD_REQUEST"
    assert message in answer["errors"][0]["message"]


@pytest.mark.parametrize("settings_overrides", [{"persisted_documents": "trusted"}])
@pytest.mark.parametrize(
    ("accept", "refused_status"), [("application/json", 200), (GRAPHQL_RESPONSE, 400)]
)
async def test_trusted_runs_only_stored_documents_and_stores_none(
    gateway: Gateway, accept: str, refused_status: int
) -> None:
    await store_documents(gateway, PAGE)
    unknown = "query Other { __typename }"
    refusals = [
        ({"query": unknown}, "PERSISTED_QUERY_NOT_IN_LIST"),
        ({"documentId": sha256(unknown)}, "PERSISTED_QUERY_NOT_FOUND"),
        (apq(None, sha256(unknown)), "PERSISTED_QUERY_NOT_FOUND"),
        (apq(unknown, sha256(unknown)), "PERSISTED_QUERY_NOT_IN_LIST"),
        (apq(unknown, sha256(PAGE)), "PERSISTED_QUERY_HASH_MISMATCH"),
    ]
    for body, code in refusals:
        status, answer, _ = await gateway.send(body, accept=accept)
        assert (status, code_of(answer)) == (refused_status, code), body
    assert await stored(gateway) == {sha256(PAGE): "file"}

    variables = {"variables": {"first": 1}}
    for body in (
        {"documentId": f"sha256:{sha256(PAGE)}", **variables},
        apq(None, sha256(PAGE), **variables),
        {"query": PAGE, **variables},  # the exact text of a stored document
    ):
        status, answer, _ = await gateway.send(body, accept=accept)
        assert (status, answer) == (200, {"data": {"customers": {"nodes": []}}}), body


@pytest.mark.parametrize("settings_overrides", [{"persisted_documents": "off"}])
async def test_off_refuses_ids_and_runs_text(gateway: Gateway) -> None:
    await store_documents(gateway, TYPENAME)
    for body in ({"documentId": sha256(TYPENAME)}, apq(TYPENAME, sha256(TYPENAME))):
        status, answer, _ = await gateway.send(body, accept=GRAPHQL_RESPONSE)
        assert (status, code_of(answer)) == (400, "PERSISTED_QUERY_NOT_SUPPORTED")
    assert await gateway.data(TYPENAME) == {"__typename": "Query"}


async def test_a_stored_document_is_checked_once_and_looked_up_once(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store_documents(gateway, TYPENAME)
    validated: list[object] = []
    validate = graphql.validate

    def counted(*args: Any, **kwargs: Any) -> Any:
        validated.append(args[1])
        return validate(*args, **kwargs)

    monkeypatch.setattr(document_checks, "validate", counted)
    await gateway.data(TYPENAME)  # the key is remembered from here on
    with recorded_statements(gateway.store) as first:
        status, body, _ = await gateway.send({"documentId": sha256(TYPENAME)})
    assert (status, body) == (200, {"data": {"__typename": "Query"}})
    assert len(first) == 1 and "persisted_documents" in first[0]
    with recorded_statements(gateway.store) as later:
        for _ in range(3):
            status, body, _ = await gateway.send({"documentId": sha256(TYPENAME)})
            assert status == 200
    assert later == []
    assert len(validated) == 1


async def test_a_stored_page_runs_on_the_fast_path(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store_documents(gateway, PAGE)
    await gateway.create_customer(name="Ada")

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("graphql.execute ran a document the fast path plans")

    monkeypatch.setattr(graphql, "execute", refuse)
    status, body, _ = await gateway.send({"documentId": sha256(PAGE), "variables": {"first": 5}})
    assert status == 200
    assert [node["name"] for node in body["data"]["customers"]["nodes"]] == ["Ada"]


async def test_a_removed_document_stops_running_once_the_memory_of_it_expires(
    gateway: Gateway,
) -> None:
    await store_documents(gateway, TYPENAME)
    by_id = {"documentId": sha256(TYPENAME)}
    assert (await gateway.send(by_id))[0:2] == (200, {"data": {"__typename": "Query"}})
    async with gateway.engine.begin() as connection:
        assert await registry.remove_document(connection, sha256(TYPENAME))
    assert (await gateway.send(by_id))[0] == 200  # remembered
    texts = gateway.client.app[PERSISTED].texts
    later = texts.clock() + registry.REMEMBER_SECONDS + 0.1
    texts.clock = lambda: later
    status, body, _ = await gateway.send(by_id)
    assert (status, code_of(body)) == (200, "PERSISTED_QUERY_NOT_FOUND")


async def test_the_log_names_the_document(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    anonymous = "{ __typename }"
    await store_documents(gateway, anonymous)
    with caplog.at_level(logging.INFO, logger="app.access"):
        await gateway.send({"documentId": sha256(anonymous)})
    [record] = [r for r in caplog.records if r.name == "app.access"]
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["operation"] is None
    assert fields["document_id"] == sha256(anonymous)


async def get(gateway: Gateway, params: dict[str, str], **headers: str) -> Any:
    return await gateway.client.get(
        "/graphql",
        params=params,
        headers={"Authorization": f"Bearer {gateway.key}", **headers},
    )


async def test_a_get_by_id_carries_an_etag_and_is_revalidated(gateway: Gateway) -> None:
    await store_documents(gateway, PAGE, CREATE)
    params = {"documentId": f"sha256:{sha256(PAGE)}", "variables": '{"first": 5}'}

    response = await get(gateway, params)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert "Authorization, Accept" in response.headers.getall("Vary")
    tag = response.headers["ETag"]
    assert tag.startswith('"') and tag.endswith('"')
    first_body = await response.read()

    for if_none_match in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        response = await get(gateway, params, **{"If-None-Match": if_none_match})
        assert response.status == 304, if_none_match
        assert await response.read() == b""
        assert response.headers["ETag"] == tag
        assert response.headers["Cache-Control"] == "private, no-cache"
        assert response.headers["X-Request-Id"]

    await gateway.create_customer(name="Changed")
    response = await get(gateway, params, **{"If-None-Match": tag})
    assert response.status == 200
    assert response.headers["ETag"] != tag
    assert await response.read() != first_body

    mutation = await get(gateway, {"documentId": sha256(CREATE)})
    assert mutation.status == 405
    assert "ETag" not in mutation.headers


async def test_only_gets_by_id_are_cacheable(gateway: Gateway) -> None:
    await store_documents(gateway, TYPENAME)
    by_text = await get(gateway, {"query": TYPENAME})
    assert by_text.status == 200
    assert by_text.headers["Cache-Control"] == "no-store"
    assert "ETag" not in by_text.headers
    status, _, headers = await gateway.send({"documentId": sha256(TYPENAME)})
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert "ETag" not in headers
    unknown = await get(gateway, {"documentId": "f" * 64})
    assert unknown.status == 200
    assert unknown.headers["Cache-Control"] == "no-store"
    assert "ETag" not in unknown.headers
