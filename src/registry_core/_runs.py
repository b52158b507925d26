"""The Registry's experiments and runs: what a training job logs before a version exists.

Storage, through the same `Repository` as models:

* ``("experiments", <id>)`` an experiment; ids are decimal strings, ``"0"`` is the
  experiment named ``Default`` that exists from the first time anyone asks for it.
* ``("experiment_names", <sha256 of the case-folded name>)`` ``{"id": ...}``: the unique
  name, claimed with ``put_if_absent`` before the experiment is written. A claim whose
  experiment is gone or is named otherwise (a crash, a rename) is taken over.
* ``("runs", <experiment id>, <run id>)`` a run; the run id is ``<experiment id>-<24 hex>``
  so a run is found by its id alone, and an experiment's runs are one listing.
* ``("run_metrics", <experiment id>, <run id>, <batch id>)`` metric batches, in the form
  versions use, so a promotion copies them as they are.
* Blobs at ``.modelreg/runs/<experiment id>/<run id>/<path>`` (`Run.package`).

Deletes write their intent (``"deleting": true``) first and finish after a crash, as for
models. Uploads into a run hold their path exactly as uploads into a draft do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import attrs

from registry_core._artifacts import ArtifactsMixin, Holder, title
from registry_core._base import (
    CAS_ATTEMPTS,
    atomic,
    backoff,
    decode_token,
    encode_token,
    readable,
)
from registry_core._metadata import MetadataMixin, checked_params, checked_tags
from registry_core.ci import CIJob
from registry_core.convert import from_document, to_document
from registry_core.entities import (
    Artifact,
    Experiment,
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
    RegistryError,
)
from registry_core.limits import check_description
from registry_core.names import ModelName
from registry_core.paths import ArtifactPath
from registry_core.permissions import Action
from registry_core.protocol import Document, Key
from registry_core.transfer import Progress
from registry_core.versions import Version

__all__ = ["DEFAULT_EXPERIMENT", "RunsMixin", "run_key"]

DEFAULT_EXPERIMENT = "0"
"""The id of the experiment `Default`, which always exists."""
_DEFAULT_NAME = "Default"
MAX_EXPERIMENT_NAME = 500
_RUN_ID = re.compile(r"([0-9]{1,20})-[0-9a-f]{24}")
_EXPERIMENT_ID = re.compile(r"[0-9]{1,20}")
#: An experiment still marked ``creating`` after this was left by a writer that died.
_CREATE_GRACE = dt.timedelta(minutes=10)


def experiment_key(experiment_id: str) -> Key:
    return ("experiments", experiment_id)


def _name_key(name: str) -> Key:
    folded = unicodedata.normalize("NFC", name).casefold()
    return ("experiment_names", hashlib.sha256(folded.encode("utf-8")).hexdigest())


def run_key(run_id: str) -> Key:
    return ("runs", _experiment_of(run_id), run_id)


def _experiment_of(run_id: object) -> str:
    """The experiment id inside a run id; `NotFound` for text that is no run id."""
    found = _RUN_ID.fullmatch(run_id) if isinstance(run_id, str) else None
    if found is None:
        raise NotFound(f"run {str(run_id)[:80]!r} does not exist")
    return found.group(1)


def _check_experiment_id(experiment_id: object) -> str:
    if not isinstance(experiment_id, str) or not _EXPERIMENT_ID.fullmatch(experiment_id):
        raise NotFound(f"experiment {str(experiment_id)[:80]!r} does not exist")
    return experiment_id


def check_experiment_name(name: object) -> str:
    """1-500 characters, no control characters, no space at either end."""
    if not isinstance(name, str):
        raise InvalidInput(f"experiment name must be a string, not {type(name).__name__}")
    if (
        not name
        or len(name) > MAX_EXPERIMENT_NAME
        or name != name.strip()
        or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name)
    ):
        raise InvalidInput(
            f"experiment name {name[:80]!r} is invalid: 1-{MAX_EXPERIMENT_NAME} characters, "
            "no control characters, no leading or trailing spaces"
        )
    return name


def _require_open(run: Any, doing: str) -> None:
    """A promoted run's files and parameters belong to its version now."""
    if run.promoted_to is not None:
        raise IllegalTransition(
            f"run '{run.id}' became version {run.promoted_to}; cannot {doing}: its files and "
            "parameters are sealed with that version"
        )
    if run.promoting is not None:
        raise Conflict(f"run '{run.id}' is being promoted; cannot {doing}")


