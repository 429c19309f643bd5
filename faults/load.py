"""Clients that behave like real ones: a mix of reads and writes, each write remembered
with what the gateway answered, retried as a careful client retries (the same
idempotency key after a timeout, a 5xx or a lost connection; another replica when one
is gone)."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

ACKED, REFUSED, IN_DOUBT = "acked", "refused", "in doubt"
_CREATE = """mutation C($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id } userErrors { code } } }"""
_UPDATE = """mutation U($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { customer { id } userErrors { code } } }"""
_DELETE = """mutation D($input: DeleteCustomerInput!) {
  deleteCustomer(input: $input) { deletedCustomerId userErrors { code } } }"""
_PAGE = """query P {
  customers(first: 20) { edges { cursor node { id name } } pageInfo { hasNextPage } } }"""
_LOOKUP = "query L($id: ID!) { customer(id: $id) { id name metadata } }"
# Words a masked error never carries: the driver, the ORM, a Python traceback.
_LEAKS = ("Traceback", "asyncpg", "sqlalchemy", "sqlite3", 'File "')


@dataclass
class Write:
    kind: str  # create | update | delete
    outcome: str
    marker: str = ""  # a create's name, unique to the intent
    idempotency_key: str | None = None
    customer_id: str | None = None
    version: int = 0  # an update's metadata {"v": version}
    attempts: int = 0


@dataclass
class Tally:
    """Everything the clients saw."""

    writes: list[Write] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    unclean: list[str] = field(default_factory=list)  # responses that were not clean
    hangs: int = 0
    requests: int = 0
    # (started at, seconds, acknowledged, a write)
    latencies: list[tuple[float, float, bool, bool]] = field(default_factory=list)


class Client:
    def __init__(
        self, name: str, urls: list[str], secret: str, tally: Tally, *, timeout: float
    ) -> None:
        self._name = name
        self._urls = urls
        self._headers = {"Authorization": f"Bearer {secret}"}
        self._tally = tally
        self._timeout = timeout
        self._owned: list[str] = []
        self._numbers = itertools.count()
        self._random = random.Random(name)
        self._replica = self._random.randrange(len(urls))

    async def run(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        while not stop.is_set():
            roll = self._random.random()
            if roll < 0.25:
                await self._read(session, _PAGE, {})
            elif roll < 0.45 and self._owned:
                await self._read(session, _LOOKUP, {"id": self._random.choice(self._owned)})
            elif roll < 0.75:
                await self._create(session, keyed=roll < 0.65)
            elif roll < 0.92 and self._owned:
                await self._update(session)
            elif self._owned:
                await self._delete(session)

    async def _read(self, session: aiohttp.ClientSession, query: str, variables: Any) -> None:
        await self._send(session, query, variables)

    async def _create(self, session: aiohttp.ClientSession, *, keyed: bool) -> None:
        marker = f"{self._name}-{next(self._numbers)}"
        key = str(uuid.uuid4()) if keyed else None
        write = Write("create", IN_DOUBT, marker=marker, idempotency_key=key)
        inputs = {"name": marker, **({"idempotencyKey": key} if key else {})}
        data = await self._write(session, write, _CREATE, inputs, retry=keyed)
        if data is not None:
            write.customer_id = data["createCustomer"]["customer"]["id"]
            self._owned.append(write.customer_id)

    async def _update(self, session: aiohttp.ClientSession) -> None:
        customer_id = self._random.choice(self._owned)
        write = Write("update", IN_DOUBT, customer_id=customer_id, version=next(self._numbers))
        inputs = {"id": customer_id, "metadata": {"v": str(write.version)}}
        # An update sets a value: applying it twice is harmless, so it is retried.
        await self._write(session, write, _UPDATE, inputs, retry=True)

    async def _delete(self, session: aiohttp.ClientSession) -> None:
        customer_id = self._owned.pop(self._random.randrange(len(self._owned)))
        write = Write("delete", IN_DOUBT, customer_id=customer_id)
        await self._write(session, write, _DELETE, {"id": customer_id}, retry=True)

    async def _write(
        self,
        session: aiohttp.ClientSession,
        write: Write,
        query: str,
        inputs: dict[str, Any],
        *,
        retry: bool,
    ) -> dict[str, Any] | None:
        self._tally.writes.append(write)
        for attempt in range(8):
            write.attempts = attempt + 1
            outcome, data = await self._send(session, query, {"input": inputs})
            if outcome == ACKED:
                write.outcome = ACKED
                return data
            if outcome == REFUSED and write.outcome == IN_DOUBT and attempt == 0:
                write.outcome = REFUSED
            if outcome == IN_DOUBT:
                write.outcome = IN_DOUBT
            if not retry:
                return None
            await asyncio.sleep(0.1 * (attempt + 1))
        return None

    async def _send(
        self, session: aiohttp.ClientSession, query: str, variables: Any
    ) -> tuple[str, dict[str, Any] | None]:
        """ACKED with the data, REFUSED (a clean error: nothing done), or IN_DOUBT."""
        url = f"{self._urls[self._replica]}/graphql"
        started = time.monotonic()
        self._tally.requests += 1
        try:
            async with asyncio.timeout(self._timeout):
                async with session.post(
                    url, json={"query": query, "variables": variables}, headers=self._headers
                ) as response:
                    status, body = response.status, await response.read()
                    request_id = response.headers.get("X-Request-Id")
        except TimeoutError:
            self._tally.hangs += 1
            self._record(started, query, ok=False)
            return IN_DOUBT, None
        except aiohttp.ClientError as error:
            # The replica is gone or went away mid-request: try the next one.
            self._replica = (self._replica + 1) % len(self._urls)
            refused = isinstance(error, aiohttp.ClientConnectorError)
            self._tally.codes["CONNECTION_REFUSED" if refused else "CONNECTION_LOST"] += 1
            self._record(started, query, ok=False)
            await asyncio.sleep(0.05)
            return IN_DOUBT, None
        self._tally.statuses[status] += 1
        outcome, data = self._judge(status, body, request_id)
        self._record(started, query, ok=outcome == ACKED)
        return outcome, data

    def _judge(
        self, status: int, body: bytes, request_id: str | None
    ) -> tuple[str, dict[str, Any] | None]:
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            self._tally.unclean.append(f"{status} not JSON: {body[:200]!r}")
            return IN_DOUBT, None
        text = body.decode(errors="replace")
        if any(leak in text for leak in _LEAKS):
            self._tally.unclean.append(f"{status} leaks internals: {text[:300]}")
        if request_id is None:
            self._tally.unclean.append(f"{status} without X-Request-Id")
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if not errors:
            if status == 200 and isinstance(answer, dict) and answer.get("data"):
                return ACKED, answer["data"]
            self._tally.unclean.append(f"{status} without data or errors: {text[:200]}")
            return IN_DOUBT, None
        for error in errors:
            code = (error.get("extensions") or {}).get("code")
            if code is None:
                self._tally.unclean.append(f"{status} error without a code: {text[:200]}")
            self._tally.codes[str(code)] += 1
        if status == 503 and errors[0].get("extensions", {}).get("code") == "SERVICE_UNAVAILABLE":
            return REFUSED, None  # the contract: nothing was done
        return IN_DOUBT, None

    def _record(self, started: float, query: str, *, ok: bool) -> None:
        write = query.startswith("mutation")
        self._tally.latencies.append((started, time.monotonic() - started, ok, write))


async def run_load(
    urls: list[str], secret: str, *, clients: int, stop: asyncio.Event, patience: float = 12.0
) -> Tally:
    tally = Tally()
    run = uuid.uuid4().hex[:8]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        workers = [
            Client(f"f{run}-{number}", urls, secret, tally, timeout=patience).run(session, stop)
            for number in range(clients)
        ]
        await asyncio.gather(*workers)
    return tally
