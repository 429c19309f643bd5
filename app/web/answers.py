"""One operation's answer, and what its log line names it by."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from app.web.error_entries import request_error
from app.web.params import RequestError


@dataclass(slots=True)
class Answer:
    """One operation's answer: alone it is the response, in a batch one entry of it."""

    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # A GET by documentId that ran: the response may carry an ETag (app/web/http_cache).
    cacheable: bool = False

    @classmethod
    def refusal(cls, error: RequestError) -> Answer:
        body = {"errors": [request_error(error.message, error.code, error.extensions)]}
        return cls(body, error.status, error.headers)


# Not frozen: built for every request, where frozen costs five times as much to build.
@dataclass(slots=True)
class OperationLog:
    """An operation's log fields read back, for its span and its metrics."""

    fields: dict[str, object]

    @property
    def name(self) -> str | None:
        return _text(self.fields.get("operation"))

    @property
    def kind(self) -> str:
        return _text(self.fields.get("type")) or "unknown"

    @property
    def document_id(self) -> str | None:
        return _text(self.fields.get("document_id"))

    @property
    def cost(self) -> int:
        cost = self.fields.get("cost")
        return cost if isinstance(cost, int) else 0

    @property
    def trace_id(self) -> str | None:
        return _text(self.fields.get("trace_id"))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def answer_response(answer: Answer, media_type: str) -> web.Response:
    response = json_response(answer.body, media_type, answer.status)
    response.headers.update(answer.headers)
    return response


# Answers hold customers' personal data: no cache may keep them, no browser may sniff them.
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def json_response(body: object, media_type: str, status: int) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type=media_type,
        charset="utf-8",
        headers=NO_STORE,
    )
