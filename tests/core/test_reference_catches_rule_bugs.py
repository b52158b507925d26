"""The state machine judges the Registry by an independent reference model, so it catches
a mistake in a rule, not only a backend that stores wrongly.

Each test plants one bug in the Registry's rules and expects the machine, run on memory
with a fixed budget and derandomized (so the run is quick and the same every time), to
fail on it; unplanted, the same run passes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from registry_core import IllegalTransition, InvalidVersion, MemoryRepository, NotFound, Registry
from registry_core.lifecycle import TRANSITIONS, VersionState
from registry_core.permissions import RULES, Action, Role, Rule
from registry_core.testing import RegistryStateMachine
from registry_core.versions import Range

RUN = settings(
    max_examples=300,
    stateful_step_count=50,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.generate],  # no shrinking: the failure itself is the point
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)


class MemoryMachine(RegistryStateMachine):
    make_repository = staticmethod(MemoryRepository)


def run_the_machine() -> None:
    run_state_machine_as_test(MemoryMachine, settings=RUN)


# -- the plants: each breaks one rule of README "Concepts" / DESIGN.md ----------------------


def alias_may_point_at_any_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Aliases "may point only at ready versions": let one point at a draft."""
    strict = Registry.set_alias

    def loose(self: Registry, model: Any, alias: str, version: Any) -> Any:
        try:
            return strict(self, model, alias, version)
        except IllegalTransition:
            target = self.get_version(model, version)
            aliases = lambda m: {**m.aliases, alias: target.version}  # noqa: E731
            return self._update_model(target.model, lambda m: attrs.evolve(m, aliases=aliases(m)))

    monkeypatch.setattr(Registry, "set_alias", loose)


def latest_takes_prereleases(monkeypatch: pytest.MonkeyPatch) -> None:
    """ "Latest" is "not a prerelease unless asked": always take them."""
    strict = Registry.latest
    monkeypatch.setattr(
        Registry,
        "latest",
        lambda self, model, include_prereleases=False: strict(
            self, model, include_prereleases=True
        ),
    )


def ranges_take_yanked_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    """A range matches "ready versions only": let it pick a yanked one too."""

    def loose(self: Registry, name: Any, spec: Range, include_prereleases: bool) -> Any:
        found = self.list_versions(
            name, states=["ready", "yanked"], order="-precedence", page_size=1000
        )
        for version in found.items:
            if spec.contains(version.version, include_prerelease=include_prereleases):
                return version
        raise NotFound(f"no version of {name} matches {spec}")

    monkeypatch.setattr(Registry, "_resolve_range", loose)


def guests_may_create(monkeypatch: pytest.MonkeyPatch) -> None:
    """Creating "needs reporter and up": let a guest create."""
    rule = Rule(Role.GUEST, public_readable=False, when_disabled=False)
    monkeypatch.setitem(RULES, Action.CREATE, rule)  # type: ignore[index]


def ready_versions_may_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a draft becomes ``failed``: add a ready -> failed row to the table."""
    move = (VersionState.READY, VersionState.FAILED)
    monkeypatch.setitem(TRANSITIONS, move, "fail")  # type: ignore[index]


def aliases_never_hold_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deleting a model "is refused while an alias points at" one of its versions, unless
    forced: always force."""
    strict = Registry.delete_model
    monkeypatch.setattr(
        Registry, "delete_model", lambda self, name, force=False: strict(self, name, force=True)
    )


PLANTS: list[Callable[[pytest.MonkeyPatch], None]] = [
    alias_may_point_at_any_state,
    latest_takes_prereleases,
    ranges_take_yanked_versions,
    guests_may_create,
    ready_versions_may_fail,
    aliases_never_hold_a_model,
]


def test_the_machine_passes_on_the_registry_as_it_is() -> None:
    run_the_machine()


@pytest.mark.parametrize("plant", PLANTS, ids=[p.__name__ for p in PLANTS])
def test_the_machine_fails_on_a_planted_rule_bug(
    plant: Callable[[pytest.MonkeyPatch], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    plant(monkeypatch)
    with pytest.raises(AssertionError, match="reference"):
        run_the_machine()


# -- what the reference found in the Registry ---------------------------------------------


def test_an_unknown_bump_part_is_refused_on_a_model_without_versions() -> None:
    registry = Registry(MemoryRepository())
    registry.create_model("m")
    with pytest.raises(InvalidVersion):
        registry.create_version("m", bump="huge")  # type: ignore[arg-type]
