"""Running this directory's Node scripts from a test while the gateway serves in its loop."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent


def require_node_package(name: str) -> None:
    if shutil.which("node") is None:
        pytest.fail("node is not installed; the gateway's tests need Node.js 20+")
    if not (ROOT / "node_modules" / name / "package.json").is_file():
        pytest.fail(f"node_modules/{name} is missing; run scripts/setup (npm ci)")


async def run_script(script: str, *arguments: str, seconds: float = 120) -> Any:
    """Run SCRIPTS/script with node without blocking the loop; returns its JSON stdout."""
    process = await asyncio.create_subprocess_exec(
        "node",
        str(SCRIPTS / script),
        *arguments,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), seconds)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, stderr.decode()
    return json.loads(stdout)
