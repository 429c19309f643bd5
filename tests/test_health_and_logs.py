"""Health probes, request ids and the one structured log line per request."""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest
from sqlalchemy import event

from app.logs import BufferedLineHandler, JsonFormatter
from tests.gateway import Gateway


async def test_healthz_and_readyz(gateway: Gateway) -> None:
    for path in ("/healthz", "/readyz"):
        response = await gateway.client.get(path)
        assert response.status == 200
        assert (await response.json())["status"] == "ok"
        assert response.headers["X-Request-Id"]


async def test_readyz_reports_an_unreachable_database(gateway: Gateway) -> None:
    await gateway.engine.dispose()
    event.listen(gateway.engine.sync_engine, "do_connect", _refuse)
    response = await gateway.client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body == {"status": "unavailable", "database": "unreachable"}


def _refuse(*_args: object, **_kwargs: object) -> None:
    raise OSError("connection refused")


async def test_incoming_request_id_is_kept_and_bad_ones_replaced(gateway: Gateway) -> None:
    response = await gateway.client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    response = await gateway.client.get("/healthz", headers={"X-Request-Id": "bad id\u2603"})
    assert response.headers["X-Request-Id"] != "bad id\u2603"
    assert len(response.headers["X-Request-Id"]) == 32


async def test_one_log_line_per_request_without_the_key(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        response = await gateway.client.post(
            "/graphql",
            json={"query": "query Listing { customers { totalCount } }"},
            headers={"Authorization": f"Bearer {gateway.key}", "X-Request-Id": "req-1"},
        )
    assert response.status == 200
    [record] = [r for r in caplog.records if r.name == "app.access"]
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["request_id"] == "req-1"
    assert fields["operation"] == "Listing"
    assert fields["status"] == 200
    assert fields["duration_ms"] >= 0
    assert fields["account"].startswith("acct_")
    assert gateway.key not in caplog.text
    assert gateway.key[-10:] not in str(fields)


class _Writes:
    """A binary stream that keeps each write apart."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.writes.append(data)
        return len(data)

    def flush(self) -> None:
        pass


def _line(name: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord(name, level, "", 0, "request", (), None)


async def test_info_lines_are_written_together_a_moment_later() -> None:
    stream = _Writes()
    handler = BufferedLineHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter())
    handler.handle(_line("first"))
    handler.handle(_line("second"))
    await asyncio.sleep(0)
    assert stream.writes == []  # not yet
    await asyncio.sleep(BufferedLineHandler.FLUSH_SECONDS * 2)
    [written] = stream.writes
    assert [orjson.loads(line)["logger"] for line in written.splitlines()] == ["first", "second"]
    handler.handle(_line("third"))
    handler.flush()  # as logging does when the process exits
    assert orjson.loads(stream.writes[1])["logger"] == "third"


async def test_a_warning_is_written_at_once_with_the_lines_before_it() -> None:
    stream = _Writes()
    handler = BufferedLineHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter())
    handler.handle(_line("request"))
    handler.handle(_line("trouble", logging.WARNING))
    [written] = stream.writes
    assert [orjson.loads(line)["logger"] for line in written.splitlines()] == [
        "request",
        "trouble",
    ]


def test_a_line_logged_with_no_loop_running_is_written_at_once() -> None:
    stream = _Writes()
    handler = BufferedLineHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter())
    handler.handle(_line("alone"))
    [written] = stream.writes
    assert orjson.loads(written)["logger"] == "alone"
