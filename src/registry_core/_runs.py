"""The Registry's runs: what a training job logs before a version exists.

A run belongs to an experiment (`registry_core._experiments`). Storage, through the same
`Repository` as models:

* ``("runs", <experiment id>, <run id>)`` a run; the run id is ``<experiment id>-<24 hex>``
  so a run is found by its id alone, and an experiment's runs are one listing.
* ``("run_metrics", <experiment id>, <run id>, <batch id>)`` metric batches, in the form
  versions use, so a promotion copies them as they are.
* Blobs at ``.modelreg/runs/<experiment id>/<run id>/<path>`` (`Run.package`).

Deletes write their intent (``"deleting": true``) first and finish after a crash, as for
models. Uploads into a run hold their path exactly as uploads into a draft do.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import attrs

from registry_core._artifacts import ArtifactsMixin, Holder, lapsed_uploads, title
from registry_core._base import (
    atomic,
    decode_token,
    encode_token,
    readable,
)
from registry_core._experiments import DEFAULT_EXPERIMENT, ExperimentsMixin, experiment_key
from registry_core._metadata import MetadataMixin, checked_params, checked_tags
from registry_core.ci import CIJob
from registry_core.convert import from_document, to_document
from registry_core.entities import (
    Artifact,
    Metric,
    ModelVersion,
    Page,
    Run,
    RunStatus,
)
from registry_core.errors import (
    AlreadyExists,
    Conflict,
    IllegalTransition,
    InvalidInput,
    NotFound,
)
from registry_core.limits import check_description
from registry_core.names import ModelName
from registry_core.paths import ArtifactPath
from registry_core.permissions import Action
from registry_core.protocol import Document, Key
from registry_core.transfer import Progress
from registry_core.versions import Version

__all__ = ["RunsMixin", "run_key"]

_RUN_ID = re.compile(r"([0-9]{1,20})-[0-9a-f]{24}")


def run_key(run_id: str) -> Key:
    return ("runs", _experiment_of(run_id), run_id)


def _experiment_of(run_id: object) -> str:
    """The experiment id inside a run id; `NotFound` for text that is no run id."""
    found = _RUN_ID.fullmatch(run_id) if isinstance(run_id, str) else None
    if found is None:
        raise NotFound(f"run {str(run_id)[:80]!r} does not exist")
    return found.group(1)


def _require_open(run: Any, doing: str) -> None:
    """A promoted run's files and parameters belong to its version now."""
    if run.promoted_to is not None:
        raise IllegalTransition(
            f"run '{run.id}' became version {run.promoted_to}; cannot {doing}: its files and "
            "parameters are sealed with that version"
        )
    if run.promoting is not None:
        raise Conflict(f"run '{run.id}' is being promoted; cannot {doing}")


