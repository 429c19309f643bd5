"""The input rules for customer fields: trimming, limits, email, phone and metadata.

`clean_customer_fields` takes the fields a mutation was given (an omitted field is
absent from the mapping) and returns them cleaned, or every problem found.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from email_validator import EmailNotValidError, validate_email

from app.customers.models import (
    IDEMPOTENCY_KEY_MAX_LENGTH,
    METADATA_KEY_MAX_LENGTH,
    METADATA_MAX_KEYS,
    METADATA_VALUE_MAX_LENGTH,
    TEXT_FIELDS,
    TextField,
)
from app.errors import UserError, UserErrorCode

PHONE_PATTERN = re.compile(
    r"^(?=[^0-9]*[0-9])[0-9 +().\-]+(?:\s*(?:ext\.?|x)\s*[0-9]+)?\Z", re.IGNORECASE
)
# PostgreSQL text cannot hold U+0000, so no stored string may contain it, on any backend.
NUL = "\x00"


def clean_customer_fields(
    given: Mapping[str, Any],
) -> tuple[dict[str, Any], list[UserError]]:
    """Trim and check the text fields and metadata; metadata None becomes {}."""
    cleaned: dict[str, Any] = {}
    errors: list[UserError] = []
    for field in TEXT_FIELDS:
        if field.name in given:
            value = _trimmed(given[field.name])
            problem = _check_text_field(field, value) if value is not None else None
            if problem:
                errors.append(problem)
            cleaned[field.name] = value
    if "metadata" in given:
        metadata = given["metadata"]
        cleaned["metadata"] = {} if metadata is None else metadata
        errors.extend(_check_metadata(cleaned["metadata"]))
    return cleaned, errors


def check_idempotency_key(key: str) -> UserError | None:
    path = ("input", "idempotencyKey")
    if not key:
        return UserError(path, "idempotencyKey must not be empty.", UserErrorCode.INVALID)
    if NUL in key:
        return _nul_error(path, "idempotencyKey")
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        return UserError(
            path,
            f"idempotencyKey must be at most {IDEMPOTENCY_KEY_MAX_LENGTH} characters.",
            UserErrorCode.TOO_LONG,
        )
    return None


def _trimmed(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


def _check_text_field(field: TextField, value: str) -> UserError | None:
    path = ("input", field.name)
    if len(value) > field.max_length:
        message = f"{field.name} must be at most {field.max_length} characters."
        return UserError(path, message, UserErrorCode.TOO_LONG)
    if NUL in value:
        return _nul_error(path, field.name)
    if field.format is not None and (problem := _FORMATS[field.format](value)) is not None:
        return UserError(path, f"{field.name} {problem}", UserErrorCode.INVALID)
    return None


def _email_problem(value: str) -> str | None:
    return None if _is_valid_email(value) else "is not a valid email address."


def _phone_problem(value: str) -> str | None:
    if PHONE_PATTERN.match(value) is not None:
        return None
    return (
        "may hold digits, spaces and + ( ) - . with at least one digit, "
        "optionally ending in an extension such as 'ext. 12' or 'x12'."
    )


# What each TextField.format accepts: None, or what is wrong with the value.
_FORMATS: dict[str, Callable[[str], str | None]] = {
    "email": _email_problem,
    "phone": _phone_problem,
}


def _is_valid_email(value: str) -> bool:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _check_metadata(metadata: object) -> list[UserError]:
    path = ("input", "metadata")
    if not isinstance(metadata, dict):
        message = "metadata must be an object of string values."
        return [UserError(path, message, UserErrorCode.INVALID)]
    errors: list[UserError] = []
    if len(metadata) > METADATA_MAX_KEYS:
        errors.append(
            UserError(
                path, f"metadata may hold at most {METADATA_MAX_KEYS} keys.", UserErrorCode.TOO_LONG
            )
        )
    for key, value in metadata.items():
        problem = _check_metadata_entry(key, value)
        if problem:
            errors.append(problem)
    return errors


def _check_metadata_entry(key: str, value: object) -> UserError | None:
    path = ("input", "metadata", key)
    if not key:
        return UserError(path, "metadata keys must not be empty.", UserErrorCode.INVALID)
    if len(key) > METADATA_KEY_MAX_LENGTH:
        return UserError(
            path,
            f"metadata keys must be at most {METADATA_KEY_MAX_LENGTH} characters.",
            UserErrorCode.TOO_LONG,
        )
    if "[" in key or "]" in key:
        return UserError(path, "metadata keys must not contain '[' or ']'.", UserErrorCode.INVALID)
    if NUL in key:
        return _nul_error(path, "metadata keys")
    if not isinstance(value, str):
        return UserError(path, "metadata values must be strings.", UserErrorCode.INVALID)
    if len(value) > METADATA_VALUE_MAX_LENGTH:
        return UserError(
            path,
            f"metadata values must be at most {METADATA_VALUE_MAX_LENGTH} characters.",
            UserErrorCode.TOO_LONG,
        )
    if NUL in value:
        return _nul_error(path, "metadata values")
    return None


def _nul_error(path: tuple[str, ...], what: str) -> UserError:
    message = f"{what} must not contain the NUL character (U+0000)."
    return UserError(path, message, UserErrorCode.INVALID)
