"""Ids: "cus_" or "evt_" + 22 base62 characters that sort by time.

The 128 bits are a 48-bit millisecond timestamp followed by 80 random bits, written
big-endian in base62 with the alphabet in ASCII order, so string order is time order.
A customer id's time is its creation; an event id's is the time its account and mode's
log assigned it, strictly increasing in commit order (app/events/log.py).
"""

from __future__ import annotations

import re
import secrets

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CUSTOMER_PREFIX = "cus_"
CUSTOMER_ID_BODY_LENGTH = 22
_RANDOM_BITS = 80
CUSTOMER_ID_PATTERN = re.compile(r"^cus_[0-9A-Za-z]{22}\Z")
EVENT_PREFIX = "evt_"
EVENT_ID_PATTERN = re.compile(r"^evt_[0-9A-Za-z]{22}\Z")


def encode_base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(BASE62[remainder])
    if number:
        raise ValueError("number does not fit in the width")
    return "".join(reversed(digits))


def random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def new_customer_id(created_at_ms: int) -> str:
    return CUSTOMER_PREFIX + _timed_body(created_at_ms)


def new_event_id(id_ms: int) -> str:
    return EVENT_PREFIX + _timed_body(id_ms)


def _timed_body(milliseconds: int) -> str:
    value = (milliseconds << _RANDOM_BITS) | secrets.randbits(_RANDOM_BITS)
    return encode_base62(value, CUSTOMER_ID_BODY_LENGTH)


def is_customer_id(value: str) -> bool:
    return CUSTOMER_ID_PATTERN.match(value) is not None


def is_event_id(value: str) -> bool:
    return EVENT_ID_PATTERN.match(value) is not None
