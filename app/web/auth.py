"""API keys at the edge: `Authorization: Bearer sk_…` to the principal a request acts for."""

from __future__ import annotations

from aiohttp import web

from app.accounts import keys
from app.store.availability import is_unavailable
from app.web.params import RequestError
from app.web.state import KEY_CACHE, LOG_FIELDS, STORE
from app.web.unavailable import unavailable

BEARER = "bearer "


async def authenticate(request: web.Request, header: str) -> keys.Principal:
    """The principal of an `Authorization: Bearer sk_…` value; UNAUTHENTICATED otherwise."""
    if not header.lower().startswith(BEARER):
        raise _unauthenticated("Send your API key as 'Authorization: Bearer sk_test_…'.")
    # Remembered for 5 s in this application (app/accounts/keys.py).
    secret = header[len(BEARER) :].strip()
    app = request.app
    try:
        principal = await keys.authenticate_cached(app[STORE], app[KEY_CACHE], secret=secret)
    except Exception as error:
        if is_unavailable(error):
            raise unavailable(request, error) from error
        raise
    if principal is None:
        raise _unauthenticated("The API key is malformed, unknown or revoked.")
    log_fields = request[LOG_FIELDS]
    log_fields["account"] = principal.account_id
    log_fields["live"] = principal.live
    return principal


def _unauthenticated(message: str) -> RequestError:
    return RequestError(
        401, message, code="UNAUTHENTICATED", headers={"WWW-Authenticate": "Bearer"}
    )
