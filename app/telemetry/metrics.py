"""Prometheus metrics, one set per application, served at /metrics.

Labels never carry client input as it came: an operation is named by its parsed
operation name or its document id, a client by its `apollographql-client-name`, and
each label keeps the first BOUNDED_VALUES distinct values it sees, then says `other`,
so a client cannot grow the number of series. No label holds a key, a customer value or
a document text.

With several worker processes (`serve --workers`), PROMETHEUS_MULTIPROC_DIR is set and
prometheus-client writes every process's values to files there; /metrics then reports
the sum over all of them.
"""

from __future__ import annotations

import os
import re
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

OPERATION_NAMES = 100
CLIENT_NAMES = 20
OTHER = "other"
ANONYMOUS = "anonymous"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_CLIENT_NAME = re.compile(r"^[A-Za-z0-9._@/ -]{1,64}\Z")


class BoundedLabel:
    """The first `size` distinct values as themselves, any later one as `other`."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._size:
            return OTHER
        self._seen.add(value)
        return value


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._operation = BoundedLabel(OPERATION_NAMES)
        self._client = BoundedLabel(CLIENT_NAMES)
        # Each label set's children, looked up once: `labels()` takes a lock and checks
        # its values on every call. Bounded as the labels are.
        self._operation_series: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}
        self.operations = Counter(
            "gateway_graphql_operations",
            "GraphQL operations answered, by outcome (ok, user_error, bad_request, error).",
            ["operation", "type", "outcome", "client"],
            registry=self.registry,
        )
        self.operation_duration = Histogram(
            "gateway_graphql_operation_duration_seconds",
            "Time from reading an operation to its answer.",
            ["operation", "type"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.http_requests = Counter(
            "gateway_http_requests",
            "HTTP responses, by status.",
            ["status"],
            registry=self.registry,
        )
        self._http_series: dict[int, Any] = {}
        self.db_connections_in_use = Gauge(
            "gateway_db_connections_in_use",
            "Database connections held by requests.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.db_connections_waiting = Gauge(
            "gateway_db_connections_waiting",
            "Requests waiting for a database connection.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.subscriptions_open = Gauge(
            "gateway_subscriptions_open",
            "Open subscriptions, over WebSocket and SSE.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.subscriptions_ended = Counter(
            "gateway_subscriptions_ended",
            "Subscriptions ended by a terminating error, by reason (too_slow, unavailable, error).",
            ["reason"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "gateway_rate_limited",
            "Operations refused with RATE_LIMITED.",
            registry=self.registry,
        )
        self.rate_limit_store_errors = Counter(
            "gateway_rate_limit_store_errors",
            "Charges Redis could not answer (served without limits).",
            registry=self.registry,
        )

    def operation(
        self,
        *,
        name: str | None,
        document_id: str | None,
        kind: str,
        outcome: str,
        client: str | None,
        seconds: float,
    ) -> None:
        label = self._operation(name or (f"sha256:{document_id}" if document_id else ANONYMOUS))
        client_label = self._client(client) if client and _CLIENT_NAME.match(client) else "none"
        key = (label, kind, outcome, client_label)
        series = self._operation_series.get(key)
        if series is None:
            series = (self.operations.labels(*key), self.operation_duration.labels(label, kind))
            self._operation_series[key] = series
        count, duration = series
        count.inc()
        duration.observe(seconds)

    def http_response(self, status: int) -> None:
        """One more HTTP response with this status (its child looked up once)."""
        series = self._http_series.get(status)
        if series is None:
            series = self._http_series[status] = self.http_requests.labels(str(status))
        series.inc()

    def connections(self, *, in_use: int, waiting: int, subscriptions: int) -> None:
        """The store's connection counts and the open subscriptions, copied into the gauges
        (at least once a second)."""
        self.db_connections_in_use.set(in_use)
        self.db_connections_waiting.set(waiting)
        self.subscriptions_open.set(subscriptions)

    def exposition(self) -> bytes:
        """The text format: this process's metrics, or every worker's when there are several."""
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not directory:
            return generate_latest(self.registry)
        combined = CollectorRegistry()
        MultiProcessCollector(combined, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(combined)
