"""The command line: keys, migrate, serve, and one clear line for each startup problem."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import aiohttp
import pytest

from tests.processes import (
    assert_one_clear_line,
    environment,
    free_port,
    run_cli,
    serving,
    start_serving,
)

KEY = re.compile(r"^sk_(test|live)_[0-9A-Za-z]{32}$", re.MULTILINE)


def sqlite_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return environment({"database_url": f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"}, **extra)


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    env = sqlite_env(tmp_path)
    created = run_cli(env, "keys", "create", "--account", "acme", "--live")
    assert created.returncode == 0, created.stderr
    secret = KEY.search(created.stdout)
    assert secret and secret.group(1) == "live"
    key_id = re.search(r"key (key_\w+)", created.stdout)
    assert key_id

    listed = run_cli(env, "keys", "list")
    assert listed.returncode == 0
    assert key_id.group(1) in listed.stdout and "acme" in listed.stdout and "live" in listed.stdout
    assert secret.group(0) not in listed.stdout
    assert "active" in listed.stdout

    revoked = run_cli(env, "keys", "revoke", key_id.group(1))
    assert revoked.returncode == 0
    assert "revoked" in run_cli(env, "keys", "list").stdout
    assert_one_clear_line(run_cli(env, "keys", "revoke", key_id.group(1)), key_id.group(1))


def test_migrate_is_repeatable(tmp_path: Path) -> None:
    env = sqlite_env(tmp_path)
    assert run_cli(env, "migrate").returncode == 0
    again = run_cli(env, "migrate")
    assert again.returncode == 0
    assert "up to date" in again.stdout


@pytest.mark.parametrize(
    ("database_url", "fragment"),
    [
        ("mysql://root@localhost/test", "DATABASE_URL"),
        ("not a url at all", "DATABASE_URL"),
        ("postgresql+asyncpg://postgres@127.0.0.1:1/test", "cannot use the database"),
    ],
)
def test_bad_database_gives_one_line(database_url: str, fragment: str) -> None:
    result = run_cli(environment({"database_url": database_url}), "keys", "list")
    assert_one_clear_line(result, fragment)


def test_bad_argument_gives_one_line(tmp_path: Path) -> None:
    assert_one_clear_line(run_cli(sqlite_env(tmp_path), "keys", "create"), "--account")
    assert_one_clear_line(run_cli(sqlite_env(tmp_path), "serve", "--port", "eighty"), "--port")
    assert_one_clear_line(run_cli(sqlite_env(tmp_path), "frobnicate"), "frobnicate")


def test_port_in_use_gives_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(sqlite_env(tmp_path), "serve", "--port", str(port))
    assert_one_clear_line(result, str(port), "in use")


async def test_first_serve_mints_a_key_and_says_how_to_use_it(tmp_path: Path) -> None:
    env = sqlite_env(tmp_path)
    process = await start_serving(env, free_port())
    assert process.stdout is not None
    banner = ""
    try:
        while "More keys" not in banner:
            line = await asyncio.wait_for(process.stdout.readline(), timeout=20)
            assert line, banner
            banner += line.decode()
    finally:
        process.terminate()
        await process.wait()
    secret = KEY.search(banner.replace("    ", ""))
    assert secret and secret.group(1) == "test"
    assert "Headers pane" in banner
    assert f'"Authorization": "Bearer {secret.group(0)}"' in banner
    assert "curl" in banner

    port = free_port()
    async with serving(env, port) as url, aiohttp.ClientSession() as session:
        response = await session.post(
            url,
            json={"query": "{ customers { totalCount } }"},
            headers={"Authorization": f"Bearer {secret.group(0)}"},
        )
        assert (await response.json())["data"] == {"customers": {"totalCount": 0}}
    listed = run_cli(env, "keys", "list").stdout
    assert listed.count("default") == 1
