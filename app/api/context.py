"""What every resolver receives: the store and its cursors, the caller, the request id, and
the charge."""

from __future__ import annotations

from dataclasses import dataclass

from strawberry.types import Info as StrawberryInfo

from app.accounts.keys import Principal
from app.customers.cursors import CursorCodec
from app.ratelimits.buckets import Decision
from app.store.store import Store


# Not frozen: built for every request, where frozen costs five times as much to build.
@dataclass(slots=True)
class GatewayContext:
    store: Store
    cursors: CursorCodec
    principal: Principal
    request_id: str
    # What this operation cost, and the key's bucket after it (None: rate limits are off).
    cost: int = 0
    rate_limit: Decision | None = None
    # Subscriptions: how far behind the log a subscriber may fall (None: no limit).
    subscriber_max_lag: int | None = None


Info = StrawberryInfo[GatewayContext, None]
