"""JSON-array batches (Apollo's BatchHttpLink, Strawberry's batching): each operation is
read, checked, executed, logged and answered on its own, in order."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from app.customers import service
from tests.gateway import Gateway
from tests.test_persisted_documents import GRAPHQL_RESPONSE, sha256

CREATE = """mutation Create($name: String!) {
  createCustomer(input: {name: $name}) { customer { id name } userErrors { code } }
}"""
COUNT = "query Count { customers { totalCount } }"


async def test_operations_run_in_order_and_each_sees_the_ones_before(gateway: Gateway) -> None:
    status, answers, _ = await gateway.send(
        [
            {"query": COUNT},
            {"query": CREATE, "variables": {"name": "Ada"}},
            {"query": CREATE, "variables": {"name": "Grace"}},
            {"query": COUNT, "operationName": "Count"},
        ],
    )
    assert status == 200
    assert [answer["data"] for answer in (answers[0], answers[3])] == [
        {"customers": {"totalCount": 0}},
        {"customers": {"totalCount": 2}},
    ]
    names = [answer["data"]["createCustomer"]["customer"]["name"] for answer in answers[1:3]]
    assert names == ["Ada", "Grace"]
    assert await gateway.stored_customers() == 2


async def test_a_failing_operation_is_answered_on_its_own(gateway: Gateway) -> None:
    status, answers, _ = await gateway.send(
        [
            {"query": "{ customers { nodes { id } "},
            {"query": "{ customers { nope } }"},
            {"query": "{ customers(first: 1001) { nodes { id } } }"},
            {"variables": {}},
            {"documentId": sha256("{ __typename }")},
            {"query": COUNT},
        ],
    )
    assert status == 200
    codes = [[e["extensions"]["code"] for e in answer.get("errors", [])] for answer in answers]
    assert codes == [
        ["GRAPHQL_PARSE_FAILED"],
        ["GRAPHQL_VALIDATION_FAILED"],
        ["BAD_USER_INPUT"],
        ["BAD_REQUEST"],
        ["PERSISTED_QUERY_NOT_FOUND"],
        [],
    ]
    assert answers[5] == {"data": {"customers": {"totalCount": 0}}}


@pytest.mark.parametrize("settings_overrides", [{"max_batch_operations": 3}])
@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ([{"query": COUNT}] * 4, "QUERY_TOO_COMPLEX", "at most 3 operations; this one holds 4"),
        ([], "BAD_REQUEST", "at least one operation"),
        ([{"query": COUNT}, "query"], "BAD_REQUEST", "must be a JSON object"),
    ],
)
async def test_a_batch_beyond_the_limit_or_malformed_is_one_request_error(
    gateway: Gateway, body: Any, code: str, message: str
) -> None:
    status, answer, _ = await gateway.send(body)
    assert status == 400
    [error] = answer["errors"]
    assert error["extensions"]["code"] == code
    assert message in error["message"]
    assert await gateway.stored_customers() == 0


async def test_apq_registration_inside_a_batch(gateway: Gateway) -> None:
    text = "query Typename { __typename }"
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256(text)}}
    status, answers, _ = await gateway.send(
        [
            {"extensions": extensions},
            {"query": text, "extensions": extensions},
            {"extensions": extensions},
        ],
        accept="application/json",
    )
    assert status == 200
    assert answers[0]["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert answers[1:] == [{"data": {"__typename": "Query"}}] * 2


async def test_each_operation_is_logged(gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        await gateway.send(
            [{"query": COUNT}, {"query": "{ __typename }"}, {"query": "{"}],
            accept=GRAPHQL_RESPONSE,
        )
    [record] = [r for r in caplog.records if r.name == "app.access"]
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["status"] == 200
    assert fields["operations"] == [
        {"operation": "Count", "type": "query", "cost": 51, "status": 200},
        {"operation": None, "type": "query", "cost": 1, "status": 200},
        {"operation": None, "status": 400},
    ]


@pytest.mark.parametrize("settings_overrides", [{"request_timeout_seconds": 0.3}])
async def test_one_time_limit_covers_the_whole_batch(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = service.count_customers

    async def slow_count(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.2)
        return await count(*args, **kwargs)

    monkeypatch.setattr(service, "count_customers", slow_count)
    status, answers, _ = await gateway.send([{"query": COUNT}] * 3)
    assert status == 200
    assert answers[0] == {"data": {"customers": {"totalCount": 0}}}
    for answer in answers[1:]:
        assert answer["errors"][0]["extensions"]["limit"] == "time"
