"""OpenTelemetry traces: a span per HTTP request, per GraphQL operation and per SQL
statement (opentelemetry-instrumentation-sqlalchemy on the store's engine, and spans of
the same shape around the statements read on the driver, app/store/driver.py), never per
field. Imported only when tracing is configured (app/telemetry/spans.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import propagate
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpMeter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, format_trace_id

from app.errors import StartupError
from app.store.store import Store
from app.telemetry.spans import OperationSpan, RequestSpan, Spans

SERVICE_NAME = "customers-gateway"


class _RequestSpan(RequestSpan):
    def __init__(self, span: Span) -> None:
        self._span = span
        self.trace_id = format_trace_id(span.get_span_context().trace_id)

    def finish(self, status: int) -> None:
        self._span.set_attribute("http.response.status_code", status)
        if status >= 500:
            self._span.set_status(Status(StatusCode.ERROR))


class _OperationSpan(OperationSpan):
    def __init__(self, span: Span) -> None:
        self._span = span

    def describe(self, *, name: str | None, kind: str, document_id: str | None, cost: int) -> None:
        self._span.update_name(f"{kind} {name}" if name else kind)
        self._span.set_attribute("graphql.operation.type", kind)
        if name:
            self._span.set_attribute("graphql.operation.name", name)
        if document_id:
            self._span.set_attribute("graphql.document.id", f"sha256:{document_id}")
        self._span.set_attribute("gateway.cost", cost)


class OtelSpans(Spans):
    enabled = True

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("app.web")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> OtelSpans:
        """A provider with the exporters OTEL_TRACES_EXPORTER names (default otlp, over
        HTTP); the SDK reads OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, the endpoint and
        the sampler from the environment itself."""
        provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
        names = environ.get("OTEL_TRACES_EXPORTER", "otlp") or "otlp"
        for name in (part.strip().lower() for part in names.split(",") if part.strip()):
            provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
        return cls(provider)

    @contextlib.contextmanager
    def request(self, method: str, path: str, headers: Mapping[str, str]) -> Iterator[RequestSpan]:
        with self._tracer.start_as_current_span(
            f"{method} {path}",
            context=propagate.extract(headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
        ) as span:
            yield _RequestSpan(span)

    @contextlib.contextmanager
    def operation(self) -> Iterator[OperationSpan]:
        with self._tracer.start_as_current_span("graphql.operation") as span:
            yield _OperationSpan(span)

    def instrument(self, store: Store) -> None:
        tracer = self.provider.get_tracer("app.store")
        usage = NoOpMeter("app.store").create_up_down_counter("db.client.connections.usage")
        EngineTracer(tracer, store.engine.sync_engine, usage)  # type: ignore[no-untyped-call]
        system = store.engine.dialect.name
        database = store.engine.url.database

        def statement_span(
            sql: str, _parameters: Sequence[Any]
        ) -> contextlib.AbstractContextManager[object]:
            # Named and described as EngineTracer names the engine's statements.
            words = sql.split(maxsplit=1)
            name = " ".join(part for part in (words[0] if words else "", database) if part)
            return tracer.start_as_current_span(
                name or system,
                kind=SpanKind.CLIENT,
                attributes={"db.system": system, "db.statement": sql},
            )

        store.driver_pool.observe = statement_span

    def shutdown(self) -> None:
        self.provider.shutdown()


def _exporter(name: str) -> SpanExporter:
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if name == "console":
        return ConsoleSpanExporter()
    raise StartupError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (otlp, console, none)")
