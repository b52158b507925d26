"""The `Registry` service: every rule of the domain, applied once, over any repository.

``Registry(repository)`` is trusted (no permission checks: pipelines and tests);
``registry.as_actor(Actor("ana"))`` is a view that authorizes every call for that user.
One Registry may be shared between threads; backends make their writes atomic, and the
Registry retries compare-and-swap when another writer got between.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from registry_core._base import (
    SETTINGS_KEY,
    atomic,
    backoff,
    decode_token,
    describe,
    encode_token,
    model_key,
    parse_name,
    parse_version,
    readable,
    utc_now,
)
from registry_core._maintenance import MaintenanceMixin
from registry_core._metadata import checked_tags
from registry_core._promote import PromoteMixin
from registry_core._rename import RenameMixin
from registry_core._tokens import TokensMixin
from registry_core._versions import _check_page_size
from registry_core.ci import CIJob
from registry_core.convert import from_document, to_document
from registry_core.entities import Model, ModelVersion, Page
from registry_core.errors import AlreadyExists, Conflict, IllegalTransition, InvalidInput, NotFound
from registry_core.lifecycle import VersionState
from registry_core.limits import check_description, check_user
from registry_core.names import AliasName, ModelName
from registry_core.permissions import Action, Actor, Role, Settings, Visibility, is_allowed
from registry_core.protocol import Repository
from registry_core.versions import BumpPart, Version

__all__ = ["Draft", "Registry"]


class Registry(PromoteMixin, MaintenanceMixin, RenameMixin, TokensMixin):
    """A model registry over ``repository``; see the module docstring."""

    def __init__(
        self,
        repository: Repository,
        actor: Actor | None = None,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._repo = repository
        self._actor = actor
        self._clock = clock

    def __repr__(self) -> str:
        who = "trusted" if self._actor is None else f"as {self._actor.user!r}"
        return f"Registry({self._repo!r}, {who})"

    @property
    def repository(self) -> Repository:
        return self._repo

    @property
    def actor(self) -> Actor | None:
        return self._actor

    def as_actor(self, actor: Actor | str | None) -> Registry:
        """A view of the same storage that checks every call against ``actor``'s role.

        A string is a user name; None means an anonymous caller (not a trusted one).
        """
        who = actor if isinstance(actor, Actor) else Actor(actor)
        return Registry(self._repo, who, clock=self._clock)

    def may(self, *actions: Action) -> dict[Action, bool]:
        """Whether the actor may do each of ``actions`` now (all of them when none are
        named), from one read of the settings: what a UI offers. A trusted registry may
        do everything. The calls themselves check again."""
        wanted = actions or tuple(Action)
        if self._actor is None:
            return dict.fromkeys(wanted, True)
        settings = self._load_settings()
        return {action: is_allowed(self._actor, action, settings) for action in wanted}

    def require(self, action: Action) -> None:
        """Raise `PermissionDenied`, with the rule's message, unless the actor may do
        ``action`` now: for a caller that wants to refuse before doing any work."""
        self._authorize(action)

    # -- models ---------------------------------------------------------------------------

    @atomic
    def create_model(
        self, name: str | ModelName, description: str = "", *, tags: Mapping[str, str] | None = None
    ) -> Model:
        """Create a model; names are unique compared case-insensitively."""
        self._authorize(Action.CREATE)
        mname = parse_name(name)
        check_description(description)
        now = self._now()
        entity = Model(
            name=mname,
            description=description,
            tags=checked_tags(tags or {}),
            created_at=now,
            updated_at=now,
            created_by=self._user(),
            updated_by=self._user(),
        )
        for attempt in range(16):
            try:
                self._repo.put_if_absent(model_key(mname), to_document(entity))
                return entity
            except AlreadyExists:
                existing = self._repo.get(model_key(mname))
                if existing is None:
                    continue
                if existing.data.get("deleting"):
                    self._finish_model_delete(mname)
                    backoff(attempt)
                    continue
                raise AlreadyExists(
                    f"model '{existing.data.get('name')}' already exists (names are unique "
                    "regardless of case)"
                ) from None
        raise Conflict(f"{describe(mname)} is being created and deleted by others; try again")

    def get_model(self, name: str | ModelName) -> Model:
        self._authorize(Action.READ)
        return self._model_doc(parse_name(name))[0]

    def list_models(
        self, prefix: str | None = None, *, page_size: int = 100, page_token: str | None = None
    ) -> Page[Model]:
        """One page of models ordered by name (case-insensitively), optionally by prefix."""
        self._authorize(Action.READ)
        _check_page_size(page_size)
        if prefix is not None and not isinstance(prefix, str):
            raise InvalidInput(f"prefix must be a string, not {type(prefix).__name__}")
        starts = prefix.lower() if prefix else None
        after = decode_token(page_token, f"models:{starts}")
        items: list[Model] = []
        while True:
            page = self._repo.list_page(
                ("models",), after=after, starts_with=starts, limit=page_size + 1
            )
            for segment, doc in readable(page):
                if not self._shown(doc.data):
                    after = segment
                    continue
                if len(items) == page_size:
                    token = encode_token(items[-1].name.key, f"models:{starts}")
                    return Page(tuple(items), token)
                items.append(self._model_of(doc.data))
                after = segment
            if len(page) < page_size + 1:
                return Page(tuple(items), None)

    @atomic
    def update_model(self, name: str | ModelName, *, description: str | None = None) -> Model:
        """Change a model's description."""
        self._authorize(Action.UPDATE)
        mname = parse_name(name)
        if description is None:
            return self._model_doc(mname)[0]
        check_description(description)
        return self._update_model(mname, lambda m: attrs.evolve(m, description=description))

    @atomic
    def set_model_tag(self, name: str | ModelName, key: str, value: str) -> Model:
        """Set a model-level tag."""
        self._authorize(Action.UPDATE)
        new = checked_tags({key: value})
        return self._update_model(
            parse_name(name), lambda m: attrs.evolve(m, tags={**m.tags, **new})
        )

    @atomic
    def delete_model_tag(self, name: str | ModelName, key: str) -> Model:
        """Remove a model-level tag; `NotFound` if it is not set."""
        self._authorize(Action.UPDATE)

        def drop(m: Model) -> Model:
            if key not in m.tags:
                raise NotFound(f"tag {key!r} is not set on {describe(m.name)}")
            return attrs.evolve(m, tags={k: v for k, v in m.tags.items() if k != key})

        return self._update_model(parse_name(name), drop)

    def delete_model(self, name: str | ModelName, *, force: bool = False) -> None:
        """Delete a model with all its versions, artifacts and metrics.

        Refused while it has aliases, unless ``force``. The intent is written first, so a
        crash half-way leaves the model invisible, and the next writer finishes the job.
        """
        self._authorize(Action.DELETE)
        mname = parse_name(name)
        model = self._model_doc(mname)[0]
        if model.aliases and not force:
            raise IllegalTransition(
                f"{describe(model.name)} has aliases ({', '.join(sorted(model.aliases))}); "
                "delete them first or pass force=True"
            )
        with self._atomic():
            self._mark_deleting(model_key(mname))
        self._finish_model_delete(mname)

    # -- aliases --------------------------------------------------------------------------

    @atomic
    def set_alias(self, model: str | ModelName, alias: str, version: str | Version) -> Model:
        """Point ``alias`` at a ready version (moving it if it pointed elsewhere)."""
        self._authorize(Action.UPDATE)
        mname, ver, aname = parse_name(model), parse_version(version), AliasName.parse(alias)
        target = self._version_doc(mname, ver)[0]
        if target.state is not VersionState.READY:
            raise IllegalTransition(
                f"alias '{aname}' may point only at a ready version; "
                f"{describe(target.model, target.version)} is {target.state.value}"
            )
        return self._update_model(
            mname, lambda m: attrs.evolve(m, aliases={**m.aliases, aname.value: target.version})
        )

    @atomic
    def delete_alias(self, model: str | ModelName, alias: str) -> Model:
        self._authorize(Action.UPDATE)
        mname, aname = parse_name(model), AliasName.parse(alias)

        def drop(m: Model) -> Model:
            if aname.value not in m.aliases:
                raise NotFound(f"alias '{aname}' does not exist on {describe(m.name)}")
            return attrs.evolve(m, aliases={k: v for k, v in m.aliases.items() if k != aname.value})

        return self._update_model(mname, drop)

    def get_alias(self, model: str | ModelName, alias: str) -> ModelVersion:
        """The version ``alias`` points at."""
        self._authorize(Action.READ)
        mname, aname = parse_name(model), AliasName.parse(alias)
        target = self._model_doc(mname)[0].aliases.get(aname.value)
        if target is None:
            raise NotFound(f"alias '{aname}' does not exist on {describe(mname)}")
        return self._version_doc(mname, target)[0]

    # -- a version in one block -----------------------------------------------------------

    @contextlib.contextmanager
    def new_version(
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
    ) -> Iterator[Draft]:
        """Create a draft, yield it, publish it on success and mark it failed on an error.

        >>> with registry.new_version("fraud", bump="minor") as draft:  # doctest: +SKIP
        ...     draft.upload("model.pkl")
        ...     draft.log_metric("auc", 0.93)
        """
        entity = self.create_version(
            model,
            version,
            bump=bump,
            prerelease=prerelease,
            description=description,
            tags=tags,
            params=params,
            ci_job=ci_job,
        )
        draft = Draft(self, entity.model, entity.version)
        try:
            yield draft
        except BaseException:
            with contextlib.suppress(Exception):
                self.fail(entity.model, entity.version)
            raise
        self.publish(entity.model, entity.version)

    # -- settings -------------------------------------------------------------------------

    def get_settings(self) -> Settings:
        self._authorize(Action.READ_SETTINGS)
        return self._load_settings()

    def _change_settings(self, change: Callable[[Settings], Settings]) -> Settings:
        for attempt in range(64):
            doc = self._repo.get(SETTINGS_KEY)
            current = Settings() if doc is None else from_document(doc.data, Settings)
            updated = change(current)
            try:
                if doc is None:
                    self._repo.put_if_absent(SETTINGS_KEY, to_document(updated))
                else:
                    self._repo.compare_and_swap(SETTINGS_KEY, to_document(updated), doc.etag)
                return updated
            except (AlreadyExists, Conflict, NotFound):
                backoff(attempt)
        raise Conflict("the settings kept changing; try again")

    @atomic
    def update_settings(
        self, *, enabled: bool | None = None, visibility: Visibility | str | None = None
    ) -> Settings:
        """Turn the registry on or off, or change who may read it (maintainer and up)."""
        self._authorize(Action.UPDATE_SETTINGS)
        if enabled is not None and not isinstance(enabled, bool):
            raise InvalidInput(f"enabled must be True or False, not {enabled!r}")
        try:
            vis = None if visibility is None else Visibility(visibility)
        except ValueError:
            raise InvalidInput(f"visibility {visibility!r} is not 'public' or 'private'") from None
        return self._change_settings(
            lambda s: attrs.evolve(
                s,
                enabled=s.enabled if enabled is None else enabled,
                visibility=s.visibility if vis is None else vis,
            )
        )

    @atomic
    def grant(self, user: str, role: Role | str) -> Settings:
        """Give ``user`` a role (maintainer and up)."""
        self._authorize(Action.MANAGE_MEMBERS)
        who, what = check_user(user), Role.parse(role)
        return self._change_settings(lambda s: attrs.evolve(s, members={**s.members, who: what}))

    @atomic
    def revoke(self, user: str) -> Settings:
        """Take away ``user``'s membership; `NotFound` if there is none."""
        self._authorize(Action.MANAGE_MEMBERS)
        who = check_user(user)

        def drop(s: Settings) -> Settings:
            if who not in s.members:
                raise NotFound(f"user {who!r} is not a member")
            return attrs.evolve(s, members={k: v for k, v in s.members.items() if k != who})

        return self._change_settings(drop)


