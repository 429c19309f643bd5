"""What every resolver receives: the store, the caller, and the request id."""

from __future__ import annotations

from dataclasses import dataclass

from strawberry.types import Info as StrawberryInfo

from app.accounts.keys import Principal
from app.store.store import Store


@dataclass(frozen=True, slots=True)
class GatewayContext:
    store: Store
    principal: Principal
    request_id: str


Info = StrawberryInfo[GatewayContext, None]
