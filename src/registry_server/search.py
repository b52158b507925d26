"""Search filters and page tokens for ``registered-models/search`` and ``model-versions/search``.

Filters are MLflow's subset the client sends: clauses ``name = '...'``, ``name LIKE
'...'`` (``ILIKE``, ``!=`` too), ``tags.k = '...'`` (``tag.``, backquoted keys),
``run_id = '...'``, joined by ``AND`` — including the ``tag.`mlflow.prompt.is_prompt` !=
'true'`` clause the client adds to every model search. A missing tag is ``!=`` anything.

Page tokens are keyset: they hold the core listing's own page token plus the key of the
last item returned, so an insert or delete between pages shifts nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

import attrs

from registry_core import Page
from registry_server.errors import ApiError

__all__ = ["Clause", "Cursor", "Filter", "Keyset", "decode_token", "encode_token", "parse_filter"]

T = TypeVar("T")

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<and>AND\b)
    | (?P<op>!=|<>|=|NOT\s+LIKE\b|NOT\s+ILIKE\b|LIKE\b|ILIKE\b)
    | '(?P<sq>[^']*)'
    | "(?P<dq>[^"]*)"
    | (?P<ident>(?:tags?|attributes?)\.`[^`]+`|`[^`]+`|[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_ATTRIBUTES = ("name", "run_id")


@attrs.frozen
class Clause:
    """One comparison: ``field`` is ``name``, ``run_id`` or ``tag:<key>``."""

    field: str
    op: str  # "=", "!=", "like", "ilike", "not like", "not ilike"
    value: str

    def matches(self, actual: str | None) -> bool:
        negated = self.op in ("!=", "not like", "not ilike")
        if actual is None:
            return negated
        if self.op in ("=", "!="):
            hit = actual == self.value
        else:
            hit = like(self.value, "ilike" in self.op).fullmatch(actual) is not None
        return hit != negated


@attrs.frozen
class Filter:
    """Clauses that must all hold."""

    clauses: tuple[Clause, ...] = ()
    text: str = ""

    def of(self, field: str) -> list[Clause]:
        return [c for c in self.clauses if c.field == field]

    def equal(self, field: str) -> str | None:
        """The value ``field`` must equal exactly, if a clause says so."""
        return next((c.value for c in self.of(field) if c.op == "="), None)

    def matches(self, values: Mapping[str, str | None], tags: Mapping[str, str]) -> bool:
        for clause in self.clauses:
            if clause.field.startswith("tag:"):
                actual = tags.get(clause.field[4:])
            else:
                actual = values.get(clause.field)
            if not clause.matches(actual):
                return False
        return True

    def name_prefix(self) -> str | None:
        """A literal prefix every matching name starts with (narrows the listing)."""
        for clause in self.of("name"):
            if clause.op == "=":
                return clause.value
            if clause.op in ("like", "ilike"):
                literal = re.split(r"[%_]", clause.value, maxsplit=1)[0]
                if literal:
                    return literal
        return None


def like(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """SQL LIKE as a regex: ``%`` any run, ``_`` one character, the rest literal."""
    parts = [".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern]
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _field(ident: str, allowed: tuple[str, ...]) -> str:
    head, dot, rest = ident.partition(".")
    if dot and head.lower() in ("tag", "tags") and rest:
        return "tag:" + rest.strip("`")
    if dot and head.lower() in ("attribute", "attributes"):
        ident = rest
    ident = ident.strip("`")
    if ident.lower() in allowed:
        return ident.lower()
    raise ApiError.invalid(
        f"cannot search by {ident!r}: use {', '.join(allowed)} or tags.<key>, joined by AND"
    )


def parse_filter(text: str | None, allowed: tuple[str, ...] = _ATTRIBUTES) -> Filter:
    """The clauses of ``text``; a 400 naming what it cannot read."""
    if not text or not text.strip():
        return Filter()
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if not text[position:].strip():
            break
        found = _TOKEN.match(text, position)
        if found is None:
            raise ApiError.invalid(f"cannot read the filter at {text[position:][:40]!r}")
        kind = found.lastgroup or ""
        value = found.group(kind)
        tokens.append(("value" if kind in ("sq", "dq") else kind, value))
        position = found.end()
    clauses = []
    for index in range(0, len(tokens), 4):
        group = tokens[index : index + 4]
        shape = [kind for kind, _ in group]
        if shape[:3] != ["ident", "op", "value"] or (len(group) == 4 and shape[3] != "and"):
            raise ApiError.invalid(
                f"cannot read the filter {text[:80]!r}: write <field> <op> '<value>' [AND ...]"
            )
        if len(group) == 4 and index + 4 == len(tokens):
            raise ApiError.invalid(f"the filter {text[:80]!r} ends with AND")
        op = " ".join(group[1][1].lower().split())
        clauses.append(
            Clause(_field(group[0][1], allowed), "!=" if op == "<>" else op, group[2][1])
        )
    return Filter(tuple(clauses), text)


# -- keyset pages ---------------------------------------------------------------------


@attrs.frozen
class Cursor:
    """Where a listing stands: the core page token of the page holding the item, its key,
    and its index in that page (used only if the item vanished meanwhile)."""

    token: str | None
    key: str
    index: int

    def dump(self) -> list[Any]:
        return [self.token, self.key, self.index]

    @classmethod
    def load(cls, data: Any) -> Cursor:
        token, key, index = data
        if not (token is None or isinstance(token, str)) or not isinstance(key, str):
            raise TypeError("bad cursor")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise TypeError("bad cursor")
        return cls(token, key, index)


class Keyset(Generic[T]):
    """Items of a core listing with the cursor after each; resumable from a cursor.

    ``fetch(token)`` returns one core `Page`; ``key(item)`` identifies an item. With
    ``inclusive`` the listing resumes *at* the cursor's item instead of after it.
    """

    def __init__(
        self,
        fetch: Callable[[str | None], Page[T]],
        key: Callable[[T], str],
        start: Cursor | None = None,
        *,
        inclusive: bool = False,
    ) -> None:
        self._fetch = fetch
        self._key = key
        self._start = start
        self._inclusive = inclusive

    def __iter__(self) -> Iterator[tuple[T, Cursor]]:
        token = None if self._start is None else self._start.token
        first = True
        while True:
            page = self._fetch(token)
            items = list(page.items)
            begin = 0
            if first and self._start is not None:
                keys = [self._key(item) for item in items]
                if self._start.key in keys:
                    begin = keys.index(self._start.key) + (0 if self._inclusive else 1)
                else:  # the item went away: its successor now stands at its index
                    begin = self._start.index
            first = False
            for index in range(begin, len(items)):
                yield items[index], Cursor(token, self._key(items[index]), index)
            if page.next_page_token is None:
                return
            token = page.next_page_token


def encode_token(scope: str, data: Mapping[str, Any]) -> str:
    """An opaque page token bound to ``scope`` (the filter and listing it belongs to)."""
    payload = {"s": _fingerprint(scope), **data}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str | None, scope: str) -> dict[str, Any] | None:
    """The data of a token from `encode_token`; a 400 for any other token."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        if isinstance(data, dict) and data.get("s") == _fingerprint(scope):
            return data
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise ApiError.invalid("the page_token was not given out for this search")


def _fingerprint(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16]
