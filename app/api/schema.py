"""The Strawberry schema the gateway serves."""

from __future__ import annotations

import strawberry
from strawberry.schema.config import StrawberryConfig

from app.api.mutations import Mutation
from app.api.queries import Query
from app.api.scalars import SCALAR_MAP
from app.api.subscriptions import Subscription
from app.api.types import Customer


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Customer],
        config=StrawberryConfig(auto_camel_case=True, scalar_map=SCALAR_MAP),
    )


def schema_sdl() -> str:
    """The schema as committed in schema.graphql."""
    return build_schema().as_str() + "\n"
