"""Accounts and API keys: minting, listing, revoking and authenticating.

A key is shown once when minted; only its SHA-256 is stored. Keys carry 190 random
bits, so a plain hash is enough: there is nothing to brute-force that a slow hash
would protect.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import now_ms
from app.ids import random_base62
from app.models import Account, ApiKey

accounts = Account.__table__
api_keys = ApiKey.__table__

KEY_PATTERN = re.compile(r"^sk_(test|live)_[0-9A-Za-z]{32}\Z")
DEFAULT_ACCOUNT_NAME = "default"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for: one account in one mode."""

    account_id: str
    live: bool


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
    if KEY_PATTERN.match(secret) is None:
        return None
    row = (
        await connection.execute(
            select(api_keys.c.account_id, api_keys.c.live).where(
                api_keys.c.secret_hash == hash_secret(secret),
                api_keys.c.revoked_at.is_(None),
            )
        )
    ).first()
    return Principal(account_id=row.account_id, live=row.live) if row else None


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
    """On a database with no account yet, create the default account and a sandbox key."""
    count = (await connection.execute(select(func.count()).select_from(accounts))).scalar_one()
    if count:
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


async def revoke_key(connection: AsyncConnection, *, key_id: str) -> bool:
    """Revoke an active key; False when no active key has that id."""
    result = await connection.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now_ms())
    )
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
