"""A hypothesis state machine: random Registry calls, each judged by the reference model.

Every rule makes a call on a Registry over the backend under test and the same call on
`Reference` (`registry_core.testing.reference`), an executable specification of the
domain rules written apart from the Registry's code. The Registry's answer, seen through
`view`, must equal the reference's, and an error must be of a class the reference
expects: so the machine finds a backend that stores wrongly and a rule that is wrong.
What views leave out (times, upload holds, the manifest digest) is checked as invariants.

Inputs come from small pools, valid and invalid, so that calls collide: the same model
twice, versions equal in precedence, sealed versions... Calls come from the trusted
registry most of the time, and otherwise through ``as_actor`` from a maintainer, a
reporter, a guest, a stranger and an anonymous caller.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import itertools
from collections.abc import Callable
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from registry_core.entities import Model, ModelVersion, Page
from registry_core.errors import RegistryError
from registry_core.names import ModelName
from registry_core.protocol import Repository
from registry_core.registry import Registry
from registry_core.testing.fixtures import RepositoryFixtures
from registry_core.testing.profiles import suite_settings
from registry_core.testing.reference import Reference, Refusal, view
from registry_core.versions import Version

__all__ = ["RegistryStateMachine", "StateMachineTests"]

# Valid values repeat so that most calls reach storage; a few invalid ones keep errors honest.
_MODELS = ["m", "m", "m", "M", "team/a", "team/a", "team/b", "a//b", "a/1.0.0"]
_VERSIONS = [
    "1.0.0",
    "1.0.0",
    "1.0.0+b",
    "1.1.0",
    "1.1.0",
    "1.1.1-rc.1",
    "2.0.0-rc.1",
    "2.0.0",
    "1.0",
]
MODELS, VERSIONS = st.sampled_from(_MODELS), st.sampled_from(_VERSIONS)
#: Where a call on a version goes: a (model, version) pair from the pools, or as often the
#: index of a pair that was created (it may be gone since). One draw, printed plainly.
AT = st.sampled_from(
    [*itertools.product(_MODELS, _VERSIONS), *range(len(_MODELS) * len(_VERSIONS))]
)
_SPECS = [
    "latest",
    "^1.0",
    "~1.1",
    "1.x",
    ">=1.1.1-rc.0",
    "*",
    "prod",
    "1.0.0",
    "2.0.0-rc.1",
    ">=1 <1",
    "^^1",
    "canary",
    "1.0.O",
]
#: Specs to resolve, one or two at a time.
SPEC_PAIRS = st.sampled_from([(s,) for s in _SPECS] + list(itertools.combinations(_SPECS, 2)))
#: Lifecycle moves, one or a few in a row on one version so that its later states come up.
_MOVES = ["publish", "fail", "deprecate", "undeprecate", "yank"]
MOVES = st.sampled_from(
    [(m,) for m in _MOVES]
    + list(itertools.permutations(_MOVES, 2))
    + [("publish", "deprecate", "yank")]
)
PATHS = st.sampled_from(
    [
        "w.bin",
        "w.bin",
        "W.BIN",
        "config/a.json",
        "config",
        "config/a.json/x",
        "../x",
        "logs/run.log",
    ]
)
ALIASES = st.sampled_from(["prod", "prod", "canary", "latest", "bad alias"])
KEYS = st.sampled_from(["lr", "loss", "k", "k", "x" * 256])
VALUES = st.sampled_from(["0.1", "a", "", "v" * 5001])
DESCRIPTIONS = st.sampled_from(["", "d", "x" * 10_001])
TEXTS = st.sampled_from(["0.1", "a", "", "v" * 5001, "d", "x" * 10_001])  # values or descriptions
STATES = st.sampled_from([None, ["ready"], ["draft", "yanked"]])
TIMES = st.sampled_from(
    [
        dt.datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=dt.timezone.utc),
        dt.datetime(2025, 6, 1, 14, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    ]
)

TRUSTED, ANONYMOUS = "(trusted)", "(anonymous)"
#: The seed's members, one of each role the rules tell apart.
MEMBERS = {"mia": "maintainer", "rob": "reporter", "gus": "guest"}
#: Who calls: mostly the trusted registry, so that most calls reach storage.
WHO = st.sampled_from([TRUSTED] * 4 + [*MEMBERS, "eve", ANONYMOUS])
USERS = st.sampled_from([*MEMBERS, "eve", ""])
ROLES = st.sampled_from(["guest", "reporter", "maintainer", "Owner", "boss"])


def _fixed_clock() -> Callable[[], dt.datetime]:
    ticks = itertools.count()
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    return lambda: start + dt.timedelta(milliseconds=next(ticks))


Outcome = tuple[str, Any]


def _got(call: Callable[[], Any]) -> tuple[Outcome, Any]:
    """The Registry's outcome, ``("ok", view)`` or ``("error", class)``, and its raw answer."""
    try:
        result = call()
    except RegistryError as error:
        return ("error", type(error)), None
    if hasattr(result, "read"):
        with result:
            return ("ok", result.read()), None
    return ("ok", view(result)), result


