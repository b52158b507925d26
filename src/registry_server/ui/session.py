"""Signing in with a modelreg token (the same tokens as the REST API) and out again."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response

from registry_core import PermissionDenied
from registry_server.ui._web import TOKEN_COOKIE, Page, Visit, redirect

__all__ = ["sign_in", "sign_in_page", "sign_out"]

#: How long a browser keeps the sign-in (the token itself can be revoked at any time).
SIGN_IN_SECONDS = 14 * 24 * 3600


def _back(visit: Visit, wanted: str) -> str:
    """Where to go after signing in: a path on this site, else the home page."""
    if wanted.startswith("/") and not wanted.startswith("//") and "\\" not in wanted:
        return wanted
    return visit.links.home()


def sign_in_page(visit: Visit) -> Page:
    return Page("sign_in.html", {"next": visit.query.get("next", ""), "error": None})


def sign_in(visit: Visit) -> Page | Response:
    token, wanted = visit.field("token").strip(), visit.field("next")
    try:
        actor = visit.registry.authenticate(token)
    except PermissionDenied:
        error = "That token is unknown or revoked. Ask a maintainer for a new one."
        return Page("sign_in.html", {"next": wanted, "error": error}, status=401)
    response = redirect(_back(visit, wanted), f"Signed in as {actor.user}.")
    response.set_cookie(
        TOKEN_COOKIE,
        quote(token),
        max_age=SIGN_IN_SECONDS,
        path=visit.links.root or "/",
        httponly=True,
        samesite="lax",
        secure=visit.request.url.scheme == "https",
    )
    return response


def sign_out(visit: Visit) -> Response:
    response = redirect(visit.links.home(), "Signed out.")
    response.delete_cookie(TOKEN_COOKIE, path=visit.links.root or "/")
    return response
