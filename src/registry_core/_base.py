"""Internals shared by the parts of `Registry`: keys, loads, and the compare-and-swap loop."""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import functools
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar

import attrs

from registry_core.convert import from_document, to_document
from registry_core.entities import Experiment, Model, ModelVersion, Run
from registry_core.errors import Conflict, InvalidInput, InvalidVersion, NotFound
from registry_core.names import ModelName
from registry_core.permissions import Action, Actor, Settings, authorize
from registry_core.protocol import Document, Key, Repository
from registry_core.versions import Version

E = TypeVar("E", Model, ModelVersion, Run, Experiment)
P = ParamSpec("P")
R = TypeVar("R")

#: How often a compare-and-swap is retried against other writers before `Conflict`.
CAS_ATTEMPTS = 64
SETTINGS_KEY: Key = ("settings",)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


#: In a model's document: aliases a forced version delete is taking away (see `_model_of`).
DROPPING = "dropping"


def _bookkeeping(data: Mapping[str, Any], current: Any, updated: Any) -> dict[str, Any]:
    """The fields of a stored document that its entity does not hold and a rewrite of the
    entity keeps: ``renamed_from``, and the ``dropping`` entries of aliases that were shown
    and are left as they were (an alias set again is shown whatever a crashed delete
    meant to take away)."""
    kept: dict[str, Any] = {}
    if "renamed_from" in data:
        kept["renamed_from"] = data["renamed_from"]
    dropping = data.get(DROPPING)
    if dropping and isinstance(current, Model) and isinstance(updated, Model):
        left = {
            alias: entry
            for alias, entry in dropping.items()
            if alias in current.aliases and updated.aliases.get(alias) == current.aliases[alias]
        }
        if left:
            kept[DROPPING] = left
    return kept


def model_key(name: ModelName) -> Key:
    return ("models", name.key)


def version_key(name: ModelName, version: Version) -> Key:
    return ("versions", name.key, version.precedence_key)


def parse_name(model: str | ModelName) -> ModelName:
    return model if isinstance(model, ModelName) else ModelName.parse(model)


def parse_version(version: str | Version) -> Version:
    if isinstance(version, Version):
        return version
    if not isinstance(version, str):
        raise InvalidVersion(f"version must be a string, not {type(version).__name__}")
    return Version.parse(version)


def describe(name: ModelName, version: Version | None = None) -> str:
    if version is None:
        return f"model '{name}'"
    return f"version '{version}' of model '{name}'"


