"""ENVIRONMENT=production: each rule, its development counterpart, and refusing to start."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from app.customers import service
from tests.gateway import Gateway
from tests.live import socket
from tests.processes import (
    assert_one_clear_line,
    environment,
    free_port,
    run_cli,
    serving,
    start_serving,
    wait_until_healthy,
)

INTROSPECTION = "{ __schema { queryType { name } } }"
TYPO = "{ customerz(id: 1) { id } }"
ENUM_TYPO = """query($order: CustomerOrder) {
  customers(orderBy: $order) { nodes { id } }
}"""


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def get_page(gateway: Gateway) -> Any:
    return await gateway.client.get("/graphql", headers={"Accept": BROWSER_ACCEPT})


async def internal_error(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    async def explode(*_args: object, **_kwargs: object) -> None:
        raise ZeroDivisionError("/srv/secret/path.py SELECT 1")

    monkeypatch.setattr(service, "get_customer", explode)
    _, body = await gateway.post('{ customer(id: "cus_0000000000000000000000") { id } }')
    [error] = body["errors"]
    assert error["message"] == "Internal server error"
    assert "/srv" not in str(body) and "SELECT" not in str(body)
    return dict(error["extensions"])


class TestProduction:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"environment": "production"}

    async def test_introspection_is_refused_but_typename_works(self, gateway: Gateway) -> None:
        _, body = await gateway.post(INTROSPECTION)
        assert "data" not in body
        assert body["errors"]  # one per field that returns an introspection type
        for error in body["errors"]:
            assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
            assert "introspection has been disabled" in error["message"]
        assert await gateway.data("{ __typename }") == {"__typename": "Query"}
        _, body = await gateway.post('{ __type(name: "Customer") { name } }')
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"

    async def test_graphiql_and_its_assets_are_not_served(self, gateway: Gateway) -> None:
        response = await get_page(gateway)
        assert response.status == 401
        assert response.content_type == "application/json"
        assert "<html" not in await response.text()
        asset = await gateway.client.get("/graphiql/assets/graphiql.min.js")
        assert asset.status == 404

    async def test_no_suggestions_in_validation_or_variable_errors(self, gateway: Gateway) -> None:
        _, body = await gateway.post(TYPO)
        [error] = body["errors"]
        assert error["message"] == "Cannot query field 'customerz' on type 'Query'."
        _, body = await gateway.post(ENUM_TYPO, {"order": {"field": "NAM", "direction": "ASC"}})
        message = body["errors"][0]["message"]
        assert "NAM" in message and "Did you mean" not in message
        # graphql-core suggests syntax even with hide_suggestions; production drops it too.
        _, body = await gateway.post("{ customers }")
        [error] = body["errors"]
        assert error["message"] == (
            "Field 'customers' of type 'CustomerConnection!' must have a selection of subfields."
        )

    async def test_internal_errors_carry_no_detail(
        self, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        extensions = await internal_error(gateway, monkeypatch)
        assert set(extensions) == {"code", "requestId"}

    async def test_the_socket_keeps_every_rule(self, gateway: Gateway) -> None:
        url = str(gateway.client.make_url("/graphql"))
        async with socket(url, None) as refused:
            await refused.init("sk_test_unknown0000000000000000000000")
            assert await refused.closed() == 4403
        async with socket(url, gateway.key) as ws:
            await ws.subscribe("introspection", INTROSPECTION)
            introspection = await ws.of("introspection")
            assert introspection["type"] == "error"
            assert "introspection has been disabled" in introspection["payload"][0]["message"]
            await ws.subscribe("typo", TYPO)
            typo = await ws.of("typo")
            assert (
                typo["payload"][0]["message"] == "Cannot query field 'customerz' on type 'Query'."
            )
            await ws.subscribe("events", 'subscription { customerEvents(after: "nope") { id } }')
            bad_after = await ws.of("events")
            assert bad_after["payload"]["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


class TestProductionWithBothEnabled:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"environment": "production", "introspection": True, "graphiql": True}

    async def test_introspection_and_graphiql_can_be_turned_on(self, gateway: Gateway) -> None:
        assert await gateway.data(INTROSPECTION) == {"__schema": {"queryType": {"name": "Query"}}}
        response = await get_page(gateway)
        assert response.status == 200
        assert response.content_type == "text/html"
        _, body = await gateway.post(TYPO)
        assert "Did you mean" not in body["errors"][0]["message"]


class TestDevelopment:
    async def test_introspection_graphiql_and_suggestions(self, gateway: Gateway) -> None:
        assert await gateway.data(INTROSPECTION) == {"__schema": {"queryType": {"name": "Query"}}}
        response = await get_page(gateway)
        assert response.status == 200
        assert "Authorization" in await response.text()
        _, body = await gateway.post(TYPO)
        assert "Did you mean 'customer'" in body["errors"][0]["message"]
        _, body = await gateway.post(ENUM_TYPO, {"order": {"field": "NAM", "direction": "ASC"}})
        assert "Did you mean" in body["errors"][0]["message"]

    async def test_internal_errors_name_the_exception_class_only(
        self, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        extensions = await internal_error(gateway, monkeypatch)
        assert extensions["exception"] == "ZeroDivisionError"


def production_env(database_url: str, **extra: str) -> dict[str, str]:
    return environment({"database_url": database_url}, ENVIRONMENT="production", **extra)


def test_refuses_an_sqlite_path_it_cannot_write(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    url = f"sqlite+aiosqlite:///{blocker / 'customers.sqlite3'}"
    result = run_cli(production_env(url), "serve", "--port", str(free_port()))
    assert_one_clear_line(result, "refusing to start in production", str(blocker))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only directory")
def test_refuses_a_read_only_directory(tmp_path: Path) -> None:
    directory = tmp_path / "read-only"
    directory.mkdir(mode=0o500)
    url = f"sqlite+aiosqlite:///{directory / 'customers.sqlite3'}"
    result = run_cli(production_env(url), "serve", "--port", str(free_port()))
    assert_one_clear_line(result, "refusing to start in production", str(directory))


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"CORS_ORIGINS": "*"}, "CORS_ORIGINS='*'"),
        ({"CORS_ORIGINS": "https://app.example.com, *"}, "CORS_ORIGINS='*'"),
        ({"DATABASE_URL": "sqlite+aiosqlite://"}, "in-memory"),
    ],
)
def test_refuses_unsafe_settings(tmp_path: Path, extra: dict[str, str], fragment: str) -> None:
    env = production_env(f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}", **extra)
    result = run_cli(env, "serve", "--port", str(free_port()))
    assert_one_clear_line(result, "invalid settings", fragment)


def test_development_allows_cors_star(tmp_path: Path) -> None:
    env = environment(
        {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}"}, CORS_ORIGINS="*"
    )
    result = run_cli(env, "migrate")
    assert result.returncode == 0, result.stderr


async def test_a_safe_production_configuration_starts(tmp_path: Path) -> None:
    env = production_env(
        f"sqlite+aiosqlite:///{tmp_path / 'new' / 'c.sqlite3'}",
        CORS_ORIGINS="https://app.example.com",
    )
    async with serving(env, free_port()) as url:
        assert url.endswith("/graphql")
    assert (tmp_path / "new" / "c.sqlite3").is_file()


@pytest.mark.parametrize(
    ("extra", "warned"),
    [
        ({}, True),
        ({"PERSISTED_DOCUMENTS": "apq"}, False),
        ({"PERSISTED_DOCUMENTS": "trusted"}, False),
    ],
)
async def test_production_recommends_trusted_documents_when_no_mode_is_set(
    tmp_path: Path, extra: dict[str, str], warned: bool
) -> None:
    env = production_env(f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}", **extra)
    port = free_port()
    process = await start_serving(env, port, stderr=asyncio.subprocess.PIPE)
    try:
        await wait_until_healthy(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    warnings = [line for line in stderr.decode().splitlines() if line.startswith("warning:")]
    assert len(warnings) == (1 if warned else 0), warnings
    if warned:
        assert "PERSISTED_DOCUMENTS=trusted" in warnings[0] and "apq mode" in warnings[0]
