"""The Registry's metadata: parameters (write-once), metrics (history), tags, CI links."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import attrs

from registry_core._base import (
    RegistryBase,
    atomic,
    describe,
    parse_name,
    parse_version,
    readable,
    refuse_if_renaming,
    version_key,
)
from registry_core.ci import CIJob
from registry_core.convert import SCHEMA, dump_float, dump_time, load_float, load_time
from registry_core.entities import Metric, ModelVersion
from registry_core.errors import AlreadyExists, InvalidInput, NotFound
from registry_core.limits import check_key, check_metric_value, check_step, check_value
from registry_core.names import ModelName
from registry_core.permissions import Action
from registry_core.protocol import Key
from registry_core.versions import Version

K = TypeVar("K")
V = TypeVar("V")

_METRIC_PAGE = 500


def checked_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags after the key and value rules; refuses a non-mapping."""
    if not isinstance(tags, Mapping):
        raise InvalidInput(f"tags must be a mapping, not {type(tags).__name__}")
    return {check_key("tag", k): check_value("tag", k, v) for k, v in tags.items()}


def checked_params(params: Mapping[str, object]) -> dict[str, str]:
    """Parameters after the key and value rules (numbers and booleans as text)."""
    if not isinstance(params, Mapping):
        raise InvalidInput(f"params must be a mapping, not {type(params).__name__}")
    return {check_key("param", k): _param_value(k, v) for k, v in params.items()}


def _param_value(key: str, value: Any) -> str:
    if isinstance(value, (bool, int, float)):
        value = str(value)
    return check_value("param", key, value)


def _metric_id(now: dt.datetime) -> str:
    """Sorts by time, then breaks ties at random: concurrent loggers never collide."""
    return f"{int(now.timestamp() * 1_000_000):020d}-{os.urandom(6).hex()}"


