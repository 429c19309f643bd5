"""Rate limits: the contract's cost rule, the bucket per key, 429 and what a client sees,
in this process and shared through the machine's Redis."""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from pathlib import Path
from typing import Any

import pytest

from app.clock import now_ms
from app.ratelimits.pacing import MAX_WAIT_SECONDS, RefusalPacer
from tests.gateway import Gateway
from tests.processes import assert_one_clear_line, environment, free_port, run_cli

RATE_LIMIT = "rateLimit { limit remaining cost restoreRate resetAt }"
SMALL = {"rate_limit_bucket": 40, "rate_limit_restore_per_second": 1}


def cost_of(body: dict[str, Any]) -> int:
    cost: int = body["data"]["rateLimit"]["cost"]
    return cost


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_bucket": 1000}])
@pytest.mark.parametrize(
    ("document", "variables", "cost"),
    [
        ("{ %s }", None, 1),
        ("{ customers(first: 5) { nodes { id } } %s }", None, 6),
        ("{ customers { totalCount } %s }", None, 51),  # the default page of 50
        ("query($n: Int) { customers(last: $n) { nodes { id } } %s }", {"n": 7}, 8),
        ('{ customer(id: "cus_x") { id } node(id: "cus_y") { id } %s }', None, 3),
        ('{ nodes(ids: ["a", "b", "c"]) { id } %s }', None, 4),
        ("query($ids: [ID!]!) { nodes(ids: $ids) { id } %s }", {"ids": ["a"] * 9}, 10),
        (
            "{ a: customers(first: 2) { ...F } b: customers(first: 3) { ...F } %s }"
            " fragment F on CustomerConnection { nodes { id } }",
            None,
            6,
        ),
    ],
)
async def test_the_cost_of_a_query(
    gateway: Gateway, document: str, variables: dict[str, Any] | None, cost: int
) -> None:
    status, body = await gateway.post(document % RATE_LIMIT, variables)
    assert status == 200, body
    assert cost_of(body) == cost


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_bucket": 1000}])
async def test_a_mutation_costs_at_least_ten(gateway: Gateway) -> None:
    status, _ = await gateway.post(
        'mutation { deleteCustomer(input: {id: "cus_x"}) { deletedCustomerId } }'
    )
    assert status == 200
    assert await remaining(gateway) == 1000 - 10 - 1  # the mutation, then the probe's point


async def remaining(gateway: Gateway) -> int:
    """Spends 1 point (`{ __typename }`) and reads RateLimit-Remaining."""
    response = await gateway.client.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={"Authorization": f"Bearer {gateway.key}"},
    )
    assert response.status == 200
    return int(response.headers["RateLimit-Remaining"])


@pytest.mark.parametrize("settings_overrides", [SMALL])
async def test_every_answer_reports_the_bucket_and_rate_limit_agrees(gateway: Gateway) -> None:
    response = await gateway.client.post(
        "/graphql",
        json={"query": "{ customers(first: 9) { nodes { id } } " + RATE_LIMIT + " }"},
        headers={"Authorization": f"Bearer {gateway.key}"},
    )
    body = await response.json()
    budget = body["data"]["rateLimit"]
    assert budget["limit"] == 40 and budget["cost"] == 10 and budget["restoreRate"] == 1
    assert budget["remaining"] == 30
    assert response.headers["RateLimit-Limit"] == "40"
    assert response.headers["RateLimit-Remaining"] == "30"
    reset = int(response.headers["RateLimit-Reset"])
    assert reset == 10  # seconds until the 10 points spent are back, at 1 a second
    # resetAt is when the bucket is full again: now + 10 s.
    assert abs(budget["resetAt"] - (now_ms() + 10_000)) < 2_000

    # A request refused before it runs still costs its point and says so.
    for refused in ({"query": "{ customers { nodes { id } "}, {"query": "{ nope }"}, {}):
        status, _, headers = await gateway.send(refused)
        assert status in (200, 400)
        assert int(headers["RateLimit-Remaining"]) in (28, 29, 27)
    bad_json = await gateway.client.post(
        "/graphql",
        data=b"{",
        headers={"Authorization": f"Bearer {gateway.key}", "Content-Type": "application/json"},
    )
    assert bad_json.status == 400
    assert bad_json.headers["RateLimit-Limit"] == "40"


@pytest.mark.parametrize("settings_overrides", [SMALL])
@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
async def test_a_short_bucket_refuses_with_429_and_runs_nothing(
    gateway: Gateway, accept: str
) -> None:
    create = {"query": 'mutation { createCustomer(input: {name: "Ada"}) { customer { id } } }'}
    for _ in range(4):  # 10 points each: the bucket of 40 is spent
        status, body, _ = await gateway.send(create, accept=accept)
        assert status == 200 and "errors" not in body, body
    status, body, headers = await gateway.send(create, accept=accept)
    assert status == 429
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    retry_after_ms = error["extensions"]["retryAfterMs"]
    assert 9_000 <= retry_after_ms <= 10_000  # ten points at one a second
    assert headers["Retry-After"] == str(math.ceil(retry_after_ms / 1000))
    assert headers["RateLimit-Remaining"] == "0"
    assert await gateway.stored_customers() == 4


