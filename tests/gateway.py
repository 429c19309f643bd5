"""A client for the gateway under test: GraphQL over real HTTP, plus its database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp.test_utils import TestClient
from multidict import CIMultiDictProxy
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.accounts import keys
from app.accounts.keys import KeyCache
from app.customers.cursors import CursorCodec
from app.customers.models import customers_table
from app.store.store import Store


@dataclass
class Gateway:
    client: TestClient  # type: ignore[type-arg]
    store: Store
    cursors: CursorCodec
    key_cache: KeyCache
    key: str

    @property
    def engine(self) -> AsyncEngine:
        return self.store.engine

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """POST a document; returns the status and the decoded body."""
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        response = await self.client.post(
            "/graphql",
            json=body,
            headers={"Authorization": f"Bearer {key or self.key}", **(headers or {})},
        )
        return response.status, await response.json(content_type=None)

    async def send(
        self, body: Any, *, accept: str = "application/json"
    ) -> tuple[int, Any, CIMultiDictProxy[str]]:
        """POST any JSON body (a batch, a documentId, …) with `accept`; status, body, headers."""
        response = await self.client.post(
            "/graphql",
            data=orjson.dumps(body),
            headers={
                "Authorization": f"Bearer {self.key}",
                "Content-Type": "application/json",
                "Accept": accept,
            },
        )
        return response.status, await response.json(content_type=None), response.headers

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = None
    ) -> dict[str, Any]:
        """POST a document that must succeed without errors; returns its data."""
        status, body = await self.post(query, variables, key=key)
        assert status == 200, body
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    async def stored_customers(self) -> int:
        """How many customers the database holds, across every account and mode."""
        async with self.engine.connect() as connection:
            count = await connection.execute(select(func.count()).select_from(customers_table))
        return int(count.scalar_one())

    async def principal(self, key: str | None = None) -> keys.Principal:
        """Who `key` (the gateway's own by default) acts for."""
        principal = await keys.authenticate_cached(
            self.store, self.key_cache, secret=key or self.key
        )
        assert principal is not None
        return principal

    async def mint_key(self, account: str, *, live: bool = False) -> str:
        async with self.engine.begin() as connection:
            return (await keys.mint_key(connection, account_name=account, live=live)).secret

    async def create_customer(self, *, key: str | None = None, **fields: Any) -> dict[str, Any]:
        data = await self.data(
            """mutation($input: CreateCustomerInput!) {
                 createCustomer(input: $input) {
                   customer { id object live createdAt updatedAt name email phone metadata }
                   userErrors { field code message }
                 }
               }""",
            {"input": fields},
            key=key,
        )
        payload: dict[str, Any] = data["createCustomer"]
        assert payload["userErrors"] == [], payload["userErrors"]
        customer: dict[str, Any] = payload["customer"]
        return customer
