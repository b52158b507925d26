"""Every cell of the lifecycle table, allowed and refused."""

from __future__ import annotations

import itertools

import pytest

from registry_core import IllegalTransition, VersionState
from registry_core.lifecycle import TRANSITIONS, check_transition

S = VersionState
ALLOWED = {
    (S.DRAFT, S.READY),
    (S.DRAFT, S.FAILED),
    (S.READY, S.DEPRECATED),
    (S.DEPRECATED, S.READY),
    (S.READY, S.YANKED),
    (S.DEPRECATED, S.YANKED),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_lifecycle_cell(current: VersionState, target: VersionState) -> None:
    if (current, target) in ALLOWED:
        check_transition("v", current, target)
    else:
        with pytest.raises(IllegalTransition, match=f"is {current.value} and cannot become"):
            check_transition("v", current, target)


def test_the_table_is_exactly_the_decided_one() -> None:
    assert set(TRANSITIONS) == ALLOWED


def test_only_drafts_are_mutable_and_published_states_are_sealed() -> None:
    assert [s for s in S if s.is_mutable] == [S.DRAFT]
    assert {s for s in S if s.is_sealed} == {S.READY, S.DEPRECATED, S.YANKED}


def test_final_states_say_so() -> None:
    with pytest.raises(IllegalTransition, match="yanked is final"):
        check_transition("version '1.0.0' of model 'm'", S.YANKED, S.READY)


def test_a_move_must_be_made_by_its_own_method() -> None:
    check_transition("v", S.DRAFT, S.READY, via="publish")
    with pytest.raises(IllegalTransition):
        check_transition("v", S.DRAFT, S.READY, via="undeprecate")
