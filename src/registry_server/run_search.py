"""MLflow's ``runs/search`` filters and ``order_by``, evaluated over a neutral `RunView`.

A filter is comparisons joined by ``AND`` (any case)::

    metrics.acc > 0.9 AND params.`learning rate` = '0.1' AND tags.team ILIKE 'ml-%'
    AND attributes.status IN ('FINISHED', 'KILLED') AND start_time >= 1700000000000

Entities are ``metrics.``/``metric.``, ``params.``/``param.``/``parameters.``,
``tags.``/``tag.`` and ``attributes.``/``attribute.``/``attr.``/``run.`` (a bare name is an
attribute); keys are bare, in backquotes or (after the dot) in double quotes. Metrics and
``start_time``/``end_time`` compare numerically; params, tags and the other attributes
compare as strings. The semantics follow MLflow's ``mlflow/utils/search_utils.py``
(``SearchUtils._does_run_match_clause`` and ``SearchUtils.sort``):

* a missing param, tag or metric (or a run without ``end_time``) matches no comparison,
  not even ``!=``; only ``IS NULL`` picks it out;
* a NaN metric satisfies ``!=`` and nothing else, as IEEE floats do;
* ordering puts values first, then NaN, then missing, whichever the direction, and
  breaks the last tie by ``start_time`` descending, then ``run_id``.

Liberties taken: ``IN``/``NOT IN`` work on every string field (MLflow takes them on
``run_id`` only), ``lifecycle_stage`` is searchable, entity names and attribute keys are
any case, and a trailing ``AND`` is refused rather than ignored.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from registry_server.errors import ApiError

__all__ = [
    "Clause",
    "Field",
    "OrderBy",
    "RunFilter",
    "RunView",
    "SortKey",
    "parse_order_by",
    "parse_run_filter",
]

_RUN_NAME_TAG = "mlflow.runName"

_Value = str | float | None
_Operand = str | float | tuple[str, ...] | None


@attrs.frozen
class RunView:
    """What a search sees of one run; ``metrics`` holds the latest value per key."""

    run_id: str
    run_name: str
    status: str
    start_time: int
    end_time: int | None
    user_id: str
    artifact_uri: str
    lifecycle_stage: str
    params: Mapping[str, str]
    tags: Mapping[str, str]
    metrics: Mapping[str, float]


# -- fields ---------------------------------------------------------------------------

#: every spelling of an entity prefix -> its one name
_ENTITIES = {
    **dict.fromkeys(("metric", "metrics"), "metric"),
    **dict.fromkeys(("param", "params", "parameter", "parameters"), "param"),
    **dict.fromkeys(("tag", "tags"), "tag"),
    **dict.fromkeys(("attribute", "attributes", "attr", "run"), "attribute"),
    **dict.fromkeys(("dataset", "datasets"), "dataset"),
}
_NUMERIC_ATTRIBUTES = ("start_time", "end_time")
_STRING_ATTRIBUTES = ("run_id", "run_name", "status", "user_id", "artifact_uri", "lifecycle_stage")
_ATTRIBUTE_ALIASES = {"created": "start_time", "run name": "run_name"}  # as MLflow's UI says


def _run_name(view: RunView) -> str | None:
    """MLflow keeps the ``run_name`` attribute and the ``mlflow.runName`` tag in step."""
    return view.run_name or view.tags.get(_RUN_NAME_TAG) or None


@attrs.frozen
class Field:
    """What a clause looks at: ``entity`` is metric, param, tag or attribute."""

    entity: str
    key: str

    @property
    def numeric(self) -> bool:
        return self.entity == "metric" or self.key in _NUMERIC_ATTRIBUTES

    def value_of(self, view: RunView) -> _Value:
        """The run's value for this field, ``None`` when the run has none."""
        if self.entity == "metric":
            return view.metrics.get(self.key)
        if self.entity == "param":
            return view.params.get(self.key)
        if self.key == "run_name" or (self.entity == "tag" and self.key == _RUN_NAME_TAG):
            return _run_name(view)
        if self.entity == "tag":
            return view.tags.get(self.key)
        value: str | int | None = getattr(view, self.key)
        return value

    @classmethod
    def parse(cls, entity: str | None, key: str, where: str) -> Field:
        """The field ``entity.key`` names (no entity: an attribute); a 400 otherwise."""
        kind = _ENTITIES.get((entity or "attribute").lower())
        if kind is None:
            raise ApiError.invalid(
                f"unknown entity {entity!r} in {where}: use metrics., params., tags. or attributes."
            )
        if kind == "dataset":
            raise ApiError.invalid(f"searching runs by dataset is not supported ({where})")
        if not key:
            raise ApiError.invalid(f"empty key in {where}")
        if kind != "attribute":
            return cls(kind, key)
        name = _ATTRIBUTE_ALIASES.get(key.lower(), key.lower())
        if name not in _NUMERIC_ATTRIBUTES + _STRING_ATTRIBUTES:
            known = ", ".join(sorted(_NUMERIC_ATTRIBUTES + _STRING_ATTRIBUTES))
            raise ApiError.invalid(f"unknown attribute {key!r} in {where}: use one of {known}")
        return cls("attribute", name)


