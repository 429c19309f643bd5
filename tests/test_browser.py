"""A real browser (Debian's Chromium, driven by playwright-core) uses GraphiQL offline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

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


async def last_event(gateway: Gateway) -> dict[str, Any]:
    data = await gateway.data("{ customerEvents(last: 1) { nodes { id type customer { name } } } }")
    [event] = data["customerEvents"]["nodes"]
    last: dict[str, Any] = event
    return last


async def test_graphiql_runs_a_query_and_a_subscription_with_a_key_and_no_network(
    gateway: Gateway,
) -> None:
    require_chromium()
    require_node_package("playwright-core")
    await gateway.create_customer(name="Ada Lovelace")
    mark = await last_event(gateway)
    await gateway.create_customer(name="Grace Hopper")
    replayed = await last_event(gateway)
    url = str(gateway.client.make_url("/graphql"))

    report = await run_script(
        "graphiql-browser.mjs",
        *(url, gateway.key, "Grace Hopper", mark["id"], "Grace Hopper", "Katherine Johnson"),
    )

    assert "failure" not in report, report.get("failure")
    assert report["offOrigin"] == [], "the page tried to reach another origin"
    assert report["pageErrorsBeforeRefusal"] == []
    assert set(report["pageErrors"]) <= {"Error: Socket closed with event 4403 Forbidden"}
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
        "replay shown",
        "live event shown",
        "stopped",
        "subscription refused",
    ]

    # The subscription: the event after the mark, then the one made while it ran.
    assert mark["id"] in report["subscription"]
    assert json.loads(report["replayedResult"]) == {"data": {"customerEvents": replayed}}
    created = await last_event(gateway)
    assert created["type"] == "CUSTOMER_CREATED"
    assert created["customer"] == {"name": "Katherine Johnson"}
    assert json.loads(report["liveResult"]) == {"data": {"customerEvents": created}}
    # Over a WebSocket to this origin, its connection_init carrying the Headers tab.
    subscribed, refused = report["sockets"]
    assert subscribed["url"] == url.replace("http://", "ws://")
    assert subscribed["sent"][0] == {
        "type": "connection_init",
        "payload": {"Authorization": f"Bearer {gateway.key}"},
    }
    assert subscribed["received"][0] == {"type": "connection_ack"}
    assert [m["type"] for m in subscribed["received"][1:]] == ["next", "next"]
    # With the placeholder key: closed with 4403 and shown at once, not retried.
    assert refused["sent"][0]["payload"] == {"Authorization": "Bearer sk_test_your_key_here"}
    assert refused["received"] == []
    assert "4403" in report["refusedResult"]
