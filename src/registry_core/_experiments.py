"""The Registry's experiments: named groups of runs (the runs are `registry_core._runs`).

Storage, through the same `Repository` as models:

* ``("experiments", <id>)`` an experiment; ids are decimal strings, ``"0"`` is the
  experiment named ``Default`` that exists from the first time anyone asks for it.
* ``("experiment_names", <sha256 of the case-folded name>)`` ``{"id": ...}``: the unique
  name, claimed with ``put_if_absent`` before the experiment is written. A claim whose
  experiment is gone or is named otherwise (a crash, a rename) is taken over.

An experiment's runs, their metrics and files are kept under its id, so deleting it
deletes those trees. Deletes write their intent (``"deleting": true``) first and finish
after a crash, as for models.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from registry_core._base import (
    CAS_ATTEMPTS,
    RegistryBase,
    atomic,
    backoff,
    decode_token,
    encode_token,
    readable,
)
from registry_core._metadata import checked_tags
from registry_core.convert import from_document, to_document
from registry_core.entities import Experiment, Page
from registry_core.errors import (
    AlreadyExists,
    Conflict,
    IllegalTransition,
    InvalidInput,
    NotFound,
    RegistryError,
)
from registry_core.permissions import Action
from registry_core.protocol import Document, Key

__all__ = ["DEFAULT_EXPERIMENT", "ExperimentsMixin", "check_experiment_name", "experiment_key"]

DEFAULT_EXPERIMENT = "0"
"""The id of the experiment `Default`, which always exists."""
_DEFAULT_NAME = "Default"
MAX_EXPERIMENT_NAME = 500
_EXPERIMENT_ID = re.compile(r"[0-9]{1,20}")
#: An experiment still marked ``creating`` after this was left by a writer that died.
_CREATE_GRACE = dt.timedelta(minutes=10)


def experiment_key(experiment_id: str) -> Key:
    return ("experiments", experiment_id)


def _name_key(name: str) -> Key:
    folded = unicodedata.normalize("NFC", name).casefold()
    return ("experiment_names", hashlib.sha256(folded.encode("utf-8")).hexdigest())


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


class ExperimentsMixin(RegistryBase):
    """Experiments group runs under a unique name (compared case-insensitively);
    ``Default`` always exists."""

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
        """Create the experiment ``Default`` (id ``0``) unless it exists; once it does,
        one read (so reading experiments writes nothing, and needs no write access to
        the store, after the first time)."""
        if self._repo.get(experiment_key(DEFAULT_EXPERIMENT)) is not None:
            return  # its name was claimed before it was written
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


def _same_name(a: str, b: str) -> bool:
    return unicodedata.normalize("NFC", a).casefold() == unicodedata.normalize("NFC", b).casefold()
