"""Every cell of the permission matrix: role x visibility x enabled x action."""

from __future__ import annotations

import itertools

import pytest

from registry_core import (
    Action,
    Actor,
    PermissionDenied,
    Role,
    Settings,
    Visibility,
    authorize,
    permissions,
)
from registry_core.permissions import RULES, is_allowed

READS = {Action.READ}
WRITES = {Action.CREATE, Action.UPDATE, Action.DELETE}
SETTINGS_WRITES = {Action.UPDATE_SETTINGS, Action.MANAGE_MEMBERS}

ROLES: list[Role | None] = [None, *Role]  # None: not a member


def expected(role: Role | None, visibility: Visibility, enabled: bool, action: Action) -> bool:
    """The rules of DESIGN.md, written out independently of the RULES table."""
    if action in READS | WRITES and not enabled:
        return False
    if action in (Action.READ, Action.READ_SETTINGS):
        return visibility is Visibility.PUBLIC or role is not None
    if action in WRITES:
        return role is not None and role >= Role.REPORTER
    assert action in SETTINGS_WRITES
    return role is not None and role >= Role.MAINTAINER


CELLS = list(itertools.product(ROLES, Visibility, [True, False], Action))


@pytest.mark.parametrize(("role", "visibility", "enabled", "action"), CELLS)
def test_permission_matrix_cell(
    role: Role | None, visibility: Visibility, enabled: bool, action: Action
) -> None:
    members = {} if role is None else {"ana": role}
    settings = Settings(enabled=enabled, visibility=visibility, members=members)
    actor = Actor("ana")
    if expected(role, visibility, enabled, action):
        authorize(actor, action, settings)
        assert is_allowed(actor, action, settings)
    else:
        with pytest.raises(PermissionDenied):
            authorize(actor, action, settings)
        assert not is_allowed(actor, action, settings)


def test_the_matrix_covers_every_action_and_role() -> None:
    assert len(CELLS) == 6 * 2 * 2 * len(Action)
    assert set(RULES) == set(Action)


def test_anonymous_callers_read_public_registries_only() -> None:
    public = Settings(visibility=Visibility.PUBLIC)
    authorize(Actor.anonymous(), Action.READ, public)
    with pytest.raises(PermissionDenied):
        authorize(Actor.anonymous(), Action.READ, Settings())
    with pytest.raises(PermissionDenied):
        authorize(Actor.anonymous(), Action.CREATE, public)


def test_a_refusal_names_the_user_and_the_role_needed() -> None:
    settings = Settings(members={"gus": Role.GUEST})
    with pytest.raises(PermissionDenied, match=r"'gus' is guest; deleting needs reporter or up"):
        authorize(Actor("gus"), Action.DELETE, settings)


def test_roles_parse_from_names() -> None:
    assert Role.parse("Maintainer") is Role.MAINTAINER
    with pytest.raises(ValueError, match="unknown role"):
        Role.parse("admin")


def test_every_action_has_words_for_a_refusal() -> None:
    assert set(permissions._DOING) == set(Action)
    settings = Settings(members={"rob": Role.REPORTER})
    with pytest.raises(PermissionDenied) as caught:
        authorize(Actor("rob"), Action.MANAGE_MEMBERS, settings)
    assert str(caught.value) == (
        "user 'rob' is reporter; managing members and tokens needs maintainer or up"
    )
