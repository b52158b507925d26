"""``fsck``: find and repair what a crash or an interrupted delete left behind.

Every multi-step change in the Registry writes its intent first (``deleting``,
``renaming_to``) or orders its steps so that a crash leaves only invisible leftovers:
half-deleted models, versions, experiments and runs, half-renamed models, holds of
uploads and promotions that died, blobs that no manifest lists,
metric documents of vanished versions, the backend's temporary files, and gaps in an
object store's ordered index (documents listings miss, markers of vanished documents). `fsck` lists
them and, with ``repair=True``, removes them. A manifest entry whose blob is missing
cannot be repaired (the bytes are gone); it is reported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import attrs

from registry_core._artifacts import lapsed_uploads
from registry_core._base import model_key, version_key
from registry_core._rename import RENAMING_FROM, RENAMING_TO, RenameMixin
from registry_core._runs import RunsMixin
from registry_core.convert import from_document
from registry_core.entities import ModelVersion
from registry_core.errors import NotFound, RegistryError
from registry_core.names import ModelName
from registry_core.permissions import Action
from registry_core.versions import Version

__all__ = ["FsckReport"]

#: Temporary files younger than this may belong to an upload still running.
TEMP_GRACE_SECONDS = 3600.0


@attrs.frozen
class FsckReport:
    """What fsck found: ``problems`` still there, and what it ``repaired``."""

    problems: tuple[str, ...] = ()
    repaired: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


class MaintenanceMixin(RenameMixin, RunsMixin):
    """Consistency checks over the whole registry."""

    def fsck(self, *, repair: bool = False) -> FsckReport:
        """Check every model, version and blob; with ``repair``, finish and clean up."""
        self._authorize(Action.DELETE if repair else Action.READ)
        problems: list[str] = []
        repaired: list[str] = []

        def found(message: str, fix: Any = None) -> None:
            if repair and fix is not None:
                fix()
                repaired.append(message)
            else:
                problems.append(message)

        # The ordered index first: a document a crash left out of it is not listed, and
        # its blobs would look orphaned below (repair would delete them).
        self._check_index(found)
        # Then blobs: an upload holds its path before its blob appears and lets go only
        # once the manifest names it, so a blob seen now is in a manifest or held by an
        # upload read below, or really orphaned.
        now = self._now()
        blobs = sorted(self._repo.list_blobs(""))
        listed: set[str] = set()
        for _, model in list(self._all_docs(("models",))):
            name = ModelName.parse(str(model["name"]))
            versions = list(self._all_docs(("versions", name.key)))
            for _, version in versions:  # its blobs are listed, not orphans, even if deleting
                package = f"{version['model']}/{version['version']}"
                listed.update(f"{package}/{a['path']}" for a in version.get("artifacts", []))
                entity = from_document(version, ModelVersion)
                listed.update(f"{package}/{u.path}" for u in entity.uploads if u.expires > now)
                for token, named in lapsed_uploads(entity, now):
                    found(
                        f"an upload of {named} died and left its hold",
                        lambda v=version, t=token: self._drop_hold(v, t),
                    )
            if self._check_rename(name, model, found):
                continue
            if model.get("deleting"):
                found(
                    f"model '{name}' was half-deleted", lambda n=name: self._finish_model_delete(n)
                )
                continue
            for _, version in versions:
                package = f"{version['model']}/{version['version']}"
                if version.get("deleting"):
                    found(
                        f"version '{package}' was half-deleted",
                        lambda v=version: self._finish_version_delete(v),
                    )
                    continue
                if self._left_by_promotion(version):
                    found(
                        f"draft '{package}' was left by a promotion of run "
                        f"'{version['source_run']}' that died before it recorded it",
                        lambda v=version: self._drop_left_draft(v),
                    )
                    continue
                for artifact in version.get("artifacts", []):
                    blob = f"{package}/{artifact['path']}"
                    if not self._blob_exists(blob):
                        found(f"artifact '{blob}' is in the manifest but its bytes are missing")
        self._check_runs(found, listed, now)
        for blob in blobs:
            if blob not in listed and not self._named_by_unlisted_version(blob):
                found(f"blob '{blob}' is in no manifest", lambda b=blob: self._repo.delete_blobs(b))
        self._check_temp_files(found)
        return FsckReport(tuple(problems), tuple(repaired))

    def _named_by_unlisted_version(self, blob: str) -> bool:
        """Whether a version document that no listing shows (a crash left it out of the
        ordered index, which fsck reports) names ``blob`` in its manifest. A blob path is
        ``<model>/<version>/<path>`` and a model name may hold ``/``: each split is tried."""
        parts = blob.split("/")
        for cut in range(1, len(parts) - 1):
            try:
                name = ModelName.parse("/".join(parts[:cut]))
                version = Version.parse(parts[cut])
            except RegistryError:
                continue
            doc = self._repo.get(version_key(name, version))
            path = "/".join(parts[cut + 1 :])
            if doc is not None and any(a["path"] == path for a in doc.data.get("artifacts", ())):
                return True
        return False

    def _drop_hold(self, version: Mapping[str, Any], token: str) -> None:
        name, ver = ModelName.parse(str(version["model"])), Version.parse(str(version["version"]))

        def drop(current: ModelVersion) -> ModelVersion:
            kept = tuple(u for u in current.uploads if u.token != token)
            return attrs.evolve(current, uploads=kept)

        with contextlib.suppress(NotFound):
            self._update_version(name, ver, drop)

    def _check_rename(self, name: ModelName, model: Mapping[str, Any], found: Any) -> bool:
        """Report (and finish) a rename interrupted half-way; True if ``name`` is in one."""
        if model.get(RENAMING_TO):
            target = ModelName.parse(str(model[RENAMING_TO]))
            found(
                f"model '{name}' was half-renamed to '{target}'",
                lambda: self._finish_rename(name, target),
            )
            return True
        if not model.get(RENAMING_FROM):
            return False
        current = self._repo.get(model_key(name))  # a repair above may have finished it
        if current is None or not current.data.get(RENAMING_FROM):
            return True
        source = ModelName.parse(str(model[RENAMING_FROM]))
        held = self._repo.get(model_key(source))
        if held is None or held.data.get(RENAMING_TO) != name.value:
            found(f"model '{name}' holds its name for a rename from '{source}' that never ran")
        return True  # otherwise reported, and repaired, under the source's name

    def _check_index(self, found: Any) -> None:
        """A backend's ordered index (``index_problems`` / ``repair_index``, optional)."""
        check = getattr(self._repo, "index_problems", None)
        repair = getattr(self._repo, "repair_index", None)
        if check is None:
            return
        unindexed, stale = check()
        for name in unindexed:
            found(
                f"document '{name}' is missing from the ordered index (listings skip it)",
                None if repair is None else (lambda n=name: repair([n], [])),
            )
        for marker in stale:
            found(
                f"index marker '{marker}' names no document",
                None if repair is None else (lambda m=marker: repair([], [m])),
            )

    def _check_temp_files(self, found: Any) -> None:
        temp_files = getattr(self._repo, "temp_files", None)
        remove = getattr(self._repo, "remove_temp_files", None)
        if temp_files is None:
            return
        stale = list(temp_files(TEMP_GRACE_SECONDS))
        if stale:
            found(
                f"{len(stale)} temporary file(s) older than an hour left by interrupted writes",
                None if remove is None else (lambda: remove(TEMP_GRACE_SECONDS)),
            )
