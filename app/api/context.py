"""What every resolver receives: the database, the caller, and the request id."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.types import Info as StrawberryInfo

from app.accounts.keys import Principal


@dataclass(frozen=True, slots=True)
class GatewayContext:
    engine: AsyncEngine
    principal: Principal
    request_id: str


Info = StrawberryInfo[GatewayContext, None]
