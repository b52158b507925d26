"""``/api/2.0/mlflow/runs/*``: the run every model version carries (as in GitLab).

A call naming one of modelreg's own runs (`registry_server.tracking_api.is_run_id`) goes
to `registry_server.tracking_api` instead; the two kinds of id never look alike.

The run id names the version (`registry_server.mapping.run_id_for`); parameters, metrics
and tags go to the version, and ending the run moves it through modelreg's lifecycle:
FINISHED publishes (seals) the draft, FAILED or KILLED fails it. Ending it again the same
way is a no-op, so the client's retries are harmless. The tag ``modelreg.alias`` means
what it means on the version (`registry_server.alias_tag`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from registry_core import (
    InvalidInput,
    ModelVersion,
    Registry,
    VersionState,
)
from registry_server import tracking_api
from registry_server.alias_tag import delete_version_tag, set_version_tag
from registry_server.calls import Call
from registry_server.errors import ApiError
from registry_server.mapping import (
    STATE_TAG,
    metric_json,
    parse_run_id,
    run_info_json,
    run_json,
)

__all__ = ["QUICK_WRITES", "ROUTES"]

_INT64 = 2**63 - 1


def _version(reg: Registry, call: Call) -> ModelVersion:
    """The version the call's ``run_id`` (or ``run_uuid``) names; 404 for any other id."""
    run_id = call.first_text("run_id", "run_uuid")
    named = parse_run_id(run_id)
    if named is not None:
        try:
            return reg.get_version(*named)
        except InvalidInput:
            pass
    raise ApiError.not_found(f"run '{run_id[:300]}' does not exist") from None


def get_run(reg: Registry, call: Call) -> dict[str, Any]:
    entity = _version(reg, call)
    return {"run": run_json(entity, reg.get_metrics(entity.model, entity.version))}


def log_param(reg: Registry, call: Call) -> dict[str, Any]:
    entity = _version(reg, call)
    reg.log_param(entity.model, entity.version, call.text("key"), call.text("value"))
    return {}


def log_metric(reg: Registry, call: Call) -> dict[str, Any]:
    entity = _version(reg, call)
    reg.log_metrics(entity.model, entity.version, [tracking_api.metric_point(call)])
    return {}


def _set_tag(reg: Registry, entity: ModelVersion, key: str, value: str) -> None:
    if key == STATE_TAG:
        raise ApiError.invalid(f"tag {STATE_TAG} is the version's state; end the run instead")
    set_version_tag(reg, entity.model, entity.version, key, value)


def set_tag(reg: Registry, call: Call) -> dict[str, Any]:
    entity = _version(reg, call)
    _set_tag(reg, entity, call.text("key"), call.optional_text("value", "") or "")
    return {}


def delete_tag(reg: Registry, call: Call) -> dict[str, Any]:
    entity = _version(reg, call)
    delete_version_tag(reg, entity.model, entity.version, call.text("key"))
    return {}


def log_batch(reg: Registry, call: Call) -> dict[str, Any]:
    """Parameters in one write, metrics in one write, then the tags."""
    entity = _version(reg, call)
    params = tracking_api.batch_params(call)
    metrics = [tracking_api.metric_point(m) for m in call.objects("metrics")]
    tags = call.tags("tags")
    if params:
        reg.log_params(entity.model, entity.version, params)
    if metrics:
        reg.log_metrics(entity.model, entity.version, metrics)
    for key, value in tags.items():
        _set_tag(reg, entity, key, value)
    return {}


_ENDS = {"FINISHED": VersionState.READY, "FAILED": VersionState.FAILED}
_ENDS["KILLED"] = VersionState.FAILED


def update_run(reg: Registry, call: Call) -> dict[str, Any]:
    """End the run: FINISHED publishes the draft, FAILED or KILLED fails it."""
    entity = _version(reg, call)
    status = call.optional_text("status")
    name = call.optional_text("run_name")
    if name is not None and name != entity.package:
        raise ApiError.invalid(f"the run of a version is named after it ({entity.package})")
    target = _ENDS.get(status or "")
    if status in ("RUNNING", "SCHEDULED") and entity.state is not VersionState.DRAFT:
        raise ApiError.invalid(
            f"version '{entity.version}' of model '{entity.model}' is {entity.state.value}; "
            "its run cannot run again"
        )
    if status is not None and status not in ("RUNNING", "SCHEDULED") and target is None:
        raise ApiError.invalid(f"unknown run status {status!r}")
    if target is VersionState.READY and not entity.state.is_sealed:
        entity = reg.publish(entity.model, entity.version)
    elif target is VersionState.FAILED and entity.state is not VersionState.FAILED:
        entity = reg.fail(entity.model, entity.version)
    return {"run_info": run_info_json(entity)}


def metric_history(reg: Registry, call: Call) -> dict[str, Any]:
    entity = _version(reg, call)
    points = reg.get_metrics(entity.model, entity.version, call.text("metric_key"))
    return {"metrics": [metric_json(p) for p in points]}


Handler = Callable[[Registry, Call], dict[str, Any]]


def _either(for_version: Handler, path: str) -> Handler:
    """``for_version``, or the tracking handler for ``path`` when the id is a run's."""
    for_run = tracking_api.RUN_HANDLERS[path]

    def handle(reg: Registry, call: Call) -> dict[str, Any]:
        named = call.optional_text("run_id") or call.optional_text("run_uuid") or ""
        return (for_run if tracking_api.is_run_id(named) else for_version)(reg, call)

    handle.__name__ = for_version.__name__
    handle.__doc__ = for_version.__doc__
    return handle


def _any_call(call: Call) -> bool:
    return True


def _unlinked(call: Call) -> bool:
    """A point sent with a ``model_id`` reads the run's whole history first."""
    return not call.optional_text("model_id")


#: The small writes, by path, and which of their calls are small: one short transaction
#: on one document or batch, reading no history and moving no files (a state tag is
#: refused; ending a run, which may publish a version, is not among them).
QUICK_WRITES: dict[str, Callable[[Call], bool]] = {
    "/runs/log-parameter": _any_call,
    "/runs/log-metric": _unlinked,
    "/runs/set-tag": _any_call,
    "/runs/delete-tag": _any_call,
}

#: (methods, path under /api/2.0/mlflow, handler)
ROUTES = [
    (methods, path, _either(handler, path))
    for methods, path, handler in [
        (("GET",), "/runs/get", get_run),
        (("POST",), "/runs/log-parameter", log_param),
        (("POST",), "/runs/log-metric", log_metric),
        (("POST",), "/runs/log-batch", log_batch),
        (("POST",), "/runs/set-tag", set_tag),
        (("POST",), "/runs/delete-tag", delete_tag),
        (("POST",), "/runs/update", update_run),
        (("GET",), "/metrics/get-history", metric_history),
    ]
]