@pytest.mark.parametrize("settings_overrides", [SMALL])
async def test_more_than_a_whole_bucket_is_too_complex_and_costs_one_point(
    gateway: Gateway,
) -> None:
    status, body, headers = await gateway.send(
        {"query": "{ customers(first: 40) { nodes { id } } }"}
    )
    assert status == 200
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "cost",
        "maximum": 40,
        "actual": 41,
    }
    assert headers["RateLimit-Remaining"] == "39"


@pytest.mark.parametrize("settings_overrides", [SMALL])
async def test_each_key_has_its_own_bucket(gateway: Gateway) -> None:
    other = await gateway.mint_key("acme")  # the same account, another key
    spend = {"query": "{ customers(first: 39) { nodes { id } } }"}
    assert (await gateway.send(spend))[0] == 200
    assert (await gateway.send(spend))[0] == 429
    response = await gateway.client.post(
        "/graphql", json=spend, headers={"Authorization": f"Bearer {other}"}
    )
    assert response.status == 200
    assert response.headers["RateLimit-Remaining"] == "0"


@pytest.mark.parametrize("settings_overrides", [SMALL])
async def test_batches_and_persisted_documents_are_charged_by_the_same_rule(
    gateway: Gateway,
) -> None:
    page = "query Page { customers(first: 14) { nodes { id } } }"
    status, answers, headers = await gateway.send([{"query": page}] * 3)
    assert status == 200
    assert "data" in answers[0] and "data" in answers[1]
    assert answers[2]["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert headers["RateLimit-Remaining"] == "10"  # 40 - 15 - 15, the third refused

    text = "query Four { customers(first: 3) { nodes { id } } }"
    digest = hashlib.sha256(text.encode()).hexdigest()
    by_hash = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    assert (await gateway.send({**by_hash, "query": text}))[0] == 200
    response = await gateway.client.get(
        "/graphql",
        params={"documentId": f"sha256:{digest}"},
        headers={"Authorization": f"Bearer {gateway.key}"},
    )
    assert response.status == 200
    assert response.headers["RateLimit-Remaining"] == "2"  # 10 - 4 - 4


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_bucket": 0}])
async def test_a_bucket_of_zero_turns_rate_limits_off(gateway: Gateway) -> None:
    for _ in range(3):
        status, body, headers = await gateway.send(
            {"query": "{ customers(first: 1000) { nodes { id } } " + RATE_LIMIT + " }"}
        )
        assert status == 200, body
        assert "RateLimit-Limit" not in headers
    budget = body["data"]["rateLimit"]
    assert (budget["limit"], budget["remaining"], budget["cost"]) == (0, 0, 1001)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RATE_LIMIT_BUCKET", "-1"),
        ("RATE_LIMIT_BUCKET", "lots"),
        ("RATE_LIMIT_RESTORE_PER_SECOND", "-5"),
        ("RATE_LIMIT_RESTORE_PER_SECOND", "0"),
        ("RATE_LIMIT_RESTORE_PER_SECOND", "fast"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
    ],
)
def test_bad_rate_limit_settings_stop_serve_with_one_line(
    tmp_path: Path, name: str, value: str
) -> None:
    env = environment(
        {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}"}, **{name: value}
    )
    result = run_cli(env, "serve", "--port", str(free_port()))
    assert_one_clear_line(result, "invalid settings", name)


PACED = {**SMALL, "rate_limit_refusals_per_second": 10}


@pytest.mark.parametrize("settings_overrides", [PACED])
async def test_a_keys_refusals_are_answered_at_a_steady_pace_and_others_go_on(
    gateway: Gateway,
) -> None:
    other = await gateway.mint_key("acme")
    spend = "{ customers(first: 39) { nodes { id } } }"
    assert (await gateway.post(spend))[0] == 200  # the bucket is empty now

    async def refused() -> float:
        status, body = await gateway.post(spend)
        assert status == 429, body
        assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        return time.monotonic() - started

    started = time.monotonic()
    flood = [asyncio.create_task(refused()) for _ in range(12)]
    await asyncio.sleep(0.2)
    status, _ = await gateway.post("{ customers(first: 1) { nodes { id } } }", key=other)
    other_answered = time.monotonic() - started
    assert status == 200
    answered = sorted(await asyncio.gather(*flood))
    # Ten a second: the twelfth refusal waits its turn, 1.1 s after the first.
    assert answered[-1] - answered[0] >= 1.0, answered
    # The other key did not queue behind them: it was answered while most still waited.
    # (Compared with the flood's own times, so a stalled machine delays both alike.)
    assert other_answered < answered[-4], (other_answered, answered)


async def test_a_full_queue_of_refusals_waits_the_longest_and_takes_no_turn() -> None:
    pacer = RefusalPacer(per_second=1)
    started = time.monotonic()
    waits = await asyncio.gather(*(pacer.wait_turn("key_1") for _ in range(4)))
    assert sorted(round(wait) for wait in waits) == [0, 1, 2, 2]  # the 4th would wait 3 s
    assert time.monotonic() - started < MAX_WAIT_SECONDS + 0.5
    assert await pacer.wait_turn("key_2") == 0  # another key never waits for this one
