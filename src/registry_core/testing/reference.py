"""An executable specification of the registry's rules, written apart from `Registry`.

`Reference` answers the calls of the state machine (`registry_core.testing.machine`) with
what the README ("Concepts", "The API", "Permissions") and DESIGN.md say they must
return, or with the error class they must raise (a `Refusal`). It shares only the public
value types with the code it judges (`ModelName`, `AliasName`, `Version`, `Range`,
`ArtifactPath`, `VersionState`, `Role`, the entities and errors): no rule comes from the
Registry, so a mistake in a rule shows up as a disagreement instead of being made twice.

Answers are plain *views*, and `view` turns a Registry's answer into the same form: what
the rules decide, not clock times, upload holds or the manifest digest's encoding, which
the machine checks as invariants. Listings answer every page at once (page tokens are the
store's business); metrics need an explicit timestamp (the reference has no clock).

When a call breaks several rules, the order is: the caller's permission first (a refused
caller learns nothing), then the call's own arguments (any of several bad ones may be
reported), then whether the named things exist, then the state rules. A version or bump
in `create_version` and a path in `open_artifact` may also be checked after the lookup.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any, NamedTuple, TypeVar, cast

import attrs

from registry_core.entities import Artifact, Metric, Model, ModelVersion, Page
from registry_core.errors import (
    AlreadyExists,
    IllegalTransition,
    InvalidInput,
    InvalidVersion,
    NotFound,
    PermissionDenied,
    RegistryError,
)
from registry_core.lifecycle import VersionState
from registry_core.names import AliasName, ModelName
from registry_core.paths import ArtifactPath
from registry_core.permissions import Role, Settings
from registry_core.versions import Range, Version

__all__ = [
    "LEAST_ROLE",
    "LIFECYCLE",
    "ArtifactView",
    "MetricView",
    "ModelView",
    "PageView",
    "Reference",
    "Refusal",
    "SettingsView",
    "VersionView",
    "view",
]

T = TypeVar("T")
READY, DRAFT = VersionState.READY, VersionState.DRAFT

READ, WRITE, READ_SETTINGS, SETTINGS = "read", "write", "read settings", "change settings"
#: The least role for each kind of call (GitLab's): any member reads; reporter and up
#: create, change and delete; maintainer and up change settings and memberships.
LEAST_ROLE: Mapping[str, Role] = {
    READ: Role.GUEST,
    WRITE: Role.REPORTER,
    READ_SETTINGS: Role.GUEST,
    SETTINGS: Role.MAINTAINER,
}
_PUBLIC = frozenset({READ, READ_SETTINGS})  # what a non-member may do on a public registry
_WHILE_DISABLED = frozenset({READ_SETTINGS, SETTINGS})

#: (call, state) -> the state it leads to; every other pair is an illegal transition.
LIFECYCLE: Mapping[tuple[str, VersionState], VersionState] = {
    ("publish", DRAFT): READY,
    ("fail", DRAFT): VersionState.FAILED,
    ("deprecate", READY): VersionState.DEPRECATED,
    ("undeprecate", VersionState.DEPRECATED): READY,
    ("yank", READY): VersionState.YANKED,
    ("yank", VersionState.DEPRECATED): VersionState.YANKED,
}
_BUMPS = ("major", "minor", "patch")
_RANGE_MARKS = frozenset("<>=^~|* \t\n")


class Refusal(Exception):
    """The call must raise one of ``allowed``: more than one only where the spec does not
    rank two rules the call breaks."""

    def __init__(self, *allowed: type[RegistryError], why: str = "") -> None:
        self.allowed = frozenset(allowed)
        super().__init__(f"{' or '.join(sorted(c.__name__ for c in allowed))}: {why}")


# -- views: what the rules decide ---------------------------------------------------------


class ArtifactView(NamedTuple):
    path: str
    size: int
    sha256: str


class MetricView(NamedTuple):
    key: str
    value: float
    step: int
    timestamp: dt.datetime


class ModelView(NamedTuple):
    name: str
    description: str
    tags: tuple[tuple[str, str], ...]
    aliases: tuple[tuple[str, str], ...]
    created_by: str | None
    updated_by: str | None


class VersionView(NamedTuple):
    model: str
    version: str
    state: str
    description: str
    tags: tuple[tuple[str, str], ...]
    params: tuple[tuple[str, str], ...]
    artifacts: tuple[ArtifactView, ...]
    sealed: bool
    created_by: str | None
    updated_by: str | None


class SettingsView(NamedTuple):
    enabled: bool
    visibility: str
    members: tuple[tuple[str, str], ...]


class PageView(NamedTuple):
    items: tuple[Any, ...]
    more: bool


def _items(mapping: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in mapping.items())) if mapping else ()


def view(answer: Any) -> Any:
    """A Registry's answer in the reference's terms (anything else comes back as it is)."""
    if isinstance(answer, ModelVersion):
        return VersionView(
            answer.model.value,
            str(answer.version),
            answer.state.value,
            answer.description,
            _items(answer.tags),
            _items(answer.params),
            tuple(map(view, answer.artifacts)),
            answer.manifest_sha256 is not None,
            answer.created_by,
            answer.updated_by,
        )
    if isinstance(answer, Model):
        return ModelView(
            answer.name.value,
            answer.description,
            _items(answer.tags),
            _items(answer.aliases),
            answer.created_by,
            answer.updated_by,
        )
    if isinstance(answer, Artifact):
        return ArtifactView(answer.path.value, answer.size, answer.sha256)
    if isinstance(answer, Metric):
        return MetricView(answer.key, answer.value, answer.step, answer.timestamp)
    if isinstance(answer, Settings):
        members = {user: role.name.lower() for user, role in answer.members.items()}
        return SettingsView(answer.enabled, answer.visibility.value, _items(members))
    if isinstance(answer, Page):
        return PageView(tuple(map(view, answer.items)), answer.next_page_token is not None)
    if isinstance(answer, (list, tuple)):
        return tuple(map(view, answer))
    return answer


# -- the arguments' own rules -------------------------------------------------------------


class _Args:
    """Parses a call's arguments and collects every rule they break before refusing."""

    def __init__(self) -> None:
        self.broken: set[type[RegistryError]] = set()

    def parse(self, parse: Callable[[Any], T], raw: Any) -> T:
        try:
            return parse(raw)
        except RegistryError as error:
            self.broken.add(type(error))
            return cast(T, None)

    def require(self, ok: bool, error: type[RegistryError]) -> None:
        if not ok:
            self.broken.add(error)

    def done(self, *also: type[RegistryError]) -> None:
        if self.broken:
            raise Refusal(*self.broken, *also, why="bad arguments")


