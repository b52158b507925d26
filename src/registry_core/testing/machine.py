"""A hypothesis state machine: random Registry calls on the backend and on the reference.

Every rule makes the same call, with the same clock, on a Registry over the backend under
test and on one over `MemoryRepository`, and asserts that both returned equal values or
raised the same kind of error. Inputs come from small pools, valid and invalid, so that
calls collide: the same model twice, versions equal in precedence, sealed versions...
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from registry_core.errors import RegistryError
from registry_core.memory import MemoryRepository
from registry_core.protocol import Repository
from registry_core.registry import Registry
from registry_core.testing.fixtures import RepositoryFixtures

__all__ = ["RegistryStateMachine", "StateMachineTests"]

# Valid values repeat so that most calls reach storage; a few invalid ones keep errors honest.
MODELS = st.sampled_from(["m", "m", "M", "team/a", "team/a", "team/b", "a//b", "a/1.0.0"])
VERSIONS = st.sampled_from(
    ["1.0.0", "1.0.0", "1.0.0+b", "1.1.0", "1.1.0", "1.1.1-rc.1", "2.0.0-rc.1", "2.0.0", "1.0"]
)
SPECS = st.sampled_from(
    [
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
    ]
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
ALIASES = st.sampled_from(["prod", "canary", "latest", "bad alias"])
KEYS = st.sampled_from(["lr", "loss", "k", "k", "x" * 256])
VALUES = st.sampled_from(["0.1", "a", "", "v" * 5001])
STATES = st.sampled_from([None, ["ready"], ["draft", "yanked"]])


def _fixed_clock() -> Callable[[], dt.datetime]:
    ticks = itertools.count()
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    return lambda: start + dt.timedelta(milliseconds=next(ticks))


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        result = call()
    except RegistryError as error:
        return "error", type(error).__name__
    if hasattr(result, "read"):
        with result:
            return "ok", result.read()
    return "ok", result


class RegistryStateMachine(RuleBasedStateMachine):
    """Bind ``make_repository`` (and ``close_repository``) before running; see
    `StateMachineTests`."""

    make_repository: Callable[[], Repository]
    close_repository: Callable[[Repository], None] = staticmethod(lambda repo: None)

    def __init__(self) -> None:
        super().__init__()
        self.repo = type(self).make_repository()
        self.subject = Registry(self.repo, clock=_fixed_clock())
        self.reference = Registry(MemoryRepository(), clock=_fixed_clock())

    def teardown(self) -> None:
        type(self).close_repository(self.repo)

    def same(self, method: str, *args: Any, **kwargs: Any) -> Any:
        got = _outcome(lambda: getattr(self.subject, method)(*args, **kwargs))
        want = _outcome(lambda: getattr(self.reference, method)(*args, **kwargs))
        assert got == want, f"{method}{args}{kwargs}: backend {got!r}, reference {want!r}"
        return got

    @initialize(
        models=st.lists(MODELS, max_size=3),
        versions=st.lists(VERSIONS, max_size=4),
        publish=st.booleans(),
    )
    def seed(self, models: list[str], versions: list[str], publish: bool) -> None:
        """Start from a draft ``m@1.0.0``, a ready ``m@1.1.0`` and a few random ones, so the
        rules meet real state from the first step."""
        self.same("create_model", "m")
        self.same("create_version", "m", "1.0.0")
        self.same("create_version", "m", "1.1.0")
        self.same("publish", "m", "1.1.0")
        for name in models:
            self.same("create_model", name)
            for version in versions:
                self.same("create_version", name, version)
                if publish:
                    self.same("publish", name, version)

    # -- writes ---------------------------------------------------------------------------

    @rule(name=MODELS, description=st.sampled_from(["", "d", "x" * 10_001]))
    def create_model(self, name: str, description: str) -> None:
        self.same("create_model", name, description)

    @rule(name=MODELS, force=st.booleans())
    def delete_model(self, name: str, force: bool) -> None:
        self.same("delete_model", name, force=force)

    @rule(name=MODELS, version=VERSIONS)
    def create_version(self, name: str, version: str) -> None:
        self.same("create_version", name, version)

    @rule(
        name=MODELS,
        bump=st.sampled_from(["major", "minor", "patch", "huge"]),
        prerelease=st.sampled_from([None, "rc", "bad..label"]),
    )
    def bump_version(self, name: str, bump: str, prerelease: str | None) -> None:
        self.same("create_version", name, bump=bump, prerelease=prerelease)

    @rule(
        name=MODELS,
        version=VERSIONS,
        move=st.sampled_from(["publish", "fail", "deprecate", "undeprecate", "yank"]),
    )
    def transition(self, name: str, version: str, move: str) -> None:
        self.same(move, name, version)

    @rule(name=MODELS, version=VERSIONS, force=st.booleans())
    def delete_version(self, name: str, version: str, force: bool) -> None:
        self.same("delete_version", name, version, force=force)

    @rule(name=MODELS, version=VERSIONS, path=PATHS, data=st.binary(max_size=64))
    def upload(self, name: str, version: str, path: str, data: bytes) -> None:
        got = _outcome(lambda: self.subject.upload(name, version, io.BytesIO(data), name=path))
        want = _outcome(lambda: self.reference.upload(name, version, io.BytesIO(data), name=path))
        assert got == want, f"upload {name} {version} {path}: backend {got!r}, reference {want!r}"
        if got[0] == "ok":
            self.same("open_artifact", name, version, path)

    @rule(name=MODELS, version=VERSIONS, path=PATHS)
    def delete_artifact(self, name: str, version: str, path: str) -> None:
        self.same("delete_artifacts", name, version, [path])

    @rule(name=MODELS, version=VERSIONS, text=st.sampled_from(["line\n", "é\n", ""]))
    def append_log(self, name: str, version: str, text: str) -> None:
        self.same("append_log", name, version, text)

    @rule(name=MODELS, version=VERSIONS, key=KEYS, value=VALUES)
    def log_param(self, name: str, version: str, key: str, value: str) -> None:
        self.same("log_param", name, version, key, value)

    @rule(
        name=MODELS,
        version=VERSIONS,
        key=KEYS,
        value=st.sampled_from([0.5, -1.0, float("inf"), 3]),
        step=st.integers(-2, 3),
    )
    def log_metric(self, name: str, version: str, key: str, value: float, step: int) -> None:
        self.same("log_metric", name, version, key, value, step=step)

    @rule(name=MODELS, version=VERSIONS, key=KEYS, value=VALUES)
    def set_tag(self, name: str, version: str, key: str, value: str) -> None:
        self.same("set_tag", name, version, key, value)

    @rule(name=MODELS, alias=ALIASES, version=VERSIONS)
    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.same("set_alias", name, alias, version)

    @rule(name=MODELS, alias=ALIASES)
    def delete_alias(self, name: str, alias: str) -> None:
        self.same("delete_alias", name, alias)

    # -- reads ----------------------------------------------------------------------------

    @rule(name=MODELS, version=VERSIONS)
    def get_version(self, name: str, version: str) -> None:
        self.same("get_version", name, version)
        self.same("list_artifacts", name, version)
        self.same("get_metrics", name, version)

    @rule(name=MODELS, version=VERSIONS, path=PATHS)
    def read_artifact(self, name: str, version: str, path: str) -> None:
        self.same("open_artifact", name, version, path)

    @rule(
        name=MODELS,
        states=STATES,
        prereleases=st.booleans(),
        order=st.sampled_from(["precedence", "-precedence", "newest"]),
        page_size=st.sampled_from([1, 2, 100, 0]),
    )
    def list_versions(
        self, name: str, states: Any, prereleases: bool, order: str, page_size: int
    ) -> None:
        kind, page = self.same(
            "list_versions",
            name,
            states=states,
            order=order,
            include_prereleases=prereleases,
            page_size=page_size,
        )
        if kind == "ok" and page.next_page_token:
            self.same(
                "list_versions",
                name,
                states=states,
                order=order,
                include_prereleases=prereleases,
                page_size=page_size,
                page_token=page.next_page_token,
            )

    @rule(name=MODELS, spec=SPECS, prereleases=st.booleans())
    def resolve(self, name: str, spec: str, prereleases: bool) -> None:
        self.same("resolve", name, spec, include_prereleases=prereleases)
        self.same("latest", name, include_prereleases=prereleases)

    @invariant()
    def stored_state_agrees(self) -> None:
        """Every model and every version, read back whole from both sides."""
        kind, models = self.same("list_models", page_size=1000)
        assert kind == "ok"
        for model in models.items:
            self.same("get_model", model.name)
            self.same("list_versions", model.name, page_size=1000)


class StateMachineTests(RepositoryFixtures):
    """Runs `RegistryStateMachine` against ``make_repository``.

    Hypothesis settings come from the active profile unless ``state_machine_settings``
    is set (a slow remote backend may want fewer examples).
    """

    state_machine_settings: settings | None = None

    def test_registry_matches_the_in_memory_reference(self) -> None:
        fixtures = self

        class Machine(RegistryStateMachine):
            make_repository = staticmethod(fixtures.make_repository)
            close_repository = staticmethod(fixtures.close_repository)

        chosen = self.state_machine_settings or settings(
            settings(), suppress_health_check=[HealthCheck.too_slow], deadline=None
        )
        run_state_machine_as_test(Machine, settings=chosen)
