"""The WebSocket transport once the upgrade is answered (app/web/websocket.py hands the
connection to aiohttp's frame parser without a task of its own): RFC 6455 frames from any
client, the keepalive, an idle socket outliving aiohttp's keep-alive timeout, and its
access line when it ends."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from tests.gateway import Gateway
from tests.live import PROTOCOL, socket


class RawSocket:
    """A WebSocket written by hand, frame by frame, as a client must send them (masked)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        first = (0x80 if fin else 0) | opcode
        length = len(payload)
        if length < 126:
            header = bytes((first, 0x80 | length))
        elif length < 1 << 16:
            header = struct.pack("!BBH", first, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", first, 0x80 | 127, length)
        mask = os.urandom(4)
        self.writer.write(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def text(self, message: dict[str, Any]) -> None:
        self.frame(0x1, orjson.dumps(message))

    async def next_frame(self) -> tuple[int, bytes]:
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await self.reader.readexactly(length)

    async def close_code(self) -> int:
        """The code of the server's close frame (other frames skipped)."""
        async with asyncio.timeout(5):
            while True:
                opcode, payload = await self.next_frame()
                if opcode == 0x8:
                    code: int = struct.unpack("!H", payload[:2])[0]
                    return code


@contextlib.asynccontextmanager
async def raw_socket(gateway: Gateway) -> AsyncIterator[RawSocket]:
    host, port = gateway.client.host, gateway.client.port
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {PROTOCOL}\r\n\r\n"
        ).encode()
    )
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head
        yield RawSocket(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_fragmented_messages_and_pings_are_understood(gateway: Gateway) -> None:
    async with raw_socket(gateway) as raw:
        await _fragments_and_pings(raw, gateway.key)


async def _fragments_and_pings(raw: RawSocket, key: str) -> None:
    init = orjson.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
    raw.frame(0x1, init[:10], fin=False)
    raw.frame(0x9, b"are you there")  # a ping between the fragments
    raw.frame(0x0, init[10:20], fin=False)
    raw.frame(0x0, init[20:])
    assert await raw.next_frame() == (0xA, b"are you there")
    opcode, payload = await raw.next_frame()
    assert (opcode, orjson.loads(payload)) == (0x1, {"type": "connection_ack"})
    raw.text({"id": "q", "type": "subscribe", "payload": {"query": "{ __typename }"}})
    opcode, payload = await raw.next_frame()
    assert orjson.loads(payload)["payload"] == {"data": {"__typename": "Query"}}
    raw.frame(0x8, struct.pack("!H", 1000))
    assert await raw.close_code() == 1000
    assert await raw.reader.read() == b""  # and the server hangs up


async def test_the_server_hangs_up_once_its_close_is_answered(gateway: Gateway) -> None:
    async with raw_socket(gateway) as raw:
        raw.text({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}})
        assert await raw.close_code() == 4403
        raw.frame(0x8, struct.pack("!H", 4403))
        async with asyncio.timeout(2):
            assert await raw.reader.read() == b""


@pytest.mark.parametrize(
    ("opcode", "payload", "code"),
    [
        (0x1, b"\xff\xfe not UTF-8", 1007),
        (0x1, b"x" * 101_000, 1009),
        (0x3, b"", 1002),
        (0x2, b"\x00binary", 4400),
        (0x1, b"not json", 4400),
    ],
)
async def test_frames_that_break_the_rules_close_the_socket(
    gateway: Gateway, opcode: int, payload: bytes, code: int
) -> None:
    async with raw_socket(gateway) as raw:
        raw.frame(opcode, payload)
        assert await raw.close_code() == code


class TestKeepalive:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"keepalive_seconds": 0.4, "idle_timeout_seconds": 0.2}

    async def test_a_socket_that_answers_pings_outlives_the_idle_timeout(
        self, gateway: Gateway
    ) -> None:
        url = str(gateway.client.make_url("/graphql"))
        async with socket(url, gateway.key) as ws:
            answer = asyncio.create_task(ws.of("q"))  # reading, so aiohttp answers the pings
            await asyncio.sleep(1.5)
            await ws.subscribe("q", "{ __typename }")
            assert (await answer)["payload"] == {"data": {"__typename": "Query"}}

    async def test_a_socket_that_stops_answering_pings_is_dropped(self, gateway: Gateway) -> None:
        url = str(gateway.client.make_url("/graphql"))
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(url, protocols=(PROTOCOL,), autoping=False)
            assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.PING
            message = await ws.receive(timeout=5)
            assert message.type == aiohttp.WSMsgType.CLOSED


async def test_the_access_line_of_a_socket_is_logged_when_it_ends(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    url = str(gateway.client.make_url("/graphql"))
    with caplog.at_level(logging.INFO, logger="app.access"):
        async with socket(url, gateway.key) as ws:
            await asyncio.sleep(0.3)
            assert not [r for r in caplog.records if r.name == "app.access"]
            await ws.ws.close()  # which returns once the server answered it, so had ended
    [record] = [r for r in caplog.records if r.name == "app.access"]
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["status"] == 101 and fields["path"] == "/graphql"
    assert fields["duration_ms"] >= 300 and fields["live"] is False and fields["account"]
