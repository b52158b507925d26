"""Size and character limits on metadata (GitLab's numbers), checked before any write."""

from __future__ import annotations

import math
from typing import Any

from registry_core.errors import InvalidInput

__all__ = [
    "MAX_DESCRIPTION",
    "MAX_KEY",
    "MAX_VALUE",
    "check_description",
    "check_key",
    "check_metric_value",
    "check_step",
    "check_user",
    "check_value",
]

MAX_KEY = 255
MAX_VALUE = 5_000
MAX_DESCRIPTION = 10_000


def _has_control(text: str, allow_newlines: bool = False) -> bool:
    allowed = "\n\r\t" if allow_newlines else ""
    return any((ord(c) < 32 or 127 <= ord(c) < 160) and c not in allowed for c in text)


def check_key(kind: str, key: Any) -> str:
    """A parameter, metric or tag key: 1-255 characters, no control characters."""
    if not isinstance(key, str):
        raise InvalidInput(f"{kind} key must be a string, not {type(key).__name__}")
    if not key or len(key) > MAX_KEY or _has_control(key) or key != key.strip():
        raise InvalidInput(
            f"{kind} key {key[:80]!r} is invalid: 1-{MAX_KEY} characters, no control "
            "characters, no leading or trailing spaces"
        )
    return key


def check_value(kind: str, key: str, value: Any) -> str:
    """A parameter or tag value: a string of at most 5,000 characters."""
    if not isinstance(value, str):
        raise InvalidInput(f"{kind} {key!r} value must be a string, not {type(value).__name__}")
    if len(value) > MAX_VALUE:
        raise InvalidInput(f"{kind} {key!r} value has {len(value)} characters; at most {MAX_VALUE}")
    return value


def check_description(description: Any) -> str:
    if not isinstance(description, str):
        raise InvalidInput(f"description must be a string, not {type(description).__name__}")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(
            f"description has {len(description)} characters; at most {MAX_DESCRIPTION}"
        )
    return description


def check_metric_value(key: str, value: Any) -> float:
    """A number (int or float; NaN and infinities allowed, booleans refused) as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"metric {key!r} value must be a number, not {type(value).__name__}")
    result = float(value)
    if math.isnan(result):
        return math.nan
    return result


def check_step(key: str, step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, int) or not -(2**63) <= step < 2**63:
        raise InvalidInput(f"metric {key!r} step must be a 64-bit integer, got {step!r}")
    return step


def check_user(user: Any) -> str:
    """A user name for memberships: 1-255 characters, no control characters."""
    if not isinstance(user, str) or not user or len(user) > MAX_KEY or _has_control(user):
        raise InvalidInput(f"user name {user!r} is invalid: 1-{MAX_KEY} characters, no control")
    return user
