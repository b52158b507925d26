"""The two search endpoints: registered models and model versions, filtered, keyset-paged.

Models come in name order (the core listing, narrowed by a name prefix when the filter
gives one); versions come model by model, highest precedence first unless
``order_by=version_number ASC``. A page token holds the core position of the last item
returned (see `registry_server.search`), so it survives inserts and deletes between pages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from registry_core import Model, ModelVersion, NotFound, Page, Registry
from registry_server.calls import Call
from registry_server.errors import ApiError
from registry_server.mapping import (
    STATE_TAG,
    aliases_of,
    parse_run_id,
    registered_model_json,
    run_id_for,
    version_json,
)
from registry_server.search import Cursor, Filter, Keyset, decode_token, encode_token, parse_filter

__all__ = ["latest_of", "model_json", "search_models", "search_versions"]

_PAGE = 200  # core page size while searching
_MODEL_ORDER = {"name": "name asc", "name asc": "name asc"}
_VERSION_ORDER = {
    "name": "name asc",
    "name asc": "name asc",
    "version_number": "version_number asc",
    "version_number asc": "version_number asc",
    "version_number desc": "version_number desc",
}


def latest_of(reg: Registry, model: Model) -> list[ModelVersion]:
    """The modelreg latest of ``model`` as a list (empty without a ready release)."""
    try:
        return [reg.latest(model.name)]
    except NotFound:
        return []


def model_json(reg: Registry, model: Model) -> dict[str, Any]:
    return registered_model_json(model, latest_of(reg, model))


def _order(call: Call, allowed: dict[str, str]) -> list[str]:
    """The order_by clauses, normalised (``name`` -> ``name asc``); a 400 for others."""
    chosen = []
    for clause in call.texts("order_by"):
        words = " ".join(clause.replace("`", "").lower().split())
        if words not in allowed:
            raise ApiError.invalid(
                f"cannot order by {clause!r}; choose from {', '.join(sorted(allowed))}"
            )
        chosen.append(allowed[words])
    return chosen


def _cursor(state: dict[str, Any] | None, key: str) -> Cursor | None:
    if state is None or state.get(key) is None:
        return None
    try:
        return Cursor.load(state[key])
    except (TypeError, ValueError):
        raise ApiError.invalid("the page_token was not given out for this search") from None


def _model_pages(reg: Registry, flt: Filter) -> Callable[[str | None], Page[Model]]:
    """The core listing of the models ``flt`` can match."""
    exact = flt.equal("name")
    if exact is not None:

        def one(token: str | None) -> Page[Model]:
            try:
                return Page((reg.get_model(exact),))
            except NotFound:
                return Page(())

        return one
    prefix = flt.name_prefix()
    return lambda token: reg.list_models(prefix, page_size=_PAGE, page_token=token)


def search_models(reg: Registry, call: Call) -> dict[str, Any]:
    flt = parse_filter(call.optional_text("filter"), ("name",))
    limit = call.integer("max_results", 100, 1, 1000)
    _order(call, _MODEL_ORDER)
    scope = f"models\n{flt.text}"
    start = _cursor(decode_token(call.optional_text("page_token"), scope), "c")
    found: list[Model] = []
    last: Cursor | None = None
    answer: dict[str, Any] = {}
    for model, cursor in Keyset(_model_pages(reg, flt), lambda m: m.name.key, start):
        if not flt.matches({"name": str(model.name)}, model.tags):
            continue
        if len(found) == limit and last is not None:
            answer["next_page_token"] = encode_token(scope, {"c": last.dump()})
            break
        found.append(model)
        last = cursor
    return {"registered_models": [model_json(reg, m) for m in found], **answer}


def _matches(flt: Filter, entity: ModelVersion) -> bool:
    values = {"name": str(entity.model), "run_id": run_id_for(entity.model, entity.version)}
    return flt.matches(values, {**entity.tags, STATE_TAG: entity.state.value})


def _by_run_id(reg: Registry, flt: Filter) -> Iterator[tuple[Model, ModelVersion]]:
    run_id = flt.equal("run_id")
    assert run_id is not None
    named = parse_run_id(run_id)
    if named is None:
        return
    try:
        entity = reg.get_version(*named)
        yield reg.get_model(entity.model), entity
    except (NotFound, ValueError):
        return


def search_versions(reg: Registry, call: Call) -> dict[str, Any]:
    flt = parse_filter(call.optional_text("filter"), ("name", "run_id"))
    limit = call.integer("max_results", 10000, 1, 200000)
    order = "precedence" if "version_number asc" in _order(call, _VERSION_ORDER) else "-precedence"
    if flt.equal("run_id") is not None:
        hits = [(m, v) for m, v in _by_run_id(reg, flt) if _matches(flt, v)]
        return {"model_versions": [version_json(v, aliases_of(m, v.version)) for m, v in hits]}
    scope = f"versions\n{order}\n{flt.text}"
    state = decode_token(call.optional_text("page_token"), scope)
    model_start, version_start = _cursor(state, "m"), _cursor(state, "v")
    found: list[dict[str, Any]] = []
    last: tuple[Cursor, Cursor] | None = None  # (model, version) cursors of the last found
    models = Keyset(_model_pages(reg, flt), lambda m: m.name.key, model_start, inclusive=True)
    for model, model_cursor in models:
        resume = version_start if model_start and model_cursor.key == model_start.key else None
        model_start = None

        def fetch(token: str | None, name: Any = model.name) -> Page[ModelVersion]:
            try:
                return reg.list_versions(name, order=order, page_size=_PAGE, page_token=token)
            except NotFound:  # deleted while we looked
                return Page(())

        for entity, cursor in Keyset(fetch, lambda v: v.version.precedence_key, resume):
            if not _matches(flt, entity):
                continue
            if len(found) == limit and last is not None:
                token = encode_token(scope, {"m": last[0].dump(), "v": last[1].dump()})
                return {"model_versions": found, "next_page_token": token}
            found.append(version_json(entity, aliases_of(model, entity.version)))
            last = (model_cursor, cursor)
    return {"model_versions": found}
