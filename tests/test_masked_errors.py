"""Unexpected failures reach the client masked; the log keeps the detail and the request id."""

from __future__ import annotations

import logging

import pytest

from app.customers import service
from tests.gateway import Gateway


async def test_unexpected_resolver_failure_is_masked(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("SELECT secret FROM customers -- /srv/app/customers.py")

    monkeypatch.setattr(service, "get_customer", explode)
    with caplog.at_level(logging.ERROR, logger="app.errors"):
        response = await gateway.client.post(
            "/graphql",
            json={"query": '{ customer(id: "cus_0000000000000000000000") { id } }'},
            headers={"Authorization": f"Bearer {gateway.key}"},
        )
    assert response.status == 200
    request_id = response.headers["X-Request-Id"]
    text = await response.text()
    assert "SELECT" not in text and "/srv" not in text and "Traceback" not in text
    body = await response.json()
    assert body["data"] == {"customer": None}
    [error] = body["errors"]
    assert error["message"] == "Internal server error"
    assert error["path"] == ["customer"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["extensions"]["requestId"] == request_id
    assert request_id in caplog.text
    assert "SELECT secret FROM customers" in caplog.text
