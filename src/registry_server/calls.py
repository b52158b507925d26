"""One REST call's fields, read the way MLflow's client sends them, with typed getters.

GET fields come from the query string (repeated keys are lists); POST, PATCH and DELETE
fields from a JSON object body (DELETE carries one too). The body is read up to a limit
and refused with 413 past it, before any JSON is parsed. Read straight from the ASGI
scope and messages, as Starlette's ``Request`` would (query strings as latin-1, blank
values kept), without building one per call.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope

from registry_server.errors import ApiError

__all__ = ["Call", "header", "read_call", "too_large"]

_NUMBER_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def too_large(size: int | None, limit: int) -> ApiError:
    shown = "more" if size is None else f"{size}"
    return ApiError(
        413, "RESOURCE_LIMIT_EXCEEDED", f"the request body has {shown} bytes; the limit is {limit}"
    )


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of the (lower-case) header ``name``, as latin-1 text."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, "BAD_REQUEST", "the client went away before sending its body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(None, limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def read_call(scope: Scope, receive: Receive, limit: int) -> Call:
    """The call's fields: the query string for GET, else the JSON object in the body."""
    if scope["method"] == "GET":
        fields: dict[str, Any] = {}
        query = scope["query_string"].decode("latin-1")
        for key, value in parse_qsl(query, keep_blank_values=True):
            fields.setdefault(key, []).append(value)
        return Call(fields, from_query=True)
    raw = await _read_body(scope, receive, limit)
    if not raw.strip():
        return Call({}, from_query=False)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError.invalid("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError.invalid("the request body must be a JSON object")
    return Call(data, from_query=False)


class Call:
    """The fields of one call; every getter raises a 400 naming the field it refuses."""

    def __init__(self, fields: Mapping[str, Any], *, from_query: bool) -> None:
        self._fields = fields
        self._from_query = from_query

    def _raw(self, name: str) -> Any:
        value = self._fields.get(name)
        if self._from_query and isinstance(value, list):
            return value[0] if value else None
        return value

    def with_fields(self, extra: Mapping[str, str]) -> Call:
        """This call with ``extra`` fields added (a URL's path parameters), which win."""
        if not extra:
            return self
        return Call({**self._fields, **extra}, from_query=self._from_query)

    def has(self, name: str) -> bool:
        return self._raw(name) is not None

    def text(self, name: str) -> str:
        """A required string field (numbers are accepted and turned into strings)."""
        value = self.optional_text(name)
        if value is None:
            raise ApiError.invalid(f"missing value for required parameter '{name}'")
        return value

    def optional_text(self, name: str, default: str | None = None) -> str | None:
        value = self._raw(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ApiError.invalid(f"parameter '{name}' must be a string")
        return str(value)

    def first_text(self, *names: str) -> str:
        """The first of ``names`` that is given (``run_id`` or ``run_uuid``)."""
        for name in names:
            if self.has(name):
                return self.text(name)
        raise ApiError.invalid(f"missing value for required parameter '{names[0]}'")

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        """An integer field within [low, high] (a digit string is fine too)."""
        value = self._raw(name)
        if value is None or value == "":
            return default
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ApiError.invalid(
                f"parameter '{name}' must be an integer from {low} to {high}, got {value!r}"
            )
        return value

    def number(self, name: str) -> float:
        """A required float; the strings ``NaN``, ``Infinity``, ``-Infinity`` included."""
        value = self._raw(name)
        if isinstance(value, str) and value in _NUMBER_WORDS:
            return _NUMBER_WORDS[value]
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ApiError.invalid(f"parameter '{name}' must be a number")
        return float(value)

    def timestamp(self, name: str) -> dt.datetime | None:
        """Milliseconds since the epoch as an aware datetime (None if absent)."""
        if not self.has(name):
            return None
        millis = self.integer(name, 0, 0, 253402300799999)
        return dt.datetime.fromtimestamp(millis / 1000, dt.timezone.utc)

    def texts(self, name: str) -> list[str]:
        """A list of strings (repeated query keys, or a JSON array)."""
        value = self._fields.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ApiError.invalid(f"parameter '{name}' must be a list of strings")
        return list(value)

    def objects(self, name: str) -> list[Call]:
        """A JSON array of objects, each as its own `Call`."""
        value = self._fields.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ApiError.invalid(f"parameter '{name}' must be a list of objects")
        return [Call(v, from_query=False) for v in value]

    def tags(self, name: str = "tags") -> dict[str, str]:
        """A list of ``{key, value}`` objects as a dict (the last value of a key wins)."""
        return {tag.text("key"): tag.optional_text("value", "") or "" for tag in self.objects(name)}
