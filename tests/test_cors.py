"""CORS: configured origins, the development default, preflights, and production's none."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway import Gateway

APP = "https://app.example.com"
OTHER = "https://evil.example.net"
QUERY = {"query": "{ __typename }"}


@pytest.fixture
def backend() -> str:
    # CORS happens before any query; one backend is enough.
    return "sqlite"


def split(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(",")}


async def preflight(gateway: Gateway, origin: str, method: str = "POST") -> Any:
    return await gateway.client.options(
        "/graphql",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


async def post_from(gateway: Gateway, origin: str, key: str | None = None) -> Any:
    return await gateway.client.post(
        "/graphql",
        json=QUERY,
        headers={"Origin": origin, "Authorization": f"Bearer {key or gateway.key}"},
    )


class TestConfiguredOrigins:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"cors_origins": f"{APP}, http://localhost:5173"}

    async def test_preflight_from_an_allowed_origin(self, gateway: Gateway) -> None:
        response = await preflight(gateway, APP)
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == APP
        assert split(response.headers["Access-Control-Allow-Methods"]) == {"get", "post"}
        allowed = split(response.headers["Access-Control-Allow-Headers"])
        assert {"authorization", "content-type"} <= allowed
        # Apollo Client's clientAwareness headers, and trace context.
        assert {"apollographql-client-name", "apollographql-client-version"} <= allowed
        assert {"traceparent", "tracestate"} <= allowed
        assert int(response.headers["Access-Control-Max-Age"]) > 0
        assert "X-Request-Id" in response.headers
        assert "Origin" in response.headers.getall("Vary")

    async def test_preflight_from_another_origin_is_refused(self, gateway: Gateway) -> None:
        response = await preflight(gateway, OTHER)
        assert response.status == 403
        assert "Access-Control-Allow-Origin" not in response.headers
        body = await response.json()
        assert "CORS_ORIGINS" in body["errors"][0]["message"]
        # The development default (localhost, any port) is replaced by the list.
        assert (await preflight(gateway, "http://localhost:3000")).status == 403

    async def test_actual_request_exposes_the_request_id(self, gateway: Gateway) -> None:
        response = await post_from(gateway, APP)
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == APP
        exposed = split(response.headers["Access-Control-Expose-Headers"])
        assert {"x-request-id", "ratelimit-remaining", "retry-after"} <= exposed
        assert "Origin" in response.headers.getall("Vary")
        assert await response.json() == {"data": {"__typename": "Query"}}

    async def test_errors_are_readable_by_the_allowed_origin(self, gateway: Gateway) -> None:
        response = await post_from(gateway, APP, key="sk_test_wrong")
        assert response.status == 401
        assert response.headers["Access-Control-Allow-Origin"] == APP
        assert "X-Request-Id" in response.headers

    async def test_other_origins_get_no_cors_headers(self, gateway: Gateway) -> None:
        response = await post_from(gateway, OTHER)
        # The server answers (CORS is enforced by the browser), but grants nothing.
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Access-Control-Expose-Headers" not in response.headers

    async def test_origins_match_exactly(self, gateway: Gateway) -> None:
        for near_miss in (
            "https://app.example.com:8443",
            "http://app.example.com",
            "https://app.example.com.evil.net",
        ):
            assert (await preflight(gateway, near_miss)).status == 403
        assert (await preflight(gateway, "http://localhost:5173")).status == 204


class TestDevelopmentDefault:
    async def test_loopback_origins_on_any_port_are_allowed(self, gateway: Gateway) -> None:
        for origin in ("http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080"):
            response = await preflight(gateway, origin)
            assert response.status == 204, origin
            assert response.headers["Access-Control-Allow-Origin"] == origin

    async def test_other_origins_are_not(self, gateway: Gateway) -> None:
        for origin in (APP, "http://localhost.evil.net", "https://localhost:5173"):
            assert (await preflight(gateway, origin)).status == 403, origin


class TestProductionDefault:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"environment": "production"}

    async def test_nothing_is_allowed(self, gateway: Gateway) -> None:
        for origin in ("http://localhost:5173", APP):
            assert (await preflight(gateway, origin)).status == 403
            response = await post_from(gateway, origin)
            assert response.status == 200
            assert "Access-Control-Allow-Origin" not in response.headers


class TestProductionConfigured:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"environment": "production", "cors_origins": APP}

    async def test_only_the_listed_origin(self, gateway: Gateway) -> None:
        assert (await preflight(gateway, APP)).status == 204
        assert (await preflight(gateway, "http://localhost:5173")).status == 403


async def test_options_without_preflight_headers_is_405(gateway: Gateway) -> None:
    response = await gateway.client.options("/graphql")
    assert response.status == 405
    assert response.headers["Allow"] == "GET, POST"
