"""Cursors are sealed: they show no name or email, cannot be altered or forged, and every
gateway on one database makes the same cursor for the same position."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import delete, insert, select

from app.customers.cursors import CURSOR_KEY_BYTES, CURSOR_KEY_NAME
from app.store.engine import create_engine, migrate
from app.store.secrets import secrets_table, shared_secret
from tests.conftest import make_settings, new_database, running_gateway
from tests.gateway import Gateway
from tests.processes import environment, free_port, run_cli, start_serving, wait_until_healthy
from tests.test_ordering import ids, page, refusal

BY_NAME = {"field": "NAME", "direction": "ASC"}
BY_EMAIL = {"field": "EMAIL", "direction": "DESC"}
PEOPLE = [
    ("Zelda Quixote", "Zelda.Quixote@Example.COM"),
    ("Élodie Straße", "Élodie.Straße@Exämple.com"),
    ("Bob Plain", "bob@plain.example.org"),
]
MALFORMED = "after is not a valid cursor."


def readings(cursor: str) -> list[bytes]:
    """The cursor's text and its base64url-decoded bytes."""
    return [cursor.encode(), base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))]


def spellings(text: str) -> list[bytes]:
    """How a text could appear in a cursor: as given or casefolded, raw or JSON-escaped."""
    forms = {text, text.casefold()}
    return [
        spelled
        for form in forms
        for spelled in (form.encode(), json.dumps(form).encode()[1:-1], form.encode()[:6])
    ]


def unpadded(sealed: bytes) -> str:
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


async def crowd(gateway: Gateway) -> list[dict[str, Any]]:
    return [await gateway.create_customer(name=name, email=email) for name, email in PEOPLE]


async def test_name_and_email_cursors_show_neither(gateway: Gateway) -> None:
    customers = await crowd(gateway)
    for order in (BY_NAME, BY_EMAIL):
        connection = await page(gateway, first=10, orderBy=order)
        cursors = [edge["cursor"] for edge in connection["edges"]]
        assert len(cursors) == len(customers)
        for cursor in cursors:
            for reading in readings(cursor):
                for customer in customers:
                    for secret in (customer["name"], customer["email"], customer["id"]):
                        for spelled in spellings(secret):
                            assert spelled not in reading, (order, cursor, secret)


async def test_changing_any_byte_of_a_cursor_is_refused_as_malformed(gateway: Gateway) -> None:
    await crowd(gateway)
    cursor = (await page(gateway, first=1, orderBy=BY_NAME))["edges"][0]["cursor"]
    assert ids(await page(gateway, first=5, after=cursor, orderBy=BY_NAME))  # it works
    sealed = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    tampered = [
        unpadded(sealed[:index] + bytes([sealed[index] ^ 1]) + sealed[index + 1 :])
        for index in range(len(sealed))
    ]
    truncated = [unpadded(sealed[:-1]), unpadded(sealed[1:]), unpadded(sealed[:16]), cursor[:-1]]
    extended = [unpadded(sealed + b"\x00"), cursor + "A"]
    garbage = await refusal(gateway, "after", first=5, after="garbage", orderBy=BY_NAME)
    assert garbage == MALFORMED
    for changed in tampered + truncated + extended:
        assert changed != cursor
        message = await refusal(gateway, "after", first=5, after=changed, orderBy=BY_NAME)
        assert message == garbage, changed


async def test_a_plain_unsealed_triple_is_refused(gateway: Gateway) -> None:
    [customer, *_] = await crowd(gateway)
    plain = json.dumps(["CREATED_AT:DESC", customer["createdAt"], customer["id"]]).encode()
    assert await refusal(gateway, "after", first=1, after=unpadded(plain)) == MALFORMED


async def test_a_cursor_of_another_database_is_refused(
    gateway: Gateway, backend: str, tmp_path: Path
) -> None:
    async with (
        new_database(backend, tmp_path / "elsewhere") as elsewhere_database,
        running_gateway(make_settings(**elsewhere_database)) as elsewhere,
    ):
        await crowd(elsewhere)
        foreign = (await page(elsewhere, first=1, orderBy=BY_NAME))["pageInfo"]["endCursor"]
    await crowd(gateway)
    message = await refusal(gateway, "after", first=1, after=foreign, orderBy=BY_NAME)
    assert message == MALFORMED


