"""Spans as the web layer asks for them, without OpenTelemetry unless it is configured.

`spans_from_environment` reads the standard variables: traces are on when
OTEL_TRACES_EXPORTER names an exporter (not `none`) or an OTLP endpoint is set
(OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), and OTEL_SDK_DISABLED is
not `true`. Otherwise `Spans` does nothing and app/telemetry/tracing.py, the only module
that imports OpenTelemetry, is never imported.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping

from app.store.store import Store

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class RequestSpan:
    """The span of one HTTP request; `trace_id` is None when nothing is traced."""

    trace_id: str | None = None

    def finish(self, status: int) -> None:
        pass


class OperationSpan:
    def describe(self, *, name: str | None, kind: str, document_id: str | None, cost: int) -> None:
        pass


# Entering a nullcontext costs a fraction of a generator-based context manager, and
# every request enters two spans.
_NO_REQUEST = contextlib.nullcontext(RequestSpan())
_NO_OPERATION = contextlib.nullcontext(OperationSpan())


class Spans:
    """No tracing: every span is nothing and costs nothing."""

    enabled = False

    def request(
        self, method: str, path: str, headers: Mapping[str, str]
    ) -> contextlib.AbstractContextManager[RequestSpan]:
        return _NO_REQUEST

    def operation(self) -> contextlib.AbstractContextManager[OperationSpan]:
        return _NO_OPERATION

    def instrument(self, store: Store) -> None:
        pass

    def shutdown(self) -> None:
        pass


def tracing_configured(environ: Mapping[str, str]) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return any(environ.get(name) for name in ENDPOINT_VARIABLES)


def spans_from_environment(environ: Mapping[str, str] | None = None) -> Spans:
    environ = os.environ if environ is None else environ
    if not tracing_configured(environ):
        return Spans()
    from app.telemetry.tracing import OtelSpans

    return OtelSpans.from_environment(environ)
