"""The settings page: the enabled flag, visibility, members and their roles, and tokens.

Whoever may read the settings sees them; maintainers and up may change them. They stay
reachable while the registry is disabled (the permission rules allow exactly that), so a
disabled registry can always be turned back on from here. A new token's secret is shown
once, in the page that answers the form: never in a URL, a cookie or a notice.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from registry_core import Action, AlreadyExists, Role, Visibility
from registry_server.ui._web import Page, Visit, redirect

__all__ = [
    "add_member",
    "create_token",
    "remove_member",
    "revoke_token",
    "save_settings",
    "set_role",
    "settings_page",
]

ROLES = tuple(role.name.lower() for role in Role)


def _values(visit: Visit, **extra: Any) -> dict[str, Any]:
    settings = visit.registry.get_settings()
    manage = visit.may.get(Action.MANAGE_MEMBERS, False)
    tokens = visit.registry.list_tokens() if manage else []
    return {
        "settings": settings,
        "members": sorted((user, role.name.lower()) for user, role in settings.members.items()),
        "roles": ROLES,
        "public": settings.visibility is Visibility.PUBLIC,
        "tokens": sorted(tokens, key=lambda t: (t.user, t.created_at)),
        "new_token": None,
        **extra,
    }


def settings_page(visit: Visit) -> Page:
    """The settings, as controls for maintainers and up and as text for everyone else."""
    return Page("settings.html", _values(visit))


def save_settings(visit: Visit) -> Response:
    """The enabled checkbox (absent when unticked) and the visibility radio."""
    enabled = visit.field("enabled") == "on"
    saved = visit.registry.update_settings(
        enabled=enabled, visibility=visit.field("visibility") or None
    )
    said = f"Settings saved: the registry is {'enabled' if saved.enabled else 'disabled'}"
    said += f" and {saved.visibility.value}."
    if not saved.enabled:
        said += " Every page but Settings refuses until it is enabled again."
    return redirect(visit.links.settings(), said)


def add_member(visit: Visit) -> Response:
    """Give a new member a role; an existing member's role is changed in the table."""
    visit.registry.require(Action.MANAGE_MEMBERS)
    user, role = visit.field("user").strip(), visit.field("role")
    if user in visit.registry.get_settings().members:
        raise AlreadyExists(f"{user} is already a member; change their role in the table")
    visit.registry.grant(user, role)
    return redirect(
        visit.links.settings(), f"{user} is now a member, as {Role.parse(role).name.lower()}."
    )


def set_role(visit: Visit) -> Response:
    user, role = visit.field("user"), visit.field("role")
    visit.registry.grant(user, role)
    return redirect(visit.links.settings(), f"{user} is now {Role.parse(role).name.lower()}.")


def remove_member(visit: Visit) -> Response:
    user = visit.field("user")
    visit.registry.revoke(user)
    return redirect(visit.links.settings(), f"{user} is no longer a member.")


def create_token(visit: Visit) -> Page:
    """Create a token and show its secret in this answer only (see the module doc)."""
    user, description = visit.field("user").strip(), visit.field("description").strip()
    secret = visit.registry.create_token(user, description=description)
    return Page("settings.html", _values(visit, new_token={"user": user, "secret": secret}))


def revoke_token(visit: Visit) -> Response:
    revoked = visit.registry.revoke_token(visit.field("token_id"))
    return redirect(visit.links.settings(), f"Token {revoked.id} of {revoked.user} revoked.")
