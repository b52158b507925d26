"""Promoting a run to a model version: GitLab's "promote a candidate", MLflow's
``create_model_version(source="runs:/<id>/<path>")``.

The version takes the run's parameters, metric history, tags (all but MLflow's and
modelreg's own ``mlflow.*`` and ``modelreg.*``), CI job and files (all of them, or those
under one folder, re-rooted), and is published (sealed) before the call returns. The files
move: each is copied to the version's package with the store's own copy where it has one
(`registry_core.protocol`: a hard link on a local folder, a server-side copy on S3 and
GCS), its SHA-256 checked there, and the run's copy removed once the version is sealed.
The run then names its version in ``promoted_to`` and serves those files from it.

Steps, each safe to repeat:

1. claim the run (``Run.promoting``, a hold that lapses after `UPLOAD_LEASE`);
2. create the draft and record its version in the claim; the draft holds every path the
   run's files will take (`Upload`), so no upload can write there meanwhile;
3. copy the metric batches and the files, checking each file's SHA-256;
4. seal the version with the run's manifest; 5. mark the run promoted, drop its copies.

A promotion that fails before step 4 deletes the draft it made and lets go of the run.
One whose process died leaves its claim to lapse: promoting the run again (to the same
model) finishes it, and ``fsck(repair=True)`` drops the claim.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Mapping
from typing import Any

import attrs

from registry_core._artifacts import RENEW_AFTER, UPLOAD_LEASE, _require_draft, manifest_digest
from registry_core._base import describe, parse_name, parse_version, version_key
from registry_core._runs import RunsMixin
from registry_core._versions import VersionsMixin
from registry_core.convert import SCHEMA
from registry_core.entities import Artifact, ModelVersion, Promotion, Run, Upload
from registry_core.errors import (
    AlreadyExists,
    Conflict,
    IntegrityError,
    InvalidVersion,
    NotFound,
    RegistryError,
)
from registry_core.lifecycle import VersionState
from registry_core.names import ModelName
from registry_core.paths import ArtifactPath
from registry_core.permissions import Action
from registry_core.transfer import VerifyingReader, iter_chunks
from registry_core.versions import BumpPart, Version, check_bump

__all__ = ["PromoteMixin"]

_SYSTEM_TAGS = ("mlflow.", "modelreg.")
_MERGED = 10_000  # metric points per batch a promotion writes


def _chosen(run: Run, folder: ArtifactPath | None) -> list[tuple[Artifact, ArtifactPath]]:
    """The run's files the version takes, each with its path in the version."""
    if folder is None:
        return [(a, a.path) for a in run.artifacts]
    depth = len(folder.segments)
    moves = []
    for artifact in run.artifacts:
        if artifact.path.is_within(folder):
            rest = artifact.path.segments[depth:] or (artifact.path.name,)
            moves.append((artifact, ArtifactPath.parse("/".join(rest))))
    return moves


