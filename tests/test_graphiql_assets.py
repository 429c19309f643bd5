"""GraphiQL's assets travel with the package; where they are missing, the page says so."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from app.web import graphiql

ROOT = Path(__file__).resolve().parents[1]


def test_the_checkout_serves_the_packaged_copies() -> None:
    for name in graphiql.ASSETS:
        assert graphiql.asset_path(name) == graphiql.PACKAGED_ASSETS / name


def test_a_page_without_assets_names_each_missing_file_and_the_fix(tmp_path: Path) -> None:
    response = graphiql.page_response((tmp_path / "package", tmp_path / "node_modules"))
    html = response.text
    assert html is not None
    for name, relative in graphiql.ASSETS.items():
        assert f"<code>{name}</code> (npm: {relative})" in html
    assert "scripts/graphiql_assets" in html
    assert "GraphiQL.createFetcher" not in html


def test_a_page_with_only_node_modules_is_the_real_page(tmp_path: Path) -> None:
    response = graphiql.page_response((tmp_path, graphiql.NODE_MODULES))
    assert response.text is not None
    assert "graphiql.min.js" in response.text
    assert "missing" not in response.text


def test_the_built_wheel_carries_the_four_assets(tmp_path: Path) -> None:
    subprocess.run(  # noqa: S603 - our own interpreter, building this repository
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("customers_gateway-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in graphiql.ASSETS:
        assert f"app/web/graphiql_assets/{name}" in names
    assert "app/store/migrations/versions/0001_initial.py" in names