class RunsMixin(MetadataMixin, ArtifactsMixin):
    """Experiments group runs; runs log params, metrics, tags and files, and may be
    promoted to a model version (`registry_core._promote`)."""

    # -- experiments ----------------------------------------------------------------------

    def _experiment_doc(self, experiment_id: str) -> tuple[Experiment, Document]:
        eid = _check_experiment_id(experiment_id)
        doc = self._repo.get(experiment_key(eid))
        if doc is None and eid == DEFAULT_EXPERIMENT:
            self._ensure_default()
            doc = self._repo.get(experiment_key(eid))
        if doc is None or doc.data.get("deleting") or doc.data.get("creating"):
            raise NotFound(f"experiment '{eid}' does not exist")
        return from_document(doc.data, Experiment), doc

    def _ensure_default(self) -> None:
        """Create the experiment ``Default`` (id ``0``) unless it exists."""
        now = self._now()
        default = Experiment(
            id=DEFAULT_EXPERIMENT, name=_DEFAULT_NAME, created_at=now, updated_at=now
        )
        with contextlib.suppress(AlreadyExists):
            self._repo.put_if_absent(_name_key(_DEFAULT_NAME), {"id": DEFAULT_EXPERIMENT})
        with contextlib.suppress(AlreadyExists):
            self._repo.put_if_absent(experiment_key(DEFAULT_EXPERIMENT), to_document(default))

    def _claim_name(self, name: str, experiment_id: str) -> None:
        """Take the unique ``name`` for ``experiment_id``; `AlreadyExists` if another
        live experiment has it. A claim left by a crash or a rename is taken over."""
        key = _name_key(name)
        for attempt in range(CAS_ATTEMPTS):
            try:
                self._repo.put_if_absent(key, {"id": experiment_id})
                return
            except AlreadyExists:
                claim = self._repo.get(key)
                if claim is None:
                    continue
            holder = str(claim.data.get("id"))
            if holder == experiment_id:
                return
            owner = self._repo.get(experiment_key(holder))
            if owner is not None and self._holds_name(owner.data, name):
                raise AlreadyExists(
                    f"experiment '{owner.data.get('name')}' already exists (names are unique "
                    "regardless of case)"
                )
            try:
                self._repo.compare_and_swap(key, {"id": experiment_id}, claim.etag)
                return
            except (Conflict, NotFound):
                backoff(attempt)
        raise Conflict(f"the name of experiment {name!r} kept changing; try again")

    def _holds_name(self, data: Mapping[str, Any], name: str) -> bool:
        """Whether the experiment document ``data`` still stands behind its claim on
        ``name``: not being deleted, named so, and created (or still being created by a
        writer that has not died: an experiment is written before its name is claimed)."""
        if data.get("deleting") or not _same_name(str(data.get("name")), name):
            return False
        if not data.get("creating"):
            return True
        started = from_document(data, Experiment).created_at
        return self._now() - started < _CREATE_GRACE

    def _release_name(self, name: str, experiment_id: str) -> None:
        key = _name_key(name)
        claim = self._repo.get(key)
        if claim is not None and claim.data.get("id") == experiment_id:
            with contextlib.suppress(Conflict, NotFound):  # taken over: no longer ours
                self._repo.delete(key, etag=claim.etag)

    def create_experiment(self, name: str, *, tags: Mapping[str, str] | None = None) -> Experiment:
        """Create an experiment; names are unique compared case-insensitively."""
        self._authorize(Action.CREATE)
        check_experiment_name(name)
        tag_map = checked_tags(tags or {})
        if _same_name(name, _DEFAULT_NAME):
            self._ensure_default()
        for _attempt in range(16):
            now = self._now()
            eid = f"{int(now.timestamp() * 1000)}{secrets.randbelow(1000):03d}"
            entity = Experiment(
                id=eid,
                name=name,
                tags=tag_map,
                created_at=now,
                updated_at=now,
                created_by=self._user(),
                updated_by=self._user(),
            )
            # written first, invisible until the name is ours: a claim always has its
            # experiment behind it, so a claim without one was left by a crash
            try:
                etag = self._repo.put_if_absent(
                    experiment_key(eid), to_document(entity, creating=True)
                )
            except AlreadyExists:
                continue  # the same millisecond and draw: draw again
            try:
                self._claim_name(name, eid)
            except BaseException:
                with contextlib.suppress(RegistryError):
                    self._repo.delete(experiment_key(eid))
                raise
            self._repo.compare_and_swap(experiment_key(eid), to_document(entity), etag)
            return entity
        raise Conflict(f"could not find a free id for experiment {name!r}; try again")

    def get_experiment(self, experiment_id: str) -> Experiment:
        self._authorize(Action.READ)
        return self._experiment_doc(experiment_id)[0]

    def get_experiment_by_name(self, name: str) -> Experiment:
        """The experiment called ``name`` (compared case-insensitively)."""
        self._authorize(Action.READ)
        check_experiment_name(name)
        if _same_name(name, _DEFAULT_NAME):
            self._ensure_default()
        claim = self._repo.get(_name_key(name))
        if claim is not None:
            try:
                found = self._experiment_doc(str(claim.data.get("id")))[0]
            except NotFound:
                pass
            else:
                if _same_name(found.name, name):
                    return found
        raise NotFound(f"experiment {name!r} does not exist")

    def list_experiments(
        self, *, page_size: int = 100, page_token: str | None = None
    ) -> Page[Experiment]:
        """One page of experiments, oldest first (``Default`` first of all)."""
        self._authorize(Action.READ)
        from registry_core._versions import _check_page_size

        _check_page_size(page_size)
        self._ensure_default()
        after = decode_token(page_token, "experiments")
        items: list[Experiment] = []
        while True:
            page = self._repo.list_page(("experiments",), after=after, limit=page_size + 1)
            for segment, doc in readable(page):
                after = segment
                if doc.data.get("deleting") or doc.data.get("creating"):
                    continue
                if len(items) == page_size:
                    return Page(tuple(items), encode_token(items[-1].id, "experiments"))
                items.append(from_document(doc.data, Experiment))
            if len(page) < page_size + 1:
                return Page(tuple(items), None)

    @atomic
    def rename_experiment(self, experiment_id: str, new_name: str) -> Experiment:
        """Give an experiment a new unique name."""
        self._authorize(Action.UPDATE)
        check_experiment_name(new_name)
        current = self._experiment_doc(experiment_id)[0]
        if current.id == DEFAULT_EXPERIMENT:
            raise IllegalTransition("the experiment 'Default' keeps its name")
        self._claim_name(new_name, current.id)
        renamed = self._update_experiment(current.id, lambda e: attrs.evolve(e, name=new_name))
        if not _same_name(current.name, new_name):
            self._release_name(current.name, current.id)
        return renamed

    @atomic
    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> Experiment:
        self._authorize(Action.UPDATE)
        new = checked_tags({key: value})
        return self._update_experiment(
            experiment_id, lambda e: attrs.evolve(e, tags={**e.tags, **new})
        )

    @atomic
    def delete_experiment_tag(self, experiment_id: str, key: str) -> Experiment:
        self._authorize(Action.UPDATE)

        def drop(e: Experiment) -> Experiment:
            if key not in e.tags:
                raise NotFound(f"tag {key!r} is not set on experiment '{e.id}'")
            return attrs.evolve(e, tags={k: v for k, v in e.tags.items() if k != key})

        return self._update_experiment(experiment_id, drop)

    def _update_experiment(
        self, experiment_id: str, change: Callable[[Experiment], Experiment]
    ) -> Experiment:
        eid = _check_experiment_id(experiment_id)
        return self._update(experiment_key(eid), lambda: self._experiment_doc(eid), change)

    def delete_experiment(self, experiment_id: str, *, force: bool = False) -> None:
        """Delete an experiment with all its runs, their metrics and files.

        Refused while one of its runs became a version (the run is that version's record),
        unless ``force``; the versions keep their files either way. ``Default`` stays.
        """
        self._authorize(Action.DELETE)
        entity = self._experiment_doc(experiment_id)[0]
        if entity.id == DEFAULT_EXPERIMENT:
            raise IllegalTransition("the experiment 'Default' cannot be deleted")
        if not force:
            promoted = [
                f"{data['id']} ({data['promoted_to']})"
                for _, data in self._all_docs(("runs", entity.id))
                if data.get("promoted_to")
            ]
            if promoted:
                raise IllegalTransition(
                    f"experiment '{entity.name}' has runs that became versions: "
                    f"{', '.join(promoted[:5])}{' ...' if len(promoted) > 5 else ''}; "
                    "pass force=True to delete it with them (the versions stay)"
                )
        with self._atomic():
            data = self._mark_deleting(experiment_key(entity.id))
        if data is not None:
            self._finish_experiment_delete(data)

    def _finish_experiment_delete(self, data: Mapping[str, Any]) -> None:
        eid = str(data["id"])
        self._repo.delete_blobs(f".modelreg/runs/{eid}")
        with self._atomic():
            self._repo.delete_tree(("run_metrics", eid))
            self._repo.delete_tree(("runs", eid))
        self._release_name(str(data["name"]), eid)
        self._repo.delete(experiment_key(eid))

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
        run = self._run_doc(run_id)[0]
        if checked:
            batch = self._write_metrics(("run_metrics", run.experiment_id, run.id), checked)
            alive = self._repo.get(run_key(run.id))
            if alive is None or alive.data.get("deleting"):
                self._repo.delete(batch)
                raise NotFound(f"run '{run.id}' was deleted while its metrics were logged")
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
                for lapsed in (u for u in run.uploads if u.expires <= now):
                    found(
                        f"an upload of '{run.package}/{lapsed.path}' died and left its hold",
                        lambda r=run.id, u=lapsed: self._update_run(
                            r,
                            lambda c: attrs.evolve(
                                c, uploads=tuple(x for x in c.uploads if x.token != u.token)
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


def _same_name(a: str, b: str) -> bool:
    return unicodedata.normalize("NFC", a).casefold() == unicodedata.normalize("NFC", b).casefold()


def _check_run_name(name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > 250 or name != name.strip():
        raise InvalidInput(
            f"run name {str(name)[:80]!r} is invalid: 1-250 characters, no leading or "
            "trailing spaces"
        )
    if any(ord(c) < 32 for c in name):
        raise InvalidInput(f"run name {name[:80]!r} has a control character")
    return name
