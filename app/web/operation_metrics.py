"""Each GraphQL operation counted in the metrics, by its outcome."""

from __future__ import annotations

from aiohttp import web

from app.web import rate_limits
from app.web.answers import Answer, OperationLog
from app.web.state import METRICS

# Apollo Client's clientAwareness option names the app in every request.
CLIENT_NAME_HEADER = "apollographql-client-name"


def record(request: web.Request, answer: Answer, named: OperationLog, seconds: float) -> None:
    """The operation in the metrics, named as its log line names it."""
    kind = named.kind
    outcome = _outcome(answer, kind)
    metrics = request.app[METRICS]
    if outcome == rate_limits.CODE:
        metrics.rate_limited.inc()
        outcome = BAD_REQUEST
    metrics.operation(
        name=named.name,
        document_id=named.document_id,
        kind=kind,
        outcome=outcome,
        client=request.headers.get(CLIENT_NAME_HEADER),
        seconds=seconds,
    )


BAD_REQUEST = "bad_request"


def _outcome(answer: Answer, kind: str) -> str:
    """ok, user_error (BAD_USER_INPUT or a mutation's userErrors), bad_request (nothing
    ran), error (masked or out of time), or RATE_LIMITED (a bad_request, counted apart)."""
    errors = answer.body.get("errors") or ()
    codes = {error.get("extensions", {}).get("code") for error in errors}
    if "INTERNAL_SERVER_ERROR" in codes or any(
        error.get("extensions", {}).get("limit") == "time" for error in errors
    ):
        return "error"
    if "data" not in answer.body:
        return rate_limits.CODE if rate_limits.CODE in codes else BAD_REQUEST
    if codes:
        return "user_error"
    data = answer.body["data"] or {}
    if kind == "mutation" and any(
        isinstance(payload, dict) and payload.get("userErrors") for payload in data.values()
    ):
        return "user_error"
    return "ok"
