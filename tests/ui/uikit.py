"""Helpers for the browser tests."""

from __future__ import annotations

from typing import Any

from serverkit import Served


def sign_in(page: Any, served: Served, user: str) -> None:
    """Sign in through the sign-in form, as a person would."""
    page.goto("/sign-in")
    page.get_by_label("Token").fill(served.tokens[user])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Signed in as {user}").first.wait_for()
