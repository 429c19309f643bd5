"""GraphiQL's assets travel with the package; where they are missing, the page says so."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from app.web import graphiql
from tests.gateway import Gateway

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CONTENT_TYPES = {
    "react.production.min.js": ("application/javascript", "text/javascript"),
    "react-dom.production.min.js": ("application/javascript", "text/javascript"),
    "graphiql.min.js": ("application/javascript", "text/javascript"),
    "graphiql.min.css": ("text/css",),
    "graphql-ws.min.js": ("application/javascript", "text/javascript"),
}


@pytest.fixture
def backend() -> str:
    # The page and its assets do not depend on the database backend.
    return "sqlite"


async def page_html(gateway: Gateway) -> tuple[str, dict[str, str]]:
    page = await gateway.client.get("/graphql", headers={"Accept": BROWSER_ACCEPT})
    assert page.status == 200
    assert page.content_type == "text/html"
    return await page.text(), dict(page.headers)


def test_the_checkout_serves_the_packaged_copies() -> None:
    assert set(CONTENT_TYPES) == set(graphiql.ASSETS)
    for name in graphiql.ASSETS:
        assert graphiql.asset_path(name) == graphiql.PACKAGED_ASSETS / name


async def test_the_page_and_its_assets_are_served(gateway: Gateway) -> None:
    html, _ = await page_html(gateway)
    assert "GraphiQL.createFetcher" in html and "missing" not in html
    for name, content_types in CONTENT_TYPES.items():
        assert f"{graphiql.ASSETS_URL}/{name}" in html
        asset = await gateway.client.get(f"{graphiql.ASSETS_URL}/{name}")
        assert asset.status == 200, name
        assert asset.content_type in content_types, name
        assert await asset.read() == (graphiql.PACKAGED_ASSETS / name).read_bytes()


async def test_node_modules_alone_serves_a_development_checkout(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(graphiql, "PACKAGED_ASSETS", tmp_path)
    html, _ = await page_html(gateway)
    assert "GraphiQL.createFetcher" in html
    for name, relative in graphiql.ASSETS.items():
        asset = await gateway.client.get(f"{graphiql.ASSETS_URL}/{name}")
        assert asset.status == 200, name
        assert await asset.read() == (graphiql.NODE_MODULES / relative).read_bytes()


async def test_without_assets_the_page_names_each_missing_file_and_the_fix(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(graphiql, "PACKAGED_ASSETS", tmp_path / "package")
    monkeypatch.setattr(graphiql, "NODE_MODULES", tmp_path / "node_modules")
    html, headers = await page_html(gateway)
    for name, relative in graphiql.ASSETS.items():
        assert f"<code>{name}</code> (npm: {relative})" in html
    assert "scripts/setup" in html and "scripts/graphiql_assets" in html
    assert "pip install ." in html
    assert "GraphiQL.createFetcher" not in html
    assert headers["Content-Security-Policy"] == graphiql.CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    for name in graphiql.ASSETS:
        asset = await gateway.client.get(f"{graphiql.ASSETS_URL}/{name}")
        assert asset.status == 404, name
        assert "scripts/graphiql_assets" in await asset.text()


def test_the_built_wheel_carries_the_assets(tmp_path: Path) -> None:
    # Without build isolation: the venv's pinned setuptools (requirements-dev.lock)
    # builds it, and nothing is fetched.
    subprocess.run(  # noqa: S603 - our own interpreter, building this repository
        [
            str(VENV_PYTHON),
            *("-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"),
            *("-w", str(tmp_path), str(ROOT)),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    [wheel] = tmp_path.glob("customers_gateway-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for name in graphiql.ASSETS:
        assert f"app/web/graphiql_assets/{name}" in names, name
    assert "app/store/migrations/versions/0001_initial.py" in names
