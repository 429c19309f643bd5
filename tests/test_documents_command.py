"""`python -m app documents add|list|remove`: Relay's and Apollo's files, all or nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.processes import assert_one_clear_line, environment, run_cli

LIST = "query List { customers(first: 5) { nodes { id } } }"
COUNT = "query Count { customers { totalCount } }"
LOOKUP = "query Lookup($id: ID!) { customer(id: $id) { name } }"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def relay_file(path: Path, entries: dict[str, str]) -> Path:
    path.write_text(json.dumps(entries))
    return path


def apollo_manifest(path: Path, operations: list[dict[str, str]]) -> Path:
    manifest = {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
    path.write_text(json.dumps(manifest))
    return path


def apollo_operation(body: str, name: str) -> dict[str, str]:
    return {"id": sha256(body), "body": body, "name": name, "type": "query"}


def listed_ids(env: dict[str, str]) -> set[str]:
    listed = run_cli(env, "documents", "list")
    assert listed.returncode == 0, listed.stderr
    return {line.split()[0] for line in listed.stdout.splitlines()[1:]}


def test_add_list_remove(database: dict[str, Any], tmp_path: Path) -> None:
    env = environment(database)
    relay = relay_file(tmp_path / "persisted_queries.json", {sha256(LIST): LIST})
    apollo = apollo_manifest(
        tmp_path / "manifest.json",
        [apollo_operation(COUNT, "Count"), apollo_operation(LIST, "List")],
    )
    added = run_cli(env, "documents", "add", str(relay), str(apollo))
    assert added.returncode == 0, added.stderr
    assert "stored 2 new documents (1 were stored already)" in added.stdout
    assert listed_ids(env) == {f"sha256:{sha256(LIST)}", f"sha256:{sha256(COUNT)}"}
    listing = run_cli(env, "documents", "list").stdout
    assert "Count" in listing and "List" in listing and "file" in listing

    again = run_cli(env, "documents", "add", str(apollo))
    assert "stored 0 new documents (2 were stored already)" in again.stdout

    removed = run_cli(env, "documents", "remove", f"sha256:{sha256(COUNT)}")
    assert removed.returncode == 0, removed.stderr
    assert listed_ids(env) == {f"sha256:{sha256(LIST)}"}
    assert_one_clear_line(run_cli(env, "documents", "remove", sha256(COUNT)), sha256(COUNT))
    assert_one_clear_line(run_cli(env, "documents", "remove", "nope"), "'nope'")


@pytest.mark.parametrize(
    ("bad_id", "bad_text", "reason"),
    [
        (sha256(COUNT), LIST, "not the SHA-256 of the document's text"),
        (hashlib.md5(COUNT.encode()).hexdigest(), COUNT, '"algorithm": "SHA256"'),  # noqa: S324
        ("custom-id", COUNT, "is not a SHA-256"),
        (sha256("{ nope }"), "{ nope }", "Cannot query field 'nope'"),
        (sha256("{ customers"), "{ customers", "Syntax Error"),
        (sha256(LOOKUP + " "), LOOKUP + " ", None),  # a valid one: the file is refused whole
    ],
)
def test_a_file_with_one_bad_entry_stores_nothing(
    database: dict[str, Any], tmp_path: Path, bad_id: str, bad_text: str, reason: str | None
) -> None:
    env = environment(database)
    entries = {sha256(LIST): LIST, bad_id: bad_text}
    if reason is None:
        entries["0" * 64] = COUNT
        bad_id, reason = "0" * 64, "not the SHA-256"
    good = apollo_manifest(tmp_path / "good.json", [apollo_operation(COUNT, "Count")])
    bad = relay_file(tmp_path / "persisted_queries.json", entries)
    refused = run_cli(env, "documents", "add", str(good), str(bad))
    assert refused.returncode == 1
    assert f"{bad}: 1 of its {len(entries)} documents cannot be stored" in refused.stderr
    assert f"  {bad_id}: " in refused.stderr and reason in refused.stderr
    assert refused.stderr.rstrip().endswith("nothing was stored")
    assert "Traceback" not in refused.stderr
    assert listed_ids(env) == set()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("not json", "is not JSON"),
        ("[1, 2]", "is neither Relay's persisted_queries.json"),
        ('{"format": "apollo-persisted-query-manifest", "version": 2}', '"version": 1'),
        (
            '{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{}]}',
            "operation 0 needs",
        ),
    ],
)
def test_files_that_are_no_manifest_give_one_line(
    tmp_path: Path, content: str, fragment: str
) -> None:
    env = environment({"database_url": f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"})
    path = tmp_path / "file.json"
    path.write_text(content)
    assert_one_clear_line(run_cli(env, "documents", "add", str(path)), fragment, "nothing")
    missing = run_cli(env, "documents", "add", str(tmp_path / "missing.json"))
    assert_one_clear_line(missing, "cannot be read")
