"""A real browser (Debian's Chromium, driven by playwright-core) uses GraphiQL offline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.audit.node import require_node_package, run_script
from tests.gateway import Gateway

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def backend() -> str:
    # The page and its assets do not depend on the database backend.
    return "sqlite"


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if shutil.which("apt-get") is None:
        pytest.skip("no /usr/bin/chromium and no apt-get to install it (scripts/setup does)")
    pytest.fail("/usr/bin/chromium is missing; scripts/setup installs Debian's chromium")


async def test_graphiql_runs_a_query_with_a_key_and_no_network(gateway: Gateway) -> None:
    require_chromium()
    require_node_package("playwright-core")
    await gateway.create_customer(name="Grace Hopper")
    url = str(gateway.client.make_url("/graphql"))

    report = await run_script("graphiql-browser.mjs", url, gateway.key, "Grace Hopper")

    assert "failure" not in report, report.get("failure")
    assert report["offOrigin"] == [], "the page tried to reach another origin"
    assert report["pageErrors"] == []
    csp_violations = [e for e in report["consoleErrors"] if "Content Security Policy" in e]
    assert csp_violations == []
    assert report["pageStatus"] == 200
    assert report["contentType"].startswith("text/html")
    assert "Headers" in report["hint"] and "Authorization" in report["hint"]
    assert "Bearer" in report["hint"]
    # The placeholder key in the default headers is refused; the one typed in is used.
    assert "UNAUTHENTICATED" in report["placeholderResult"]
    assert gateway.key in report["headersEditor"]
    assert report["introspectionStatus"] == 200
    assert report["queryType"] == "Query"
    assert "Grace Hopper" in report["result"]
    assert "errors" not in report["result"]
    assert report["steps"] == [
        "loaded",
        "answered 401",
        "placeholder refused",
        "key entered",
        "schema loaded",
        "answered 200",
        "result shown",
    ]
