"""modelreg entities as MLflow JSON, and the names MLflow gives them.

* A model version is also a run: its ``run_id`` is `run_id_for` (reversible, no lookup
  table), its ``artifact_uri`` the proxied URI of its package ``<model>/<version>``. A
  version promoted from one of modelreg's runs names that run as its ``run_id`` instead.
* ``version`` is the SemVer string; ``status`` is ``READY`` unless the version failed;
  the modelreg state rides along in the tag ``modelreg.state``.
* The tag ``modelreg.alias`` is not stored: setting it points an alias
  (`registry_server.alias_tag`).
* Timestamps are integer milliseconds; NaN and infinities are the strings protobuf's JSON
  parser reads.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from registry_core import (
    InvalidInput,
    Metric,
    Model,
    ModelName,
    ModelVersion,
    Version,
    VersionState,
)
from registry_core.version_tags import VERSION_TAGS, tagged_version
from registry_core.versions import BumpPart

__all__ = [
    "ALIAS_TAG",
    "BUMP_TAG",
    "STATE_TAG",
    "VERSION_TAGS",
    "aliases_of",
    "artifact_uri",
    "latest_metrics",
    "metric_json",
    "ms",
    "parse_run_id",
    "planned_version",
    "registered_model_json",
    "run_id_for",
    "run_info_json",
    "run_json",
    "run_status",
    "version_json",
]

STATE_TAG = "modelreg.state"
BUMP_TAG = "modelreg.bump"
ALIAS_TAG = "modelreg.alias"  # points an alias; see registry_server.alias_tag
_BUMPS: dict[str, BumpPart] = {"major": "major", "minor": "minor", "patch": "patch"}

# Run ids: MLflow's client accepts only ``[A-Za-z0-9][A-Za-z0-9_-]{0,255}``. Names and
# versions use letters, digits and ``- . + / _``; the last four are escaped with ``_``.
# The version comes first because it always starts with a digit.
_ESCAPES = {".": "_d", "+": "_p", "/": "_s", "_": "_u"}
_UNESCAPES = {code[1]: char for char, code in _ESCAPES.items()}
_SEPARATOR = "_m"
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def ms(when: dt.datetime | None) -> int | None:
    """A datetime as integer milliseconds since the epoch (None stays None)."""
    return None if when is None else int(when.timestamp() * 1000)


def _escape(text: str) -> str:
    return "".join(_ESCAPES.get(char, char) for char in text)


def run_id_for(model: ModelName | str, version: Version | str) -> str:
    """The run id naming a model version, e.g. ``1_d2_d0_mfraud`` for ``fraud`` 1.2.0."""
    return f"{_escape(str(version))}{_SEPARATOR}{_escape(str(model))}"


def parse_run_id(run_id: str) -> tuple[str, str] | None:
    """(model, version) from a run id made by `run_id_for`; None if it is not one."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        return None
    parts: list[list[str]] = [[]]
    chars = iter(run_id)
    for char in chars:
        if char != "_":
            parts[-1].append(char)
            continue
        code = next(chars, "")
        if code == _SEPARATOR[1] and len(parts) == 1:
            parts.append([])
        elif code in _UNESCAPES:
            parts[-1].append(_UNESCAPES[code])
        else:
            return None
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return "".join(parts[1]), "".join(parts[0])


def artifact_uri(entity: ModelVersion) -> str:
    """``mlflow-artifacts:/<model>/<version>``: resolved by the client under its tracking URI."""
    return f"mlflow-artifacts:/{entity.package}"


def planned_version(tags: Mapping[str, str]) -> tuple[str | None, BumpPart | None]:
    """(exact version, bump) asked for by a create's tags; a bump of ``major`` by default.

    ``modelreg.version`` or GitLab's ``gitlab.version`` name the version; otherwise
    ``modelreg.bump`` names the part to bump (GitLab's default is the next major).
    """
    exact = tagged_version(tags)
    if exact is not None:
        if BUMP_TAG in tags:
            raise InvalidInput(f"give a version tag or {BUMP_TAG}, not both")
        return exact, None
    bump = tags.get(BUMP_TAG, "major")
    if bump not in _BUMPS:
        raise InvalidInput(f"tag {BUMP_TAG} is {bump!r}; it must be one of {', '.join(_BUMPS)}")
    return None, _BUMPS[bump]


