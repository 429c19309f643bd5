"""Buckets in Redis: shared by two gateway processes, and failing open when Redis goes away.

The machine's Redis (127.0.0.1:6379, which CI also has) is used under a key prefix of each
test's own, whose keys the test deletes; the outage test starts a Redis server of its own
on a spare port, since it has to stop it."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as redis
from prometheus_client.parser import text_string_to_metric_families

from app.ratelimits.redis_buckets import RedisBuckets
from app.web.state import BUCKETS
from tests.gateway import Gateway
from tests.processes import environment, free_port, run_cli, serving

MACHINE_REDIS = "redis://127.0.0.1:6379/0"
SPEND = {"query": "{ customers(first: 29) { nodes { id } } }"}  # 30 points


@pytest.fixture
def backend() -> str:
    # The buckets live in Redis; the database behind the gateway plays no part.
    return "sqlite"


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix nobody else uses on the machine's Redis; its keys go afterwards."""
    own = f"gateway-test-{uuid.uuid4().hex[:12]}:"
    client = redis.Redis.from_url(MACHINE_REDIS)
    try:
        await client.ping()
    except redis.ConnectionError:
        pytest.fail("Redis is not reachable at 127.0.0.1:6379; the suite needs it (CI has it)")
    try:
        yield own
    finally:
        keys = [key async for key in client.scan_iter(match=f"{own}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def post(session: aiohttp.ClientSession, url: str, key: str, body: Any) -> Any:
    async with session.post(url, json=body, headers={"Authorization": f"Bearer {key}"}) as answer:
        return answer.status, answer.headers.get("RateLimit-Remaining")


async def test_two_processes_share_one_bucket(database: dict[str, Any], prefix: str) -> None:
    env = environment(
        database,
        REDIS_URL=MACHINE_REDIS,
        REDIS_KEY_PREFIX=prefix,
        RATE_LIMIT_BUCKET="40",
        RATE_LIMIT_RESTORE_PER_SECOND="1",
    )
    minted = run_cli(env, "keys", "create", "--account", "shared")
    key = re.search(r"sk_test_\w{32}", minted.stdout)
    assert key
    async with (
        serving(env, free_port()) as first,
        serving(env, free_port()) as second,
        aiohttp.ClientSession() as session,
    ):
        assert await post(session, first, key.group(0), SPEND) == (200, "10")
        status, remaining = await post(session, second, key.group(0), SPEND)
        assert status == 429
        assert remaining == "10"
    client = redis.Redis.from_url(MACHINE_REDIS)
    try:
        assert [k async for k in client.scan_iter(match=f"{prefix}ratelimit:*")]
    finally:
        await client.aclose()


class OwnRedis:
    """redis-server on a spare port of 127.0.0.1, keeping nothing on disk."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _spawn(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (Debian's redis-server package)")
        self.process = subprocess.Popen(  # noqa: S603 - the machine's redis-server
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def start(self) -> None:
        self._spawn()
        client = redis.Redis.from_url(self.url)
        try:
            for _ in range(100):
                try:
                    await client.ping()
                    return
                except redis.ConnectionError:
                    await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def settings_overrides(own_redis: OwnRedis) -> dict[str, Any]:
    await own_redis.start()
    return {
        "redis_url": own_redis.url,
        "rate_limit_bucket": 40,
        "rate_limit_restore_per_second": 1,
    }


async def test_redis_going_away_fails_open_and_buckets_resume(
    gateway: Gateway, own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    assert (await gateway.send(SPEND))[0] == 200
    assert (await gateway.send(SPEND))[0] == 429

    own_redis.stop()
    with caplog.at_level(logging.WARNING, logger="app.ratelimits"):
        for _ in range(5):
            status, body, _ = await gateway.send(SPEND)
            assert status == 200, body  # served without limits
    warnings = [r for r in caplog.records if r.name == "app.ratelimits"]
    assert len(warnings) == 1 and "Redis unreachable" in warnings[0].getMessage()
    buckets = gateway.client.app[BUCKETS]
    assert isinstance(buckets, RedisBuckets)
    assert buckets.failures_total >= 1
    scraped = await (await gateway.client.get("/metrics")).text()
    [counted] = [
        sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
        if sample.name == "gateway_rate_limit_store_errors_total"
    ]
    assert counted == buckets.failures_total

    await own_redis.start()  # empty: every bucket starts full
    await asyncio.sleep(1.1)  # Redis is asked again after RETRY_SECONDS
    assert (await gateway.send(SPEND))[0] == 200
    assert (await gateway.send(SPEND))[0] == 429
