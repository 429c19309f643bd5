"""GraphQL over WebSocket at /graphql: the graphql-transport-ws protocol (graphql-ws).

Strawberry's protocol handler keeps the protocol's state (connection_init within
CONNECTION_INIT_SECONDS or 4408, one init or 4429, subscribe before ack 4401, ids in use
4409, ping/pong, complete); the gateway's edge decides the rest, as it does over HTTP:
the key in connection_init's payload (or the upgrade's Authorization header), 4403 when
it is missing or bad; each operation checked, limited, charged, run and masked by
`answer_operation`; subscriptions counted per key, ended with 1001 at shutdown and 4403
when their key is revoked. aiohttp pings the socket every KEEPALIVE_SECONDS and closes
it when no pong comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Mapping
from datetime import timedelta
from typing import Any, cast

import orjson
from aiohttp import WSMsgType, web
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.async_base_view import AsyncWebSocketAdapter
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.types.unset import UnsetType

from app.accounts.keys import Principal
from app.web.answers import Answer
from app.web.auth import authenticate
from app.web.error_entries import INTERNAL_MESSAGE, masked_extensions
from app.web.operations import answer_operation
from app.web.params import GraphQLParams, RequestError, params_from_mapping
from app.web.sessions import Ending, Session
from app.web.state import REQUEST_ID, SETTINGS, SUBSCRIPTIONS
from app.web.subscriptions import held_slot, payloads

PROTOCOL = "graphql-transport-ws"
# The close codes graphql-ws gives these meanings.
FORBIDDEN = 4403
GOING_AWAY = 1001
TRY_AGAIN_LATER = 1013
log = logging.getLogger(__name__)
_Operation = Operation[dict[str, Any], None]


def is_websocket(request: web.Request) -> bool:
    return request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket"


async def handle_websocket(request: web.Request) -> web.WebSocketResponse:
    settings = request.app[SETTINGS]
    socket = web.WebSocketResponse(
        protocols=(PROTOCOL,),
        heartbeat=settings.keepalive_seconds,
        max_msg_size=settings.max_body_bytes,
    )
    await socket.prepare(request)
    if socket.ws_protocol != PROTOCOL:
        await socket.close(code=4406, message=b"Subprotocol not acceptable")
        return socket
    with request.app[SUBSCRIPTIONS].session() as session:
        ending = asyncio.create_task(_close_when_ended(socket, session))
        try:
            handler = _Handler(
                cast(Any, _Edge(request, socket, session)),
                _Socket(socket),
                {},
                None,
                cast(Any, None),
                timedelta(seconds=settings.connection_init_seconds),
            )
            await handler.handle()
        finally:
            ending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ending
    return socket


async def _close_when_ended(socket: web.WebSocketResponse, session: Session) -> None:
    why = await session.ended
    if why is Ending.SHUTDOWN:
        await socket.close(code=GOING_AWAY, message=b"The server is shutting down; reconnect.")
    else:
        await socket.close(code=FORBIDDEN, message=b"Forbidden: the API key was revoked.")


class _Socket(AsyncWebSocketAdapter):
    """aiohttp's WebSocket, as Strawberry's handler reads and writes it (JSON by orjson)."""

    def __init__(self, socket: web.WebSocketResponse) -> None:
        self.socket = socket

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object]:
        async for message in self.socket:
            if message.type == WSMsgType.TEXT:
                try:
                    yield orjson.loads(message.data)
                except orjson.JSONDecodeError as error:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from error
            elif message.type == WSMsgType.BINARY:
                raise NonTextMessageReceived

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.socket.send_str(orjson.dumps(message).decode())
        except (RuntimeError, ConnectionError) as error:
            raise WebSocketDisconnected from error

    async def close(self, code: int, reason: str) -> None:
        await self.socket.close(code=code, message=reason.encode())


class _Edge:
    """What Strawberry's handler asks of a view: whether to accept a connection_init."""

    def __init__(
        self, request: web.Request, socket: web.WebSocketResponse, session: Session
    ) -> None:
        self.request = request
        self.socket = socket
        self.session = session
        self.principal: Principal | None = None

    async def on_ws_connect(self, context: dict[str, Any]) -> UnsetType:
        """Authenticates the key of connection_init (which the handler put in the context
        as connection_params), else of the upgrade's Authorization header."""
        try:
            self.principal = await authenticate(self.request, _authorization(self, context))
        except RequestError as error:
            if error.code != "UNAUTHENTICATED":
                # The database is unavailable: retry later, the key may well be good.
                await self.socket.close(code=TRY_AGAIN_LATER, message=error.message[:120].encode())
            raise ConnectionRejectionError from error
        self.session.key_id = self.principal.key_id
        return UnsetType()  # connection_ack without a payload


class _Handler(BaseGraphQLTransportWSHandler[dict[str, Any], None]):
    def __init__(self, edge: _Edge, *args: Any) -> None:
        super().__init__(cast(Any, edge), *args)
        self.edge = edge
        self._payloads: dict[str, dict[str, Any]] = {}

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload = message.get("payload")
        if not isinstance(payload, dict):
            await self.handle_invalid_message("A subscribe message needs a payload object.")
            return
        self._payloads[message["id"]] = dict(payload)
        await super().handle_subscribe(
            cast(SubscribeMessage, {**message, "payload": {"query": "", **payload}})
        )

    async def run_operation(self, operation: _Operation) -> None:
        payload = self._payloads.pop(operation.id, {})
        try:
            await self._run(operation, payload)
        except WebSocketDisconnected:
            pass  # the client left; Strawberry's handler cancels the rest
        except Exception as error:
            await self._fail(operation, error)

    async def _run(self, operation: _Operation, payload: dict[str, Any]) -> None:
        request, principal = self.edge.request, self.edge.principal
        assert principal is not None
        entry: GraphQLParams | RequestError
        try:
            entry = params_from_mapping(payload)
        except RequestError as error:
            entry = error
        settings = request.app[SETTINGS]
        outcome = await answer_operation(
            request,
            entry,
            principal,
            deadline=asyncio.get_running_loop().time() + settings.request_timeout_seconds,
            log_fields={},
            refused=400,
            method="POST",
            streaming=True,
        )
        if isinstance(outcome, Answer):
            await _send_answer(operation, outcome)
            return
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

    async def _fail(self, operation: _Operation, error: Exception) -> None:
        request_id = self.edge.request[REQUEST_ID]
        log.error("operation over WebSocket failed (request %s)", request_id, exc_info=error)
        entry = {"message": INTERNAL_MESSAGE, "extensions": masked_extensions(request_id, None)}
        with contextlib.suppress(Exception):
            await _send_errors(operation, [entry])


def _authorization(edge: _Edge, context: Mapping[str, Any]) -> str:
    """The connection_init payload's Authorization (any case), else the upgrade's header."""
    for name, value in context["connection_params"].items():
        if name.lower() == "authorization" and isinstance(value, str):
            return value
    return edge.request.headers.get("Authorization", "")


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
