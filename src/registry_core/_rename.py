"""Renaming a model: its versions, metrics, aliases and artifacts move to the new name.

Artifacts live at ``<model>/<version>/<path>``, so a rename copies every blob (verified
against its manifest entry) and then removes the old ones: its cost grows with the bytes
stored. It is a multi-step change, made safe the same way as a delete:

1. the old model's document gets ``renaming_to`` (the intent). From then on every write
   to the old model or its versions is refused with `Conflict`; readers still see it;
2. the new name is claimed by a hidden copy of the model (``renaming_from``), which
   readers see as absent and `create_model` as taken;
3. each version is frozen (``renaming_to`` in its document), then its metrics, blobs and
   document are copied under the new name;
4. the new model is made visible (from this write on, readers no longer see the old one,
   and the new keeps ``renamed_from``, so a second call knows it), and the old one is
   deleted as `delete_model` does.

Every step is idempotent: a rename interrupted by a crash is finished by calling
`rename_model` again with the same names, or by ``fsck(repair=True)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from registry_core._base import (
    CAS_ATTEMPTS,
    RegistryBase,
    backoff,
    describe,
    model_key,
    parse_name,
    refuse_if_renaming,
    version_key,
)
from registry_core.convert import from_document
from registry_core.entities import Model
from registry_core.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from registry_core.names import ModelName
from registry_core.permissions import Action
from registry_core.protocol import Key
from registry_core.transfer import copy_verified
from registry_core.versions import Version

RENAMING_TO = "renaming_to"
RENAMING_FROM = "renaming_from"
RENAMED_FROM = "renamed_from"  # kept on the new model: a second call knows it as its own


class RenameMixin(RegistryBase):
    """`rename_model` and the step that finishes an interrupted rename."""

    # Not @atomic: one transaction around every step would also hold the old blobs'
    # deletion, which no transaction can take back; each step commits on its own.
    def rename_model(self, name: str | ModelName, new_name: str | ModelName) -> Model:
        """Give a model a new name; everything it holds moves with it.

        `AlreadyExists` if ``new_name`` is taken, `InvalidInput` for a change of letter
        case only (names are unique regardless of case, and blob paths on a case-blind
        disk would collide). Artifacts are copied and verified, so this takes time in
        proportion to their size; see the module docstring for what a crash leaves.
        """
        self._authorize(Action.UPDATE)
        old, new = parse_name(name), parse_name(new_name)
        if old.key == new.key:
            if old.value == new.value:
                return self._model_doc(old)[0]
            raise InvalidInput(
                f"'{old}' and '{new}' differ only in letter case, and model names are unique "
                "regardless of case; rename to another name first"
            )
        model, doc = self._model_doc(old)
        pending = doc.data.get(RENAMING_TO)
        if pending is not None and ModelName.parse(str(pending)).key != new.key:
            refuse_if_renaming(doc.data)
        if pending is None:
            taken = self._repo.get(model_key(new))
            if taken is not None:
                raise AlreadyExists(f"model '{taken.data.get('name')}' already exists")
            data = self._set_fields(model_key(old), {RENAMING_TO: new.value})
            if data is None:
                raise NotFound(f"{describe(old)} does not exist")
        return self._finish_rename(model.name, new)

    def _set_fields(self, key: Key, fields: Mapping[str, Any]) -> dict[str, Any] | None:
        """Merge ``fields`` into the document at ``key`` (compare-and-swap); its new data,
        or None if it is gone. Refuses a document being deleted or renamed elsewhere."""
        for attempt in range(CAS_ATTEMPTS):
            doc = self._repo.get(key)
            if doc is None or doc.data.get("deleting"):
                return None
            target = doc.data.get(RENAMING_TO)
            if target is not None and target != fields.get(RENAMING_TO, target):
                refuse_if_renaming(doc.data)
            data = {**doc.data, **fields}
            if data == doc.data:
                return data
            try:
                self._repo.compare_and_swap(key, data, doc.etag)
            except Conflict:
                backoff(attempt)
                continue
            except NotFound:
                return None
            return data
        raise Conflict(f"{'/'.join(key)!r} kept changing under {CAS_ATTEMPTS} attempts; try again")

    def _finish_rename(self, old: ModelName, new: ModelName) -> Model:
        """Steps 2-4 of the module docstring, for a model whose intent is written."""
        source = self._repo.get(model_key(old))
        if source is None or source.data.get(RENAMING_TO) is None:
            found = self._repo.get(model_key(new))
            if found is not None and not found.data.get(RENAMING_FROM):
                return from_document(found.data, Model)  # finished by someone else
            raise NotFound(f"{describe(old)} does not exist")
        moved = self._repo.get(model_key(new))
        shown = moved is not None and not moved.data.get(RENAMING_FROM)
        if moved is not None and shown and moved.data.get(RENAMED_FROM) == old.value:
            # step 4 made it visible: only the old one is left to delete
            self._set_fields(model_key(old), {"deleting": True})
            self._finish_model_delete(old)
            return from_document(moved.data, Model)
        self._claim(old, new, source.data)
        for _, version in list(self._all_docs(("versions", old.key))):
            self._move_version(old, new, version)
        done = self._drop_fields(model_key(new), RENAMING_FROM)
        self._set_fields(model_key(old), {"deleting": True})
        self._finish_model_delete(old)
        return from_document(done, Model)

    def _claim(self, old: ModelName, new: ModelName, source: Mapping[str, Any]) -> None:
        """Hold the new name with a hidden copy of the old model's document."""
        data = {k: v for k, v in source.items() if k != RENAMING_TO}
        data.update(name=new.value, **{RENAMING_FROM: old.value, RENAMED_FROM: old.value})
        try:
            self._repo.put_if_absent(model_key(new), data)
        except AlreadyExists:
            held = self._repo.get(model_key(new))
            if held is None or held.data.get(RENAMING_FROM) != old.value:
                self._drop_fields(model_key(old), RENAMING_TO)  # give the old model back
                shown = new.value if held is None else held.data.get("name")
                raise AlreadyExists(f"model '{shown}' already exists") from None

    def _move_version(self, old: ModelName, new: ModelName, version: Mapping[str, Any]) -> None:
        """Freeze one version, then copy its metrics, blobs and document to the new name."""
        ver = Version.parse(str(version["version"]))
        if version.get("deleting"):
            self._finish_version_delete(version)
            return
        frozen = self._set_fields(version_key(old, ver), {RENAMING_TO: new.value})
        if frozen is None:
            return  # deleted meanwhile
        metrics = ("metrics", old.key, ver.precedence_key)
        for segment, points in list(self._all_docs(metrics)):
            self._put_once(("metrics", new.key, ver.precedence_key, segment), points)
        for artifact in frozen.get("artifacts", []):
            self._copy_blob(f"{old}/{ver}/{artifact['path']}", f"{new}/{ver}", artifact)
        moved = {k: v for k, v in frozen.items() if k != RENAMING_TO}
        self._put_once(version_key(new, ver), {**moved, "model": new.value})

    def _put_once(self, key: Key, data: Mapping[str, Any]) -> None:
        with contextlib.suppress(AlreadyExists):  # copied before an interruption
            self._repo.put_if_absent(key, data)

    def _copy_blob(self, source: str, package: str, artifact: Mapping[str, Any]) -> None:
        target = f"{package}/{artifact['path']}"
        writer = self._repo.open_blob_writer(target)
        try:
            with self._repo.open_blob(source) as stream:
                copy_verified(
                    stream,
                    writer.write,
                    size=int(artifact["size"]),
                    sha256=str(artifact["sha256"]),
                    name=source,
                )
        except BaseException:
            writer.abort()
            raise
        writer.commit()

    def _drop_fields(self, key: Key, *fields: str) -> dict[str, Any]:
        for attempt in range(CAS_ATTEMPTS):
            doc = self._repo.get(key)
            if doc is None:
                raise NotFound(f"{'/'.join(key)!r} vanished during a rename")
            data = {k: v for k, v in doc.data.items() if k not in fields}
            if data == doc.data:
                return data
            try:
                self._repo.compare_and_swap(key, data, doc.etag)
            except Conflict:
                backoff(attempt)
                continue
            return data
        raise Conflict(f"{'/'.join(key)!r} kept changing under {CAS_ATTEMPTS} attempts; try again")
