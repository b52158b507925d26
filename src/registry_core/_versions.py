"""The Registry's version operations: create, read, list, latest, resolve, lifecycle."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping

import attrs

from registry_core._artifacts import manifest_digest
from registry_core._base import (
    CAS_ATTEMPTS,
    DROPPING,
    RegistryBase,
    atomic,
    backoff,
    decode_token,
    describe,
    encode_token,
    model_key,
    parse_name,
    parse_version,
    readable,
    refuse_if_renaming,
    version_key,
)
from registry_core.ci import CIJob
from registry_core.convert import from_document, to_document
from registry_core.entities import Model, ModelVersion, Page
from registry_core.errors import (
    AlreadyExists,
    Conflict,
    IllegalTransition,
    IntegrityError,
    InvalidInput,
    InvalidName,
    InvalidVersion,
    NotFound,
)
from registry_core.lifecycle import VersionState, check_transition
from registry_core.limits import check_description
from registry_core.names import AliasName, ModelName
from registry_core.permissions import Action
from registry_core.versions import BumpPart, Range, Version, check_bump

#: What only a range has: comparators, ``^``/``~``, ``||``, wildcards, hyphen ranges. A spec
#: without any that is no version, alias or range reads as a missing alias or a mistyped
#: version (``1.0.O``), not as a broken range.
_RANGE_SYNTAX = re.compile(r"[<>=^~|*\s]|(?:^|\.)[xX](?:$|\.)")

# Scans start with a small page (latest usually sits at the top) and grow.
_FIRST_PAGE = 8
_MAX_PAGE = 256
_ORDERS = ("precedence", "-precedence")
#: The manifest digest of a version sealed without files.
_EMPTY_MANIFEST = manifest_digest(())


class VersionsMixin(RegistryBase):
    """Versions of a model, found by precedence key without reading every version."""

    @atomic
    def create_version(
        self,
        model: str | ModelName,
        version: str | Version | None = None,
        *,
        bump: BumpPart | None = None,
        prerelease: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, object] | None = None,
        ci_job: CIJob | None = None,
        publish: bool = False,
        _source_run: str | None = None,
    ) -> ModelVersion:
        """Create a draft version: an exact ``version``, or a ``bump`` from the highest one.

        A bump (``major``, ``minor``, ``patch``, optionally with a ``prerelease`` label)
        starts at ``1.0.0``; racing bumps each get a distinct version. Two versions equal
        in precedence (``1.0.0+a``, ``1.0.0+b``) cannot both exist: `AlreadyExists`.

        ``publish=True`` creates the version ready and sealed at once, in one write: for a
        version without files (its ``params`` are then frozen with the empty manifest).
        ``_source_run`` is for `promote_run`: the run the version is made from.
        """
        self._authorize(Action.CREATE)
        name = parse_name(model)
        check_description(description)
        from registry_core._metadata import checked_params, checked_tags

        tag_map = checked_tags(tags or {})
        param_map = checked_params(params or {})
        if not isinstance(publish, bool):
            raise InvalidInput(f"publish must be True or False, not {publish!r}")
        if (version is None) == (bump is None):
            raise InvalidVersion("give either a version or a bump ('major', 'minor', 'patch')")
        if version is not None and prerelease is not None:
            raise InvalidVersion("prerelease goes with bump; put it in the version itself")
        if bump is not None:
            check_bump(bump, prerelease)
        for _attempt in range(32):
            found, doc = self._model_doc(name, hold=True)
            refuse_if_renaming(doc.data)
            name = found.name  # the stored spelling, for the package path
            target = (
                parse_version(version)
                if version is not None
                else self._next(name, bump, prerelease)
            )
            now = self._now()
            entity = ModelVersion(
                model=name,
                version=target,
                description=description,
                tags=tag_map,
                params=param_map,
                ci_job=ci_job,
                source_run=_source_run,
                created_at=now,
                updated_at=now,
                created_by=self._user(),
                updated_by=self._user(),
            )
            if publish:
                entity = attrs.evolve(
                    entity,
                    state=VersionState.READY,
                    published_at=now,
                    manifest_sha256=_EMPTY_MANIFEST,
                )
            try:
                self._repo.put_if_absent(version_key(name, target), to_document(entity))
            except AlreadyExists:
                existing = self._repo.get(version_key(name, target))
                if existing is not None and existing.data.get("deleting"):
                    self._finish_version_delete(existing.data)
                    continue
                if version is None:
                    continue  # another bump took it: bump again from the new highest
                stored = None if existing is None else existing.data.get("version")
                held = "" if stored in (None, str(target)) else f" (as '{stored}')"
                raise AlreadyExists(f"{describe(name, target)} already exists{held}") from None
            if not self._holding():  # else no delete or rename could come between
                self._check_model_alive(name, target)
            return entity
        raise AlreadyExists(f"could not find a free version to bump to in {describe(name)}")

    def _check_model_alive(self, name: ModelName, version: Version) -> None:
        """After creating a version: if its model was deleted meanwhile, take it back."""
        doc = self._repo.get(model_key(name))
        if doc is None or doc.data.get("deleting"):
            self._repo.delete(version_key(name, version))
            raise NotFound(f"{describe(name)} was deleted while {version} was being created")
        if doc.data.get("renaming_to"):
            self._repo.delete(version_key(name, version))
            refuse_if_renaming(doc.data)

    def _next(self, name: ModelName, bump: BumpPart | None, prerelease: str | None) -> Version:
        assert bump is not None
        highest = next(self._scan(name, reverse=True), None)
        if highest is None:
            first = Version.parse("0.0.0").bump("major", prerelease)
            return first
        return highest.version.bump(bump, prerelease)

    def get_version(self, model: str | ModelName, version: str | Version) -> ModelVersion:
        """The version equal in precedence to ``version``, whatever its state."""
        self._authorize(Action.READ)
        return self._version_doc(parse_name(model), parse_version(version))[0]

    @atomic
    def update_version(
        self, model: str | ModelName, version: str | Version, *, description: str
    ) -> ModelVersion:
        """Change a version's description (editable in every state)."""
        self._authorize(Action.UPDATE)
        check_description(description)
        return self._update_version(
            parse_name(model),
            parse_version(version),
            lambda v: attrs.evolve(v, description=description),
        )

    # -- finding versions in precedence order --------------------------------------------

    def _scan(
        self,
        name: ModelName,
        *,
        reverse: bool,
        after: str | None = None,
        before: str | None = None,
        first_page: int = _FIRST_PAGE,
    ) -> Iterator[ModelVersion]:
        """Versions (not being deleted) in precedence order, read a growing page at a time."""
        prefix = ("versions", name.key)
        limit = first_page
        while True:
            page = self._repo.list_page(
                prefix, after=after, before=before, limit=limit, reverse=reverse
            )
            for segment, doc in readable(page):
                if not doc.data.get("deleting"):
                    yield from_document(doc.data, ModelVersion)
                if reverse:
                    before = segment
                else:
                    after = segment
            if len(page) < limit:
                return
            limit = min(limit * 2, _MAX_PAGE)

    def list_versions(
        self,
        model: str | ModelName,
        *,
        states: Iterable[VersionState | str] | None = None,
        include_prereleases: bool = True,
        order: str = "precedence",
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        """One page of versions, by precedence (``order="-precedence"`` for highest first)."""
        self._authorize(Action.READ)
        name = parse_name(model)
        if order not in _ORDERS:
            raise InvalidInput(f"order {order!r} is not one of {', '.join(_ORDERS)}")
        _check_page_size(page_size)
        wanted = None if states is None else {VersionState(s) for s in states}
        reverse = order.startswith("-")
        position = decode_token(page_token, f"versions:{name.key}:{order}")
        if position is None:
            self._model_doc(name)
        bound = {"before": position} if reverse else {"after": position}
        items: list[ModelVersion] = []
        for found in self._scan(name, reverse=reverse, first_page=page_size + 1, **bound):
            if wanted is not None and found.state not in wanted:
                continue
            if not include_prereleases and found.version.is_prerelease:
                continue
            if len(items) == page_size:
                last = items[-1].version.precedence_key
                return Page(tuple(items), encode_token(last, f"versions:{name.key}:{order}"))
            items.append(found)
        return Page(tuple(items), None)

    def count_versions(self, model: str | ModelName) -> int:
        """How many versions the model has, in any state.

        A backend with the optional ``count_documents`` (`registry_core.protocol`) counts
        without reading the versions, and may then include a version whose delete is
        still in progress; otherwise every version is read."""
        self._authorize(Action.READ)
        name = parse_name(model)
        self._model_doc(name)
        counter = getattr(self._repo, "count_documents", None)
        if counter is not None:
            return int(counter(("versions", name.key)))
        return sum(1 for _ in self._scan(name, reverse=False))

    def latest(self, model: str | ModelName, *, include_prereleases: bool = False) -> ModelVersion:
        """The highest-precedence ready version; prereleases only when asked."""
        self._authorize(Action.READ)
        name = parse_name(model)
        for found in self._scan(name, reverse=True):
            if found.state is VersionState.READY and (
                include_prereleases or not found.version.is_prerelease
            ):
                return found
        self._model_doc(name)
        raise NotFound(f"{describe(name)} has no ready version")

    def resolve(
        self, model: str | ModelName, spec: str, *, include_prereleases: bool = False
    ) -> ModelVersion:
        """Read ``spec`` as an exact version, ``latest``, an alias, then an npm range."""
        self._authorize(Action.READ)
        name = parse_name(model)
        if not isinstance(spec, str):
            raise InvalidVersion(f"spec must be a string, not {type(spec).__name__}")
        try:
            exact = Version.parse(spec)
        except InvalidVersion:
            exact = None
        if exact is not None:
            return self._version_doc(name, exact)[0]
        if spec == "latest":
            return self.latest(name, include_prereleases=include_prereleases)
        try:
            alias: AliasName | None = AliasName.parse(spec)
        except InvalidName:
            alias = None
        if alias is not None:
            target = self._model_doc(name)[0].aliases.get(alias.value)
            if target is not None:
                return self._version_doc(name, target)[0]
        try:
            spec_range = Range.parse(spec)
        except InvalidVersion:
            if _RANGE_SYNTAX.search(spec):  # meant as a range: say what is wrong with it
                raise
            aliases = sorted(self._model_doc(name)[0].aliases)
            raise NotFound(_no_such_alias(name, spec, aliases)) from None
        return self._resolve_range(name, spec_range, include_prereleases)

    def _resolve_range(
        self, name: ModelName, spec: Range, include_prereleases: bool
    ) -> ModelVersion:
        lower, _, upper, _ = spec.hull()
        before = None if upper is None else upper.precedence_key + "~"
        for found in self._scan(name, reverse=True, before=before):
            if lower is not None and found.version < lower:
                break
            if found.state is VersionState.READY and spec.contains(
                found.version, include_prerelease=include_prereleases
            ):
                return found
        self._model_doc(name)
        raise NotFound(f"no ready version of model '{name}' matches {str(spec)!r}")

    # -- lifecycle ------------------------------------------------------------------------

    def _transition(
        self, model: str | ModelName, version: str | Version, target: VersionState, via: str
    ) -> ModelVersion:
        self._authorize(Action.UPDATE)
        name, ver = parse_name(model), parse_version(version)

        def change(current: ModelVersion) -> ModelVersion:
            check_transition(describe(name, ver), current.state, target, via)
            if target in (VersionState.DEPRECATED, VersionState.YANKED):
                self._refuse_if_aliased(name, ver, f"{target.value[:-1]}")
            if current.state is VersionState.DRAFT:
                _refuse_if_uploading(current, via, self._now())
            if target is VersionState.READY and current.state is VersionState.DRAFT:
                # one listing of the version's blobs, not a read per file (S3: a request each)
                present = set(self._repo.list_blobs(current.package)) if current.artifacts else ()
                missing = [
                    a.path.value
                    for a in current.artifacts
                    if f"{current.package}/{a.path}" not in present
                ]
                if missing:
                    raise IntegrityError(
                        f"cannot publish {describe(name, ver)}: the bytes of "
                        f"{', '.join(missing)} are missing (an upload did not finish); "
                        "delete and upload them again"
                    )
                return attrs.evolve(
                    current,
                    state=target,
                    published_at=self._now(),
                    manifest_sha256=manifest_digest(current.artifacts),
                    uploads=(),
                )
            return attrs.evolve(current, state=target, uploads=())

        return self._update_version(name, ver, change)

    def _refuse_if_aliased(self, name: ModelName, version: Version, verb: str) -> None:
        aliases = sorted(a for a, v in self._model_doc(name)[0].aliases.items() if v == version)
        if aliases:
            raise IllegalTransition(
                f"cannot {verb} {describe(name, version)}: alias {', '.join(aliases)} points "
                "at it; move or delete the alias first"
            )

    @atomic
    def publish(self, model: str | ModelName, version: str | Version) -> ModelVersion:
        """Seal a draft as ready: its manifest (paths, sizes, SHA-256) never changes again."""
        return self._transition(model, version, VersionState.READY, "publish")

    @atomic
    def fail(self, model: str | ModelName, version: str | Version) -> ModelVersion:
        """Mark a draft that could not be finished as failed."""
        return self._transition(model, version, VersionState.FAILED, "fail")

    @atomic
    def deprecate(self, model: str | ModelName, version: str | Version) -> ModelVersion:
        """Mark a ready version deprecated: still resolvable exactly, not by latest or ranges."""
        return self._transition(model, version, VersionState.DEPRECATED, "deprecate")

    @atomic
    def undeprecate(self, model: str | ModelName, version: str | Version) -> ModelVersion:
        """Return a deprecated version to ready."""
        return self._transition(model, version, VersionState.READY, "undeprecate")

    @atomic
    def yank(self, model: str | ModelName, version: str | Version) -> ModelVersion:
        """Withdraw a ready or deprecated version for good: pinnable by exact version only."""
        return self._transition(model, version, VersionState.YANKED, "yank")

    # -- deleting -------------------------------------------------------------------------

    def delete_version(
        self, model: str | ModelName, version: str | Version, *, force: bool = False
    ) -> None:
        """Delete a version and its artifacts and metrics, in any state.

        Refused while an alias points at it, unless ``force``, which deletes those aliases.
        """
        self._authorize(Action.DELETE)
        name, ver = parse_name(model), parse_version(version)
        entity = self._version_doc(name, ver)[0]
        # Forced: the model first names the aliases it will drop (readers still see them,
        # see `_model_of`), so that marking the version deleted takes both away at once;
        # then the aliases go for good.
        with self._atomic():
            if force:
                self._mark_dropping(name, entity)
            else:
                self._refuse_if_aliased(name, ver, "delete")
            data = self._mark_deleting(version_key(name, ver))
            if force:
                self._forget_dropped(name)
        if data is not None:
            self._finish_version_delete(data)

    def _mark_dropping(self, name: ModelName, entity: ModelVersion) -> None:
        """Name in the model's document the aliases that point at ``entity``."""
        for attempt in range(CAS_ATTEMPTS):
            model, doc = self._model_doc(name)
            refuse_if_renaming(doc.data)
            aliases = [a for a, v in model.aliases.items() if v == entity.version]
            if not aliases:
                return
            entry = _dropping_entry(entity)
            dropping = {**doc.data.get(DROPPING, {}), **dict.fromkeys(aliases, entry)}
            try:
                self._repo.compare_and_swap(
                    model_key(name), {**doc.data, DROPPING: dropping}, doc.etag
                )
            except Conflict:
                backoff(attempt)
                continue
            return
        raise Conflict(f"{describe(name)} kept changing under {CAS_ATTEMPTS} attempts; try again")

    def _forget_dropped(self, name: ModelName) -> None:
        """Remove from the model the aliases whose dropping is done (their version is
        marked deleted or gone), with their ``dropping`` entries."""
        for attempt in range(CAS_ATTEMPTS):
            doc = self._repo.get(model_key(name))
            if doc is None or not doc.data.get(DROPPING):
                return
            shown = self._model_of(doc.data)
            stored = from_document(doc.data, Model)
            left = {a: e for a, e in doc.data[DROPPING].items() if a in shown.aliases}
            data = {k: v for k, v in doc.data.items() if k != DROPPING}
            data.update(to_document(self._stamp(shown)), **({DROPPING: left} if left else {}))
            if shown == stored and left == doc.data[DROPPING]:
                return
            try:
                self._repo.compare_and_swap(model_key(name), data, doc.etag)
            except Conflict:
                backoff(attempt)
                continue
            except NotFound:
                return
            return
        raise Conflict(f"{describe(name)} kept changing under {CAS_ATTEMPTS} attempts; try again")


def _dropping_entry(entity: ModelVersion) -> list[str]:
    return [str(entity.version), to_document(entity)["created_at"]]


def _refuse_if_uploading(entity: ModelVersion, via: str, now: dt.datetime) -> None:
    """A draft leaves the draft state only when no upload into it is still running (the
    holds of uploads that died and lapsed are dropped)."""
    running = sorted(u.path.value for u in entity.uploads if u.expires > now)
    if running:
        raise Conflict(
            f"cannot {via} {describe(entity.model, entity.version)} while "
            f"{', '.join(running)} {'is' if len(running) == 1 else 'are'} still uploading; "
            "try again when the upload ends"
        )


def _check_page_size(page_size: int) -> None:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 1000:
        raise InvalidInput(f"page_size must be an integer from 1 to 1000, got {page_size!r}")


def _no_such_alias(name: ModelName, spec: str, aliases: list[str]) -> str:
    """What a spec that reads as neither a version, ``latest``, an alias nor a range means:
    most likely an alias that does not exist (yet), so say so and list the real ones."""
    known = f"its aliases are {', '.join(aliases)}" if aliases else "it has no aliases"
    return (
        f"model '{name}' has no alias or version {spec!r} ({known}); a spec is an exact "
        "version, 'latest', an alias or an npm range such as '^1.2'"
    )
