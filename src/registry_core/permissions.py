"""Roles, visibility, and the one pure function that decides who may do what.

The rules (GitLab's): reading needs a public registry or any membership; creating,
changing and deleting models, versions, artifacts and metadata needs reporter or up;
changing settings and memberships needs maintainer or up. A disabled registry refuses
everything but settings. The table `RULES` is the whole policy; `authorize` only reads it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

from registry_core.errors import InvalidInput, PermissionDenied

__all__ = [
    "RULES",
    "Action",
    "Actor",
    "Role",
    "Rule",
    "Settings",
    "Visibility",
    "authorize",
    "is_allowed",
]


class Role(enum.IntEnum):
    """Membership roles, ordered: a higher role may do all a lower one may."""

    GUEST = 10
    REPORTER = 20
    DEVELOPER = 30
    MAINTAINER = 40
    OWNER = 50

    @classmethod
    def parse(cls, text: str | Role) -> Role:
        """``"reporter"`` (any case) or a Role -> Role; anything else is `InvalidInput`."""
        if isinstance(text, Role):
            return text
        try:
            return cls[str(text).upper()]
        except KeyError:
            names = ", ".join(r.name.lower() for r in cls)
            raise InvalidInput(f"unknown role {text!r}; roles are {names}") from None


class Visibility(str, enum.Enum):
    """Who may read: anyone (public) or members only (private)."""

    PUBLIC = "public"
    PRIVATE = "private"


class Action(str, enum.Enum):
    """What a call does, as far as permissions care."""

    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    READ_SETTINGS = "read_settings"
    UPDATE_SETTINGS = "update_settings"
    MANAGE_MEMBERS = "manage_members"


@attrs.frozen
class Actor:
    """Who is calling: a user name, or ``None`` for an anonymous caller."""

    user: str | None

    @classmethod
    def anonymous(cls) -> Actor:
        return cls(None)


@attrs.frozen
class Settings:
    """Registry-wide settings: the enabled flag, visibility and memberships."""

    enabled: bool = True
    visibility: Visibility = Visibility.PRIVATE
    members: Mapping[str, Role] = attrs.field(factory=dict)

    def role_of(self, actor: Actor) -> Role | None:
        """The actor's role, or None for a non-member or anonymous caller."""
        return None if actor.user is None else self.members.get(actor.user)


@attrs.frozen
class Rule:
    """One row of the policy: the least role, and the two exceptions to it."""

    min_role: Role
    public_readable: bool  # a non-member may do it when the registry is public
    when_disabled: bool  # allowed while the registry is disabled


RULES: Mapping[Action, Rule] = {
    Action.READ: Rule(Role.GUEST, public_readable=True, when_disabled=False),
    Action.CREATE: Rule(Role.REPORTER, public_readable=False, when_disabled=False),
    Action.UPDATE: Rule(Role.REPORTER, public_readable=False, when_disabled=False),
    Action.DELETE: Rule(Role.REPORTER, public_readable=False, when_disabled=False),
    Action.READ_SETTINGS: Rule(Role.GUEST, public_readable=True, when_disabled=True),
    Action.UPDATE_SETTINGS: Rule(Role.MAINTAINER, public_readable=False, when_disabled=True),
    Action.MANAGE_MEMBERS: Rule(Role.MAINTAINER, public_readable=False, when_disabled=True),
}


#: How a refusal names each action to the caller.
_DOING: Mapping[Action, str] = {
    Action.READ: "reading",
    Action.CREATE: "creating",
    Action.UPDATE: "changing",
    Action.DELETE: "deleting",
    Action.READ_SETTINGS: "reading the settings",
    Action.UPDATE_SETTINGS: "changing the settings",
    Action.MANAGE_MEMBERS: "managing members and tokens",
}


def _refusal(actor: Actor, action: Action, settings: Settings) -> str | None:
    rule = RULES[action]
    who = "anonymous caller" if actor.user is None else f"user {actor.user!r}"
    if not settings.enabled and not rule.when_disabled:
        return f"the registry is disabled; {who} may only read or change its settings"
    role = settings.role_of(actor)
    if role is None:
        if rule.public_readable and settings.visibility is Visibility.PUBLIC:
            return None
        return f"{who} is not a member of this registry; {_needs(action, rule)}"
    if role < rule.min_role:
        return f"{who} is {role.name.lower()}; {_needs(action, rule)}"
    return None


def _needs(action: Action, rule: Rule) -> str:
    return f"{_DOING[action]} needs {rule.min_role.name.lower()} or up"


def is_allowed(actor: Actor, action: Action, settings: Settings) -> bool:
    """True when `authorize` would let the call through."""
    return _refusal(actor, action, settings) is None


def authorize(actor: Actor, action: Action, settings: Settings) -> None:
    """Raise `PermissionDenied` unless ``actor`` may do ``action`` under ``settings``."""
    reason = _refusal(actor, action, settings)
    if reason is not None:
        raise PermissionDenied(reason)
