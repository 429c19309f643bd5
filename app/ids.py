"""Ids: "cus_" or "evt_" + 22 base62 characters that sort by time.

The 128 bits are a 48-bit millisecond timestamp followed by 80 random bits, written
big-endian in base62 with the alphabet in ASCII order, so string order is time order.
A customer id's time is its creation; an event id's is the time its account and mode's
log assigned it, strictly increasing in commit order (app/events/log.py). On PostgreSQL
the event's id is made in SQL, by the statement that picks its time (`event_id_sql`),
to exactly the format `new_event_id` makes.
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
    value = (milliseconds << _RANDOM_BITS) | random_bits()
    return encode_base62(value, CUSTOMER_ID_BODY_LENGTH)


def random_bits() -> int:
    """The random part of a timed id."""
    return secrets.randbits(_RANDOM_BITS)


def timed_value_sql(milliseconds: str, random: str) -> str:
    """PostgreSQL: the 128-bit value of a timed id, as numeric, from SQL expressions for
    its milliseconds and its random part (`random_bits()`, passed as a parameter)."""
    return f"CAST({milliseconds} AS numeric) * {1 << _RANDOM_BITS} + CAST({random} AS numeric)"


def event_id_sql(value: str) -> str:
    """PostgreSQL: the event id `new_event_id` makes, from `value`, a numeric column or
    parameter (`timed_value_sql`): numeric arithmetic is exact, so each of the 22 base62
    digits is value / 62^k mod 62, picked from BASE62."""
    digits = (
        f"substr('{BASE62}', CAST(mod(div({value}, {62**power}), 62) AS integer) + 1, 1)"
        for power in reversed(range(CUSTOMER_ID_BODY_LENGTH))
    )
    return " || ".join((f"'{EVENT_PREFIX}'", *digits))


def is_customer_id(value: str) -> bool:
    return CUSTOMER_ID_PATTERN.match(value) is not None


def is_event_id(value: str) -> bool:
    return EVENT_ID_PATTERN.match(value) is not None
