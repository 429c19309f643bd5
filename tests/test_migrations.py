"""The Alembic migrations build exactly the tables app/models.py describes."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlmodel import SQLModel

import app.models  # noqa: F401 - registers the tables
from tests.gateway import Gateway


def _not_postgres_only(
    item: Any, name: str | None, kind: str, reflected: bool, _compare_to: Any
) -> bool:
    # The trigram indexes of migration 0003 exist on PostgreSQL only, so the models,
    # which describe both backends, leave them out.
    return not (kind == "index" and reflected and name is not None and name.endswith("_trgm"))


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": _not_postgres_only}
    )
    return list(compare_metadata(context, SQLModel.metadata))


async def test_migrated_database_matches_the_models(gateway: Gateway) -> None:
    async with gateway.engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == []
