"""HTTP caching of GETs by documentId: an ETag of the body, revalidated on every use.

Answers hold customers' data, so only the client's own cache may keep them (`private`)
and must ask again each time (`no-cache`); a 304 saves sending the body again.
"""

from __future__ import annotations

import hashlib

from aiohttp import web

CACHE_HEADERS = {"Cache-Control": "private, no-cache", "Vary": "Authorization, Accept"}


def entity_tag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def not_modified(request: web.Request, tag: str) -> bool:
    """If-None-Match names this tag (weak comparison, as RFC 9110 asks for it) or is *."""
    header = request.headers.get("If-None-Match")
    if header is None:
        return False
    candidates = [candidate.strip() for candidate in header.split(",")]
    return any(candidate == "*" or candidate.removeprefix("W/") == tag for candidate in candidates)


def cached(request: web.Request, response: web.Response) -> web.Response:
    """The response with its ETag and cache headers, or 304 with the same headers."""
    assert isinstance(response.body, bytes)
    tag = entity_tag(response.body)
    headers = {**CACHE_HEADERS, "ETag": tag}
    if not_modified(request, tag):
        return web.Response(status=304, headers=headers)
    response.headers.update(headers)
    return response
