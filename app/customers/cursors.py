"""Opaque cursors: a JSON triple [order tag, sort value, customer id], encrypted.

A cursor records a position, not a row, so it stays valid after its customer is
deleted. The triple is sealed with AES-SIV (RFC 5297) under a key the database keeps
for every replica (app/store/secrets.py): a cursor shows nobody the name or email it
sorts by, and only the gateway can make one. AES-SIV is deterministic, so a position
always gets the same cursor and a page's bytes (and its ETag) do not change between
requests. Decoding is strict: anything that was not made by `CursorCodec.encode` under
this key for the same order is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from sqlalchemy.ext.asyncio import AsyncEngine

from app.customers.models import CustomerRecord
from app.customers.ordering import Order, OrderField, Position, SortValue, sort_values
from app.ids import is_customer_id
from app.store.secrets import shared_secret

CURSOR_KEY_NAME = "cursor_key"
CURSOR_KEY_BYTES = 64  # AES-SIV with AES-256
_MAX_CURSOR_LENGTH = 4_096
_MAX_MILLIS = 2**53
_URL_SAFE = bytes.maketrans(b"+/", b"-_")


class InvalidCursor(ValueError):
    """The text is not a cursor of this order."""


class CursorCodec:
    """Cursors under one key: one codec per store, so per database."""

    __slots__ = ("_decrypt", "_encrypt")

    def __init__(self, key: bytes) -> None:
        cipher = AESSIV(key)
        self._encrypt = cipher.encrypt
        self._decrypt = cipher.decrypt

    @classmethod
    async def for_engine(cls, engine: AsyncEngine) -> CursorCodec:
        """The database's codec; its key is made the first time any replica asks."""
        return cls(await shared_secret(engine, CURSOR_KEY_NAME, CURSOR_KEY_BYTES))

    def encode(self, order: Order, position: Position) -> str:
        return self.seal(_plaintext(order.tag, position.value, position.id))

    def encode_page(self, order: Order, customers: Sequence[CustomerRecord]) -> list[str]:
        """Each customer's cursor in `order`, as `encode` makes it. What the rows share is
        looked up once and the text finished once per page (1,000 cursors in 1.5 ms here,
        against 2.4 ms through `encode`)."""
        if not customers:
            return []
        tag, encrypt, to_base64 = order.tag, self._encrypt, binascii.b2a_base64
        if order.field is OrderField.CREATED_AT:
            # Integer sort values: the plaintext _plaintext writes, without its text checks.
            sealed = [
                to_base64(encrypt(orjson.dumps([tag, customer.created_at, customer.id]), None))
                for customer in customers
            ]
        else:
            values = sort_values(order, customers)
            sealed = [
                to_base64(encrypt(_plaintext(tag, value, customer.id), None))
                for value, customer in zip(values, customers, strict=True)
            ]
        # Base64 ends each text with a newline: the page's texts, split there.
        return b"".join(sealed).translate(_URL_SAFE, b"=").decode().splitlines()

    def seal(self, plaintext: bytes) -> str:
        """Any plaintext as cursor text (how `encode` ends; tests forge cursors with it)."""
        sealed = self._encrypt(plaintext, None)
        # base64.urlsafe_b64encode without its padding, and without two Python calls.
        return binascii.b2a_base64(sealed, newline=False).translate(_URL_SAFE, b"=").decode()

    def seal_payload(self, payload: object) -> str:
        """Any JSON value as cursor text (the event log's cursors)."""
        return self.seal(orjson.dumps(payload))

    def open_payload(self, cursor: str) -> object:
        """The JSON value a cursor of this key seals; InvalidCursor for anything else."""
        if len(cursor) > _MAX_CURSOR_LENGTH:
            raise InvalidCursor("is not a valid cursor")
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            sealed = base64.b64decode(padded, altchars=b"-_", validate=True)
            return json.loads(self._decrypt(sealed, None))
        except (binascii.Error, InvalidTag, UnicodeDecodeError, ValueError) as error:
            raise InvalidCursor("is not a valid cursor") from error

    def decode(self, order: Order, cursor: str) -> Position:
        return _position(order, self.open_payload(cursor))


def _plaintext(tag: str, value: SortValue, customer_id: str) -> bytes:
    triple = [tag, value, customer_id]
    if isinstance(value, str) and not (value.isascii() and "\x7f" not in value):
        return json.dumps(triple, separators=(",", ":")).encode()
    # Pages encode a cursor per row. For integers, null and ASCII text other than DEL,
    # orjson writes exactly the bytes of json.dumps(ensure_ascii=True), four times faster.
    return orjson.dumps(triple)


def _position(order: Order, payload: object) -> Position:
    if not (isinstance(payload, list) and len(payload) == 3):
        raise InvalidCursor("is not a valid cursor")
    tag, value, customer_id = payload
    if not isinstance(tag, str) or not isinstance(customer_id, str):
        raise InvalidCursor("is not a valid cursor")
    if tag != order.tag:
        raise InvalidCursor(f"was made for another orderBy ({tag}), not {order.tag}")
    if not is_customer_id(customer_id) or not _value_fits(order, value):
        raise InvalidCursor("is not a valid cursor")
    return Position(value=value, id=customer_id)


def _value_fits(order: Order, value: object) -> bool:
    """Whether the database can compare the value with its sort key column."""
    if order.field is OrderField.CREATED_AT:
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _MAX_MILLIS
    # PostgreSQL text cannot hold U+0000, so no stored key contains it.
    return value is None or (isinstance(value, str) and "\x00" not in value)
