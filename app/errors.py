"""Errors the services raise for the edge to turn into responses.

GatewayError
 ├── BadUserInput        a query argument breaks a rule (becomes BAD_USER_INPUT)
 └── StartupError        the gateway cannot start: bad settings, database unreachable

Expected mutation problems are not exceptions: they come back as `UserError` data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class BadUserInput(GatewayError):
    """An argument of a query field is invalid; `argument` names it."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(message)
        self.argument = argument
        self.message = message


class StartupError(GatewayError):
    """The gateway cannot start; the message is one line for the console."""


class UserErrorCode(Enum):
    INVALID = "INVALID"
    TOO_LONG = "TOO_LONG"
    NOT_FOUND = "NOT_FOUND"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"


@dataclass(frozen=True, slots=True)
class UserError:
    """An expected, user-fixable problem with a mutation's input."""

    field: tuple[str, ...]
    message: str
    code: UserErrorCode
