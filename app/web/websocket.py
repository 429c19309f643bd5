"""GraphQL over WebSocket at /graphql: the graphql-transport-ws protocol (graphql-ws).

Strawberry's protocol handler keeps the protocol's state (connection_init within
CONNECTION_INIT_SECONDS or 4408, one init or 4429, subscribe before ack 4401, ids in use
4409, ping/pong, complete); the gateway's edge decides the rest, as it does over HTTP:
the key in connection_init's payload (or the upgrade's Authorization header), 4403 when
it is missing or bad; each operation checked, limited, charged, run and masked by
`answer_operation`; subscriptions counted per key, ended with 1001 at shutdown and 4403
when their key is revoked. Every socket is pinged once it has been silent for
KEEPALIVE_SECONDS, and closed when nothing comes back within half that.

An idle socket costs memory and nothing else: once the upgrade is answered, aiohttp's
request handler returns (its request, its task and the middleware's state go), aiohttp's
own frame parser (`WebSocketReader`, what `web.WebSocketResponse` reads with) hands each
message to `_Socket` as it arrives, and a task runs only while there are messages to
handle. The keepalive is one timer for every socket of the process (`Heartbeats`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import struct
import time
from collections.abc import AsyncGenerator, Mapping
from datetime import timedelta
from typing import Any, cast

import orjson
from aiohttp import web
from aiohttp._websocket.reader import WebSocketDataQueue
from aiohttp.http import (
    WS_KEY,
    WebSocketError,
    WebSocketReader,
    WSMessage,
    WSMessageTextBytes,
    WSMsgType,
)
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.async_base_view import AsyncWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.types.unset import UnsetType

from app.accounts.keys import Principal
from app.web.answers import Answer
from app.web.auth import authenticate
from app.web.error_entries import INTERNAL_MESSAGE, masked_extensions
from app.web.middleware import log_request
from app.web.operation_metrics import CLIENT_NAME_HEADER
from app.web.operations import Opened, answer_operation
from app.web.params import GraphQLParams, RequestError, params_from_mapping
from app.web.sessions import Ending, Session
from app.web.state import REQUEST_ID, SETTINGS, SUBSCRIPTIONS
from app.web.subscriptions import held_slot, payloads

PROTOCOL = "graphql-transport-ws"
# The close codes graphql-ws gives these meanings.
FORBIDDEN = 4403
GOING_AWAY = 1001
TRY_AGAIN_LATER = 1013
# RFC 6455's.
_NORMAL = 1000
_PROTOCOL_ERROR = 1002
_INTERNAL_ERROR = 1011
_TEXT, _CLOSE, _PING, _PONG = WSMsgType.TEXT, WSMsgType.CLOSE, WSMsgType.PING, WSMsgType.PONG
# How long a socket that sent its close frame waits for the client's before it hangs up.
_CLOSE_SECONDS = 10.0
# The upgrade request's headers its operations read; the rest go with the request.
_KEPT_HEADERS = ("Authorization", CLIENT_NAME_HEADER)
log = logging.getLogger(__name__)
_Operation = Operation[dict[str, Any], None]
_NOTHING: Mapping[str, str] = {"query": ""}


def is_websocket(request: web.Request) -> bool:
    return request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket"


async def handle_websocket(request: web.Request) -> web.StreamResponse:
    """Answers the upgrade (400 when it is not a valid one), then leaves the connection to
    a `_Socket`; a client that does not offer graphql-transport-ws is closed with 4406.
    Its access line is logged when it ends."""
    started = time.perf_counter()
    protocol, accept = _handshake(request)
    headers = {"Upgrade": "websocket", "Connection": "upgrade", "Sec-WebSocket-Accept": accept}
    if protocol is not None:
        headers["Sec-WebSocket-Protocol"] = protocol
    response = web.StreamResponse(status=101, reason="Switching Protocols", headers=headers)
    response.force_close()  # no further HTTP request on this connection
    await response.prepare(request)
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("the client left during the upgrade")
    socket = _Socket(request, transport, started)
    if protocol == PROTOCOL:
        socket.start()
    else:
        socket.close_now(4406, "Subprotocol not acceptable")
    # What the client sent after its upgrade request is parsed here, so after start.
    max_size = request.app[SETTINGS].max_body_bytes
    request.protocol.set_parser(
        WebSocketReader(_Messages(socket), max_size, compress=False, decode_text=True)
    )
    _detach(socket, request, transport)
    return response


def _handshake(request: web.Request) -> tuple[str | None, str]:
    """The subprotocol chosen (graphql-transport-ws if offered) and Sec-WebSocket-Accept."""
    headers = request.headers
    if "upgrade" not in headers.get("Connection", "").lower():
        raise web.HTTPBadRequest(text="A WebSocket upgrade needs Connection: Upgrade.")
    if headers.get("Sec-WebSocket-Version", "") != "13":
        raise web.HTTPBadRequest(text="Only WebSocket version 13 is supported.")
    key = headers.get("Sec-WebSocket-Key", "")
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError(key)
    except (ValueError, binascii.Error):
        raise web.HTTPBadRequest(text="Bad Sec-WebSocket-Key.") from None
    accept = base64.b64encode(
        hashlib.sha1(key.encode() + WS_KEY, usedforsecurity=False).digest()
    ).decode()
    offered = {p.strip() for p in headers.get("Sec-WebSocket-Protocol", "").split(",")}
    return (PROTOCOL if PROTOCOL in offered else None), accept


def _detach(socket: _Socket, request: web.Request, transport: asyncio.Transport) -> None:
    """Keeps the connection open once the handler returns. aiohttp closes the transport
    its request handler holds when its request loop ends, so the handler forgets it until
    then. After, it gets the transport back (its flow control is what `drain` waits on,
    and at shutdown it closes what is left), it lets go of its HTTP parser (which holds the
    upgrade's headers until a next request, and none comes), and the socket keeps a copy
    of the request without the headers its operations do not read."""
    handler = request.protocol
    handler.keep_alive(False)
    handler.transport = None

    def after_the_request(_task: object) -> None:
        handler._parser = None
        kept = {name: request.headers[name] for name in _KEPT_HEADERS if name in request.headers}
        socket.request = request.clone(headers=kept)
        if not transport.is_closing():
            handler.transport = transport

    request.task.add_done_callback(after_the_request)


class _Messages(WebSocketDataQueue):
    """Where aiohttp's frame parser puts each message it has read: straight to the socket,
    nothing queued (so it never pauses the connection)."""

    __slots__ = ("_socket",)
    # What aiohttp's parser reads of a queue, for its pure-Python build (the compiled one
    # keeps them in the base's own fields); the queue's buffer is never used.
    _size = _limit = 0
    _stalled_reader = None

    def __init__(self, socket: _Socket) -> None:
        self._socket = socket

    def feed_data(self, data: WSMessage | WSMessageTextBytes, size: int) -> None:
        self._socket.on_message(data)

    def feed_eof(self) -> None:
        self._socket.feed_eof()

    def set_exception(self, exc: BaseException, exc_cause: BaseException | None = None) -> None:
        """The client broke the WebSocket protocol (nothing after it can be read)."""
        if isinstance(exc, WebSocketError):
            self._socket.close_now(exc.code, str(exc))
        else:
            self._socket.close_now(_PROTOCOL_ERROR, "Bad frame")


class _Socket(AsyncWebSocketAdapter):
    """One WebSocket after its upgrade: the frames in (as the connection's parser) and
    out, the messages handed to Strawberry's handler in order, the key's session, the
    keepalive and the close."""

    __slots__ = (
        "_closing",
        "_ended",
        "_handler",
        "_inbox",
        "_init_timer",
        "_pinged_at",
        "_reader",
        "_received_at",
        "_shutdown",
        "_started",
        "_transport",
        "_writer",
        "principal",
        "request",
        "session",
    )

    def __init__(self, request: web.Request, transport: asyncio.Transport, started: float) -> None:
        super().__init__(cast(Any, None))
        self.request = request
        self._started = started
        self.principal: Principal | None = None
        self.session: Session | None = None
        self._transport = transport
        self._writer = request.writer
        self._inbox: list[str | None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._shutdown: asyncio.Task[None] | None = None
        self._handler: _Handler | None = None
        self._init_timer: asyncio.TimerHandle | None = None
        self._received_at = asyncio.get_running_loop().time()
        self._pinged_at: float | None = None
        self._closing = False
        self._ended = False

    def start(self) -> None:
        settings = self.request.app[SETTINGS]
        self._handler = _Handler(self, timedelta(seconds=settings.connection_init_seconds))
        self._init_timer = asyncio.get_running_loop().call_later(
            settings.connection_init_seconds, self._init_timed_out
        )
        subscriptions = self.request.app[SUBSCRIPTIONS]
        subscriptions.heartbeats.add(self, settings.keepalive_seconds / 2)
        self.session = subscriptions.add_session(on_end=self._session_ended)

    # -- messages in, from aiohttp's frame parser

    def on_message(self, message: WSMessage | WSMessageTextBytes) -> None:
        self._received_at = asyncio.get_running_loop().time()
        kind = message.type
        if kind is _PING:
            self._write(_PONG, message.data)
        elif kind is _CLOSE:
            self._on_close(message.data)
        elif self._closing:
            return  # what follows our close frame is dropped
        elif kind is _TEXT:
            self._receive(message.data)
        elif kind is WSMsgType.BINARY:
            self._receive(None)

    def feed_eof(self) -> None:
        """The connection is gone."""
        self._closing = True
        self._end()

    def _on_close(self, code: int) -> None:
        if not self._closing:
            self._write(_CLOSE, (code or _NORMAL).to_bytes(2, "big"))
            self._closing = True
        self._transport.close()
        self._end()

    # -- messages, to Strawberry's handler one at a time, by a task while there are any

    def _receive(self, text: str | None) -> None:
        if self._handler is None:
            return
        if self._inbox is None:
            self._inbox = []
        self._inbox.append(text)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        handler = self._handler
        assert handler is not None
        try:
            while self._inbox and not self._closing:
                text = self._inbox.pop(0)
                await _dispatch(handler, text)
        except WebSocketDisconnected:
            pass
        except Exception:
            log.exception(
                "handling a WebSocket message failed (request %s)", self.request[REQUEST_ID]
            )
            self.close_now(_INTERNAL_ERROR, "Internal error")
        finally:
            self._inbox = None
            self._reader = None

    def _init_timed_out(self) -> None:
        self._init_timer = None
        handler = self._handler
        if handler is not None and not handler.connection_init_received:
            handler.connection_timed_out = True
            self.close_now(4408, "Connection initialisation timeout")

    def init_received(self) -> None:
        if self._init_timer is not None:
            self._init_timer.cancel()
            self._init_timer = None

    # -- Strawberry's view of the socket

    def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object]:
        raise NotImplementedError("messages are pushed to the handler")

    async def send_json(self, message: Mapping[str, object]) -> None:
        if not self._write(_TEXT, orjson.dumps(message)):
            raise WebSocketDisconnected
        try:
            await self._writer.drain()
        except ConnectionError as error:
            raise WebSocketDisconnected from error

    async def close(self, code: int, reason: str) -> None:
        self.close_now(code, reason)

    async def on_ws_connect(self, context: dict[str, Any]) -> UnsetType:
        """Authenticates the key of connection_init (which the handler put in the context
        as connection_params), else of the upgrade's Authorization header."""
        try:
            # The payload (its key among it) is not kept.
            header = _authorization(self, context.pop("connection_params"))
            self.principal = await authenticate(self.request, header)
        except RequestError as error:
            if error.code != "UNAUTHENTICATED":
                # The database is unavailable: retry later, the key may well be good.
                self.close_now(TRY_AGAIN_LATER, error.message)
            raise ConnectionRejectionError from error
        if self.session is not None:
            self.session.key_id = self.principal.key_id
        return UnsetType()  # connection_ack without a payload

    # -- frames out

    def _write(self, opcode: int, payload: bytes) -> bool:
        """One frame, unless the socket is closing (False)."""
        if self._closing or self._transport.is_closing():
            return False
        length = len(payload)
        if length < 126:
            header = bytes((0x80 | opcode, length))
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
        self._transport.write(header + payload)
        return True

    def beat(self, now: float) -> None:
        """Every KEEPALIVE_SECONDS / 2: a ping once the socket has been silent for
        KEEPALIVE_SECONDS, and the connection dropped when nothing came back since."""
        keepalive = self.request.app[SETTINGS].keepalive_seconds
        if self._pinged_at is not None:
            if self._received_at < self._pinged_at:
                if now - self._pinged_at >= keepalive / 2:
                    self._transport.close()  # as aiohttp does: no close frame (1006)
                    self.feed_eof()
                return
            self._pinged_at = None
        if now - self._received_at >= keepalive and not self._closing:
            self._write(_PING, b"")
            self._pinged_at = now

    def close_now(self, code: int, reason: str) -> None:
        """Sends the close frame (once), stops the socket's work, and hangs up when the
        client's close frame comes back or after _CLOSE_SECONDS."""
        if self._closing:
            return
        # At most 123 bytes of reason, cut between characters.
        message = reason.encode()[:123].decode(errors="ignore").encode()
        if self._write(_CLOSE, code.to_bytes(2, "big") + message):
            asyncio.get_running_loop().call_later(_CLOSE_SECONDS, self._transport.close)
        self._closing = True
        self._end()

    def _session_ended(self, why: Ending) -> None:
        if why is Ending.SHUTDOWN:
            self.close_now(GOING_AWAY, "The server is shutting down; reconnect.")
        else:
            self.close_now(FORBIDDEN, "Forbidden: the API key was revoked.")

    def _end(self) -> None:
        """Once: the operations are cancelled and the socket forgotten."""
        if self._ended:
            return
        self._ended = True
        log_request(self.request, 101, self._started)
        if self._init_timer is not None:
            self._init_timer.cancel()
            self._init_timer = None
        subscriptions = self.request.app[SUBSCRIPTIONS]
        subscriptions.heartbeats.discard(self)
        if self._handler is not None:
            self._shutdown = asyncio.create_task(self._shut_down(self._handler))

    async def _shut_down(self, handler: _Handler) -> None:
        try:
            if self._reader is not None:
                self._reader.cancel()
            await handler.shutdown()
        finally:
            if self.session is not None:
                self.request.app[SUBSCRIPTIONS].remove_session(self.session)


async def _dispatch(handler: _Handler, text: str | None) -> None:
    if text is None:
        await handler.handle_invalid_message("WebSocket message type must be text")
        return
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        await handler.handle_invalid_message("WebSocket message must be valid JSON")
        return
    if not isinstance(message, dict):
        await handler.handle_invalid_message("Failed to parse message")
        return
    await handler.handle_message(cast(Any, message))


class _Handler(BaseGraphQLTransportWSHandler[dict[str, Any], None]):
    def __init__(self, socket: _Socket, connection_init_wait: timedelta) -> None:
        super().__init__(cast(Any, socket), socket, {}, None, cast(Any, None), connection_init_wait)
        self.socket = socket
        self._payloads: dict[str, dict[str, Any]] = {}

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        self.socket.init_received()
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload = message.get("payload")
        if not isinstance(payload, dict):
            await self.handle_invalid_message("A subscribe message needs a payload object.")
            return
        self._payloads[message["id"]] = cast(dict[str, Any], payload)
        # Strawberry's Operation is given none of it to keep: `_open` runs the payload.
        await super().handle_subscribe(
            cast(SubscribeMessage, {"id": message["id"], "type": "subscribe", "payload": _NOTHING})
        )

    async def run_operation(self, operation: _Operation) -> None:
        """The operation's answer, or the subscription's events until it ends; this frame
        is what an open subscription keeps of it (its payload went with `_open`)."""
        try:
            outcome = await self._open(operation)
            if isinstance(outcome, Answer):
                await _send_answer(operation, outcome)
                return
            request, principal = self.socket.request, self.socket.principal
            assert principal is not None
            try:
                held = await held_slot(request, principal.key_id, outcome)
            except RequestError as error:
                await _send_errors(operation, Answer.refusal(error).body["errors"])
                return
            with held:
                async for delivery in payloads(request, outcome):
                    if delivery.final:
                        await _send_errors(operation, delivery.errors)
                        return
                    await _send(operation, "next", delivery.body)
            await _send(operation, "complete")
        except WebSocketDisconnected:
            pass  # the client left; Strawberry's handler cancels the rest
        except Exception as error:
            await self._fail(operation, error)

    async def _open(self, operation: _Operation) -> Answer | Opened:
        request, principal = self.socket.request, self.socket.principal
        assert principal is not None
        entry: GraphQLParams | RequestError
        try:
            entry = params_from_mapping(self._payloads.pop(operation.id, {}))
        except RequestError as error:
            entry = error
        settings = request.app[SETTINGS]
        return await answer_operation(
            request,
            entry,
            principal,
            deadline=asyncio.get_running_loop().time() + settings.request_timeout_seconds,
            log_fields={},
            refused=400,
            method="POST",
            streaming=True,
        )

    async def _fail(self, operation: _Operation, error: Exception) -> None:
        request_id = self.socket.request[REQUEST_ID]
        log.error("operation over WebSocket failed (request %s)", request_id, exc_info=error)
        entry = {"message": INTERNAL_MESSAGE, "extensions": masked_extensions(request_id, None)}
        with contextlib.suppress(Exception):
            await _send_errors(operation, [entry])


def _authorization(socket: _Socket, connection_params: Mapping[str, Any]) -> str:
    """The connection_init payload's Authorization (any case), else the upgrade's header."""
    for name, value in connection_params.items():
        if name.lower() == "authorization" and isinstance(value, str):
            return value
    return socket.request.headers.get("Authorization", "")


async def _send_answer(operation: _Operation, answer: Answer) -> None:
    """A query's or mutation's answer: its result then complete, or (refused before it
    ran) an error message."""
    if "data" not in answer.body:
        await _send_errors(operation, answer.body["errors"])
        return
    await _send(operation, "next", answer.body)
    await _send(operation, "complete")


async def _send_errors(operation: _Operation, errors: list[dict[str, Any]]) -> None:
    await _send(operation, "error", errors)


async def _send(operation: _Operation, kind: str, payload: object = None) -> None:
    """next, error or complete; the operation ends with the first error or complete."""
    message: dict[str, object] = {"id": operation.id, "type": kind}
    if payload is not None:
        message["payload"] = payload
    await operation.send_operation_message(cast(Any, message))
