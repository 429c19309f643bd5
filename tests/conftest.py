"""Fixtures: the real aiohttp app over HTTP on a fresh database per test, on each backend.

SQLite always runs. PostgreSQL runs when GATEWAY_TEST_POSTGRES_URL is set (each test
gets a schema of its own); with GATEWAY_REQUIRE_POSTGRES=1 the run fails if no
PostgreSQL test ran, so CI cannot pass on SQLite alone.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.accounts import keys
from app.settings import Settings
from app.web.app import create_app
from app.web.state import CURSORS, KEY_CACHE, STORE
from tests.gateway import Gateway
from tests.processes import TEST_BUCKET

# CI runs once on the submitted tree: fixed examples there, so a green run here is the
# run CI repeats; local runs keep exploring new examples.
hypothesis.settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")

POSTGRES_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("GATEWAY_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", *(["postgres"] if POSTGRES_URL else [])]

_postgres_outcomes = {"passed": 0, "failed": 0}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def only_postgres() -> str:
    """The `backend` of a module whose tests need a database server: PostgreSQL, or a
    skip where none is given (CI gives one, and requires PostgreSQL tests to pass)."""
    if not POSTGRES_URL:
        pytest.skip("needs GATEWAY_TEST_POSTGRES_URL (CI sets it and requires it)")
    return "postgres"


@pytest.fixture
async def database(backend: str, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """Settings for a database nobody else uses: a new SQLite file or PostgreSQL schema."""
    async with new_database(backend, tmp_path) as values:
        yield values


@contextlib.asynccontextmanager
async def new_database(backend: str, directory: Path) -> AsyncIterator[dict[str, Any]]:
    """Settings for a new database: a SQLite file in `directory` or a PostgreSQL schema
    (dropped afterwards)."""
    if backend == "sqlite":
        yield {"database_url": f"sqlite+aiosqlite:///{directory / 'customers.sqlite3'}"}
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(POSTGRES_URL)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield {"database_url": POSTGRES_URL, "database_schema": schema}
    finally:
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


def make_settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **{"rate_limit_bucket": TEST_BUCKET, **values})


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Tests override this fixture to start the gateway with other settings."""
    return {}


@pytest.fixture
async def gateway(
    database: dict[str, Any], settings_overrides: dict[str, Any]
) -> AsyncIterator[Gateway]:
    async with running_gateway(make_settings(**database, **settings_overrides)) as running:
        yield running


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[Gateway]:
    """The gateway on a real port of 127.0.0.1, with a sandbox key of the account acme."""
    client = TestClient(TestServer(create_app(settings)))
    try:
        await client.start_server()
        store = client.app[STORE]
        async with store.engine.begin() as connection:
            minted = await keys.mint_key(connection, account_name="acme", live=False)
        yield Gateway(
            client=client,
            store=store,
            cursors=client.app[CURSORS],
            key_cache=client.app[KEY_CACHE],
            key=minted.secret,
        )
    finally:
        await client.close()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and "[postgres" in report.nodeid:
        _postgres_outcomes["passed" if report.passed else "failed"] += (
            report.passed or report.failed
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if REQUIRE_POSTGRES and not POSTGRES_URL:
        print("\nGATEWAY_REQUIRE_POSTGRES=1 but GATEWAY_TEST_POSTGRES_URL is not set")
        session.exitstatus = 1
    elif REQUIRE_POSTGRES and _postgres_outcomes["passed"] == 0 and exitstatus == 0:
        print("\nGATEWAY_REQUIRE_POSTGRES=1 but no PostgreSQL test passed")
        session.exitstatus = 1


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