class MetadataMixin(RegistryBase):
    """Parameters are frozen with the artifacts; tags, metrics and the CI link stay editable."""

    def log_param(
        self, model: str | ModelName, version: str | Version, key: str, value: object
    ) -> None:
        """Record a parameter of a draft. Written once: a different value is `AlreadyExists`."""
        self.log_params(model, version, {key: value})

    @atomic
    def log_params(
        self, model: str | ModelName, version: str | Version, params: Mapping[str, object]
    ) -> None:
        """Record several parameters at once (all or none)."""
        self._authorize(Action.UPDATE)
        new = checked_params(params)
        from registry_core._artifacts import _require_draft

        def add(current: ModelVersion) -> ModelVersion:
            _require_draft(current, "log parameters")
            for key, value in new.items():
                old = current.params.get(key)
                if old is not None and old != value:
                    raise AlreadyExists(
                        f"param {key!r} of {describe(current.model, current.version)} is "
                        f"already {old!r}; parameters are written once"
                    )
            return attrs.evolve(current, params={**current.params, **new})

        self._update_version(parse_name(model), parse_version(version), add)

    def log_metric(
        self,
        model: str | ModelName,
        version: str | Version,
        key: str,
        value: float,
        *,
        step: int = 0,
        timestamp: dt.datetime | None = None,
    ) -> Metric:
        """Add one point to the history of metric ``key``."""
        return self.log_metrics(model, version, {key: value}, step=step, timestamp=timestamp)[0]

    @atomic
    def log_metrics(
        self,
        model: str | ModelName,
        version: str | Version,
        metrics: Mapping[str, float] | Iterable[Metric],
        *,
        step: int = 0,
        timestamp: dt.datetime | None = None,
    ) -> list[Metric]:
        """Add many points in one write: a mapping of key -> value at one step, or a
        sequence of `Metric` (each with its own step and timestamp)."""
        self._authorize(Action.UPDATE)
        checked = self._checked_points(metrics, step, timestamp)
        name, ver = parse_name(model), parse_version(version)
        # held: a rename freezing the version waits for this batch, and copies it. Only
        # the document's flags are read: building the whole version costs more than the
        # write of a small batch.
        doc = self._get(version_key(name, ver), hold=True)
        if doc is None or doc.data.get("deleting"):
            self._version_doc(name, ver)  # raises NotFound, naming the model or the version
        assert doc is not None
        refuse_if_renaming(doc.data)
        if checked:
            batch = self._write_metrics(("metrics", name.key, ver.precedence_key), checked)
            if not self._holding():  # else no delete could come between
                self._check_version_alive(name, ver, batch)
        return checked

    def _checked_points(
        self,
        metrics: Mapping[str, float] | Iterable[Metric],
        step: int,
        timestamp: dt.datetime | None,
    ) -> list[Metric]:
        when = timestamp or self._now()
        if isinstance(metrics, Mapping):
            return _checked_metrics([Metric(k, v, step, when) for k, v in metrics.items()])
        return _checked_metrics(list(metrics))

    def _write_metrics(self, prefix: Key, points: list[Metric]) -> Key:
        """Store checked ``points`` as one new batch under ``prefix``; return its key."""
        times: dict[dt.datetime, str] = {}  # a batch often shares one timestamp
        rows = [
            [p.key, dump_float(p.value), p.step, _memo(times, p.timestamp, dump_time)]
            for p in points
        ]
        batch = (*prefix, _metric_id(self._now()))
        self._repo.put_if_absent(batch, {"schema": SCHEMA, "points": rows})
        return batch

    def _read_metrics(self, prefix: Key, key: str | None) -> list[Metric]:
        """Every point of the batches under ``prefix`` (of ``key``, if given), in order."""
        found: list[Metric] = []
        after: str | None = None
        while True:
            page = self._repo.list_page(prefix, after=after, limit=_METRIC_PAGE)
            for segment, doc in readable(page):
                after = segment
                for k, v, s, t in doc.data["points"]:
                    if key is None or k == key:
                        found.append(Metric(k, load_float(v), s, load_time(t)))
            if len(page) < _METRIC_PAGE:
                return found

    def _check_version_alive(self, name: ModelName, version: Version, batch: Key) -> None:
        """After writing a metric batch: if its version was deleted meanwhile, take the
        batch back, or it would show on a version created later with the same number."""
        doc = self._repo.get(version_key(name, version))
        if doc is None or doc.data.get("deleting"):
            self._repo.delete(batch)
            raise NotFound(
                f"{describe(name, version)} was deleted while its metrics were being logged"
            )

    def get_metrics(
        self, model: str | ModelName, version: str | Version, key: str | None = None
    ) -> list[Metric]:
        """Every logged point (of ``key``, if given) in the order they were logged."""
        self._authorize(Action.READ)
        entity = self._version_doc(parse_name(model), parse_version(version))[0]
        return self._read_metrics(("metrics", entity.model.key, entity.version.precedence_key), key)

    @atomic
    def set_tag(
        self, model: str | ModelName, version: str | Version, key: str, value: str
    ) -> ModelVersion:
        """Set a version tag (editable in every state)."""
        self._authorize(Action.UPDATE)
        new = checked_tags({key: value})
        return self._update_version(
            parse_name(model),
            parse_version(version),
            lambda v: attrs.evolve(v, tags={**v.tags, **new}),
        )

    @atomic
    def delete_tag(self, model: str | ModelName, version: str | Version, key: str) -> ModelVersion:
        """Remove a version tag; `NotFound` if it is not set."""
        self._authorize(Action.UPDATE)

        def drop(current: ModelVersion) -> ModelVersion:
            if key not in current.tags:
                raise NotFound(
                    f"tag {key!r} is not set on {describe(current.model, current.version)}"
                )
            return attrs.evolve(current, tags={k: v for k, v in current.tags.items() if k != key})

        return self._update_version(parse_name(model), parse_version(version), drop)

    @atomic
    def link_ci_job(
        self, model: str | ModelName, version: str | Version, ci_job: CIJob
    ) -> ModelVersion:
        """Record the CI job that made the version (replaces an earlier link)."""
        self._authorize(Action.UPDATE)
        if not isinstance(ci_job, CIJob):
            raise InvalidInput(f"ci_job must be a CIJob, not {type(ci_job).__name__}")
        return self._update_version(
            parse_name(model), parse_version(version), lambda v: attrs.evolve(v, ci_job=ci_job)
        )


def _checked_metrics(points: list[Metric]) -> list[Metric]:
    """Every point checked; a point already right is kept as it is (batches are large)."""
    keys: set[str] = set()  # a batch repeats a few keys many times
    checked = []
    for point in points:
        if not isinstance(point, Metric):
            raise InvalidInput(f"metrics must be Metric values, not {type(point).__name__}")
        key = point.key
        if type(key) is not str or key not in keys:
            keys.add(check_key("metric", key))
        when = point.timestamp
        if not isinstance(when, dt.datetime) or when.tzinfo is None:
            raise InvalidInput(f"metric {key!r} timestamp must be a timezone-aware datetime")
        value = check_metric_value(key, point.value)
        step = check_step(key, point.step)
        same = value is point.value and step is point.step
        checked.append(point if same else Metric(key, value, step, when))
    return checked


def _memo(seen: dict[K, V], key: K, make: Callable[[K], V]) -> V:
    found = seen.get(key)
    if found is None:
        found = seen[key] = make(key)
    return found
