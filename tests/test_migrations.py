"""The Alembic migrations build exactly the tables app/customers/models.py describes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlmodel import SQLModel

from app.store.engine import MIGRATIONS_DIR, head_revision
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


def test_head_revision_is_the_newest_migration() -> None:
    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    assert scripts.get_current_head() == head_revision()


async def test_an_up_to_date_database_is_served_without_loading_alembic(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'customers.sqlite3'}"
    check = (
        "import asyncio, sys\n"
        "from app.store.engine import create_engine, migrate\n"
        "from app.settings import Settings\n"
        f"engine = create_engine(Settings(_env_file=None, database_url={url!r}))\n"
        "asyncio.run(migrate(engine))\n"
        "print('alembic' in sys.modules)\n"
    )

    def loaded_alembic() -> bool:
        done = subprocess.run(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", check],
            cwd=Path(__file__).parent.parent,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip() == "True"

    assert loaded_alembic()  # a new database is migrated
    assert not loaded_alembic()  # then found at the head