async def test_every_gateway_on_one_database_makes_the_same_cursors(
    gateway: Gateway, database: dict[str, Any]
) -> None:
    await crowd(gateway)
    first = await page(gateway, first=10, orderBy=BY_EMAIL)
    assert await page(gateway, first=10, orderBy=BY_EMAIL) == first  # so the ETag holds
    async with running_gateway(make_settings(**database)) as replica:
        assert await page(replica, first=10, orderBy=BY_EMAIL) == first
        middle = first["edges"][0]["cursor"]
        assert ids(await page(replica, first=10, after=middle, orderBy=BY_EMAIL)) == ids(first)[1:]


async def test_gateways_starting_together_make_one_key(database: dict[str, Any]) -> None:
    """Four `serve` processes started at once on a new database: one migrates it while the
    others wait (SQLite too), one makes the default account's first key (the others once
    failed on its unique name), and they make one cursor key, so one cursor."""
    env = environment(database)
    ports = [free_port() for _ in range(4)]
    processes = await asyncio.gather(*(start_serving(env, port) for port in ports))
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        await asyncio.gather(
            *(
                wait_until_healthy(base, process)
                for base, process in zip(bases, processes, strict=True)
            )
        )
        # One of them made the default account and its one key; the others left it.
        listed = run_cli(env, "keys", "list")
        assert listed.returncode == 0, listed.stderr
        assert sum(line.split()[1:2] == ["default"] for line in listed.stdout.splitlines()) == 1
        minted = run_cli(env, "keys", "create", "--account", "together")
        assert minted.returncode == 0, minted.stderr
        key = re.search(r"sk_test_\w{32}", minted.stdout)
        assert key
        headers = {"Authorization": f"Bearer {key.group(0)}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.post(
                f"{bases[0]}/graphql",
                json={
                    "query": 'mutation { createCustomer(input: {name: "Ada"}) { customer { id } } }'
                },
            ) as response:
                assert response.status == 200

            async def first_cursor(base: str) -> str:
                async with session.post(
                    f"{base}/graphql",
                    json={"query": "{ customers(first: 1) { edges { cursor } } }"},
                ) as response:
                    body = await response.json()
                return str(body["data"]["customers"]["edges"][0]["cursor"])

            made = set(await asyncio.gather(*(first_cursor(base) for base in bases)))
        assert len(made) == 1
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
        await asyncio.gather(*(process.wait() for process in processes))
    engine = create_engine(make_settings(**database))
    try:
        async with engine.connect() as connection:
            names = (await connection.execute(select(secrets_table.c.name))).scalars().all()
    finally:
        await engine.dispose()
    assert names == [CURSOR_KEY_NAME]


async def test_a_key_another_replica_is_writing_is_the_one_read(
    database: dict[str, Any],
) -> None:
    settings = make_settings(**database)
    writer, reader = create_engine(settings), create_engine(settings)
    theirs = bytes(range(CURSOR_KEY_BYTES))
    try:
        await migrate(writer)
        async with writer.begin() as connection:
            await connection.execute(insert(secrets_table).values(name="k", value=theirs))
            read = asyncio.create_task(shared_secret(reader, "k", CURSOR_KEY_BYTES))
            await asyncio.sleep(0.5)
            assert not read.done()  # its INSERT waits for the uncommitted row
        assert await read == theirs
    finally:
        await writer.dispose()
        await reader.dispose()


async def test_deleting_the_key_row_invalidates_outstanding_cursors(
    database: dict[str, Any],
) -> None:
    settings = make_settings(**database)
    async with running_gateway(settings) as before:
        await crowd(before)
        cursor = (await page(before, first=1))["pageInfo"]["endCursor"]
        async with before.engine.begin() as connection:
            await connection.execute(delete(secrets_table))
    async with running_gateway(settings) as after:
        assert await refusal(after, "after", first=1, after=cursor) == MALFORMED
        fresh = (await page(after, first=1))["pageInfo"]["endCursor"]
        assert fresh != cursor
        assert len(ids(await page(after, first=5, after=fresh))) == len(PEOPLE) - 1