def encode_token(position: str, kind: str) -> str:
    raw = json.dumps({"k": kind, "p": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str | None, kind: str) -> str | None:
    """The position a page token stands for; `InvalidInput` for a token of another listing."""
    if token is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        if data["k"] == kind and isinstance(data["p"], str):
            return str(data["p"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        pass
    raise InvalidInput(f"page token {token[:40]!r} is not one this listing gave out")


def refuse_if_renaming(data: Mapping[str, Any]) -> None:
    """`Conflict` for a write to a model, or a version of one, that is being renamed."""
    target = data.get("renaming_to")
    if target is not None:
        raise Conflict(
            f"model '{data.get('model', data.get('name'))}' is being renamed to '{target}'; "
            "write to the new name once the rename is done"
        )


def backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(0.05, 0.0005 * 2**attempt)))


def readable(page: Iterable[tuple[str, Document]]) -> Iterator[tuple[str, Document]]:
    """The documents of a listed page that are still there when read: a backend that reads
    listed documents lazily (the files backend) raises `Conflict` for one deleted between
    the listing and the reading, and a listing skips it as if listed a moment later."""
    for segment, doc in page:
        try:
            doc.data  # noqa: B018 - the read that finds it gone
        except Conflict:
            continue
        yield segment, doc


def atomic(method: Callable[P, R]) -> Callable[P, R]:
    """Run a Registry method in one storage transaction, where the backend has them."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        self = args[0]
        assert isinstance(self, RegistryBase)
        with self._atomic():
            return method(*args, **kwargs)

    return wrapper


class RegistryBase:
    """State and helpers every part of the Registry uses."""

    _repo: Repository
    _actor: Actor | None
    _clock: Callable[[], dt.datetime]

    def _atomic(self) -> contextlib.AbstractContextManager[object]:
        """The backend's ``transaction()`` (SQL: one transaction, nesting joins the outer),
        or nothing for stores whose single writes are the atomic unit."""
        begin = getattr(self._repo, "transaction", None)
        return contextlib.nullcontext() if begin is None else begin()

    # -- who and when ---------------------------------------------------------------------

    def _user(self) -> str | None:
        return None if self._actor is None else self._actor.user

    def _now(self) -> dt.datetime:
        return self._clock()

    def _load_settings(self) -> Settings:
        doc = self._repo.get(SETTINGS_KEY)
        return Settings() if doc is None else from_document(doc.data, Settings)

    def _authorize(self, action: Action) -> None:
        """Check the actor's right to ``action``; a registry without an actor is trusted."""
        if self._actor is not None:
            authorize(self._actor, action, self._load_settings())

    def _stamp(self, entity: E) -> E:
        return attrs.evolve(entity, updated_at=self._now(), updated_by=self._user())

    # -- loading --------------------------------------------------------------------------

    def _holding(self) -> bool:
        """Whether `_get` with ``hold`` keeps what it read unchanged until the operation's
        transaction ends (the backend has ``get_locked``)."""
        return hasattr(self._repo, "get_locked")

    def _get(self, key: Key, *, hold: bool = False) -> Document | None:
        """The document at ``key``; with ``hold``, locked against other writers for the
        rest of the transaction where the backend can (see `_holding`)."""
        if hold and self._holding():
            return self._repo.get_locked(key)  # type: ignore[attr-defined,no-any-return]
        return self._repo.get(key)

    def _model_doc(self, name: ModelName, *, hold: bool = False) -> tuple[Model, Document]:
        doc = self._get(model_key(name), hold=hold)
        if doc is None or not self._shown(doc.data):
            raise NotFound(f"{describe(name)} does not exist")
        return self._model_of(doc.data), doc

    def _model_of(self, data: Mapping[str, Any]) -> Model:
        """The model a stored document shows. An alias named in ``dropping`` (written by
        a forced `delete_version` before it marks the version deleted) is shown only
        while that very version (same ``created_at``) is still there and not deleted, so
        the alias and the version disappear for readers in the same write."""
        model = from_document(data, Model)
        dropping = data.get(DROPPING)
        if not dropping:
            return model
        gone = set()
        for alias, (version, created_at) in dropping.items():
            doc = self._repo.get(version_key(model.name, Version.parse(version)))
            if doc is None or doc.data.get("deleting") or doc.data["created_at"] != created_at:
                gone.add(alias)
        kept = {a: v for a, v in model.aliases.items() if a not in gone}
        return model if len(kept) == len(model.aliases) else attrs.evolve(model, aliases=kept)

    def _shown(self, model: Mapping[str, Any]) -> bool:
        """Whether readers see this model document: not being deleted, not the hidden
        claim of a rename, and not the source of a rename whose new model is already shown
        (a rename makes the new model visible in one write, then deletes the old one: a
        crash between the two must not show the model under both names)."""
        if model.get("deleting") or model.get("renaming_from"):
            return False
        target = model.get("renaming_to")
        if target is None:
            return True
        moved = self._repo.get(model_key(ModelName.parse(str(target))))
        return moved is None or bool(moved.data.get("deleting") or moved.data.get("renaming_from"))

    def _version_doc(
        self, name: ModelName, version: Version, *, hold: bool = False
    ) -> tuple[ModelVersion, Document]:
        doc = self._get(version_key(name, version), hold=hold)
        if doc is None or doc.data.get("deleting"):
            self._model_doc(name)  # a missing model says so, rather than the version
            raise NotFound(f"{describe(name, version)} does not exist")
        return from_document(doc.data, ModelVersion), doc

    def _mark_deleting(self, key: Key) -> dict[str, Any] | None:
        """Write the intent to delete into the document; return its data (None if gone)."""
        for attempt in range(CAS_ATTEMPTS):
            doc = self._repo.get(key)
            if doc is None:
                return None
            data = {**doc.data, "deleting": True}
            if doc.data.get("deleting"):
                return data
            refuse_if_renaming(doc.data)
            try:
                self._repo.compare_and_swap(key, data, doc.etag)
            except Conflict:
                backoff(attempt)
                continue
            except NotFound:
                return None
            return data
        raise Conflict(f"{'/'.join(key)!r} kept changing under {CAS_ATTEMPTS} attempts; try again")

    # -- finishing deletes (after the intent is written; idempotent) --------------------

    def _finish_version_delete(self, data: Mapping[str, Any]) -> None:
        """Remove what a version left: blobs, metrics, then the document."""
        name = ModelName.parse(str(data["model"]))
        ver = Version.parse(str(data["version"]))
        self._repo.delete_blobs(f"{name}/{ver}")
        with self._atomic():
            self._repo.delete_tree(("metrics", name.key, ver.precedence_key))
            self._repo.delete(version_key(name, ver))

    def _finish_model_delete(self, name: ModelName) -> None:
        """Remove a model marked for deletion: blobs, metrics and versions, then itself."""
        for _, version in list(self._all_docs(("versions", name.key))):
            if version.get("artifacts"):  # blobs exist only behind manifest entries
                self._repo.delete_blobs(f"{version['model']}/{version['version']}")
        with self._atomic():
            self._repo.delete_tree(("metrics", name.key))
            self._repo.delete_tree(("versions", name.key))
            self._repo.delete(model_key(name))

    def _blob_exists(self, name: str) -> bool:
        try:
            self._repo.open_blob(name).close()
        except NotFound:
            return False
        return True

    def _all_docs(self, prefix: Key) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """Every document one level under ``prefix``, a page at a time."""
        after = None
        while True:
            page = self._repo.list_page(prefix, after=after, limit=500)
            for segment, doc in readable(page):
                after = segment
                yield segment, doc.data
            if len(page) < 500:
                return

    # -- the compare-and-swap loop --------------------------------------------------------

    def _update(
        self,
        key: Key,
        load: Callable[[], tuple[E, Document]],
        change: Callable[[E], E],
        **extra: Any,
    ) -> E:
        """Apply ``change`` to the stored entity, retrying when another writer got between.

        ``change`` sees the freshest entity each time and may raise to refuse; what it
        returns is stamped with the time and user and written with compare-and-swap.
        """
        for attempt in range(CAS_ATTEMPTS):
            current, doc = load()
            refuse_if_renaming(doc.data)
            updated = change(current)
            if updated == current:
                return current
            updated = self._stamp(updated)
            data = {**to_document(updated, **extra), **_bookkeeping(doc.data, current, updated)}
            try:
                self._repo.compare_and_swap(key, data, doc.etag)
            except Conflict:
                backoff(attempt)
                continue
            except NotFound:
                continue  # deleted between: the next load says so
            return updated
        raise Conflict(f"{'/'.join(key)!r} kept changing under {CAS_ATTEMPTS} attempts; try again")

    def _update_model(self, name: ModelName, change: Callable[[Model], Model]) -> Model:
        return self._update(model_key(name), lambda: self._model_doc(name), change)

    def _update_version(
        self, name: ModelName, version: Version, change: Callable[[ModelVersion], ModelVersion]
    ) -> ModelVersion:
        return self._update(
            version_key(name, version), lambda: self._version_doc(name, version), change
        )
