"""GET /metrics: every series the README names, counted against the requests sent, parsed
with prometheus-client's own parser; bounded labels; who may read it."""

from __future__ import annotations

import hashlib
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.customers import service
from tests.gateway import Gateway
from tests.processes import environment, free_port, serving


@pytest.fixture
def backend() -> str:
    # Metrics are the HTTP edge's; the gauges read the same Store on both backends.
    return "sqlite"


async def scrape(gateway: Gateway, **headers: str) -> dict[tuple[str, tuple[Any, ...]], float]:
    response = await gateway.client.get("/metrics", headers=headers)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(await response.text())


def samples(text: str) -> dict[tuple[str, tuple[Any, ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def operations(found: dict[tuple[str, tuple[Any, ...]], float], **labels: str) -> float:
    return sum(
        value
        for (name, sample_labels), value in found.items()
        if name == "gateway_graphql_operations_total"
        and labels.items() <= dict(sample_labels).items()
    )


@pytest.mark.parametrize(
    "settings_overrides", [{"rate_limit_bucket": 100, "rate_limit_restore_per_second": 1}]
)
async def test_operations_are_counted_by_name_type_outcome_and_client(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing = "query Listing { customers(first: 2) { nodes { id } } }"
    app = {"apollographql-client-name": "dashboard", "apollographql-client-version": "1.2"}
    for _ in range(3):
        assert (await gateway.post(listing, headers=app))[0] == 200
    await gateway.post("query Wrong { customers(first: 0) { nodes { id } } }")  # BAD_USER_INPUT
    await gateway.post("{ customers { nodes { id } ")  # does not parse
    await gateway.post(
        'mutation Invalid { createCustomer(input: {email: "nope"}) { userErrors { code } } }'
    )

    async def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(service, "get_customer", explode)
    await gateway.post('query Broken { customer(id: "cus_x") { id } }')
    await gateway.post(
        "query Costly { customers(first: 40) { nodes { id } } }"
    )  # 41 of the 77 left
    status, _ = await gateway.post("query Costly { customers(first: 40) { nodes { id } } }")
    assert status == 429

    found = await scrape(gateway)
    assert operations(found, operation="Listing", type="query", outcome="ok") == 3
    assert operations(found, operation="Listing", client="dashboard") == 3
    assert operations(found, operation="Wrong", outcome="user_error") == 1
    assert operations(found, operation="anonymous", outcome="bad_request", type="unknown") == 1
    assert operations(found, operation="Invalid", type="mutation", outcome="user_error") == 1
    assert operations(found, operation="Broken", outcome="error") == 1
    assert operations(found, operation="Costly", outcome="ok") == 1
    assert operations(found, operation="Costly", outcome="bad_request") == 1
    assert operations(found) == 9
    assert found[("gateway_rate_limited_total", ())] == 1
    durations = ("gateway_graphql_operation_duration_seconds_count",)
    listing_labels = (("operation", "Listing"), ("type", "query"))
    assert found[(durations[0], listing_labels)] == 3
    assert found[("gateway_http_requests_total", (("status", "429"),))] == 1
    assert found[("gateway_http_requests_total", (("status", "200"),))] == 8
    assert ("gateway_db_connections_in_use", ()) in found
    assert found[("gateway_db_connections_waiting", ())] == 0


async def test_labels_are_bounded_and_carry_no_client_input(gateway: Gateway) -> None:
    secret_email = "someone.private@example.com"
    for number in range(105):
        query = f'query Op{number} {{ customers(filter: {{email: {{eq: "{secret_email}"}}}}) '
        query += "{ totalCount } }"
        status, _ = await gateway.post(
            query, headers={"apollographql-client-name": f"client-{number % 30}"}
        )
        assert status == 200
    response = await gateway.client.get("/metrics")
    text = await response.text()
    assert secret_email not in text and gateway.key not in text
    found = samples(text)
    names = {
        dict(labels)["operation"]
        for (name, labels), _ in found.items()
        if name == "gateway_graphql_operations_total"
    }
    assert len(names) == 101 and "other" in names
    clients = {
        dict(labels)["client"]
        for (name, labels), _ in found.items()
        if name == "gateway_graphql_operations_total"
    }
    assert len(clients) == 21 and "other" in clients
    assert operations(found, operation="other") == 5


async def test_a_persisted_document_is_named_by_its_id(gateway: Gateway) -> None:
    text = "{ __typename }"
    digest = hashlib.sha256(text.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    assert (await gateway.send({"query": text, "extensions": extensions}))[0] == 200
    found = await scrape(gateway)
    assert operations(found, operation=f"sha256:{digest}", outcome="ok") == 1


class TestProduction:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"environment": "production"}

    async def test_not_served_without_a_token(self, gateway: Gateway) -> None:
        assert (await gateway.client.get("/metrics")).status == 404


class TestToken:
    TOKEN = "a-token-for-the-scraper-0123456789"

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"environment": "production", "metrics_token": self.TOKEN}

    async def test_only_with_the_token(self, gateway: Gateway) -> None:
        assert (await gateway.client.get("/metrics")).status == 401
        wrong = {"Authorization": "Bearer not-the-token-at-all-000"}
        assert (await gateway.client.get("/metrics", headers=wrong)).status == 401
        await scrape(gateway, Authorization=f"Bearer {self.TOKEN}")


async def test_a_metrics_port_of_its_own_on_localhost(tmp_path: Any) -> None:
    metrics_port = free_port()
    env = environment(
        {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}"},
        ENVIRONMENT="production",
        METRICS_PORT=str(metrics_port),
    )
    async with serving(env, free_port()) as url, aiohttp.ClientSession() as session:
        async with session.get(url.replace("/graphql", "/metrics")) as main:
            assert main.status == 404
        async with session.get(f"http://127.0.0.1:{metrics_port}/metrics") as local:
            assert local.status == 200
            found = samples(await local.text())
    assert ("gateway_db_connections_in_use", ()) in found
