"""Accounts and API keys: minting, listing, revoking and authenticating.

A key is shown once when minted; only its SHA-256 is stored. Keys carry 190 random
bits, so a plain hash is enough: there is nothing to brute-force that a slow hash
would protect.

`authenticate_cached` remembers an active key for KEY_CACHE_SECONDS (5 s) in a
`KeyCache`, one per application (so per database), so a busy client costs no key lookup
per request. Revoking a key with that cache (`revoke_key`) forgets it at once; a
revocation made elsewhere (the CLI, another replica) takes effect within those
5 seconds. Unknown keys are never remembered, so a newly minted key works at once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

from app.accounts.models import Account, ApiKey
from app.clock import now_ms
from app.ids import random_base62
from app.store.inserts import insert_ignoring_conflicts
from app.store.store import Store
from app.timed_cache import TimedCache

accounts = SQLModel.metadata.tables[Account.__tablename__]
api_keys = SQLModel.metadata.tables[ApiKey.__tablename__]

KEY_PATTERN = re.compile(r"^sk_(test|live)_[0-9A-Za-z]{32}\Z")
DEFAULT_ACCOUNT_NAME = "default"
KEY_CACHE_SECONDS = 5.0
KEY_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for: one account in one mode, through one key."""

    account_id: str
    live: bool
    # Which key: rate limits keep a bucket per key, and a revoked key is forgotten by it.
    key_id: str


@dataclass(frozen=True, slots=True)
class MintedKey:
    key_id: str
    account_name: str
    live: bool
    secret: str


@dataclass(frozen=True, slots=True)
class KeyListing:
    key_id: str
    account_name: str
    live: bool
    hint: str
    created_at: int
    revoked_at: int | None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def authenticate(connection: AsyncConnection, *, secret: str) -> Principal | None:
    """The principal of an active key, or None for a malformed, unknown or revoked one."""
    return await _lookup(connection, secret)


async def authenticate_cached(store: Store, cache: KeyCache, *, secret: str) -> Principal | None:
    """`authenticate`, answered from the cache for a key seen active in the last 5 seconds."""
    if KEY_PATTERN.match(secret) is None:
        return None
    secret_hash = hash_secret(secret)
    principal = cache.get(secret_hash)
    if principal is not None:
        return principal
    async with store.engine.connect() as connection:
        found = await _lookup(connection, secret)
    if found is not None:
        cache.put(secret_hash, found)
    return found


async def _lookup(connection: AsyncConnection, secret: str) -> Principal | None:
    if KEY_PATTERN.match(secret) is None:
        return None
    row = (
        await connection.execute(
            select(api_keys.c.account_id, api_keys.c.live, api_keys.c.id).where(
                api_keys.c.secret_hash == hash_secret(secret),
                api_keys.c.revoked_at.is_(None),
            )
        )
    ).first()
    return Principal(row.account_id, row.live, row.id) if row else None


class KeyCache:
    """Active keys by secret hash, each for `seconds`; least recently used go first."""

    def __init__(self, seconds: float = KEY_CACHE_SECONDS, size: int = KEY_CACHE_SIZE) -> None:
        self.entries: TimedCache[str, Principal] = TimedCache(seconds, size)

    def get(self, secret_hash: str) -> Principal | None:
        return self.entries.get(secret_hash)

    def put(self, secret_hash: str, principal: Principal) -> None:
        self.entries.put(secret_hash, principal)

    def forget(self, key_id: str) -> None:
        self.entries.forget(lambda _hash, principal: principal.key_id == key_id)


async def mint_key(connection: AsyncConnection, *, account_name: str, live: bool) -> MintedKey:
    """Create a key for the named account, creating the account if it is new."""
    account_id = await _account_id(connection, account_name=account_name)
    secret = f"sk_{'live' if live else 'test'}_{random_base62(32)}"
    key_id = "key_" + random_base62(16)
    await connection.execute(
        insert(api_keys).values(
            id=key_id,
            account_id=account_id,
            live=live,
            secret_hash=hash_secret(secret),
            hint=f"{secret[:8]}…{secret[-4:]}",
            created_at=now_ms(),
        )
    )
    return MintedKey(key_id=key_id, account_name=account_name, live=live, secret=secret)


async def mint_default_key_if_empty(connection: AsyncConnection) -> MintedKey | None:
    """On a database with no account yet, create the default account and a sandbox key.

    Gateways starting together on a new database race here: the account is created by
    one INSERT that writes nothing when any account exists or another process made the
    default one first (it waits for that one to commit), and only the process whose
    INSERT wrote the row mints the key. A read before the write would not do on SQLite,
    where a transaction that read before another committed cannot write afterwards.
    """
    account_id = "acct_" + random_base62(16)
    none_yet = ~select(accounts.c.id).exists()
    created = await connection.execute(
        insert_ignoring_conflicts(connection.dialect.name, accounts, ["name"])
        .from_select(
            ["id", "name", "created_at"],
            select(literal(account_id), literal(DEFAULT_ACCOUNT_NAME), literal(now_ms())).where(
                none_yet
            ),
        )
        .returning(accounts.c.id)
    )
    if created.first() is None:
        return None
    return await mint_key(connection, account_name=DEFAULT_ACCOUNT_NAME, live=False)


async def list_keys(connection: AsyncConnection) -> list[KeyListing]:
    rows = await connection.execute(
        select(
            api_keys.c.id,
            accounts.c.name,
            api_keys.c.live,
            api_keys.c.hint,
            api_keys.c.created_at,
            api_keys.c.revoked_at,
        )
        .join(accounts, accounts.c.id == api_keys.c.account_id)
        .order_by(accounts.c.name, api_keys.c.created_at)
    )
    return [
        KeyListing(
            key_id=row.id,
            account_name=row.name,
            live=row.live,
            hint=row.hint,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )
        for row in rows
    ]


async def revoke_key(
    connection: AsyncConnection, *, key_id: str, cache: KeyCache | None = None
) -> bool:
    """Revoke an active key (forgotten by `cache` at once); False when none has that id."""
    result = await connection.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now_ms())
    )
    if cache is not None:
        cache.forget(key_id)
    return result.rowcount == 1


async def _account_id(connection: AsyncConnection, *, account_name: str) -> str:
    existing = (
        await connection.execute(select(accounts.c.id).where(accounts.c.name == account_name))
    ).scalar_one_or_none()
    if existing is not None:
        return str(existing)
    account_id = "acct_" + random_base62(16)
    await connection.execute(
        insert(accounts).values(id=account_id, name=account_name, created_at=now_ms())
    )
    return account_id
