"""relay-compiler (npm, pinned) persists a small Relay app's documents; the file it writes
is registered with `documents add` and run by id on a gateway in trusted mode."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from tests.audit.node import require_node_package
from tests.processes import ROOT, environment, free_port, run_cli, serving

APP = Path(__file__).resolve().parent / "relay_app"
ARTIFACT_ID = re.compile(r'"id": "([0-9a-f]+)"')


def compile_relay_app(directory: Path) -> dict[str, str]:
    """Compile the app in `directory`; the persisted id of each operation, by name."""
    shutil.copytree(APP, directory)
    shutil.copy(ROOT / "schema.graphql", directory / "schema.graphql")
    # relay-compiler refuses to start unless the file it persists to exists.
    (directory / "persisted_queries.json").write_text("{}")
    compiled = subprocess.run(  # noqa: S603 - the pinned compiler from node_modules
        [str(ROOT / "node_modules" / ".bin" / "relay-compiler")],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    ids = {}
    for artifact in (directory / "src" / "__generated__").glob("*.graphql.js"):
        found = ARTIFACT_ID.search(artifact.read_text())
        if found:
            ids[artifact.name.removesuffix(".graphql.js")] = found.group(1)
    return ids


async def by_id(
    session: aiohttp.ClientSession, url: str, key: str, document_id: str, variables: Any
) -> Any:
    async with session.post(
        url,
        data=orjson.dumps({"documentId": document_id, "variables": variables}),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    ) as response:
        assert response.status == 200
        return await response.json()


async def test_relay_persisted_queries_run_on_a_trusted_gateway(
    database: dict[str, Any], tmp_path: Path
) -> None:
    require_node_package("relay-compiler")
    ids = compile_relay_app(tmp_path / "app")
    assert set(ids) == {"CustomerListQuery", "CustomerListCreateMutation"}
    assert all(len(document_id) == 64 for document_id in ids.values())  # SHA-256, bare hex

    env = environment(database, PERSISTED_DOCUMENTS="trusted")
    added = run_cli(env, "documents", "add", str(tmp_path / "app" / "persisted_queries.json"))
    assert added.returncode == 0, added.stderr
    assert "stored 2 new documents" in added.stdout
    minted = run_cli(env, "keys", "create", "--account", "relay")
    key = re.search(r"sk_test_\w{32}", minted.stdout)
    assert key

    async with serving(env, free_port()) as url, aiohttp.ClientSession() as session:
        for name in ("Grace", "Ada"):
            created = await by_id(
                session,
                url,
                key.group(0),
                ids["CustomerListCreateMutation"],
                {"input": {"name": name}},
            )
            assert created["data"]["createCustomer"]["userErrors"] == []
        page = await by_id(session, url, key.group(0), ids["CustomerListQuery"], {"first": 1})
        connection = page["data"]["customers"]
        assert [edge["node"]["name"] for edge in connection["edges"]] == ["Ada"]
        assert connection["pageInfo"]["hasNextPage"] is True
        rest = await by_id(
            session,
            url,
            key.group(0),
            ids["CustomerListQuery"],
            {"first": 5, "after": connection["pageInfo"]["endCursor"]},
        )
        assert [edge["node"]["name"] for edge in rest["data"]["customers"]["edges"]] == ["Grace"]

        async with session.post(
            url,
            json={"query": "{ customers { totalCount } }"},
            headers={"Authorization": f"Bearer {key.group(0)}"},
        ) as response:
            refused = await response.json()
        assert refused["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