@attrs.frozen
class Draft:
    """A draft version bound to its registry, as `Registry.new_version` yields it."""

    registry: Registry
    model: ModelName
    version: Version

    def info(self) -> ModelVersion:
        return self.registry.get_version(self.model, self.version)

    def upload(self, source: Any, **kwargs: Any) -> Any:
        return self.registry.upload(self.model, self.version, source, **kwargs)

    def upload_dir(self, directory: Any, **kwargs: Any) -> Any:
        return self.registry.upload_dir(self.model, self.version, directory, **kwargs)

    def append_log(self, text: str, **kwargs: Any) -> Any:
        return self.registry.append_log(self.model, self.version, text, **kwargs)

    def log_param(self, key: str, value: object) -> None:
        self.registry.log_param(self.model, self.version, key, value)

    def log_params(self, params: Mapping[str, object]) -> None:
        self.registry.log_params(self.model, self.version, params)

    def log_metric(self, key: str, value: float, **kwargs: Any) -> Any:
        return self.registry.log_metric(self.model, self.version, key, value, **kwargs)

    def log_metrics(self, metrics: Any, **kwargs: Any) -> Any:
        return self.registry.log_metrics(self.model, self.version, metrics, **kwargs)

    def set_tag(self, key: str, value: str) -> Any:
        return self.registry.set_tag(self.model, self.version, key, value)