# -- tokens ---------------------------------------------------------------------------

_KEY = r"""`[^`]*`|"[^"]*"|[\w][\w.\-/]*"""  # after the dot: backquoted, double-quoted, bare
_PREFIXED = rf"(?P<entity>[A-Za-z]+|`[A-Za-z]+`)\.(?P<key>{_KEY})"
_BARE = r"(?P<bare>`[^`]*`|[A-Za-z_]\w*)"  # an attribute without its prefix
_IDENT = rf"(?:{_PREFIXED}|{_BARE})"
_TOKEN = re.compile(
    rf"""\s*(?:
      (?P<word>(?:AND|NOT|IN|LIKE|ILIKE|IS|NULL)(?![\w.`"'/-]))
    | (?P<ident>{_IDENT})
    | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<string>'[^']*'|"[^"]*")
    | (?P<op><=|>=|!=|<>|==|=|<|>)
    | (?P<punct>[(),])
    )""",
    re.VERBOSE | re.IGNORECASE,
)
_ORDER = re.compile(rf"\s*{_IDENT}(?:\s+(?P<direction>ASC|DESC))?\s*", re.IGNORECASE)


@attrs.frozen
class _Token:
    kind: str  # word, ident, number, string, op, punct, end
    text: str
    position: int
    match: re.Match[str] | None = None

    @property
    def word(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def _unquote(text: str) -> str:
    return text[1:-1] if text[:1] in "`\"'" else text


def _ident_field(found: re.Match[str], where: str) -> Field:
    if found.group("bare"):
        return Field.parse(None, _unquote(found.group("bare")), where)
    return Field.parse(_unquote(found.group("entity")), _unquote(found.group("key")), where)


_KINDS = ("word", "ident", "number", "string", "op", "punct")


def _tokens(text: str) -> Iterator[_Token]:
    position = 0
    while text[position:].strip():
        found = _TOKEN.match(text, position)
        if found is None:
            start = len(text) - len(text[position:].lstrip())
            rest = text[start:]
            quote = next((ch for ch in rest.lstrip(".")[:1] if ch in "'\"`"), None)
            problem = f"an unclosed {quote} quote" if quote else "unexpected text"
            raise ApiError.invalid(f"{problem} at position {start} of the filter: {rest[:40]!r}")
        kind = next(kind for kind in _KINDS if found.group(kind) is not None)
        yield _Token(kind, found.group(kind), found.start(kind), found)
        position = found.end()
    yield _Token("end", "", len(text))


# -- clauses --------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _like_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """SQL LIKE: ``%`` any run of characters, ``_`` exactly one, the rest literal."""
    parts = [".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern]
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "LIKE": lambda actual, pattern: bool(_like_regex(pattern, False).fullmatch(actual)),
    "ILIKE": lambda actual, pattern: bool(_like_regex(pattern, True).fullmatch(actual)),
    "IN": lambda actual, values: actual in values,
    "NOT IN": lambda actual, values: actual not in values,
}
_NUMERIC_OPS = ("=", "!=", ">", ">=", "<", "<=")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
_PRESENCE_OPS = ("IS NULL", "IS NOT NULL")


def _allowed(field: Field) -> tuple[str, ...]:
    if field.numeric:
        return _NUMERIC_OPS
    return _STRING_OPS + (_PRESENCE_OPS if field.entity in ("param", "tag") else ())


@attrs.frozen
class Clause:
    """One comparison of a field of the run with an operand (a number, a string, a tuple
    of strings for ``IN``, nothing for ``IS NULL``)."""

    field: Field
    op: str
    operand: _Operand

    def matches(self, view: RunView) -> bool:
        actual = self.field.value_of(view)
        if self.op in _PRESENCE_OPS:
            return (actual is None) == (self.op == "IS NULL")
        if actual is None:  # MLflow: a missing value fails every comparison, even !=
            return False
        return _COMPARE[self.op](actual, self.operand)


@attrs.frozen
class RunFilter:
    """Clauses that must all hold; no clauses match every run."""

    clauses: tuple[Clause, ...] = ()

    def matches(self, view: RunView) -> bool:
        return all(clause.matches(view) for clause in self.clauses)


class _Parser:
    """filter := clause (AND clause)*; clause := ident op operand."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = list(_tokens(text))
        self.index = 0

    def fail(self, token: _Token, expected: str) -> ApiError:
        seen = f"{self.text[token.position :][:40]!r}" if token.kind != "end" else "the end"
        return ApiError.invalid(
            f"expected {expected} at position {token.position} of the filter, found {seen}"
        )

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def words(self, *words: str) -> bool:
        """Consume ``words`` if the next tokens are exactly they."""
        ahead = self.tokens[self.index : self.index + len(words)]
        if [token.word for token in ahead] != list(words):
            return False
        self.index += len(words)
        return True

    def parse(self) -> RunFilter:
        clauses = [self.clause()]
        while self.words("AND"):
            clauses.append(self.clause())
        if self.tokens[self.index].kind != "end":
            raise self.fail(self.tokens[self.index], "AND or the end")
        return RunFilter(tuple(clauses))

    def clause(self) -> Clause:
        token = self.take()
        if token.kind != "ident" or token.match is None:
            raise self.fail(token, "a field such as metrics.acc, params.lr or tags.team")
        field = _ident_field(token.match, f"{token.text!r} at position {token.position}")
        at = self.tokens[self.index]
        op = self.operator()
        if op not in _allowed(field):
            raise ApiError.invalid(
                f"{op} does not apply to {token.text!r} (position {at.position}): "
                f"it takes {', '.join(_allowed(field))}"
            )
        return Clause(field, op, self.operand(field, op))

    def operator(self) -> str:
        token = self.tokens[self.index]
        if token.kind == "op":
            self.index += 1
            return token.text
        for words in (("IS", "NOT", "NULL"), ("IS", "NULL"), ("NOT", "IN"), ("IN",)):
            if self.words(*words):
                return " ".join(words)
        if token.word in ("LIKE", "ILIKE"):
            self.index += 1
            return token.word
        raise self.fail(token, "an operator (= != < <= > >= LIKE ILIKE IN NOT IN IS NULL)")

    def operand(self, field: Field, op: str) -> _Operand:
        if op in _PRESENCE_OPS:
            return None
        if op in ("IN", "NOT IN"):
            return self.string_list()
        token = self.take()
        if field.numeric and token.kind == "number":
            return float(token.text) if field.entity == "metric" else _number(token.text)
        if not field.numeric and token.kind == "string":
            return _unquote(token.text)
        kind = "a number" if field.numeric else "a quoted string"
        raise self.fail(token, f"{kind} for {field.entity} {field.key!r}")

    def string_list(self) -> tuple[str, ...]:
        if self.take().text != "(":
            raise self.fail(self.tokens[self.index - 1], "'(' opening the IN list")
        values = []
        while True:
            token = self.take()
            if token.kind != "string":
                raise self.fail(token, "a quoted string in the IN list")
            values.append(_unquote(token.text))
            token = self.take()
            if token.text == ")":
                return tuple(values)
            if token.text != ",":
                raise self.fail(token, "',' or ')' in the IN list")


def _number(text: str) -> float:
    """An int when the literal is one (exact against millisecond times), else a float."""
    return int(text) if re.fullmatch(r"-?\d+", text) else float(text)


def parse_run_filter(text: str | None) -> RunFilter:
    """The filter ``text`` says; an empty one matches every run; a 400 naming the problem."""
    if not text or not text.strip():
        return RunFilter()
    return _Parser(text).parse()


# -- order_by -------------------------------------------------------------------------


@attrs.frozen
class SortKey:
    """One ``order_by`` clause."""

    field: Field
    descending: bool = False

    def key(self, view: RunView) -> tuple[Any, ...]:
        """Values in order, then NaN, then missing, whichever the direction (MLflow's)."""
        value = self.field.value_of(view)
        rank = 2 if value is None else 1 if isinstance(value, float) and math.isnan(value) else 0
        if rank:
            return (-rank,) if self.descending else (rank,)
        return (0, value)


def _default_order(view: RunView) -> tuple[int, str]:
    return (-view.start_time, view.run_id)


@attrs.frozen
class OrderBy:
    """Sort keys, most significant first; MLflow's default order breaks the last tie."""

    keys: tuple[SortKey, ...] = ()

    def sort(self, views: Sequence[RunView]) -> list[RunView]:
        ordered = sorted(views, key=_default_order)
        for sort_key in reversed(self.keys):  # stable sorts, least significant first
            ordered.sort(key=sort_key.key, reverse=sort_key.descending)
        return ordered


def parse_order_by(clauses: Sequence[str] | None) -> OrderBy:
    """``order_by`` clauses such as ``metrics.acc DESC``; a 400 naming a bad one."""
    keys: list[SortKey] = []
    for clause in clauses or ():
        found = _ORDER.fullmatch(clause)
        if found is None:
            raise ApiError.invalid(
                f"cannot read the order_by clause {clause!r}: write <entity>.<key> [ASC|DESC]"
            )
        field = _ident_field(found, f"the order_by clause {clause!r}")
        if any(key.field == field for key in keys):
            raise ApiError.invalid(f"order_by sorts by {field.entity} {field.key!r} twice")
        direction = (found.group("direction") or "ASC").upper()
        keys.append(SortKey(field, descending=direction == "DESC"))
    return OrderBy(tuple(keys))