def _text(limit: int, *, required: bool = False, key: bool = False) -> Callable[[Any], str]:
    """A check for a string of at most ``limit`` characters; ``required``: not empty;
    ``key``: also no control characters and no surrounding spaces."""

    def check(text: Any) -> str:
        ok = isinstance(text, str) and len(text) <= limit and (text or not required)
        if ok and (key or required):
            ok = not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text)
        if ok and key:
            ok = text == text.strip()
        if not ok:
            raise InvalidInput(f"{text!r:.40} breaks the rule for this argument")
        return cast(str, text)

    return check


_description, _value = _text(10_000), _text(5_000)
_key, _user = _text(255, required=True, key=True), _text(255, required=True)


def _page_size(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 1000:
        raise InvalidInput(f"page_size {size!r} is not from 1 to 1000")
    return size


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"metric value {value!r} is not a number")
    return float(value)


def _step(step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, int) or not -(2**63) <= step < 2**63:
        raise InvalidInput(f"step {step!r} is not a 64-bit integer")
    return step


def _state(text: Any) -> VersionState:
    try:
        return VersionState(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a version state") from None


def _role(text: Any) -> Role:
    try:
        return Role[str(text).upper()]
    except KeyError:
        raise InvalidInput(f"{text!r} is not a role") from None


def _bump(highest: Version | None, part: str, label: str | None) -> Version:
    """npm's ``inc``: a prerelease first reaches its own release; with a ``label``, the
    result is ``<bumped>-<label>.0``, or the next number after ``<bumped>-<label>.N``."""
    if highest is None:
        numbers = (1, 0, 0)
    else:
        x, y, z, pre = highest.major, highest.minor, highest.patch, highest.is_prerelease
        numbers = {
            "major": (x if pre and y == z == 0 else x + 1, 0, 0),
            "minor": (x, y if pre and z == 0 else y + 1, 0),
            "patch": (x, y, z if pre else z + 1),
        }[part]
    release = ".".join(map(str, numbers))
    if label is None:
        return Version.parse(release)
    number = 0
    if highest is not None and highest.prerelease and highest.release == Version.parse(release):
        head, _, last = highest.prerelease.rpartition(".")
        number = int(last) + 1 if head == label and last.isdigit() else 0
    return Version.parse(f"{release}-{label}.{number}")


def _is_label(label: Any) -> bool:
    try:
        return isinstance(label, str) and Version.parse(f"0.0.0-{label}") is not None
    except InvalidVersion:
        return False


def _looks_like_range(spec: str) -> bool:
    """Range syntax: comparators, ``^``/``~``, ``||``, ``*``, spaces, or an ``x`` part."""
    return bool(_RANGE_MARKS & set(spec)) or any(p in ("x", "X") for p in spec.split("."))


def _pages(items: list[Any], size: int) -> tuple[PageView, ...]:
    chunks = [tuple(items[i : i + size]) for i in range(0, len(items), size)] or [()]
    return tuple(PageView(chunk, i + 1 < len(chunks)) for i, chunk in enumerate(chunks))


# -- the state --------------------------------------------------------------------------


@attrs.define
class _Version:
    version: Version
    created_by: str | None
    updated_by: str | None
    state: VersionState = DRAFT
    description: str = ""
    tags: dict[str, str] = attrs.Factory(dict)
    params: dict[str, str] = attrs.Factory(dict)
    files: dict[str, tuple[ArtifactView, bytes]] = attrs.Factory(dict)  # by path key
    manifest: tuple[ArtifactView, ...] | None = None  # frozen when published
    metrics: list[MetricView] = attrs.Factory(list)

    def listing(self) -> tuple[ArtifactView, ...]:
        if self.manifest is not None:
            return self.manifest
        return tuple(entry for _, (entry, _) in sorted(self.files.items()))


@attrs.define
class _Model:
    name: ModelName
    created_by: str | None
    updated_by: str | None
    description: str = ""
    tags: dict[str, str] = attrs.Factory(dict)
    aliases: dict[str, Version] = attrs.Factory(dict)
    versions: dict[Version, _Version] = attrs.Factory(dict)


@attrs.define
class _World:
    models: dict[str, _Model] = attrs.Factory(dict)  # by name key
    enabled: bool = True
    public: bool = False
    members: dict[str, Role] = attrs.Factory(dict)


class Reference:
    """The registry as the spec describes it, in memory. ``Reference()`` is trusted, as
    a Registry opened without an actor; `as_actor` gives a caller's view of the same state."""

    def __init__(
        self, world: _World | None = None, user: str | None = None, *, trusted: bool = True
    ) -> None:
        self._world = _World() if world is None else world
        self._user = user
        self._trusted = trusted

    def as_actor(self, user: str | None) -> Reference:
        """The same registry, every call checked against ``user`` (None: anonymous)."""
        return Reference(self._world, user, trusted=False)

    # -- who may, and what exists -------------------------------------------------------

    @property
    def _who(self) -> str | None:
        return None if self._trusted else self._user

    def _allow(self, doing: str) -> None:
        if self._trusted:
            return
        world = self._world
        if not world.enabled and doing not in _WHILE_DISABLED:
            raise Refusal(PermissionDenied, why=f"the registry is disabled: cannot {doing}")
        role = None if self._user is None else world.members.get(self._user)
        if role is None and not (world.public and doing in _PUBLIC):
            raise Refusal(PermissionDenied, why=f"{self._user!r} is no member: cannot {doing}")
        if role is not None and role < LEAST_ROLE[doing]:
            raise Refusal(PermissionDenied, why=f"{self._user!r} is {role.name}: cannot {doing}")

    def _model(self, name: ModelName) -> _Model:
        found = self._world.models.get(name.key)
        if found is None:
            raise Refusal(NotFound, why=f"model {name} does not exist")
        return found

    def _version(self, name: ModelName, version: Version) -> tuple[_Model, _Version]:
        model = self._model(name)
        found = model.versions.get(version)
        if found is None:
            raise Refusal(NotFound, why=f"{name}@{version} does not exist")
        return model, found

    def _args(
        self, model: Any, version: Any = None, *, args: _Args | None = None
    ) -> tuple[ModelName, Version]:
        """The model name and (if given) version, refused if either breaks its rule."""
        args = args or _Args()
        name = args.parse(ModelName.parse, model)
        ver = None if version is None else args.parse(Version.parse, version)
        args.done()
        return name, cast(Version, ver)

    def _found(
        self, model: Any, version: Any, *, args: _Args | None = None
    ) -> tuple[_Model, _Version]:
        return self._version(*self._args(model, version, args=args))

    def _draft(self, version: _Version, doing: str) -> None:
        if version.state is not DRAFT:
            raise Refusal(
                IllegalTransition, why=f"{version.version} is {version.state.value}: {doing}"
            )

    def _touch(self, thing: _Model | _Version) -> None:
        thing.updated_by = self._who

    def _show_model(self, model: _Model) -> ModelView:
        aliases = {a: str(v) for a, v in model.aliases.items()}
        return ModelView(
            model.name.value,
            model.description,
            _items(model.tags),
            _items(aliases),
            model.created_by,
            model.updated_by,
        )

    def _show(self, model: _Model, version: _Version) -> VersionView:
        return VersionView(
            model.name.value,
            str(version.version),
            version.state.value,
            version.description,
            _items(version.tags),
            _items(version.params),
            version.listing(),
            version.manifest is not None,
            version.created_by,
            version.updated_by,
        )

    # -- models -------------------------------------------------------------------------

    def create_model(self, name: Any, description: Any = "") -> ModelView:
        self._allow(WRITE)
        args = _Args()
        args.parse(_description, description)
        mname = self._args(name, args=args)[0]
        if mname.key in self._world.models:
            raise Refusal(AlreadyExists, why=f"model {mname} exists, regardless of case")
        model = self._world.models[mname.key] = _Model(mname, self._who, self._who, description)
        return self._show_model(model)

    def get_model(self, name: Any) -> ModelView:
        self._allow(READ)
        return self._show_model(self._model(self._args(name)[0]))

    def list_models(
        self, prefix: str | None = None, *, page_size: Any = 100
    ) -> tuple[PageView, ...]:
        self._allow(READ)
        args = _Args()
        args.parse(_page_size, page_size)
        args.require(prefix is None or isinstance(prefix, str), InvalidInput)
        args.done()
        start = (prefix or "").lower()
        found = [m for key, m in sorted(self._world.models.items()) if key.startswith(start)]
        return _pages([self._show_model(m) for m in found], page_size)

    def _change_model(self, name: Any, change: Callable[[_Model], bool], args: _Args) -> ModelView:
        model = self._model(self._args(name, args=args)[0])
        if change(model):
            self._touch(model)
        return self._show_model(model)

    def update_model(self, name: Any, *, description: Any) -> ModelView:
        self._allow(WRITE)
        args = _Args()
        args.parse(_description, description)
        return self._change_model(name, lambda m: _put(m, "description", description), args)

    def set_model_tag(self, name: Any, key: Any, value: Any) -> ModelView:
        self._allow(WRITE)
        args = _Args()
        args.parse(_key, key), args.parse(_value, value)
        return self._change_model(name, lambda m: _put_item(m.tags, key, value), args)

    def delete_model_tag(self, name: Any, key: Any) -> ModelView:
        self._allow(WRITE)
        return self._change_model(name, lambda m: _drop_item(m.tags, key, "tag"), _Args())

    def delete_model(self, name: Any, *, force: bool = False) -> None:
        """Refused while the model has aliases, unless ``force``."""
        self._allow(WRITE)
        model = self._model(self._args(name)[0])
        if model.aliases and not force:
            raise Refusal(IllegalTransition, why=f"{model.name} has aliases")
        del self._world.models[model.name.key]

    # -- versions -----------------------------------------------------------------------

    def create_version(
        self,
        model: Any,
        version: Any = None,
        *,
        bump: Any = None,
        prerelease: Any = None,
        publish: Any = False,
    ) -> VersionView:
        """An exact version, or a bump from the highest one (the first is 1.0.0); never
        one equal in precedence to another."""
        self._allow(WRITE)
        args = _Args()
        args.require(isinstance(publish, bool), InvalidInput)
        args.require((version is None) != (bump is None), InvalidVersion)
        args.require(version is None or prerelease is None, InvalidVersion)
        name = self._args(model, args=args)[0]
        late = _Args()  # worked out against the model, so possibly after looking it up
        exact = None if version is None else late.parse(Version.parse, version)
        late.require(bump is None or bump in _BUMPS, InvalidVersion)
        late.require(prerelease is None or _is_label(prerelease), InvalidVersion)
        if name.key not in self._world.models:
            raise Refusal(NotFound, *late.broken, why=f"model {name} does not exist")
        late.done()
        found = self._model(name)
        target = exact or _bump(max(found.versions, default=None), bump, prerelease)
        if target in found.versions:
            raise Refusal(AlreadyExists, why=f"{name}@{target} exists, by precedence")
        entry = found.versions[target] = _Version(target, self._who, self._who)
        if publish:
            entry.state, entry.manifest = READY, ()
        return self._show(found, entry)

    def get_version(self, model: Any, version: Any) -> VersionView:
        self._allow(READ)
        return self._show(*self._found(model, version))

    def update_version(self, model: Any, version: Any, *, description: Any) -> VersionView:
        self._allow(WRITE)
        args = _Args()
        args.parse(_description, description)
        found, entry = self._found(model, version, args=args)
        if _put(entry, "description", description):
            self._touch(entry)
        return self._show(found, entry)

    def list_versions(
        self,
        model: Any,
        *,
        states: Iterable[Any] | None = None,
        include_prereleases: bool = True,
        order: Any = "precedence",
        page_size: Any = 100,
    ) -> tuple[PageView, ...]:
        self._allow(READ)
        args = _Args()
        args.require(order in ("precedence", "-precedence"), InvalidInput)
        args.parse(_page_size, page_size)
        wanted = None if states is None else {args.parse(_state, s) for s in states}
        found = self._model(self._args(model, args=args)[0])
        chosen = sorted(
            (v.version, v)
            for v in found.versions.values()
            if (wanted is None or v.state in wanted)
            and (include_prereleases or not v.version.is_prerelease)
        )
        if order == "-precedence":
            chosen.reverse()
        return _pages([self._show(found, v) for _, v in chosen], page_size)

    def _best(self, model: _Model, fits: Callable[[Version], bool], why: str) -> VersionView:
        """The highest-precedence ready version that ``fits``."""
        ready = [v for v in model.versions.values() if v.state is READY and fits(v.version)]
        if not ready:
            raise Refusal(NotFound, why=why)
        return self._show(model, max(ready, key=lambda v: v.version))

    def latest(self, model: Any, *, include_prereleases: bool = False) -> VersionView:
        """The highest ready version; a prerelease only when asked."""
        self._allow(READ)
        found = self._model(self._args(model)[0])
        return self._best(
            found, lambda v: include_prereleases or not v.is_prerelease, "no ready version"
        )

    def resolve(self, model: Any, spec: Any, *, include_prereleases: bool = False) -> VersionView:
        """An exact version in any state, then ``latest``, then an alias, then an npm range
        over ready versions; a spec that is none of these and has no range syntax is a
        missing alias or version."""
        self._allow(READ)
        args = _Args()
        args.require(isinstance(spec, str), InvalidVersion)
        name = self._args(model, args=args)[0]
        exact = _Args().parse(Version.parse, spec)
        if exact is not None:
            return self._show(*self._version(name, exact))
        if spec == "latest":
            return self.latest(model, include_prereleases=include_prereleases)
        alias = _Args().parse(AliasName.parse, spec)
        if alias is not None and alias.value in self._model(name).aliases:
            return self._show(*self._version(name, self._model(name).aliases[alias.value]))
        wanted = _Args().parse(Range.parse, spec)
        if wanted is None and _looks_like_range(spec):
            raise Refusal(InvalidVersion, why=f"{spec!r} is a broken range")
        found = self._model(name)
        if wanted is None:
            raise Refusal(NotFound, why=f"no alias or version {spec!r}")
        return self._best(
            found,
            lambda v: wanted.contains(v, include_prerelease=include_prereleases),
            f"no ready version matches {spec!r}",
        )

    def _move(self, call: str, model: Any, version: Any) -> VersionView:
        """A lifecycle transition; an alias points only at a ready version, so an aliased
        version cannot leave ``ready``. Publishing seals the manifest."""
        self._allow(WRITE)
        found, entry = self._found(model, version)
        target = LIFECYCLE.get((call, entry.state))
        if target is None:
            raise Refusal(IllegalTransition, why=f"cannot {call} a {entry.state.value} version")
        if target is not READY and entry.version in found.aliases.values():
            raise Refusal(IllegalTransition, why=f"an alias points at {entry.version}")
        if target is READY and entry.manifest is None:
            entry.manifest = entry.listing()
        entry.state = target
        self._touch(entry)
        return self._show(found, entry)

    def publish(self, model: Any, version: Any) -> VersionView:
        return self._move("publish", model, version)

    def fail(self, model: Any, version: Any) -> VersionView:
        return self._move("fail", model, version)

    def deprecate(self, model: Any, version: Any) -> VersionView:
        return self._move("deprecate", model, version)

    def undeprecate(self, model: Any, version: Any) -> VersionView:
        return self._move("undeprecate", model, version)

    def yank(self, model: Any, version: Any) -> VersionView:
        return self._move("yank", model, version)

    def delete_version(self, model: Any, version: Any, *, force: bool = False) -> None:
        """Any state; refused while an alias points at it, unless ``force`` (which drops
        those aliases)."""
        self._allow(WRITE)
        found, entry = self._found(model, version)
        pointing = [a for a, v in found.aliases.items() if v == entry.version]
        if pointing and not force:
            raise Refusal(IllegalTransition, why=f"aliases {pointing} point at it")
        for alias in pointing:
            del found.aliases[alias]
        if pointing:
            self._touch(found)
        del found.versions[entry.version]

    # -- files, parameters, metrics, tags -------------------------------------------------

    def _store(
        self, entry: _Version, path: ArtifactPath, data: bytes, *, rewrite: bool = False
    ) -> ArtifactView:
        """Keep ``data`` at ``path`` of a draft: a path is unique regardless of case, and
        no file holds another. With ``rewrite``, a file at ``path`` is replaced."""
        self._draft(entry, "files are sealed")
        if not (rewrite and path.key in entry.files):
            for other in (ArtifactPath.parse(e.path) for e, _ in entry.files.values()):
                if path.is_within(other) or other.is_within(path):
                    raise Refusal(AlreadyExists, why=f"{path} clashes with {other}")
        made = ArtifactView(path.value, len(data), hashlib.sha256(data).hexdigest())
        entry.files[path.key] = (made, data)
        self._touch(entry)
        return made

    def upload(self, model: Any, version: Any, source: IO[bytes], *, name: Any) -> ArtifactView:
        """A new file in a draft."""
        self._allow(WRITE)
        args = _Args()
        path = args.parse(ArtifactPath.parse, name)
        _, entry = self._found(model, version, args=args)
        return self._store(entry, path, source.read())

    def upload_dir(
        self, model: Any, version: Any, directory: Any, *, subfolder: Any = None
    ) -> tuple[ArtifactView, ...]:
        """Every file under a local folder at its relative path, all or nothing: one that
        cannot be stored refuses the call, and no file of it is kept."""
        self._allow(WRITE)
        _, entry = self._found(model, version)
        root = Path(directory)
        before = dict(entry.files), entry.updated_by
        try:
            return tuple(
                self._store(
                    entry,
                    ArtifactPath.from_local(subfolder, local.relative_to(root).as_posix()),
                    local.read_bytes(),
                )
                for local in sorted(p for p in root.rglob("*") if p.is_file())
            )
        except Refusal:
            entry.files, entry.updated_by = before
            raise

    def _file(self, entry: _Version, path: ArtifactPath) -> bytes:
        found = entry.files.get(path.key)
        if found is None:
            raise Refusal(NotFound, why=f"no file {path}")
        return found[1]

    def open_artifact(self, model: Any, version: Any, path: Any) -> bytes:
        self._allow(READ)
        late = _Args()
        wanted = late.parse(ArtifactPath.parse, path)
        try:
            _, entry = self._found(model, version)
        except Refusal as missing:
            raise Refusal(*missing.allowed, *late.broken, why=str(missing)) from None
        late.done()
        return self._file(entry, wanted)

    def list_artifacts(self, model: Any, version: Any) -> tuple[ArtifactView, ...]:
        self._allow(READ)
        return self._found(model, version)[1].listing()

    def delete_artifacts(self, model: Any, version: Any, paths: Iterable[Any]) -> None:
        """From a draft only; every path must exist, or nothing changes."""
        self._allow(WRITE)
        args = _Args()
        wanted = [args.parse(ArtifactPath.parse, p) for p in paths]
        _, entry = self._found(model, version, args=args)
        self._draft(entry, "files are sealed")
        for path in wanted:
            self._file(entry, path)
        for path in wanted:
            del entry.files[path.key]
        self._touch(entry)

    def append_log(
        self, model: Any, version: Any, text: Any, *, name: str = "run.log"
    ) -> ArtifactView:
        """Text added to the file ``logs/<name>`` of a draft."""
        self._allow(WRITE)
        args = _Args()
        args.require(isinstance(text, str), InvalidInput)
        path = args.parse(ArtifactPath.parse, f"logs/{name}")
        _, entry = self._found(model, version, args=args)
        before = entry.files[path.key][1] if path.key in entry.files else b""
        return self._store(entry, path, before + text.encode("utf-8"), rewrite=True)

    def log_param(self, model: Any, version: Any, key: Any, value: Any) -> None:
        """Written once, into a draft: the same value again is no change, another refused."""
        self._allow(WRITE)
        args = _Args()
        args.parse(_key, key), args.parse(_value, value)
        _, entry = self._found(model, version, args=args)
        self._draft(entry, "parameters are sealed")
        if entry.params.get(key, value) != value:
            raise Refusal(AlreadyExists, why=f"param {key} is already {entry.params[key]!r}")
        if _put_item(entry.params, key, value):
            self._touch(entry)

    def log_metric(
        self, model: Any, version: Any, key: Any, value: Any, *, step: Any = 0, timestamp: Any
    ) -> MetricView:
        """A point of the metric's history, in any state."""
        self._allow(WRITE)
        args = _Args()
        args.parse(_key, key)
        number, step = args.parse(_number, value), args.parse(_step, step)
        args.require(
            isinstance(timestamp, dt.datetime) and timestamp.tzinfo is not None, InvalidInput
        )
        _, entry = self._found(model, version, args=args)
        entry.metrics.append(MetricView(key, number, step, timestamp))
        return entry.metrics[-1]

    def get_metrics(self, model: Any, version: Any) -> tuple[MetricView, ...]:
        self._allow(READ)
        return tuple(self._found(model, version)[1].metrics)

    def set_tag(self, model: Any, version: Any, key: Any, value: Any) -> VersionView:
        """Tags stay editable in every state."""
        self._allow(WRITE)
        args = _Args()
        args.parse(_key, key), args.parse(_value, value)
        found, entry = self._found(model, version, args=args)
        if _put_item(entry.tags, key, value):
            self._touch(entry)
        return self._show(found, entry)

    def delete_tag(self, model: Any, version: Any, key: Any) -> VersionView:
        self._allow(WRITE)
        found, entry = self._found(model, version)
        _drop_item(entry.tags, key, "tag")
        self._touch(entry)
        return self._show(found, entry)

    # -- aliases --------------------------------------------------------------------------

    def set_alias(self, model: Any, alias: Any, version: Any) -> ModelView:
        """An alias points only at a ready version (``latest`` is no alias)."""
        self._allow(WRITE)
        args = _Args()
        aname = args.parse(AliasName.parse, alias)
        found, entry = self._found(model, version, args=args)
        if entry.state is not READY:
            raise Refusal(IllegalTransition, why=f"{entry.version} is {entry.state.value}")
        if _put_item(found.aliases, aname.value, entry.version):
            self._touch(found)
        return self._show_model(found)

    def delete_alias(self, model: Any, alias: Any) -> ModelView:
        self._allow(WRITE)
        args = _Args()
        aname = args.parse(AliasName.parse, alias)
        found = self._model(self._args(model, args=args)[0])
        _drop_item(found.aliases, aname.value, "alias")
        self._touch(found)
        return self._show_model(found)

    def get_alias(self, model: Any, alias: Any) -> VersionView:
        self._allow(READ)
        args = _Args()
        aname = args.parse(AliasName.parse, alias)
        found = self._model(self._args(model, args=args)[0])
        target = found.aliases.get(aname.value)
        if target is None:
            raise Refusal(NotFound, why=f"no alias {aname}")
        return self._show(*self._version(found.name, target))

    # -- settings -------------------------------------------------------------------------

    def get_settings(self) -> SettingsView:
        self._allow(READ_SETTINGS)
        world = self._world
        members = {user: role.name.lower() for user, role in world.members.items()}
        return SettingsView(world.enabled, "public" if world.public else "private", _items(members))

    def update_settings(self, *, enabled: Any = None, visibility: Any = None) -> SettingsView:
        """A disabled registry refuses every call but the settings' (a trusted one, none)."""
        self._allow(SETTINGS)
        args = _Args()
        args.require(enabled is None or isinstance(enabled, bool), InvalidInput)
        args.require(visibility in (None, "public", "private"), InvalidInput)
        args.done()
        if enabled is not None:
            self._world.enabled = enabled
        if visibility is not None:
            self._world.public = visibility == "public"
        return self._trusted_view().get_settings()

    def grant(self, user: Any, role: Any) -> SettingsView:
        self._allow(SETTINGS)
        args = _Args()
        who, what = args.parse(_user, user), args.parse(_role, role)
        args.done()
        self._world.members[who] = what
        return self._trusted_view().get_settings()

    def revoke(self, user: Any) -> SettingsView:
        self._allow(SETTINGS)
        args = _Args()
        who = args.parse(_user, user)
        args.done()
        _drop_item(self._world.members, who, "member")
        return self._trusted_view().get_settings()

    def _trusted_view(self) -> Reference:
        return Reference(self._world)


def _put(thing: Any, field: str, value: Any) -> bool:
    """Set ``thing.field``; whether that changed it."""
    changed = bool(getattr(thing, field) != value)
    setattr(thing, field, value)
    return changed


def _put_item(mapping: dict[Any, Any], key: Any, value: Any) -> bool:
    changed = key not in mapping or mapping[key] != value
    mapping[key] = value
    return changed


def _drop_item(mapping: dict[Any, Any], key: Any, what: str) -> bool:
    if key not in mapping:
        raise Refusal(NotFound, why=f"no {what} {key!r}")
    del mapping[key]
    return True
