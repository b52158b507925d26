"""Experiments, runs and MLflow 3's logged models as MLflow JSON.

* Experiment ids and run ids are modelreg's own (``Registry.create_experiment``,
  ``create_run``); a run's ``artifact_uri`` is ``mlflow-artifacts:/<Run.package>``.
* A logged model (what ``mlflow.<flavor>.log_model`` makes) is a folder of files in the
  run that logged it, named after the model (``model``, then ``model-2`` ...), plus a
  record in that run's tag ``modelreg.logged-model.<model id>``. Its id,
  ``m-<run id>-<8 hex>``, names the run, so nothing is searched to find it. Registering
  it promotes its run with that folder (`Registry.promote_run`). A logged model made
  outside any run gets a run of its own.
* Tags under ``modelreg.logged-model.`` are not shown among a run's tags.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from registry_core import Experiment, Metric, Run, RunStatus
from registry_server.mapping import latest_metrics, metric_json, ms

__all__ = [
    "LOGGED_MODEL_TAG",
    "LoggedModel",
    "experiment_json",
    "logged_model_json",
    "logged_models_of",
    "new_model_id",
    "parse_model_id",
    "run_artifact_uri",
    "run_status",
    "tracking_run_json",
]

LOGGED_MODEL_TAG = "modelreg.logged-model."
_MODEL_ID = re.compile(r"m-([0-9]{1,20}-[0-9a-f]{24})-[0-9a-f]{8}")
_STATUS = {
    RunStatus.RUNNING: "RUNNING",
    RunStatus.FINISHED: "FINISHED",
    RunStatus.FAILED: "FAILED",
    RunStatus.KILLED: "KILLED",
}
#: MLflow's run statuses, to modelreg's (SCHEDULED counts as running).
STATUSES = {name: status for status, name in _STATUS.items()} | {"SCHEDULED": RunStatus.RUNNING}


def run_status(run: Run) -> str:
    return _STATUS[run.status]


def run_artifact_uri(run: Run) -> str:
    return f"mlflow-artifacts:/{run.package}"


def _pairs(mapping: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": mapping[key]} for key in sorted(mapping)]


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": experiment.id,
        "name": experiment.name,
        "artifact_location": f"mlflow-artifacts:/.modelreg/runs/{experiment.id}",
        "lifecycle_stage": "active",
        "creation_time": ms(experiment.created_at),
        "last_update_time": ms(experiment.updated_at),
        "tags": _pairs(experiment.tags),
    }


@attrs.frozen(kw_only=True)
class LoggedModel:
    """MLflow's logged model, as a folder of a run (see the module docstring)."""

    model_id: str
    run_id: str
    name: str
    path: str
    status: str = "LOGGED_MODEL_PENDING"
    model_type: str = ""
    created: int
    updated: int
    tags: Mapping[str, str] = attrs.field(factory=dict)
    params: Mapping[str, str] = attrs.field(factory=dict)
    hosted: bool = False  # the run exists only to hold it (made outside any run)

    def record(self) -> str:
        """The tag value that stores it."""
        data = attrs.asdict(self)
        del data["model_id"], data["run_id"]
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_record(cls, model_id: str, run_id: str, text: str) -> LoggedModel:
        data = json.loads(text)
        return cls(model_id=model_id, run_id=run_id, **data)


def new_model_id(run_id: str) -> str:
    return f"m-{run_id}-{secrets.token_hex(4)}"


def parse_model_id(model_id: object) -> str | None:
    """The run id inside a logged model's id; None if it is not one."""
    found = _MODEL_ID.fullmatch(model_id) if isinstance(model_id, str) else None
    return None if found is None else found.group(1)


def logged_models_of(run: Run) -> list[LoggedModel]:
    """The logged models recorded on ``run``, oldest first."""
    found = []
    for key, value in run.tags.items():
        if key.startswith(LOGGED_MODEL_TAG):
            try:
                found.append(LoggedModel.from_record(key[len(LOGGED_MODEL_TAG) :], run.id, value))
            except (ValueError, TypeError):
                continue  # a tag someone edited by hand: not a logged model any more
    return sorted(found, key=lambda m: (m.created, m.model_id))


def logged_model_json(model: LoggedModel, experiment_id: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": model.model_id,
        "experiment_id": experiment_id,
        "name": model.name,
        "artifact_uri": f"mlflow-artifacts:/.modelreg/runs/{experiment_id}/{model.run_id}/"
        f"{model.path}",
        "creation_timestamp_ms": model.created,
        "last_updated_timestamp_ms": model.updated,
        "status": model.status,
        "tags": _pairs(model.tags),
    }
    if model.model_type:
        info["model_type"] = model.model_type
    if not model.hosted:
        info["source_run_id"] = model.run_id
    return {"info": info, "data": {"params": _pairs(model.params), "metrics": []}}


def tracking_run_json(run: Run, metrics: Iterable[Metric]) -> dict[str, Any]:
    """A modelreg run as MLflow's Run: info, data (latest metrics, params, tags), inputs,
    and outputs (its logged models)."""
    info: dict[str, Any] = {
        "run_id": run.id,
        "run_uuid": run.id,
        "run_name": run.name,
        "experiment_id": run.experiment_id,
        "user_id": run.created_by or "",
        "status": run_status(run),
        "start_time": ms(run.started_at),
        "artifact_uri": run_artifact_uri(run),
        "lifecycle_stage": "active",
    }
    if run.ended_at is not None:
        info["end_time"] = ms(run.ended_at)
    shown = {k: v for k, v in run.tags.items() if not k.startswith(LOGGED_MODEL_TAG)}
    shown.setdefault("mlflow.runName", run.name)
    outputs = [{"model_id": m.model_id, "step": 0} for m in logged_models_of(run)]
    return {
        "info": info,
        "data": {
            "metrics": [metric_json(p) for p in latest_metrics(metrics)],
            "params": _pairs(run.params),
            "tags": _pairs(shown),
        },
        "inputs": {},
        "outputs": {"model_outputs": outputs} if outputs else {},
    }
