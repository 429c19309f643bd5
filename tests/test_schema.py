"""The committed schema.graphql matches the code, and the code serves the whole contract."""

from __future__ import annotations

from pathlib import Path

from graphql import (
    build_schema,
    find_breaking_changes,
)

from app.api.schema import build_schema as build_gateway_schema
from app.api.schema import schema_sdl

ROOT = Path(__file__).resolve().parents[1]
# The published API, kept in the repository: contract v1 and the parts that extend it.
# Later versions may only add to them.
CONTRACT = [
    ROOT / "contract" / "customers.v1.graphql",
    ROOT / "contract" / "rate-limits.graphql",
    ROOT / "contract" / "events.graphql",
]


def test_committed_snapshot_matches_the_code() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == schema_sdl(), (
        "schema.graphql is out of date: run scripts/update_schema and commit the result"
    )


def test_served_schema_contains_the_contract() -> None:
    contract = build_schema("\n".join(part.read_text() for part in CONTRACT))
    served = build_gateway_schema()._schema
    assert find_breaking_changes(contract, served) == []