def _pairs(mapping: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": mapping[key]} for key in sorted(mapping)]


def _number(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def version_json(entity: ModelVersion, aliases: Iterable[str] = ()) -> dict[str, Any]:
    """A ModelVersion as MLflow sends it (``aliases`` are the alias names pointing here)."""
    failed = entity.state is VersionState.FAILED
    return {
        "name": str(entity.model),
        "version": str(entity.version),
        "creation_timestamp": ms(entity.created_at),
        "last_updated_timestamp": ms(entity.updated_at),
        "user_id": entity.created_by or "",
        "current_stage": "None",
        "description": entity.description,
        "source": artifact_uri(entity),
        "run_id": entity.source_run or run_id_for(entity.model, entity.version),
        "run_link": "",
        "status": "FAILED_REGISTRATION" if failed else "READY",
        "status_message": "the version failed (its run ended FAILED or KILLED)" if failed else "",
        "tags": _pairs({**entity.tags, STATE_TAG: entity.state.value}),
        "aliases": sorted(aliases),
    }


def aliases_of(model: Model, version: Version) -> list[str]:
    """The alias names of ``model`` that point at ``version``."""
    return sorted(alias for alias, target in model.aliases.items() if target == version)


def registered_model_json(
    model: Model, latest: Iterable[ModelVersion] = (), *, with_latest: bool = True
) -> dict[str, Any]:
    """A RegisteredModel as MLflow sends it; ``aliases`` here are ``{alias, version}``."""
    data: dict[str, Any] = {
        "name": str(model.name),
        "creation_timestamp": ms(model.created_at),
        "last_updated_timestamp": ms(model.updated_at),
        "user_id": model.created_by or "",
        "description": model.description,
        "tags": _pairs(model.tags),
        "aliases": [
            {"alias": alias, "version": str(model.aliases[alias])}
            for alias in sorted(model.aliases)
        ],
    }
    if with_latest:
        data["latest_versions"] = [version_json(v, aliases_of(model, v.version)) for v in latest]
    return data


_RUN_STATUS = {
    VersionState.DRAFT: "RUNNING",
    VersionState.FAILED: "FAILED",
}


def run_status(entity: ModelVersion) -> str:
    """RUNNING while a draft, FAILED when failed, FINISHED once published."""
    return _RUN_STATUS.get(entity.state, "FINISHED")


def run_info_json(entity: ModelVersion) -> dict[str, Any]:
    """The ``info`` of the run a version carries."""
    rid = run_id_for(entity.model, entity.version)
    ended = entity.published_at
    if entity.state is VersionState.FAILED:
        ended = entity.updated_at
    info: dict[str, Any] = {
        "run_id": rid,
        "run_uuid": rid,
        "run_name": entity.package,
        "experiment_id": "0",
        "user_id": entity.created_by or "",
        "status": run_status(entity),
        "start_time": ms(entity.created_at),
        "artifact_uri": artifact_uri(entity),
        "lifecycle_stage": "active",
    }
    if ended is not None:
        info["end_time"] = ms(ended)
    return info


def metric_json(point: Metric) -> dict[str, Any]:
    return {
        "key": point.key,
        "value": _number(point.value),
        "timestamp": ms(point.timestamp),
        "step": point.step,
    }


def latest_metrics(points: Iterable[Metric]) -> list[Metric]:
    """MLflow's ``run.data.metrics``: per key, the point at the highest (step, timestamp)."""
    best: dict[str, Metric] = {}
    for point in points:
        held = best.get(point.key)
        if held is None or (point.step, point.timestamp) >= (held.step, held.timestamp):
            best[point.key] = point
    return [best[key] for key in sorted(best)]


def run_json(entity: ModelVersion, metrics: Iterable[Metric]) -> dict[str, Any]:
    """The whole Run: info, data (latest metrics, params, tags) and empty inputs."""
    return {
        "info": run_info_json(entity),
        "data": {
            "metrics": [metric_json(p) for p in latest_metrics(metrics)],
            "params": _pairs(entity.params),
            "tags": _pairs({**entity.tags, STATE_TAG: entity.state.value}),
        },
        "inputs": {},
    }
