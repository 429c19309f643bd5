"""While PostgreSQL cannot be reached: 503 with Retry-After and SERVICE_UNAVAILABLE at the
key lookup and inside resolvers, /readyz says so, the log says so once, nothing is
written, and full service returns by itself within 2 s.

The gateway reaches the machine's PostgreSQL through a TCP proxy of the test's own, which
the test cuts (refusing new connections and resetting the open ones) and restores: an
outage for this gateway alone, with the server itself untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_URL, make_settings, only_postgres, running_gateway
from tests.gateway import Gateway
from tests.processes import free_port

PAGE = {"query": "{ customers(first: 5) { nodes { id name } } }"}
CREATE = {
    "query": """mutation($input: CreateCustomerInput!) {
      createCustomer(input: $input) { customer { id } userErrors { code } }
    }""",
    "variables": {"input": {"name": "Once", "idempotencyKey": "outage-1"}},
}


@pytest.fixture
def backend() -> str:
    return only_postgres()


class Proxy:
    """127.0.0.1:port forwarding to PostgreSQL, until cut."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._open):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self._open.update((writer, upstream_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while chunk := await source.read(65536):
                    sink.write(chunk)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self._open.difference_update((writer, upstream_writer))


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    url = make_url(POSTGRES_URL)
    running = Proxy(url.host or "127.0.0.1", url.port or 5432)
    await running.start()
    yield running
    with contextlib.suppress(AssertionError):
        await running.cut()


@pytest.fixture
async def proxied(database: dict[str, Any], proxy: Proxy) -> AsyncIterator[Gateway]:
    url = make_url(POSTGRES_URL).set(host="127.0.0.1", port=proxy.port)
    settings = make_settings(
        database_url=url.render_as_string(hide_password=False),
        database_schema=database["database_schema"],
    )
    async with running_gateway(settings) as gateway:
        yield gateway


def assert_unavailable(status: int, body: Any, headers: Any) -> None:
    assert status == 503, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert "data" not in body
    assert int(headers["Retry-After"]) >= 1
    assert headers["X-Request-Id"]


async def test_an_outage_is_503_then_service_returns_by_itself(
    proxied: Gateway, proxy: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = proxied
    never_used = await gateway.mint_key("acme")  # its lookup will need the database
    assert (await gateway.send(PAGE))[0] == 200  # this key is now remembered

    await proxy.cut()
    with caplog.at_level(logging.WARNING):
        assert_unavailable(*await gateway.send(PAGE))  # inside a resolver
        assert_unavailable(*await gateway.send(CREATE))
        response = await gateway.client.post(
            "/graphql", json=PAGE, headers={"Authorization": f"Bearer {never_used}"}
        )
        assert_unavailable(response.status, await response.json(), response.headers)  # key
        assert (await gateway.client.get("/readyz")).status == 503
        for _ in range(5):
            assert (await gateway.send(PAGE))[0] == 503
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    outage = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(outage) == 1

    await proxy.start()
    back = time.monotonic()
    while (await gateway.send(PAGE))[0] != 200:
        assert time.monotonic() - back < 2.0, "service did not return within 2 s"
        await asyncio.sleep(0.05)
    assert (await gateway.client.get("/readyz")).status == 200

    # Nothing was written during the outage; the retried create applies exactly once.
    first = await gateway.send(CREATE)
    again = await gateway.send(CREATE)
    assert first[0] == again[0] == 200
    assert (
        first[1]["data"]["createCustomer"]["customer"]["id"]
        == again[1]["data"]["createCustomer"]["customer"]["id"]
    )
    _, listed, _ = await gateway.send(PAGE)
    assert [node["name"] for node in listed["data"]["customers"]["nodes"]] == ["Once"]
