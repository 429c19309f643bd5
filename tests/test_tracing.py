"""OpenTelemetry traces through the SDK's in-memory exporter: a span per request, per
operation and per SQL statement, never per field; incoming trace context honoured; the
trace id in the log line and in masked errors; nothing imported when tracing is off."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.accounts import keys
from app.customers import service
from app.telemetry.spans import Spans, spans_from_environment, tracing_configured
from app.telemetry.tracing import OtelSpans
from app.web.app import create_app
from app.web.state import STORE
from tests.conftest import make_settings
from tests.processes import ROOT

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
Traced = tuple[TestClient[web.Request, web.Application], str]


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced(database: dict[str, Any], exporter: InMemorySpanExporter) -> AsyncIterator[Traced]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = TestClient(
        TestServer(create_app(make_settings(**database), spans=OtelSpans(provider)))
    )
    await client.start_server()
    try:
        async with client.app[STORE].engine.begin() as connection:
            minted = await keys.mint_key(connection, account_name="traced", live=False)
        exporter.clear()
        yield client, minted.secret
    finally:
        await client.close()


def by_kind(spans: tuple[ReadableSpan, ...]) -> dict[str, list[ReadableSpan]]:
    groups: dict[str, list[ReadableSpan]] = {"request": [], "operation": [], "sql": []}
    for span in spans:
        if span.kind is SpanKind.SERVER:
            groups["request"].append(span)
        elif span.attributes and "graphql.operation.type" in span.attributes:
            groups["operation"].append(span)
        else:
            groups["sql"].append(span)
    return groups


async def test_one_span_per_request_operation_and_statement(
    traced: Traced,
    exporter: InMemorySpanExporter,
) -> None:
    client, key = traced
    response = await client.post(
        "/graphql",
        json={
            "query": "query Listing { customers(first: 3) { totalCount nodes { id name email } } }"
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status == 200
    groups = by_kind(exporter.get_finished_spans())
    [request] = groups["request"]
    [operation] = groups["operation"]
    assert request.name == "POST /graphql"
    assert request.attributes["http.response.status_code"] == 200  # type: ignore[index]
    assert operation.name == "query Listing"
    assert operation.attributes["graphql.operation.name"] == "Listing"  # type: ignore[index]
    assert operation.attributes["gateway.cost"] == 4  # type: ignore[index]
    assert operation.parent is not None and operation.parent.span_id == request.context.span_id
    # The key lookup, the page and the count: statements, never fields.
    assert 2 <= len(groups["sql"]) <= 4, [span.name for span in groups["sql"]]
    trace_ids = {span.context.trace_id for span in exporter.get_finished_spans()}
    assert trace_ids == {request.context.trace_id}
    page_statements = [
        s for s in groups["sql"] if s.parent and s.parent.span_id == operation.context.span_id
    ]
    assert page_statements


async def test_incoming_trace_context_is_honoured_and_logged(
    traced: Traced,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, key = traced
    with caplog.at_level(logging.INFO, logger="app.access"):
        response = await client.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={
                "Authorization": f"Bearer {key}",
                "traceparent": f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01",
            },
        )
    assert response.status == 200
    [request] = by_kind(exporter.get_finished_spans())["request"]
    assert f"{request.context.trace_id:032x}" == TRACE_ID
    assert request.parent is not None and f"{request.parent.span_id:016x}" == PARENT_SPAN_ID
    [record] = [r for r in caplog.records if r.name == "app.access"]
    assert record.fields["trace_id"] == TRACE_ID  # type: ignore[attr-defined]


async def test_a_masked_error_names_the_trace(
    traced: Traced,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, key = traced

    async def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(service, "get_customer", explode)
    response = await client.post(
        "/graphql",
        json={"query": '{ customer(id: "cus_x") { id } }'},
        headers={
            "Authorization": f"Bearer {key}",
            "traceparent": f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01",
        },
    )
    [error] = (await response.json())["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["extensions"]["traceId"] == TRACE_ID
    assert error["extensions"]["requestId"] == response.headers["X-Request-Id"]


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_on_only_when_configured(environ: dict[str, str], on: bool) -> None:
    assert tracing_configured(environ) is on
    if not on:
        assert type(spans_from_environment(environ)) is Spans


def test_nothing_of_opentelemetry_is_imported_when_off() -> None:
    program = (
        "import sys\n"
        "from app.settings import Settings\n"
        "from app.web.app import create_app\n"
        "create_app(Settings(_env_file=None))\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    environ = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", program],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "[]"
