"""The listening socket, with a ceiling on open connections (MAX_CONNECTIONS).

aiohttp accepts every connection it is offered, so thousands of idle or slow clients
could take every file descriptor the process has. At the ceiling a new connection is
answered 503 with Retry-After and closed at once, as uvicorn's --limit-concurrency
does, and the connections already open are served as before.
"""

from __future__ import annotations

import asyncio
from typing import cast

from aiohttp import web

_TOO_MANY_BODY = (
    b'{"errors":[{"message":"This server has too many open connections; retry shortly.",'
    b'"extensions":{"code":"SERVICE_UNAVAILABLE"}}]}'
)
_TOO_MANY = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_TOO_MANY_BODY), _TOO_MANY_BODY)
)


class _TooManyConnections(asyncio.Protocol):
    """Answers 503 and half-closes; what the client sent is read and dropped until it
    closes too (or a second passes), so its request does not turn the close into a reset
    that could destroy the answer before it is read."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP transport (uvloop's is not an asyncio.Transport subclass).
        stream = cast(asyncio.Transport, transport)
        stream.write(_TOO_MANY)
        if stream.can_write_eof():
            stream.write_eof()
        asyncio.get_running_loop().call_later(_LINGER_SECONDS, stream.close)

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False  # the transport closes itself


_LINGER_SECONDS = 1.0


class LimitedSite(web.BaseSite):
    """A TCP site whose server holds at most `max_connections` connections at once."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        max_connections: int | None,
        reuse_port: bool,
    ) -> None:
        super().__init__(runner)
        self._host, self._port = host, port
        self._max_connections = max_connections
        self._reuse_port = reuse_port

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        ceiling = self._max_connections

        def protocol() -> asyncio.BaseProtocol:
            if ceiling is not None and len(server.connections) >= ceiling:
                return _TooManyConnections()
            return server()

        self._server = await asyncio.get_running_loop().create_server(
            protocol,
            self._host,
            self._port,
            reuse_address=True,
            reuse_port=self._reuse_port or None,
        )
