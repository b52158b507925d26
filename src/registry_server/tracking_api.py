"""MLflow's tracking calls over modelreg's experiments and runs.

``experiments/*`` map one to one onto `Registry` experiments. The ``runs/*`` calls serve
two kinds of run: modelreg's own runs (ids ``<experiment id>-<24 hex>``), handled here,
and the run every model version carries (`registry_server.runs_api`), which routes the
call here when the id is a run's. ``runs/search`` reads the runs of the experiments
asked for and applies MLflow's filter and order (`registry_server.run_search`).

Deletes are for good (MLflow keeps a deleted run or experiment restorable for a while):
``restore`` answers 400. ``log-inputs`` and ``outputs`` are accepted and not stored
beyond the logged models a run already records.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from registry_core import Experiment, Metric, NotFound, Registry, Run
from registry_server.calls import Call
from registry_server.errors import ApiError
from registry_server.mapping import latest_metrics, metric_json, ms
from registry_server.run_mapping import (
    LOGGED_MODEL_TAG,
    STATUSES,
    experiment_json,
    run_artifact_uri,
    run_status,
    tracking_run_json,
)
from registry_server.search import decode_token, encode_token, parse_filter

__all__ = ["ROUTES", "RUN_HANDLERS", "batch_params", "is_run_id", "metric_point"]

_RUN_ID = re.compile(r"[0-9]{1,20}-[0-9a-f]{24}")
_INT64 = 2**63 - 1
_RUN_NAME_TAG = "mlflow.runName"
_MAX_RESULTS = 50_000


def is_run_id(text: str) -> bool:
    """Whether ``text`` has the shape of a modelreg run id (not a version's run)."""
    return _RUN_ID.fullmatch(text) is not None


def _run_id(call: Call) -> str:
    return call.first_text("run_id", "run_uuid")


def metric_point(call: Call) -> Metric:
    """A metric point as ``log-metric`` and ``log-batch`` send it."""
    when = call.timestamp("timestamp")
    if when is None:
        raise ApiError.invalid("missing value for required parameter 'timestamp'")
    return Metric(
        call.text("key"), call.number("value"), call.integer("step", 0, -_INT64 - 1, _INT64), when
    )


def _refuse_reserved(key: str) -> None:
    if key.startswith(LOGGED_MODEL_TAG):
        raise ApiError.invalid(f"tags under {LOGGED_MODEL_TAG} record logged models")


# -- experiments ----------------------------------------------------------------------


def create_experiment(reg: Registry, call: Call) -> dict[str, Any]:
    if call.optional_text("artifact_location"):
        raise ApiError.invalid(
            "modelreg keeps every run's files in its own store; leave artifact_location out"
        )
    experiment = reg.create_experiment(call.text("name"), tags=call.tags())
    return {"experiment_id": experiment.id}


def get_experiment(reg: Registry, call: Call) -> dict[str, Any]:
    return {"experiment": experiment_json(reg.get_experiment(call.text("experiment_id")))}


def get_experiment_by_name(reg: Registry, call: Call) -> dict[str, Any]:
    found = reg.get_experiment_by_name(call.text("experiment_name"))
    return {"experiment": experiment_json(found)}


def _every_experiment(reg: Registry) -> Iterator[Experiment]:
    token = None
    while True:
        page = reg.list_experiments(page_size=500, page_token=token)
        yield from page
        token = page.next_page_token
        if token is None:
            return


_EXPERIMENT_ORDER = {
    "name": lambda e: e.name,
    "experiment_id": lambda e: e.id,
    "creation_time": lambda e: e.created_at,
    "last_update_time": lambda e: e.updated_at,
}


def search_experiments(reg: Registry, call: Call) -> dict[str, Any]:
    """Every experiment, filtered by name and tags, ordered, in offset pages."""
    if call.optional_text("view_type", "ACTIVE_ONLY") == "DELETED_ONLY":
        return {"experiments": []}
    flt = parse_filter(call.optional_text("filter"), ("name",))
    found = [e for e in _every_experiment(reg) if flt.matches({"name": e.name}, e.tags)]
    orders = call.texts("order_by") or ["last_update_time DESC"]
    for clause in reversed(orders):
        words = clause.replace("`", "").split()
        field = words[0].removeprefix("attributes.") if words else ""
        descending = len(words) > 1 and words[1].upper() == "DESC"
        key = _EXPERIMENT_ORDER.get(field)
        if key is None or len(words) > 2:
            raise ApiError.invalid(
                f"cannot order experiments by {clause!r}; use {', '.join(_EXPERIMENT_ORDER)}"
            )
        found.sort(key=key, reverse=descending)
    scope = f"{call.optional_text('filter')}|{orders}"
    return _page(call, "experiments", [experiment_json(e) for e in found], scope)


def _page(call: Call, field: str, items: list[dict[str, Any]], scope: str) -> dict[str, Any]:
    """One offset page of ``items`` (the whole listing is built per call)."""
    size = call.integer("max_results", 1000, 1, _MAX_RESULTS)
    state = decode_token(call.optional_text("page_token"), f"{field}:{scope}")
    start = 0 if state is None else int(state.get("offset", 0))
    chunk = items[start : start + size]
    answer: dict[str, Any] = {field: chunk}
    if start + size < len(items):
        answer["next_page_token"] = encode_token(f"{field}:{scope}", {"offset": start + size})
    return answer


def delete_experiment(reg: Registry, call: Call) -> dict[str, Any]:
    reg.delete_experiment(call.text("experiment_id"))
    return {}


def restore(reg: Registry, call: Call) -> dict[str, Any]:
    raise ApiError.invalid("modelreg deletes experiments and runs for good; nothing to restore")


def update_experiment(reg: Registry, call: Call) -> dict[str, Any]:
    new_name = call.optional_text("new_name")
    if new_name is not None:
        reg.rename_experiment(call.text("experiment_id"), new_name)
    return {}


def set_experiment_tag(reg: Registry, call: Call) -> dict[str, Any]:
    reg.set_experiment_tag(
        call.text("experiment_id"), call.text("key"), call.optional_text("value", "") or ""
    )
    return {}


def delete_experiment_tag(reg: Registry, call: Call) -> dict[str, Any]:
    reg.delete_experiment_tag(call.text("experiment_id"), call.text("key"))
    return {}


# -- runs -----------------------------------------------------------------------------


def create_run(reg: Registry, call: Call) -> dict[str, Any]:
    tags = call.tags()
    for key in tags:
        _refuse_reserved(key)
    name = call.optional_text("run_name") or tags.pop(_RUN_NAME_TAG, None)
    tags.pop(_RUN_NAME_TAG, None)
    run = reg.create_run(
        call.optional_text("experiment_id") or "0",
        name=name or None,
        tags=tags,
        started_at=call.timestamp("start_time"),
    )
    return {"run": tracking_run_json(run, [])}


def get_run(reg: Registry, call: Call) -> dict[str, Any]:
    run = reg.get_run(_run_id(call))
    return {"run": tracking_run_json(run, reg.get_run_metrics(run.id))}


def log_param(reg: Registry, call: Call) -> dict[str, Any]:
    reg.log_run_param(_run_id(call), call.text("key"), call.optional_text("value", "") or "")
    return {}


def _new_points(reg: Registry, run_id: str, metrics: list[Call]) -> list[Metric]:
    """The points to store. A point sent with a ``model_id`` links a point the run already
    has to a logged model (``log_model`` re-sends the run's metrics so): MLflow keeps one
    row for identical points, and so does this."""
    points = [metric_point(m) for m in metrics]
    linked = {i for i, m in enumerate(metrics) if m.optional_text("model_id")}
    if not linked:
        return points
    held = {(p.key, p.step, p.timestamp, p.value) for p in reg.get_run_metrics(run_id)}
    return [
        p
        for i, p in enumerate(points)
        if i not in linked or (p.key, p.step, p.timestamp, p.value) not in held
    ]


def log_metric(reg: Registry, call: Call) -> dict[str, Any]:
    run_id = _run_id(call)
    points = _new_points(reg, run_id, [call])
    if points:
        reg.log_run_metrics(run_id, points)
    return {}


def _set_tag(reg: Registry, run_id: str, key: str, value: str) -> None:
    _refuse_reserved(key)
    if key == _RUN_NAME_TAG:
        reg.update_run(run_id, name=value)
    else:
        reg.set_run_tag(run_id, key, value)


def set_tag(reg: Registry, call: Call) -> dict[str, Any]:
    _set_tag(reg, _run_id(call), call.text("key"), call.optional_text("value", "") or "")
    return {}


def delete_tag(reg: Registry, call: Call) -> dict[str, Any]:
    key = call.text("key")
    _refuse_reserved(key)
    reg.delete_run_tag(_run_id(call), key)
    return {}


def log_batch(reg: Registry, call: Call) -> dict[str, Any]:
    """Parameters in one write, metrics in one write, then the tags."""
    run_id = _run_id(call)
    params = batch_params(call)
    metrics = _new_points(reg, run_id, call.objects("metrics"))
    tags = call.tags("tags")
    if params:
        reg.log_run_params(run_id, params)
    if metrics:
        reg.log_run_metrics(run_id, metrics)
    for key, value in tags.items():
        _set_tag(reg, run_id, key, value)
    if not (params or metrics or tags):
        reg.get_run(run_id)  # an empty batch still names a run that must exist
    return {}


def batch_params(call: Call) -> dict[str, str]:
    """A ``log-batch``'s params; one key given twice with two values is a 400."""
    params: dict[str, str] = {}
    for param in call.objects("params"):
        key, value = param.text("key"), param.optional_text("value", "") or ""
        if params.setdefault(key, value) != value:
            raise ApiError.invalid(f"param {key!r} is given twice with different values")
    return params


def update_run(reg: Registry, call: Call) -> dict[str, Any]:
    status = call.optional_text("status")
    if status is not None and status not in STATUSES:
        raise ApiError.invalid(f"unknown run status {status!r}")
    run = reg.update_run(
        _run_id(call),
        status=None if status is None else STATUSES[status],
        name=call.optional_text("run_name") or None,
        ended_at=call.timestamp("end_time"),
    )
    return {"run_info": tracking_run_json(run, [])["info"]}


def delete_run(reg: Registry, call: Call) -> dict[str, Any]:
    reg.delete_run(_run_id(call))
    return {}


def metric_history(reg: Registry, call: Call) -> dict[str, Any]:
    points = reg.get_run_metrics(_run_id(call), call.text("metric_key"))
    return {"metrics": [metric_json(p) for p in points]}


def accept_inputs(reg: Registry, call: Call) -> dict[str, Any]:
    """``log-inputs``, ``outputs`` and the legacy ``log-model``: the run must exist; what
    they say is not stored (a run's logged models are recorded when they are made)."""
    reg.get_run(call.text("run_id"))
    return {}


def _runs_of(reg: Registry, experiment_id: str) -> Iterator[Run]:
    token = None
    while True:
        page = reg.list_runs(experiment_id, page_size=500, page_token=token)
        yield from page
        token = page.next_page_token
        if token is None:
            return


def search_runs(reg: Registry, call: Call) -> dict[str, Any]:
    """Runs of the experiments named, filtered and ordered as MLflow does, in pages."""
    from registry_server.run_search import RunView, parse_order_by, parse_run_filter

    if call.optional_text("run_view_type", "ACTIVE_ONLY") == "DELETED_ONLY":
        return {"runs": []}
    flt = parse_run_filter(call.optional_text("filter"))
    order = parse_order_by(call.texts("order_by"))
    experiments = call.texts("experiment_ids")
    views: list[tuple[RunView, dict[str, Any]]] = []
    for experiment_id in dict.fromkeys(experiments):
        try:
            runs = list(_runs_of(reg, experiment_id))
        except NotFound:
            continue  # MLflow answers with no runs for an experiment that is not there
        for run in runs:
            points = reg.get_run_metrics(run.id)
            shown = tracking_run_json(run, points)
            tags = {t["key"]: t["value"] for t in shown["data"]["tags"]}
            view = RunView(
                run_id=run.id,
                run_name=run.name,
                status=run_status(run),
                start_time=ms(run.started_at) or 0,
                end_time=ms(run.ended_at),
                user_id=run.created_by or "",
                artifact_uri=run_artifact_uri(run),
                lifecycle_stage="active",
                params=dict(run.params),
                tags=tags,
                metrics={m.key: m.value for m in latest_metrics(points)},
            )
            views.append((view, shown))
    if flt is not None:
        views = [(v, j) for v, j in views if flt.matches(v)]
    by_id = {v.run_id: j for v, j in views}
    ordered = [by_id[v.run_id] for v in order.sort([v for v, _ in views])]
    scope = f"{experiments}|{call.optional_text('filter')}|{call.texts('order_by')}"
    return _page(call, "runs", ordered, scope)


#: The runs/* handlers for modelreg runs, by path (runs_api routes a run's id here).
RUN_HANDLERS = {
    "/runs/get": get_run,
    "/runs/log-parameter": log_param,
    "/runs/log-metric": log_metric,
    "/runs/log-batch": log_batch,
    "/runs/set-tag": set_tag,
    "/runs/delete-tag": delete_tag,
    "/runs/update": update_run,
    "/metrics/get-history": metric_history,
}

#: (methods, path under /api/2.0/mlflow, handler)
ROUTES = [
    (("POST",), "/experiments/create", create_experiment),
    (("GET",), "/experiments/get", get_experiment),
    (("GET",), "/experiments/get-by-name", get_experiment_by_name),
    (("POST", "GET"), "/experiments/search", search_experiments),
    (("POST",), "/experiments/delete", delete_experiment),
    (("POST",), "/experiments/restore", restore),
    (("POST",), "/experiments/update", update_experiment),
    (("POST",), "/experiments/set-experiment-tag", set_experiment_tag),
    (("POST",), "/experiments/delete-experiment-tag", delete_experiment_tag),
    (("POST",), "/runs/create", create_run),
    (("POST",), "/runs/delete", delete_run),
    (("POST",), "/runs/restore", restore),
    (("POST",), "/runs/search", search_runs),
    (("POST",), "/runs/log-inputs", accept_inputs),
    (("POST",), "/runs/outputs", accept_inputs),
    (("POST",), "/runs/log-model", accept_inputs),
]