def _wanted(call: Callable[[], Any]) -> Outcome:
    """The reference's outcome: ``("ok", view)`` or ``("error", the classes it allows)``."""
    try:
        return "ok", call()
    except Refusal as refusal:
        return "error", refusal.allowed


def _agree(got: Outcome, want: Outcome, who: str, call: str, *args: Any, **kwargs: Any) -> None:
    ok = got[1] in want[1] if got[0] == want[0] == "error" else got == want
    assert ok, f"{who} {call}{args}{kwargs}:\n  registry  {got!r}\n  reference {want!r}"


Where = Any  # an index into ``made``, or a (model, version) pair
#: After every step the machine reads back the list of models and the versions of the
#: models the step named; every this many steps, the versions of every model (a write
#: that reached the wrong model shows there).
FULL_CHECK_EVERY = 10


class RegistryStateMachine(RuleBasedStateMachine):
    """Bind ``make_repository`` (and ``close_repository``) before running; see
    `StateMachineTests`."""

    make_repository: Callable[[], Repository]
    close_repository: Callable[[Repository], None] = staticmethod(lambda repo: None)

    def __init__(self) -> None:
        super().__init__()
        self.repo = type(self).make_repository()
        self.subject = Registry(self.repo, clock=_fixed_clock())
        self.reference = Reference()
        self.sides: dict[str, tuple[Registry, Reference]] = {
            TRUSTED: (self.subject, self.reference)
        }
        for user in [*MEMBERS, "eve", None]:
            self.sides[user or ANONYMOUS] = (
                self.subject.as_actor(user),
                self.reference.as_actor(user),
            )
        self.digests: dict[tuple[str, str], str] = {}  # a sealed version's manifest digest
        self.made: list[tuple[str, str]] = []  # (model, version) pairs once created
        self.touched: set[str] = set()  # keys of the models named since the last check
        self.checks = 0

    def teardown(self) -> None:
        type(self).close_repository(self.repo)

    def same(self, who: str, method: str, *args: Any, **kwargs: Any) -> Outcome:
        """Make one call on both sides as ``who``; assert they agree."""
        registry, reference = self.sides[who]
        if args and isinstance(args[0], str) and method not in ("grant", "revoke"):
            self.touched.add(args[0].lower())
        got, raw = _got(lambda: getattr(registry, method)(*args, **kwargs))
        want = _wanted(lambda: getattr(reference, method)(*args, **kwargs))
        _agree(got, want, who, method, *args, **kwargs)
        self._inspect(raw)
        return got

    def same_pages(self, who: str, method: str, *args: Any, **kwargs: Any) -> Outcome:
        """A listing: the first pages the Registry gives, against every page of the
        reference; returns the reference's outcome."""
        registry, reference = self.sides[who]
        want = _wanted(lambda: getattr(reference, method)(*args, **kwargs))
        call = getattr(registry, method)
        token = None
        for number in range(3):
            got, page = _got(functools.partial(call, *args, page_token=token, **kwargs))
            expected = want if want[0] == "error" else ("ok", want[1][number])
            _agree(got, expected, who, f"{method} page {number + 1}", *args, **kwargs)
            self._inspect(page)
            if page is None or page.next_page_token is None:
                break
            token = page.next_page_token
        return want

    def _inspect(self, answer: Any) -> None:
        """What views leave out: times in order, published iff sealed, no upload left
        holding a path, and a sealed manifest's digest never changing."""
        for item in answer.items if isinstance(answer, Page) else [answer]:
            if isinstance(item, (Model, ModelVersion)):
                assert item.created_at <= item.updated_at, item
            if isinstance(item, ModelVersion):
                digest = item.manifest_sha256
                assert (item.published_at is None) == (digest is None), item
                assert item.uploads == (), item
                if digest is not None:
                    where = (item.model.key, item.version.precedence_key)
                    first = self.digests.setdefault(where, digest)
                    assert first == digest, f"{item.package}: the sealed manifest changed"

    def _forget(self, model: str, version: str | None = None) -> None:
        """After a delete: the digests of what was deleted may be sealed anew."""
        key = ModelName.parse(model).key
        wanted = None if version is None else Version.parse(version).precedence_key
        for where in [w for w in self.digests if w[0] == key and wanted in (None, w[1])]:
            del self.digests[where]

    def _at(self, at: Where) -> tuple[str, str]:
        return self.made[at % len(self.made)] if isinstance(at, int) else at

    def _made(self, outcome: Outcome, name: str) -> None:
        if outcome[0] == "ok":
            self.made.append((name, outcome[1].version))

    @initialize(
        models=st.lists(MODELS, max_size=2),
        versions=st.lists(VERSIONS, max_size=3),
        publish=st.booleans(),
    )
    def seed(self, models: list[str], versions: list[str], publish: bool) -> None:
        """Start from a member of each role and a model ``m`` with a draft ``1.0.0``, a
        ready ``1.1.0`` with an alias, and above it a ready prerelease and a yanked version
        (which latest and ranges must pass over); then a few random ones. The rules meet
        real state from the first step."""
        for user, role in MEMBERS.items():
            self.same(TRUSTED, "grant", user, role)
        self.same(TRUSTED, "create_model", "m")
        for version, ready in (("1.0.0", False), ("1.1.0", True), ("1.1.1-rc.1", True)):
            self._made(self.same(TRUSTED, "create_version", "m", version, publish=ready), "m")
        self.same(TRUSTED, "set_alias", "m", "prod", "1.1.0")
        self._made(self.same(TRUSTED, "create_version", "m", "1.2.0", publish=True), "m")
        self.same(TRUSTED, "yank", "m", "1.2.0")
        for name in models:
            self.same(TRUSTED, "create_model", name)
            for version in versions:
                self._made(self.same(TRUSTED, "create_version", name, version), name)
                if publish:
                    self.same(TRUSTED, "publish", name, version)

    # -- models ---------------------------------------------------------------------------

    @rule(who=WHO, name=MODELS, description=DESCRIPTIONS)
    def create_model(self, who: str, name: str, description: str) -> None:
        self.same(who, "create_model", name, description)

    @rule(who=WHO, name=MODELS, force=st.booleans())
    def delete_model(self, who: str, name: str, force: bool) -> None:
        if self.same(who, "delete_model", name, force=force)[0] == "ok":
            self._forget(name)

    @rule(
        who=WHO,
        name=MODELS,
        change=st.sampled_from(["update_model", "set_model_tag", "delete_model_tag"]),
        key=KEYS,
        value=TEXTS,
    )
    def change_model(self, who: str, name: str, change: str, key: str, value: str) -> None:
        if change == "update_model":
            self.same(who, change, name, description=value)
        elif change == "set_model_tag":
            self.same(who, change, name, key, value)
        else:
            self.same(who, change, name, key)

    # -- versions -------------------------------------------------------------------------

    @rule(who=WHO, name=MODELS, version=VERSIONS, publish=st.sampled_from([False, False, True]))
    def create_version(self, who: str, name: str, version: str, publish: bool) -> None:
        self._made(self.same(who, "create_version", name, version, publish=publish), name)

    @rule(
        who=WHO,
        name=MODELS,
        bump=st.sampled_from(["major", "minor", "patch", "huge"]),
        prerelease=st.sampled_from([None, "rc", "beta", "bad..label"]),
    )
    def bump_version(self, who: str, name: str, bump: str, prerelease: str | None) -> None:
        self._made(self.same(who, "create_version", name, bump=bump, prerelease=prerelease), name)

    @rule(
        who=WHO,
        at=AT,
        moves=MOVES,
    )
    def transition(self, who: str, at: Where, moves: tuple[str, ...]) -> None:
        """A few lifecycle moves in a row on one version, so that its later states come up."""
        for move in moves:
            self.same(who, move, *self._at(at))

    @rule(who=WHO, at=AT, force=st.booleans())
    def delete_version(self, who: str, at: Where, force: bool) -> None:
        name, version = self._at(at)
        if self.same(who, "delete_version", name, version, force=force)[0] == "ok":
            self._forget(name, version)

    @rule(
        who=WHO,
        at=AT,
        change=st.sampled_from(["set_tag", "delete_tag", "update_version"]),
        key=KEYS,
        value=TEXTS,
    )
    def change_version(self, who: str, at: Where, change: str, key: str, value: str) -> None:
        name, version = self._at(at)
        if change == "update_version":
            self.same(who, change, name, version, description=value)
        elif change == "set_tag":
            self.same(who, change, name, version, key, value)
        else:
            self.same(who, change, name, version, key)

    # -- files and metadata ---------------------------------------------------------------

    @rule(
        who=WHO,
        at=AT,
        path=PATHS,
        data=st.binary(max_size=64),
        log=st.sampled_from([None, None, "line\n", "é\n", ""]),
    )
    def upload(self, who: str, at: Where, path: str, data: bytes, log: str | None) -> None:
        """Upload ``data`` to ``path`` and read it back, or append ``log`` to the log."""
        (name, version), (registry, reference) = self._at(at), self.sides[who]
        if log is not None:
            self.same(who, "append_log", name, version, log)
            return
        self.touched.add(name.lower())
        got, _ = _got(lambda: registry.upload(name, version, io.BytesIO(data), name=path))
        want = _wanted(lambda: reference.upload(name, version, io.BytesIO(data), name=path))
        _agree(got, want, who, "upload", name, version, data, name=path)
        if got[0] == "ok":
            self.same(TRUSTED, "open_artifact", name, version, path)

    @rule(who=WHO, at=AT, path=PATHS)
    def delete_artifact(self, who: str, at: Where, path: str) -> None:
        self.same(who, "delete_artifacts", *self._at(at), [path])

    @rule(who=WHO, at=AT, key=KEYS, value=VALUES)
    def log_param(self, who: str, at: Where, key: str, value: str) -> None:
        self.same(who, "log_param", *self._at(at), key, value)

    @rule(
        who=WHO,
        at=AT,
        key=KEYS,
        value=st.sampled_from([0.5, -1.0, float("inf"), 3]),
        step=st.integers(-2, 3),
        when=TIMES,
    )
    def log_metric(
        self, who: str, at: Where, key: str, value: float, step: int, when: dt.datetime
    ) -> None:
        self.same(who, "log_metric", *self._at(at), key, value, step=step, timestamp=when)

    # -- aliases and settings -----------------------------------------------------------

    @rule(
        who=WHO,
        at=AT,
        alias=ALIASES,
        change=st.sampled_from(["set_alias", "set_alias", "delete_alias", "get_alias"]),
    )
    def alias(self, who: str, at: Where, alias: str, change: str) -> None:
        name, version = self._at(at)
        if change == "set_alias":
            self.same(who, change, name, alias, version)
        else:
            self.same(who, change, name, alias)

    @rule(
        who=WHO,
        change=st.sampled_from(["update_settings", "grant", "grant", "revoke", "get_settings"]),
        enabled=st.sampled_from([None, None, True, False]),
        visibility=st.sampled_from([None, "public", "private", "secret"]),
        user=USERS,
        role=ROLES,
    )
    def change_settings(
        self,
        who: str,
        change: str,
        enabled: bool | None,
        visibility: str | None,
        user: str,
        role: str,
    ) -> None:
        if change == "update_settings":
            self.same(who, change, enabled=enabled, visibility=visibility)
        elif change == "grant":
            self.same(who, change, user, role)
        elif change == "revoke":
            self.same(who, change, user)
        else:
            self.same(who, change)

    # -- reads ----------------------------------------------------------------------------

    @rule(who=WHO, at=AT, path=PATHS)
    def read_version(self, who: str, at: Where, path: str) -> None:
        name, version = self._at(at)
        self.same(who, "get_version", name, version)
        self.same(who, "list_artifacts", name, version)
        self.same(who, "get_metrics", name, version)
        self.same(who, "open_artifact", name, version, path)

    @rule(
        who=WHO,
        name=MODELS,
        states=STATES,
        prereleases=st.booleans(),
        order=st.sampled_from(["precedence", "-precedence", "newest"]),
        page_size=st.sampled_from([1, 2, 100, 0]),
    )
    def list_versions(
        self, who: str, name: str, states: Any, prereleases: bool, order: str, page_size: int
    ) -> None:
        self.same_pages(
            who,
            "list_versions",
            name,
            states=states,
            order=order,
            include_prereleases=prereleases,
            page_size=page_size,
        )

    @rule(
        who=WHO,
        prefix=st.sampled_from([None, "", "team/", "TEAM", "m", "z"]),
        page_size=st.sampled_from([1, 2, 1000]),
        name=MODELS,
    )
    def read_models(self, who: str, prefix: str | None, page_size: int, name: str) -> None:
        self.same_pages(who, "list_models", prefix, page_size=page_size)
        self.same(who, "get_model", name)

    @rule(
        who=WHO,
        name=MODELS,
        specs=SPEC_PAIRS,
        prereleases=st.booleans(),
    )
    def resolve(self, who: str, name: str, specs: tuple[str, ...], prereleases: bool) -> None:
        for spec in specs:
            self.same(who, "resolve", name, spec, include_prereleases=prereleases)
        self.same(who, "latest", name, include_prereleases=prereleases)

    @invariant()
    def stored_state_agrees(self) -> None:
        """Every model, and the versions of every model a call named, read back whole;
        every few steps the versions of all models (a write may reach the wrong one)."""
        self.checks += 1
        whole = self.checks % FULL_CHECK_EVERY == 1
        touched, self.touched = self.touched, set()
        for model in self.same_pages(TRUSTED, "list_models", page_size=1000)[1][0].items:
            if whole or model.name.lower() in touched:
                self.same_pages(TRUSTED, "list_versions", model.name, page_size=1000)


class StateMachineTests(RepositoryFixtures):
    """Runs `RegistryStateMachine` against ``make_repository``, a new repository for
    each example.

    Hypothesis settings come from `registry_core.testing.profiles` unless
    ``state_machine_settings`` is set (a slow remote backend may want fewer examples).
    """

    state_machine_settings: settings | None = None

    def test_registry_matches_the_in_memory_reference(self) -> None:
        fixtures = self

        class Machine(RegistryStateMachine):
            make_repository = staticmethod(fixtures.fresh_repository)
            close_repository = staticmethod(fixtures.discard_repository)

        run_state_machine_as_test(Machine, settings=self.state_machine_settings or suite_settings())
