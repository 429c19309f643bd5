"""Apollo Client (npm, pinned) against the gateway: its persisted-queries link recovers
from PERSISTED_QUERY_NOT_FOUND by itself, and its BatchHttpLink gets one answer per
operation."""

from __future__ import annotations

import pytest

from tests.audit.node import require_node_package, run_script
from tests.gateway import Gateway


@pytest.fixture
def backend() -> str:
    # The links exercise the HTTP layer; the documents table is tested on both backends.
    return "sqlite"


async def test_persisted_queries_link_and_batch_link(gateway: Gateway) -> None:
    require_node_package("@apollo/client")
    await gateway.create_customer(name="Ada")
    url = str(gateway.client.make_url("/graphql"))
    first, again, by_get, batched = await run_script("apollo-client.mjs", url, gateway.key)

    # First use: the hash alone (refused as not found), then the hash with the text.
    assert [(r["method"], r["hasHash"], r["hasQueryText"]) for r in first["requests"]] == [
        ("POST", True, False),
        ("POST", True, True),
    ]
    assert first["requests"][0]["status"] == 400  # graphql-response+json: a request error
    assert first["requests"][1]["status"] == 200
    [result] = first["results"]
    assert [node["name"] for node in result["customers"]["nodes"]] == ["Ada"]

    # Another client (an app reloaded): the gateway knows the hash, one request, no text.
    assert [(r["hasHash"], r["hasQueryText"], r["status"]) for r in again["requests"]] == [
        (True, False, 200)
    ]
    assert again["results"] == first["results"]

    # useGETForHashedQueries: a small GET that carries an ETag.
    [request] = by_get["requests"]
    assert (request["method"], request["status"], request["hasQueryText"]) == ("GET", 200, False)
    assert request["etag"]
    assert by_get["results"] == first["results"]

    # BatchHttpLink: both operations in one request, both answered.
    [request] = batched["requests"]
    assert isinstance(request["body"], list) and len(request["body"]) == 2
    assert request["status"] == 200
    count, page_result = batched["results"]
    assert count["customers"]["totalCount"] == 1
    assert page_result["customers"]["nodes"][0]["name"] == "Ada"