class PromoteMixin(RunsMixin, VersionsMixin):
    """`promote_run`; see the module docstring."""

    def promote_run(
        self,
        run_id: str,
        model: str | ModelName,
        version: str | Version | None = None,
        *,
        bump: BumpPart | None = None,
        prerelease: str | None = None,
        path: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        """Make the run a ready, sealed version of ``model`` (an exact ``version``, or a
        ``bump`` from the highest), with its files under ``path`` (default: all).

        A run is promoted once: again is `AlreadyExists`. See the module docstring.
        """
        self._authorize(Action.CREATE)
        name = parse_name(model)
        folder = None if path is None else ArtifactPath.parse(path)
        if version is not None:
            parse_version(version)
        if (version is None) == (bump is None):
            raise InvalidVersion("give either a version or a bump ('major', 'minor', 'patch')")
        if bump is not None:
            check_bump(bump, prerelease)
        run = self._run_doc(run_id)[0]
        if run.promoted_to is None and folder is not None and not _chosen(run, folder):
            raise NotFound(f"run '{run.id}' has no files under '{folder}'")
        run, promo = self._claim_run(run.id, name, folder)
        made: ModelVersion | None = None
        try:
            entity, made = self._draft_of(run, promo, version, bump, prerelease, description, tags)
            if entity.state is not VersionState.DRAFT:  # sealed by an earlier attempt
                self._finish(run, promo, entity)
                return entity
            moves = _chosen(run, promo.path)
            self._copy_metrics(run, entity)
            artifacts = self._copy_files(run, promo, entity, moves)
            entity = self._seal(run, promo, entity, artifacts)
        except BaseException:
            self._abandon(run, promo, made)
            raise
        self._finish(run, promo, entity)
        return entity

    # -- the steps ------------------------------------------------------------------------

    def _claim_run(
        self, run_id: str, name: ModelName, folder: ArtifactPath | None
    ) -> tuple[Run, Promotion]:
        token = secrets.token_hex(8)

        def claim(run: Run) -> Run:
            if run.promoted_to is not None:
                raise AlreadyExists(
                    f"run '{run.id}' already became version {run.promoted_to}; a run is "
                    "promoted once"
                )
            now = self._now()
            running = sorted(u.path.value for u in run.uploads if u.expires > now)
            if running:
                raise Conflict(
                    f"run '{run.id}' is still uploading {', '.join(running)}; promote it "
                    "when the upload ends"
                )
            old = run.promoting
            expires = now + UPLOAD_LEASE
            if old is None:
                promo = Promotion(model=name, path=folder, token=token, expires=expires)
                return attrs.evolve(run, promoting=promo)
            if old.expires > now:
                raise Conflict(f"run '{run.id}' is being promoted to model '{old.model}'")
            if old.model.key != name.key or old.path != folder:
                raise Conflict(
                    f"run '{run.id}' has an interrupted promotion to model '{old.model}'"
                    f"{'' if old.path is None else f' (files under {old.path})'}; promote it "
                    "the same way to finish it, or run fsck with repair to drop it"
                )
            return attrs.evolve(run, promoting=attrs.evolve(old, token=token, expires=expires))

        run = self._update_run(run_id, claim)
        assert run.promoting is not None
        return run, run.promoting

    def _draft_of(
        self,
        run: Run,
        promo: Promotion,
        version: str | Version | None,
        bump: BumpPart | None,
        prerelease: str | None,
        description: str | None,
        tags: Mapping[str, str] | None,
    ) -> tuple[ModelVersion, ModelVersion | None]:
        """The version being made (created now, or by the interrupted attempt) with the
        run's paths held; and the version if this call created it."""
        made = None
        entity = None
        if promo.version is not None:
            try:
                entity = self._version_doc(promo.model, promo.version)[0]
            except NotFound:
                entity = None
            if entity is not None and entity.source_run not in (None, run.id):
                entity = None  # deleted and made again by someone else: make ours anew
        if entity is None:
            kept = {k: v for k, v in run.tags.items() if not k.startswith(_SYSTEM_TAGS)}
            try:
                entity = made = self.create_version(
                    promo.model,
                    version,
                    bump=bump,
                    prerelease=prerelease,
                    description=run.description if description is None else description,
                    tags={**kept, **(tags or {})},
                    params=run.params,
                    ci_job=run.ci_job,
                    _source_run=run.id,
                )
            except AlreadyExists:
                if version is None:
                    raise
                entity = self._version_doc(promo.model, parse_version(version))[0]
                if entity.source_run != run.id:
                    raise  # another's: not one an interrupted promotion of this run made
            target = entity.version

            def record(current: Run) -> Run:
                held = current.promoting
                if held is None or held.token != promo.token:
                    raise Conflict(f"run '{run.id}' lost its promotion (it stalled too long)")
                return attrs.evolve(current, promoting=attrs.evolve(held, version=target))

            self._update_run(run.id, record)
        if entity.state is not VersionState.DRAFT:
            if entity.source_run != run.id:
                raise AlreadyExists(f"{describe(entity.model, entity.version)} already exists")
            return entity, made
        return self._hold_paths(run, promo, entity), made

    def _hold_paths(self, run: Run, promo: Promotion, entity: ModelVersion) -> ModelVersion:
        paths = [rel for _, rel in _chosen(run, promo.path)]

        def hold(current: ModelVersion) -> ModelVersion:
            _require_draft(current, "take a promoted run's files")
            if current.source_run not in (None, run.id):
                raise Conflict(f"{describe(current.model, current.version)} is another run's")
            now = self._now()
            mine = {p.key for p in paths}
            live = tuple(u for u in current.uploads if u.expires > now and u.token != promo.token)
            for upload in live:
                if any(upload.path.is_within(p) or p.is_within(upload.path) for p in paths):
                    raise Conflict(f"'{upload.path}' is being uploaded by another writer")
            taken = [a.path.value for a in current.artifacts if a.path.key in mine]
            if taken:
                raise Conflict(f"{', '.join(taken)} already exist in the version")
            holds = tuple(Upload(p, promo.token, promo.expires) for p in paths)
            return attrs.evolve(current, source_run=run.id, uploads=(*live, *holds))

        return self._update_version(entity.model, entity.version, hold)

    def _copy_metrics(self, run: Run, entity: ModelVersion) -> None:
        """The run's metric batches, merged in order into batches of up to `_MERGED`
        points (a run that logs one point per call has a batch per point): each is named
        after the last batch it holds, so a retry writes only what is missing."""
        target = ("metrics", entity.model.key, entity.version.precedence_key)
        points: list[Any] = []
        last = ""
        for segment, data in list(self._all_docs(("run_metrics", run.experiment_id, run.id))):
            points.extend(data["points"])
            last = segment
            if len(points) >= _MERGED:
                self._put_batch((*target, last), points)
                points = []
        if points:
            self._put_batch((*target, last), points)

    def _put_batch(self, key: tuple[str, ...], points: list[Any]) -> None:
        with contextlib.suppress(AlreadyExists):
            self._repo.put_if_absent(key, {"schema": SCHEMA, "points": points})

    def _copy_files(
        self,
        run: Run,
        promo: Promotion,
        entity: ModelVersion,
        moves: list[tuple[Artifact, ArtifactPath]],
    ) -> list[Artifact]:
        copy = getattr(self._repo, "copy_blob", None)
        renewed = time.monotonic()
        copied = []
        for artifact, rel in moves:
            source, target = f"{run.package}/{artifact.path}", f"{entity.package}/{rel}"
            try:
                if copy is not None:
                    copy(source, target)
                else:
                    self._stream_copy(source, target)
            except NotFound:
                raise IntegrityError(
                    f"the bytes of '{artifact.path}' in run '{run.id}' are missing; "
                    "the run cannot be promoted"
                ) from None
            self._check_copy(target, artifact)
            copied.append(attrs.evolve(artifact, path=rel))
            if time.monotonic() - renewed > RENEW_AFTER:
                self._renew_promotion(run, promo, entity)
                renewed = time.monotonic()
        return copied

    def _stream_copy(self, source: str, target: str) -> None:
        writer = self._repo.open_blob_writer(target)
        try:
            with self._repo.open_blob(source) as stream:
                for chunk in iter_chunks(stream):
                    writer.write(chunk)
            writer.commit()
        except BaseException:
            writer.abort()
            raise

    def _check_copy(self, name: str, artifact: Artifact) -> None:
        """Read the copy back: its size and SHA-256 must be the run's."""
        raw = self._repo.open_blob(name)
        with VerifyingReader(raw, size=artifact.size, sha256=artifact.sha256, name=name) as check:
            for _ in iter_chunks(check):  # type: ignore[arg-type]
                pass

    def _renew_promotion(self, run: Run, promo: Promotion, entity: ModelVersion) -> None:
        expires = self._now() + UPLOAD_LEASE

        def renew_run(current: Run) -> Run:
            held = current.promoting
            if held is None or held.token != promo.token:
                raise Conflict(f"run '{run.id}' lost its promotion (it stalled too long)")
            return attrs.evolve(current, promoting=attrs.evolve(held, expires=expires))

        def renew_holds(current: ModelVersion) -> ModelVersion:
            return attrs.evolve(
                current,
                uploads=tuple(
                    attrs.evolve(u, expires=expires) if u.token == promo.token else u
                    for u in current.uploads
                ),
            )

        self._update_run(run.id, renew_run)
        self._update_version(entity.model, entity.version, renew_holds)

    def _seal(
        self, run: Run, promo: Promotion, entity: ModelVersion, artifacts: list[Artifact]
    ) -> ModelVersion:
        wanted = {a.path.key for a in artifacts}

        def seal(current: ModelVersion) -> ModelVersion:
            _require_draft(current, "publish")
            if current.source_run != run.id:
                raise Conflict(f"{describe(current.model, current.version)} is another run's")
            mine = {u.path.key for u in current.uploads if u.token == promo.token}
            if mine != wanted:
                raise Conflict(
                    f"the promotion of run '{run.id}' lost its hold on "
                    f"{describe(current.model, current.version)}; promote it again"
                )
            now = self._now()
            others = sorted(
                u.path.value for u in current.uploads if u.token != promo.token and u.expires > now
            )
            if others:
                raise Conflict(f"{', '.join(others)} are still uploading into the version")
            merged = tuple(sorted((*current.artifacts, *artifacts), key=lambda a: a.path.key))
            return attrs.evolve(
                current,
                artifacts=merged,
                uploads=(),
                state=VersionState.READY,
                published_at=now,
                manifest_sha256=manifest_digest(merged),
            )

        with self._atomic():
            return self._update_version(entity.model, entity.version, seal)

    def _finish(self, run: Run, promo: Promotion, entity: ModelVersion) -> None:
        """Record the version on the run, and drop the run's copies of the files it gave."""
        moved = {a.path.key for a, _ in _chosen(run, promo.path)}

        def finish(current: Run) -> Run:
            held = current.promoting
            if held is None or held.token != promo.token:
                raise Conflict(f"run '{run.id}' lost its promotion (it stalled too long)")
            return attrs.evolve(
                current,
                promoted_to=entity.package,
                promoted_path=promo.path,
                promoting=None,
                artifacts=tuple(a for a in current.artifacts if a.path.key not in moved),
            )

        with self._atomic():
            self._update_run(run.id, finish)
        for artifact in run.artifacts:
            if artifact.path.key in moved:
                # a leftover is an orphan fsck removes; the version holds its own copy
                with contextlib.suppress(RegistryError):
                    self._repo.delete_blobs(f"{run.package}/{artifact.path}")

    def _abandon(self, run: Run, promo: Promotion, made: ModelVersion | None) -> None:
        """After a failed promotion: delete the draft this call made, let go of the run.
        Best effort: the claim lapses on its own."""
        if made is not None:
            with contextlib.suppress(RegistryError):
                self._delete_unsealed(made, run.id)

        def let_go(current: Run) -> Run:
            held = current.promoting
            if held is None or held.token != promo.token:
                return current
            return attrs.evolve(current, promoting=None)

        with contextlib.suppress(RegistryError):
            self._update_run(run.id, let_go)

    def _delete_unsealed(self, entity: ModelVersion, run_id: str) -> None:
        current = self._version_doc(entity.model, entity.version)[0]
        if current.state is VersionState.DRAFT and current.source_run in (None, run_id):
            with self._atomic():
                data = self._mark_deleting(version_key(entity.model, entity.version))
            if data is not None:
                self._finish_version_delete(data)