class RunsMixin(ExperimentsMixin, MetadataMixin, ArtifactsMixin):
    """Runs log params, metrics, tags and files in an experiment, and may be promoted to a
    model version (`registry_core._promote`)."""

    # -- runs -----------------------------------------------------------------------------

    def _run_doc(self, run_id: str) -> tuple[Run, Document]:
        key = run_key(run_id)
        doc = self._repo.get(key)
        if doc is None or doc.data.get("deleting"):
            raise NotFound(f"run '{run_id}' does not exist")
        return from_document(doc.data, Run), doc

    def _update_run(self, run_id: str, change: Callable[[Run], Run]) -> Run:
        return self._update(run_key(run_id), lambda: self._run_doc(run_id), change)

    def _run_holder(self, run_id: str) -> Holder:
        return Holder(run_key(run_id), lambda: self._run_doc(run_id), _require_open)

    def create_run(
        self,
        experiment_id: str = DEFAULT_EXPERIMENT,
        *,
        name: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, object] | None = None,
        ci_job: CIJob | None = None,
        started_at: dt.datetime | None = None,
    ) -> Run:
        """Start a run (status running) in an experiment."""
        self._authorize(Action.CREATE)
        check_description(description)
        tag_map, param_map = checked_tags(tags or {}), checked_params(params or {})
        if ci_job is not None and not isinstance(ci_job, CIJob):
            raise InvalidInput(f"ci_job must be a CIJob, not {type(ci_job).__name__}")
        if started_at is not None and (
            not isinstance(started_at, dt.datetime) or started_at.tzinfo is None
        ):
            raise InvalidInput("started_at must be a timezone-aware datetime")
        experiment = self._experiment_doc(experiment_id)[0]
        run_id = f"{experiment.id}-{secrets.token_hex(12)}"
        run_name = run_id[-8:] if name is None else _check_run_name(name)
        now = self._now()
        entity = Run(
            id=run_id,
            experiment_id=experiment.id,
            name=run_name,
            description=description,
            tags=tag_map,
            params=param_map,
            ci_job=ci_job,
            started_at=started_at or now,
            created_at=now,
            updated_at=now,
            created_by=self._user(),
            updated_by=self._user(),
        )
        self._repo.put_if_absent(run_key(run_id), to_document(entity))
        alive = self._repo.get(experiment_key(experiment.id))
        if alive is None or alive.data.get("deleting"):
            self._repo.delete(run_key(run_id))
            raise NotFound(f"experiment '{experiment.id}' was deleted while the run was created")
        return entity

    def get_run(self, run_id: str) -> Run:
        self._authorize(Action.READ)
        return self._run_doc(run_id)[0]

    def list_runs(
        self, experiment_id: str, *, page_size: int = 100, page_token: str | None = None
    ) -> Page[Run]:
        """One page of an experiment's runs, in run-id order."""
        self._authorize(Action.READ)
        from registry_core._versions import _check_page_size

        _check_page_size(page_size)
        eid = self._experiment_doc(experiment_id)[0].id
        after = decode_token(page_token, f"runs:{eid}")
        items: list[Run] = []
        while True:
            page = self._repo.list_page(("runs", eid), after=after, limit=page_size + 1)
            for segment, doc in readable(page):
                after = segment
                if doc.data.get("deleting"):
                    continue
                if len(items) == page_size:
                    return Page(tuple(items), encode_token(items[-1].id, f"runs:{eid}"))
                items.append(from_document(doc.data, Run))
            if len(page) < page_size + 1:
                return Page(tuple(items), None)

    @atomic
    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | str | None = None,
        name: str | None = None,
        description: str | None = None,
        ended_at: dt.datetime | None = None,
    ) -> Run:
        """Change a run's status, name or description. Ending it records when (``ended_at``,
        default now); setting it running again clears that."""
        self._authorize(Action.UPDATE)
        try:
            new_status = None if status is None else RunStatus(status)
        except ValueError:
            known = ", ".join(s.value for s in RunStatus)
            raise InvalidInput(f"run status {status!r} is not one of {known}") from None
        if name is not None:
            _check_run_name(name)
        if description is not None:
            check_description(description)
        if ended_at is not None and (
            not isinstance(ended_at, dt.datetime) or ended_at.tzinfo is None
        ):
            raise InvalidInput("ended_at must be a timezone-aware datetime")

        def change(run: Run) -> Run:
            updated = run
            if new_status is not None and new_status is not run.status:
                end = None if not new_status.is_ended else (ended_at or self._now())
                updated = attrs.evolve(updated, status=new_status, ended_at=end)
            elif new_status is not None and ended_at is not None and new_status.is_ended:
                updated = attrs.evolve(updated, ended_at=ended_at)
            if name is not None:
                updated = attrs.evolve(updated, name=name)
            if description is not None:
                updated = attrs.evolve(updated, description=description)
            return updated

        return self._update_run(run_id, change)

    def log_run_param(self, run_id: str, key: str, value: object) -> None:
        """Record a parameter; written once: a different value is `AlreadyExists`."""
        self.log_run_params(run_id, {key: value})

    @atomic
    def log_run_params(self, run_id: str, params: Mapping[str, object]) -> None:
        """Record several parameters at once (all or none)."""
        self._authorize(Action.UPDATE)
        new = checked_params(params)

        def add(run: Run) -> Run:
            _require_open(run, "log parameters")
            for key, value in new.items():
                old = run.params.get(key)
                if old is not None and old != value:
                    raise AlreadyExists(
                        f"param {key!r} of run '{run.id}' is already {old!r}; parameters are "
                        "written once"
                    )
            return attrs.evolve(run, params={**run.params, **new})

        self._update_run(run_id, add)

    def log_run_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        *,
        step: int = 0,
        timestamp: dt.datetime | None = None,
    ) -> Metric:
        return self.log_run_metrics(run_id, {key: value}, step=step, timestamp=timestamp)[0]

    @atomic
    def log_run_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, float] | Iterable[Metric],
        *,
        step: int = 0,
        timestamp: dt.datetime | None = None,
    ) -> list[Metric]:
        """Add points to the run's metric histories in one write (as `log_metrics`)."""
        self._authorize(Action.UPDATE)
        checked = self._checked_points(metrics, step, timestamp)
        key = run_key(run_id)
        # Only the document's flags are read, held where the store can (a delete then
        # waits for this batch): building the whole run costs more than a small write.
        doc = self._get(key, hold=True)
        if doc is None or doc.data.get("deleting"):
            raise NotFound(f"run '{run_id}' does not exist")
        if checked:
            batch = self._write_metrics(("run_metrics", key[1], run_id), checked)
            if not self._holding():  # else no delete could come between
                alive = self._repo.get(key)
                if alive is None or alive.data.get("deleting"):
                    self._repo.delete(batch)
                    raise NotFound(f"run '{run_id}' was deleted while its metrics were logged")
        return checked

    def get_run_metrics(self, run_id: str, key: str | None = None) -> list[Metric]:
        """Every point the run logged (of ``key``, if given), in the order logged."""
        self._authorize(Action.READ)
        run = self._run_doc(run_id)[0]
        return self._read_metrics(("run_metrics", run.experiment_id, run.id), key)

    @atomic
    def set_run_tag(self, run_id: str, key: str, value: str) -> Run:
        self._authorize(Action.UPDATE)
        new = checked_tags({key: value})
        return self._update_run(run_id, lambda r: attrs.evolve(r, tags={**r.tags, **new}))

    @atomic
    def delete_run_tag(self, run_id: str, key: str) -> Run:
        """Remove a run tag; `NotFound` if it is not set."""
        self._authorize(Action.UPDATE)

        def drop(run: Run) -> Run:
            if key not in run.tags:
                raise NotFound(f"tag {key!r} is not set on run '{run.id}'")
            return attrs.evolve(run, tags={k: v for k, v in run.tags.items() if k != key})

        return self._update_run(run_id, drop)

    @atomic
    def link_run_ci_job(self, run_id: str, ci_job: CIJob) -> Run:
        """Record the CI job the run ran in (replaces an earlier link)."""
        self._authorize(Action.UPDATE)
        if not isinstance(ci_job, CIJob):
            raise InvalidInput(f"ci_job must be a CIJob, not {type(ci_job).__name__}")
        return self._update_run(run_id, lambda r: attrs.evolve(r, ci_job=ci_job))

    def delete_run(self, run_id: str) -> None:
        """Delete a run with its metrics and files; refused for a run that became a version."""
        self._authorize(Action.DELETE)
        run = self._run_doc(run_id)[0]
        if run.promoted_to is not None:
            raise IllegalTransition(
                f"run '{run.id}' became version {run.promoted_to} and is its record; "
                "it cannot be deleted"
            )
        if run.promoting is not None:
            raise Conflict(f"run '{run.id}' is being promoted; it cannot be deleted now")
        with self._atomic():
            data = self._mark_deleting(run_key(run.id))
        if data is not None:
            self._finish_run_delete(data)

    def _finish_run_delete(self, data: Mapping[str, Any]) -> None:
        run = from_document(data, Run)
        self._repo.delete_blobs(run.package)
        with self._atomic():
            self._repo.delete_tree(("run_metrics", run.experiment_id, run.id))
            self._repo.delete(run_key(run.id))

    # -- a run's files --------------------------------------------------------------------

    def upload_run_artifact(
        self,
        run_id: str,
        source: str | os.PathLike[str] | IO[bytes],
        *,
        name: str | None = None,
        subfolder: str | None = None,
        progress: Progress | None = None,
    ) -> Artifact:
        """Upload a local file or binary stream into a run (as `upload` into a draft)."""
        self._authorize(Action.CREATE)
        return self._upload(self._run_holder(run_id), source, name, subfolder, progress)

    def upload_run_dir(
        self,
        run_id: str,
        directory: str | os.PathLike[str],
        *,
        subfolder: str | None = None,
        progress: Progress | None = None,
    ) -> list[Artifact]:
        """Upload every file under ``directory`` into the run, keeping relative paths (as
        `upload_dir`: made NFC, two that become the same path refused before any upload)."""
        self._authorize(Action.CREATE)
        return self._upload_dir(self._run_holder(run_id), directory, subfolder, progress)

    def list_run_artifacts(self, run_id: str, *, prefix: str | None = None) -> tuple[Artifact, ...]:
        """The run's files sorted by path, including those it gave a version when it was
        promoted (read from that version)."""
        self._authorize(Action.READ)
        files = [a for _, a in self._run_files(self._run_doc(run_id)[0])]
        if prefix is None:
            return tuple(files)
        folder = ArtifactPath.parse(prefix)
        return tuple(a for a in files if a.path.is_within(folder))

    def _run_files(self, run: Run) -> list[tuple[str, Artifact]]:
        """(blob, artifact) of each of the run's files by path: its own, and those it gave
        its version when it was promoted (their blobs in the version's package, their paths
        as they were in the run)."""
        files = [(f"{run.package}/{a.path}", a) for a in run.artifacts]
        version = self._promoted_version(run)
        if version is not None:
            base = run.promoted_path
            for artifact in version.artifacts:
                path = ArtifactPath.join(base, artifact.path.value)
                files.append(
                    (f"{version.package}/{artifact.path}", attrs.evolve(artifact, path=path))
                )
        return sorted(files, key=lambda f: f[1].path.key)

    def _promoted_version(self, run: Run) -> ModelVersion | None:
        """The version the run became; None if it did not, or it was deleted since."""
        if run.promoted_to is None:
            return None
        model, _, version = run.promoted_to.rpartition("/")
        try:
            return self._version_doc(ModelName.parse(model), Version.parse(version))[0]
        except NotFound:
            return None

    def open_run_artifact(self, run_id: str, path: str | ArtifactPath) -> IO[bytes]:
        """A verifying stream of one of the run's files (as `open_artifact`)."""
        self._authorize(Action.READ)
        run = self._run_doc(run_id)[0]
        wanted = path if isinstance(path, ArtifactPath) else ArtifactPath.parse(path)
        for blob, artifact in self._run_files(run):
            if artifact.path.key == wanted.key:
                return self._open_blob(blob, artifact)
        raise NotFound(f"artifact '{wanted}' does not exist in {title(run)}")

    def download_run(
        self,
        run_id: str,
        dest: str | os.PathLike[str],
        *,
        paths: Iterable[str] | None = None,
        progress: Progress | None = None,
    ) -> list[Path]:
        """Write the run's files (or those at ``paths``) under ``dest`` by their paths,
        each verified before it appears (as `download`)."""
        self._authorize(Action.READ)
        run = self._run_doc(run_id)[0]
        files = self._run_files(run)
        if paths is not None:
            by_key = {a.path.key: (blob, a) for blob, a in files}
            chosen = []
            for text in paths:
                wanted = ArtifactPath.parse(text)
                if wanted.key not in by_key:
                    raise NotFound(f"artifact '{wanted}' does not exist in {title(run)}")
                chosen.append(by_key[wanted.key])
            files = chosen
        return self._save_blobs(files, Path(dest), progress)

    def append_run_log(self, run_id: str, text: str, *, name: str = "run.log") -> Artifact:
        """Append UTF-8 ``text`` to the run's log file ``logs/<name>``."""
        self._authorize(Action.UPDATE)
        if not isinstance(text, str):
            raise InvalidInput(f"log text must be a string, not {type(text).__name__}")
        return self._append(self._run_holder(run_id), ArtifactPath.join("logs", name), text)

    def delete_run_artifacts(self, run_id: str, paths: Iterable[str]) -> None:
        """Remove files from a run; all named paths must exist, or nothing changes."""
        self._authorize(Action.DELETE)
        self._delete_files(self._run_holder(run_id), paths)

    # -- fsck -----------------------------------------------------------------------------

    def _left_by_promotion(self, version: Mapping[str, Any]) -> bool:
        """Whether a draft was made by a promotion that will never take it: its run is
        gone, promoted elsewhere, or promoting to another version (or not at all)."""
        source = version.get("source_run")
        if not source or version.get("state") != "draft":
            return False
        try:
            run = self._run_doc(str(source))[0]
        except NotFound:
            return True
        promo = run.promoting
        if promo is None:
            return True
        if promo.version is None:  # a live promotion may be about to record it
            return promo.expires <= self._now()
        return str(promo.version) != str(version["version"])

    def _drop_left_draft(self, version: Mapping[str, Any]) -> None:
        from registry_core._base import version_key
        from registry_core.names import ModelName
        from registry_core.versions import Version

        key = version_key(ModelName.parse(str(version["model"])), Version.parse(version["version"]))
        with self._atomic():
            data = self._mark_deleting(key)
        if data is not None:
            self._finish_version_delete(data)

    def _check_runs(self, found: Any, listed: set[str], now: dt.datetime) -> None:
        """fsck's part for experiments and runs: add the blobs runs own to ``listed``;
        report (and finish) half-done deletes, dead uploads' holds, lapsed promotions."""
        for _, experiment in list(self._all_docs(("experiments",))):
            eid = str(experiment["id"])
            runs = list(self._all_docs(("runs", eid)))
            for _, data in runs:
                run = from_document(data, Run)
                listed.update(f"{run.package}/{a.path}" for a in run.artifacts)
                listed.update(f"{run.package}/{u.path}" for u in run.uploads if u.expires > now)
            if experiment.get("creating") and not self._holds_name(
                experiment, str(experiment["name"])
            ):
                found(
                    f"experiment '{experiment['name']}' was half-created",
                    lambda e=experiment: self._finish_experiment_delete(e),
                )
                continue
            if experiment.get("deleting"):
                found(
                    f"experiment '{experiment['name']}' was half-deleted",
                    lambda e=experiment: self._finish_experiment_delete(e),
                )
                continue
            for _, data in runs:
                run = from_document(data, Run)
                if data.get("deleting"):
                    found(
                        f"run '{run.id}' was half-deleted",
                        lambda d=data: self._finish_run_delete(d),
                    )
                    continue
                for token, named in lapsed_uploads(run, now):
                    found(
                        f"an upload of {named} died and left its hold",
                        lambda r=run.id, t=token: self._update_run(
                            r,
                            lambda c: attrs.evolve(
                                c, uploads=tuple(x for x in c.uploads if x.token != t)
                            ),
                        ),
                    )
                promo = run.promoting
                if promo is not None and promo.expires <= now:
                    found(
                        f"the promotion of run '{run.id}' to model '{promo.model}' died "
                        "half-way (promote the run again to finish it)",
                        lambda r=run.id, t=promo.token: self._update_run(
                            r,
                            lambda c: (
                                c
                                if c.promoting is None or c.promoting.token != t
                                else attrs.evolve(c, promoting=None)
                            ),
                        ),
                    )
                for artifact in run.artifacts:
                    blob = f"{run.package}/{artifact.path}"
                    if not self._blob_exists(blob):
                        found(f"artifact '{blob}' is in the manifest but its bytes are missing")


def _check_run_name(name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > 250 or name != name.strip():
        raise InvalidInput(
            f"run name {str(name)[:80]!r} is invalid: 1-250 characters, no leading or "
            "trailing spaces"
        )
    if any(ord(c) < 32 for c in name):
        raise InvalidInput(f"run name {name[:80]!r} has a control character")
    return name
