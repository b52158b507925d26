"""MLflow 3's logged models, as far as ``log_model`` and ``register_model`` use them.

A logged model is a folder of the run that logged it, with a record in a tag of that run
(`registry_server.run_mapping`). ``log_model`` creates it (``POST /logged-models``),
uploads its files to its ``artifact_uri`` (the run's folder), and finalizes it;
registering it (``model-versions/create`` with ``models:/m-...``) promotes the run with
that folder (`registry_server.registry_api`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import attrs

from registry_core import NotFound, Registry, Run, RunStatus
from registry_server.calls import Call
from registry_server.errors import ApiError
from registry_server.run_mapping import (
    LOGGED_MODEL_TAG,
    LoggedModel,
    logged_model_json,
    logged_models_of,
    new_model_id,
    parse_model_id,
)
from registry_server.search import parse_filter

__all__ = ["ROUTES", "find_logged_model"]

_STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")


def _now_ms() -> int:
    return int(time.time() * 1000)


def find_logged_model(reg: Registry, model_id: str) -> tuple[LoggedModel, Run]:
    """The logged model ``model_id`` and the run that holds it; `NotFound` otherwise."""
    run_id = parse_model_id(model_id)
    if run_id is not None:
        try:
            run = reg.get_run(run_id)
        except NotFound:
            pass
        else:
            for model in logged_models_of(run):
                if model.model_id == model_id:
                    return model, run
    raise NotFound(f"logged model '{str(model_id)[:80]}' does not exist")


def _free_folder(run: Run, name: str) -> str:
    """``name``, or ``name-2``, ``name-3``... : a folder no file or logged model of the
    run uses yet."""
    taken = {a.path.segments[0].lower() for a in run.artifacts}
    taken |= {m.path.lower() for m in logged_models_of(run)}
    folder, n = name, 1
    while folder.lower() in taken:
        n += 1
        folder = f"{name}-{n}"
    return folder


def _store(reg: Registry, model: LoggedModel) -> None:
    reg.set_run_tag(model.run_id, LOGGED_MODEL_TAG + model.model_id, model.record())


def create_logged_model(reg: Registry, call: Call) -> dict[str, Any]:
    name = call.optional_text("name") or "model"
    if "/" in name or name in (".", "..") or name.startswith("."):
        raise ApiError.invalid(f"logged model name {name!r} must be one folder name")
    source = call.optional_text("source_run_id")
    experiment_id = call.optional_text("experiment_id") or "0"
    # made outside a run, a logged model gets a run of its own to hold it
    run = reg.get_run(source) if source else reg.create_run(experiment_id, name=name)
    now = _now_ms()
    model = LoggedModel(
        model_id=new_model_id(run.id),
        run_id=run.id,
        name=name,
        path=_free_folder(run, name),
        model_type=call.optional_text("model_type", "") or "",
        created=now,
        updated=now,
        tags=call.tags(),
        params=call.tags("params"),
        hosted=not source,
    )
    _store(reg, model)
    return {"model": logged_model_json(model, run.experiment_id)}


def _model_call(call: Call) -> str:
    return call.text("model_id")


def get_logged_model(reg: Registry, call: Call) -> dict[str, Any]:
    model, run = find_logged_model(reg, _model_call(call))
    return {"model": logged_model_json(model, run.experiment_id)}


def _change(
    reg: Registry, call: Call, change: Callable[[LoggedModel], LoggedModel]
) -> dict[str, Any]:
    model, run = find_logged_model(reg, _model_call(call))
    updated = attrs.evolve(change(model), updated=_now_ms())
    _store(reg, updated)
    return {"model": logged_model_json(updated, run.experiment_id)}


def finalize_logged_model(reg: Registry, call: Call) -> dict[str, Any]:
    status = call.text("status")
    if status not in _STATUSES:
        raise ApiError.invalid(f"logged model status {status!r} is not one of {_STATUSES}")
    answer = _change(reg, call, lambda m: attrs.evolve(m, status=status))
    model, run = find_logged_model(reg, _model_call(call))
    if model.hosted and status != "LOGGED_MODEL_PENDING" and not run.status.is_ended:
        ended = RunStatus.FINISHED if status == "LOGGED_MODEL_READY" else RunStatus.FAILED
        reg.update_run(run.id, status=ended)
    return answer


def set_logged_model_tags(reg: Registry, call: Call) -> dict[str, Any]:
    tags = call.tags()
    _change(reg, call, lambda m: attrs.evolve(m, tags={**m.tags, **tags}))
    return {}


def delete_logged_model_tag(reg: Registry, call: Call) -> dict[str, Any]:
    key = call.text("tag_key")

    def drop(model: LoggedModel) -> LoggedModel:
        if key not in model.tags:
            raise NotFound(f"tag {key!r} is not set on logged model '{model.model_id}'")
        return attrs.evolve(model, tags={k: v for k, v in model.tags.items() if k != key})

    _change(reg, call, drop)
    return {}


def log_logged_model_params(reg: Registry, call: Call) -> dict[str, Any]:
    params = call.tags("params")
    _change(reg, call, lambda m: attrs.evolve(m, params={**m.params, **params}))
    return {}


def delete_logged_model(reg: Registry, call: Call) -> dict[str, Any]:
    """The record and its folder's files go; a run made only to hold it goes too."""
    model, run = find_logged_model(reg, _model_call(call))
    if model.hosted and run.promoted_to is None:
        reg.delete_run(run.id)
        return {}
    files = [a.path.value for a in run.artifacts if a.path.segments[0] == model.path]
    if files and run.promoted_to is None:
        reg.delete_run_artifacts(run.id, files)
    reg.delete_run_tag(run.id, LOGGED_MODEL_TAG + model.model_id)
    return {}


def search_logged_models(reg: Registry, call: Call) -> dict[str, Any]:
    """Logged models of the experiments named, by ``name``, ``source_run_id`` or tags."""
    from registry_server.tracking_api import _page, _runs_of

    flt = parse_filter(call.optional_text("filter"), ("name", "source_run_id", "model_id"))
    found: list[dict[str, Any]] = []
    for experiment_id in dict.fromkeys(call.texts("experiment_ids")):
        try:
            runs = list(_runs_of(reg, experiment_id))
        except NotFound:
            continue
        for run in runs:
            for model in logged_models_of(run):
                values = {
                    "name": model.name,
                    "source_run_id": None if model.hosted else run.id,
                    "model_id": model.model_id,
                }
                if flt.matches(values, model.tags):
                    found.append(logged_model_json(model, run.experiment_id))
    found.sort(key=lambda m: -int(m["info"]["creation_timestamp_ms"]))
    return _page(call, "models", found, f"{call.texts('experiment_ids')}|{flt.text}")


#: (methods, path under /api/2.0/mlflow, handler); ``{model_id}`` comes from the path.
ROUTES = [
    (("POST",), "/logged-models", create_logged_model),
    (("POST",), "/logged-models/search", search_logged_models),
    (("GET",), "/logged-models/{model_id}", get_logged_model),
    (("PATCH",), "/logged-models/{model_id}", finalize_logged_model),
    (("DELETE",), "/logged-models/{model_id}", delete_logged_model),
    (("PATCH",), "/logged-models/{model_id}/tags", set_logged_model_tags),
    (("DELETE",), "/logged-models/{model_id}/tags/{tag_key}", delete_logged_model_tag),
    (("POST",), "/logged-models/{model_id}/params", log_logged_model_params),
]
