"""``import_mlflow(source_uri, registry)``: an MLflow model registry brought into modelreg.

The source is read with the stock ``mlflow`` client (the ``mlflow`` extra): a tracking
server (``http://...``) or a store URI (``sqlite:///mlflow.db``). The destination is
written through the public `Registry` calls, so every rule holds and every backend works.
What arrives, per registered model: its description and tags; each version with its
description and tags, its source run's params and full metric histories, and its files
(the version's artifacts, subfolders kept); then the aliases.

Rules:

* **Version numbers.** MLflow's version ``N`` becomes ``N.0.0`` (a server that numbers
  its versions in SemVer already, as GitLab's and ``modelreg serve`` do, keeps them),
  unless one of the version's tags ``modelreg.version``, ``gitlab.version`` or ``semver``
  names a SemVer (several may be set if they agree); that one wins. A tag that is not
  strict SemVer, or tags that disagree, refuse that version: it is reported and skipped,
  never imported under a number it did not ask for. Fix the tag in MLflow and import again.
* **Provenance.** Each version gets the tags ``mlflow.version`` (``N``), ``mlflow.run_id``
  (if it has a run) and ``mlflow.stage`` (if its stage is not ``None``), besides its
  MLflow tags as they are.
* **States.** ``READY`` is published (ready, sealed); ``READY`` in the stage ``Archived``
  is published, then deprecated; ``FAILED_REGISTRATION`` is imported as ``failed`` with
  its metadata and no files; ``PENDING_REGISTRATION`` is skipped (import again once MLflow
  has it ready).
* **Idempotent, never overwriting.** A version whose ``mlflow.version`` tag is already
  in the model is not imported again: it is "unchanged" if its description, state,
  params and the imported tags still match MLflow, else a conflict, left as it is. Files
  and metrics of an imported version are not compared. A SemVer already taken by another
  version is a conflict too. An existing model is used as it is; a description or tags
  that differ from MLflow's are reported as a conflict and its versions still imported.
  An alias is set when the model has none of that name; one pointing elsewhere is a
  conflict. An alias on a version that is not ready (or not imported) is skipped.
* **Killed halfway?** Import again. Until a version is done it carries the tag
  ``modelreg.importing=mlflow``; the next import deletes such a draft and writes it
  again, or finishes a sealed one (its state, then the tag off). Do not run two imports
  into one registry at once: the second would take the first one's versions over.
* **Skipped, not fatal.** A model whose name modelreg refuses (or that clashes by case
  with another), an MLflow prompt, or a version that modelreg refuses (a tag too long, a
  file name it cannot store) or whose files cannot be downloaded is reported and
  skipped; a version that failed half-way is deleted again.

Files are downloaded one version at a time into a temporary folder and streamed from
there; nothing is held in memory.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from registry_backends._mlflow_source import MlflowSource, mlflow_error, numbered
from registry_backends._open import open_registry
from registry_backends.package import IMPORTING
from registry_core import (
    InvalidInput,
    InvalidVersion,
    Metric,
    Model,
    ModelName,
    ModelVersion,
    NotFound,
    Registry,
    RegistryError,
    Version,
    VersionState,
)
from registry_core.version_tags import VERSION_TAGS, tagged_version

__all__ = [
    "MLFLOW_RUN_TAG",
    "MLFLOW_STAGE_TAG",
    "MLFLOW_VERSION_TAG",
    "SEMVER_TAGS",
    "ImportProgress",
    "ImportReport",
    "VersionMapping",
    "import_mlflow",
    "semver_for",
    "state_for",
]

MLFLOW_VERSION_TAG = "mlflow.version"
MLFLOW_RUN_TAG = "mlflow.run_id"
MLFLOW_STAGE_TAG = "mlflow.stage"
#: The value of `IMPORTING` on a version an import from MLflow is still writing: the
#: next import deletes such a draft and writes it again, or finishes a sealed one.
_MARK = "mlflow"

#: The version tags whose SemVer replaces ``N.0.0``: the server's, and ``semver``.
SEMVER_TAGS = (*VERSION_TAGS, "semver")
_PROMPT_TAG = "mlflow.prompt.is_prompt"
_METRIC_BATCH = 5000


@attrs.frozen
class ImportProgress:
    """How far an import is: MLflow versions handled of those found, and bytes uploaded."""

    versions_done: int
    versions_total: int
    bytes_done: int


@attrs.frozen
class VersionMapping:
    """One MLflow version and what became of it: ``outcome`` is ``imported`` (``would
    import`` in a dry run), ``unchanged``, ``conflict`` or ``skipped``; ``version`` is
    its SemVer (None when none could be given), ``note`` says why or what."""

    model: str
    mlflow_version: str
    version: str | None
    state: str | None
    outcome: str
    note: str = ""


@attrs.frozen
class ImportReport:
    """What an import did (or, with ``dry_run``, would do): one line per model, version
    and alias in each list, and the version mapping."""

    imported: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    mapping: tuple[VersionMapping, ...] = ()
    files: int = 0
    bytes: int = 0
    dry_run: bool = False

    @property
    def changed_nothing(self) -> bool:
        """Whether the registry was (or would be) left as it was."""
        return not self.imported

    def __str__(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        lines = [
            f"{verb} {len(self.imported)}, unchanged {len(self.unchanged)}, skipped "
            f"{len(self.skipped)}, conflicts {len(self.conflicts)}; {self.files} files, "
            f"{self.bytes} bytes"
        ]
        if self.changed_nothing and not self.conflicts:
            lines.append("nothing to import: the registry already holds everything")
        for title, items in (
            (verb, self.imported),
            ("skipped", self.skipped),
            ("conflict (not overwritten)", self.conflicts),
        ):
            lines.extend(f"  {title}: {item}" for item in items)
        return "\n".join(lines)


def semver_for(number: str | int, tags: Mapping[str, str]) -> Version:
    """The SemVer of MLflow version ``number``: a version tag's (`SEMVER_TAGS`), else
    ``N.0.0`` (a number that is a SemVer already, as GitLab's and modelreg's servers
    give, is kept). `InvalidVersion` when a tag holds no strict SemVer; `InvalidInput`
    when tags disagree."""
    given = tagged_version(tags, SEMVER_TAGS)
    if given is None:
        return numbered(number)
    try:
        return Version.parse(given)
    except InvalidVersion as error:
        keys = ", ".join(k for k in SEMVER_TAGS if k in tags)
        raise InvalidVersion(f"tag {keys} = {given!r} is not a SemVer version: {error}") from None


def state_for(status: str, stage: str | None) -> VersionState | None:
    """The state an MLflow version is imported in; None when it is not imported yet."""
    if status == "PENDING_REGISTRATION":
        return None
    if status == "FAILED_REGISTRATION":
        return VersionState.FAILED
    return VersionState.DEPRECATED if stage == "Archived" else VersionState.READY


def import_mlflow(
    source_uri: str,
    registry: Registry | str,
    *,
    dry_run: bool = False,
    progress: Callable[[ImportProgress], None] | None = None,
) -> ImportReport:
    """Import every registered model of the MLflow registry at ``source_uri`` into
    ``registry`` (a `Registry` or a registry URL), following the module's rules.

    ``dry_run`` reads both sides and writes nothing. Safe to run again: only what is new
    in MLflow is imported.
    """
    source = MlflowSource(source_uri)
    reg = open_registry(registry) if isinstance(registry, str) else registry
    job = _Import(source, reg, dry_run, progress)
    models = source.models()
    job.total = sum(len(versions) for _, versions in models)
    for model, versions in models:
        job.model(model, versions)
    return ImportReport(
        tuple(job.imported),
        tuple(job.unchanged),
        tuple(job.skipped),
        tuple(job.conflicts),
        tuple(job.mapping),
        job.files,
        job.bytes,
        dry_run,
    )


@attrs.frozen
class _Plan:
    """One MLflow version as it would be in modelreg."""

    model: ModelName
    number: str
    version: Version
    state: VersionState
    description: str
    tags: Mapping[str, str]
    params: Mapping[str, str]
    run_id: str | None
    metric_keys: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.model}: MLflow version {self.number} -> {self.version}"

    @property
    def summary(self) -> str:
        return f"{self.state.value}, {len(self.params)} params, {len(self.metric_keys)} metrics"

    def differences(self, there: ModelVersion) -> list[str]:
        """What of ``there`` (the version imported before) no longer matches MLflow."""
        found = [f"imported as {there.version}"] if there.version != self.version else []
        if there.description != self.description:
            found.append("description")
        if any(there.tags.get(k) != v for k, v in self.tags.items()):
            found.append("tags")
        if dict(there.params) != dict(self.params):
            found.append("params")
        if there.state is not self.state:
            found.append(f"state ({there.state.value} here, {self.state.value} in MLflow)")
        return found


@attrs.define
class _Import:
    """One import: both sides, and the tally the report is made of."""

    source: MlflowSource
    registry: Registry
    dry_run: bool
    progress: Callable[[ImportProgress], None] | None
    imported: list[str] = attrs.Factory(list)
    unchanged: list[str] = attrs.Factory(list)
    skipped: list[str] = attrs.Factory(list)
    conflicts: list[str] = attrs.Factory(list)
    mapping: list[VersionMapping] = attrs.Factory(list)
    files: int = 0
    bytes: int = 0
    done: int = 0
    total: int = 0

    def report(self) -> None:
        if self.progress is not None:
            self.progress(ImportProgress(self.done, self.total, self.bytes))

    def record(self, outcome: str, line: str) -> None:
        """File ``line`` under its outcome."""
        lists = {
            "imported": self.imported,
            "would import": self.imported,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "conflict": self.conflicts,
        }
        lists[outcome].append(line)

    def verdict(self, name: ModelName, number: str, outcome: str, line: str, **mapped: Any) -> None:
        """Record what became of one MLflow version, its line and its mapping."""
        self.record(outcome, line)
        version, state = mapped.get("version"), mapped.get("state")
        self.mapping.append(
            VersionMapping(
                str(name),
                number,
                None if version is None else str(version),
                None if state is None else state.value,
                outcome,
                mapped.get("note", ""),
            )
        )
        self.done += 1
        self.report()

    # -- models ---------------------------------------------------------------------------

    def model(self, source: Any, versions: list[Any]) -> None:
        """Import one registered model: the model, its versions, then its aliases."""
        why = self.unfit(source)
        name = None if why is not None else ModelName.parse(source.name)
        there = None if name is None else self.find_model(name)
        if there is not None and str(there.name) != source.name:
            why = f"the registry has {str(there.name)!r} (names are unique regardless of case)"
        if why is not None or name is None:
            self.record("skipped", f"model {source.name!r}: {why}; {len(versions)} versions")
            self.done += len(versions)
            self.report()
            return
        self.model_head(name, source, there)
        by_number = self.imported_versions(name) if there is not None else {}
        ready: dict[str, Version] = {}
        for found in versions:
            got = self.version(name, found, by_number)
            if got is not None:
                ready[str(found.version)] = got
        self.aliases(name, source, ready)

    def unfit(self, source: Any) -> str | None:
        """Why a registered model cannot be imported, or None."""
        if (source.tags or {}).get(_PROMPT_TAG, "").lower() == "true":
            return "an MLflow prompt, not a model"
        try:
            ModelName.parse(source.name)
        except InvalidInput as error:
            return f"not a valid modelreg name ({error})"
        return None

    def find_model(self, name: ModelName) -> Model | None:
        try:
            return self.registry.get_model(name)
        except NotFound:
            return None

    def model_head(self, name: ModelName, source: Any, there: Model | None) -> None:
        """Create the model, or compare the one there with MLflow's."""
        description, tags = source.description or "", dict(source.tags or {})
        label = f"model {name}"
        if there is None:
            if not self.dry_run:
                self.registry.create_model(name, description, tags=tags)
            self.record("would import" if self.dry_run else "imported", label)
            return
        differ = []
        if there.description != description:
            differ.append("description")
        if any(there.tags.get(k) != v for k, v in tags.items()):
            differ.append("tags")
        if differ:
            self.record("conflict", f"{label}: {' and '.join(differ)} differ from MLflow's")
        else:
            self.record("unchanged", label)

    def imported_versions(self, name: ModelName) -> dict[str, ModelVersion]:
        """The versions of the model that came from MLflow, by MLflow version number."""
        found: dict[str, ModelVersion] = {}
        token = None
        while True:
            page = self.registry.list_versions(name, page_size=1000, page_token=token)
            for entity in page.items:
                number = entity.tags.get(MLFLOW_VERSION_TAG)
                if number is not None:
                    found.setdefault(number, entity)
            token = page.next_page_token
            if token is None:
                return found

    # -- versions -------------------------------------------------------------------------

    def version(
        self, name: ModelName, found: Any, by_number: Mapping[str, ModelVersion]
    ) -> Version | None:
        """Import (or compare) one MLflow version; its SemVer if it is (would be) ready."""
        number = str(found.version)
        head = f"{name}: MLflow version {number}"
        state = state_for(found.status, found.current_stage)
        if state is None:
            note = "still registering in MLflow; import again once it is READY"
            self.verdict(name, number, "skipped", f"{head}: {note}", note=note)
            return None
        try:
            plan = self.plan(name, found, state)
        except InvalidInput as error:
            note = f"{error}; fix the tag in MLflow and import again"
            self.verdict(name, number, "skipped", f"{head}: {note}", note=note)
            return None
        there = by_number.get(number)
        if there is not None and there.tags.get(IMPORTING) == _MARK:  # an import died in it
            if self.dry_run or not there.state.is_sealed:
                if not self.dry_run:
                    self.registry.delete_version(name, there.version, force=True)
                return self.write(plan)
            there = self.finish(plan, there)
        if there is not None:
            differ = plan.differences(there)
            if differ:
                note = f"differs from the version imported before: {', '.join(differ)}"
                self.verdict(
                    name, number, "conflict", f"{head}: {note}", version=there.version, note=note
                )
                return None
            self.verdict(
                name, number, "unchanged", plan.label, version=there.version, state=there.state
            )
            return there.version if there.state is VersionState.READY else None
        taken = self.taken(plan)
        if taken is not None:
            self.verdict(
                name, number, "conflict", f"{plan.label}: {taken}", version=plan.version, note=taken
            )
            return None
        return self.write(plan)

    def plan(self, name: ModelName, found: Any, state: VersionState) -> _Plan:
        """What the version brings: its SemVer, tags and its run's params."""
        tags = dict(found.tags or {})
        version = semver_for(found.version, tags)
        tags[MLFLOW_VERSION_TAG] = str(found.version)
        if found.run_id:
            tags[MLFLOW_RUN_TAG] = found.run_id
        if (found.current_stage or "None") != "None":
            tags[MLFLOW_STAGE_TAG] = found.current_stage
        run = self.source.run(found.run_id)
        params = dict(run.data.params) if run is not None else {}
        metric_keys = tuple(sorted(run.data.metrics)) if run is not None else ()
        return _Plan(
            name,
            str(found.version),
            version,
            state,
            found.description or "",
            tags,
            params,
            found.run_id or None,
            metric_keys,
        )

    def taken(self, plan: _Plan) -> str | None:
        """Why the plan's SemVer cannot be created: another version holds it."""
        try:
            there = self.registry.get_version(plan.model, plan.version)
        except NotFound:
            return None
        came_from = there.tags.get(MLFLOW_VERSION_TAG)
        source = "not from MLflow" if came_from is None else f"from MLflow version {came_from}"
        return f"{there.version} already exists ({source})"

    def write(self, plan: _Plan) -> Version | None:
        """Create the version with its files and metrics, then give it its state."""
        ready = plan.version if plan.state is VersionState.READY else None
        what = plan.summary
        if self.dry_run:
            self.verdict(
                plan.model,
                plan.number,
                "would import",
                f"{plan.label} ({what})",
                version=plan.version,
                state=plan.state,
                note=what,
            )
            return ready
        try:
            with tempfile.TemporaryDirectory(prefix="modelreg-import-") as folder:
                files = None
                if plan.state is not VersionState.FAILED:  # a failed version has no files
                    files = self.source.download(str(plan.model), plan.number, Path(folder))
                metrics = self.source.metrics(plan.run_id, plan.metric_keys)
                count = self.store(plan, files, metrics)
        except (RegistryError, OSError, mlflow_error()) as error:
            note = " ".join(str(error).split())[:500]
            self.verdict(
                plan.model,
                plan.number,
                "skipped",
                f"{plan.label}: {note}",
                version=plan.version,
                note=note,
            )
            return None
        what += f", {count} files"
        self.verdict(
            plan.model,
            plan.number,
            "imported",
            f"{plan.label} ({what})",
            version=plan.version,
            state=plan.state,
            note=what,
        )
        return ready

    def store(self, plan: _Plan, files: Path | None, metrics: list[Metric]) -> int:
        """Write the version; if anything fails after it was created, delete it again."""
        reg, model, version = self.registry, plan.model, plan.version
        reg.create_version(
            model,
            version,
            description=plan.description,
            tags={**plan.tags, IMPORTING: _MARK},
            params=plan.params,
        )
        try:
            count = 0
            if files is not None and files.is_dir():
                count = len(reg.upload_dir(model, version, files, progress=self.uploaded))
            elif files is not None:
                reg.upload(model, version, files, progress=self.uploaded)
                count = 1
            for start in range(0, len(metrics), _METRIC_BATCH):
                reg.log_metrics(model, version, metrics[start : start + _METRIC_BATCH])
            if plan.state is VersionState.FAILED:
                entity = reg.fail(model, version)
            else:
                entity = reg.publish(model, version)
            self.finish(plan, entity)
        except BaseException:
            with contextlib.suppress(RegistryError):
                reg.delete_version(model, version, force=True)
            raise
        self.files += count
        return count

    def finish(self, plan: _Plan, entity: ModelVersion) -> ModelVersion:
        """The last steps, once the version is sealed or failed: deprecated if MLflow
        archived it, then the mark of an import in progress off."""
        reg = self.registry
        if plan.state is VersionState.DEPRECATED and entity.state is VersionState.READY:
            entity = reg.deprecate(entity.model, entity.version)
        if IMPORTING in entity.tags:
            entity = reg.delete_tag(entity.model, entity.version, IMPORTING)
        return entity

    def uploaded(self, n_bytes: int) -> None:
        self.bytes += n_bytes
        self.report()

    # -- aliases --------------------------------------------------------------------------

    def aliases(self, name: ModelName, source: Any, ready: Mapping[str, Version]) -> None:
        """Point each MLflow alias at its version's SemVer, after the versions."""
        wanted = dict(getattr(source, "aliases", None) or {})
        there = self.find_model(name)
        current = dict(there.aliases) if there is not None else {}
        for alias in sorted(wanted):
            number = str(wanted[alias])
            label = f"alias {name}@{alias}"
            target = ready.get(number)
            if target is None:
                self.record(
                    "skipped",
                    f"{label}: MLflow version {number} is not a ready version in the registry",
                )
                continue
            label += f" -> {target}"
            held = current.get(alias)
            if held is not None and held == target:
                self.record("unchanged", label)
            elif held is not None:
                self.record("conflict", f"{label}: the registry's points at {held}")
            else:
                self.set_alias(name, alias, target, label)

    def set_alias(self, name: ModelName, alias: str, target: Version, label: str) -> None:
        if self.dry_run:
            self.record("would import", label)
            return
        try:
            self.registry.set_alias(name, alias, target)
        except RegistryError as error:
            self.record("skipped", f"{label}: {error}")
            return
        self.record("imported", label)
