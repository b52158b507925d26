"""The conformance suite calls every public `Registry` method, and the permission matrix
has a cell for each: a new public method without a suite test fails here."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import registry_core.testing
from registry_core import Registry
from registry_core.testing.access_tests import CALLS

SUITE = Path(registry_core.testing.__file__).parent

#: Public methods the suite need not call, each with why. Empty: the suite calls them all.
NOT_CALLED: dict[str, str] = {}

#: Public methods that are not in the permission matrix of `access_tests.CALLS`, and why.
NOT_IN_MATRIX: dict[str, str] = {
    "as_actor": "makes the view the matrix calls through; checks nothing itself",
    "require": "takes an Action, not a call; test_may_and_require_agree_with_... walks them",
    "actor": "a property of the view (test_a_view_keeps_its_actor_and_storage)",
    "repository": "a property of the view (test_a_view_keeps_its_actor_and_storage)",
}


def _public_members() -> dict[str, bool]:
    """Every public name of the Registry class -> whether it is a property."""
    return {
        name: isinstance(inspect.getattr_static(Registry, name), property)
        for name, _ in inspect.getmembers(Registry)
        if not name.startswith("_")
    }


def test_the_class_has_the_members_this_test_expects() -> None:
    members = _public_members()
    assert len(members) > 70  # inspect found the mixins' methods too
    assert {"create_model", "promote_run", "fsck", "revoke_token"} <= set(members)
    assert {name for name, is_property in members.items() if is_property} == {
        "actor",
        "repository",
    }


def test_every_public_method_is_called_somewhere_in_the_suite() -> None:
    source = "\n".join(path.read_text() for path in sorted(SUITE.glob("*.py")))
    missing = []
    for name, is_property in _public_members().items():
        used = rf"\.{name}\b(?!\s*=)" if is_property else rf"\.{name}\("
        if not re.search(used, source) and name not in NOT_CALLED:
            missing.append(name)
    assert missing == [], f"no suite test calls Registry.{', '.join(missing)}"


def test_every_public_method_has_a_cell_in_the_permission_matrix() -> None:
    in_matrix = {call.method for call in CALLS}
    assert in_matrix <= set(_public_members())  # no stale cell
    missing = set(_public_members()) - in_matrix - set(NOT_IN_MATRIX)
    assert missing == set(), f"add to access_tests.CALLS: {sorted(missing)}"


def test_the_allow_lists_name_only_real_members() -> None:
    members = set(_public_members())
    assert set(NOT_CALLED) <= members
    assert set(NOT_IN_MATRIX) <= members
    assert all(reason for reason in [*NOT_CALLED.values(), *NOT_IN_MATRIX.values()])
