"""The settings page: enabled and visibility, members and roles, tokens shown once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from playwright.sync_api import expect
from serverkit import Served
from uikit import sign_in

from registry_core import Role, Visibility


@pytest.fixture
def other(browser: Any, served: Served) -> Iterator[Any]:
    """A second tab in a browser context of its own (no cookies shared with ``page``)."""
    context = browser.new_context(base_url=served.base)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def _form(page: Any, name: str) -> Any:
    return page.get_by_role("form", name=name)


def test_visibility_and_the_enabled_flag_take_effect(page: Any, other: Any, served: Served) -> None:
    served.registry.create_model("fraud")
    sign_in(page, served, "ana")
    page.get_by_role("banner").get_by_role("link", name="Settings").click()
    assert page.get_by_label("Private").is_checked()
    other.goto("/")
    expect(other.get_by_role("heading", name="Not allowed")).to_be_visible()

    page.get_by_label("Public").check()
    page.get_by_role("button", name="Save settings").click()
    assert "the registry is enabled and public" in page.get_by_role("status").inner_text()
    assert served.registry.get_settings().visibility is Visibility.PUBLIC
    other.reload()  # anyone may read a public registry
    expect(other.get_by_role("link", name="fraud")).to_be_visible()

    page.get_by_label("Registry enabled").uncheck()
    page.get_by_role("button", name="Save settings").click()
    assert "the registry is disabled" in page.get_by_role("main").inner_text()
    assert served.registry.get_settings().enabled is False
    page.goto("/models/fraud")
    assert "the registry is disabled" in page.get_by_role("alert").inner_text()
    other.reload()
    assert "the registry is disabled" in other.get_by_role("alert").inner_text()

    page.goto("/settings")  # settings still work, so the registry can be turned on again
    page.get_by_label("Registry enabled").check()
    page.get_by_label("Private").check()
    page.get_by_role("button", name="Save settings").click()
    settings = served.registry.get_settings()
    assert settings.enabled is True and settings.visibility is Visibility.PRIVATE
    page.goto("/models/fraud")
    expect(page.get_by_role("heading", name="fraud", level=1)).to_be_visible()


def test_add_a_member_change_the_role_and_remove_them(page: Any, served: Served) -> None:
    sign_in(page, served, "ana")
    page.goto("/settings")
    add = _form(page, "Add member")
    add.get_by_label("User").fill("dan")
    add.get_by_label("Role").select_option("developer")
    add.get_by_role("button", name="Add member").click()
    assert "dan is now a member, as developer" in page.get_by_role("status").inner_text()
    assert served.registry.get_settings().members["dan"] is Role.DEVELOPER

    add.get_by_label("User").fill("rob")  # already a member: the table changes roles
    add.get_by_role("button", name="Add member").click()
    assert "already a member" in page.get_by_role("alert").inner_text()
    assert served.registry.get_settings().members["rob"] is Role.REPORTER

    page.get_by_label("Role of dan", exact=True).select_option("maintainer")
    page.get_by_role("button", name="Save role of dan").click()
    assert served.registry.get_settings().members["dan"] is Role.MAINTAINER
    assert page.get_by_label("Role of dan", exact=True).input_value() == "maintainer"

    page.get_by_role("button", name="Remove dan").click()
    assert "dan is no longer a member" in page.get_by_role("status").inner_text()
    assert "dan" not in served.registry.get_settings().members
    assert page.get_by_label("Role of dan", exact=True).count() == 0


def test_a_new_token_is_shown_once_signs_in_and_is_revoked(
    page: Any, other: Any, served: Served
) -> None:
    sign_in(page, served, "ana")
    page.goto("/settings")
    create = _form(page, "Create token")
    create.get_by_label("User").fill("rob")
    create.get_by_label("Description").fill("laptop")
    create.get_by_role("button", name="Create token").click()
    assert "will not be shown again" in page.get_by_role("main").inner_text()
    secret = page.get_by_label("New token for rob").input_value()
    assert secret.startswith("mrt_") and secret not in page.url
    assert all(secret not in c["value"] for c in page.context.cookies())
    row = page.get_by_role("row").filter(has_text="laptop")
    assert "rob" in row.inner_text() and secret not in row.inner_text()

    sign_in(other, attrs.evolve(served, tokens={"rob": secret}), "rob")
    expect(other.get_by_role("heading", name="Models")).to_be_visible()

    page.goto("/settings")
    assert page.get_by_label("New token for rob").count() == 0  # shown once
    row = page.get_by_role("row").filter(has_text="laptop")
    row.get_by_role("button", name="Revoke token").click()
    assert "revoked" in page.get_by_role("status").inner_text()
    assert [t.description for t in served.registry.list_tokens("rob")] == ["rob's test token"]

    other.reload()  # the revoked token signs nobody in
    expect(other.get_by_role("heading", name="Not allowed")).to_be_visible()
    other.goto("/sign-in")
    other.get_by_label("Token").fill(secret)
    other.get_by_role("button", name="Sign in").click()
    assert "unknown or revoked" in other.get_by_role("alert").inner_text()


def test_a_reporter_sees_the_settings_read_only_and_a_forged_post_is_refused(
    page: Any, served: Served
) -> None:
    sign_in(page, served, "rob")
    page.get_by_role("banner").get_by_role("link", name="Settings").click()
    main = page.get_by_role("main")
    assert "Private: only members may read" in main.inner_text()
    assert page.get_by_role("row", name="ana").get_by_role("cell").inner_text() == "maintainer"
    assert main.get_by_role("button").count() == 0
    assert main.get_by_role("checkbox").count() == 0
    assert page.get_by_role("heading", name="Tokens").count() == 0
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    for action, form in [
        ("save", {"enabled": "on", "visibility": "public"}),
        ("add-member", {"user": "rob", "role": "owner"}),
        ("create-token", {"user": "rob"}),
    ]:
        answer = page.request.post(
            f"/settings:{action}",
            form={"csrf": csrf, **form},
            headers={"Origin": served.base},
            max_redirects=0,
        )
        assert answer.status == 403, action
        assert "needs maintainer or up" in answer.text()
    settings = served.registry.get_settings()
    assert settings.visibility is Visibility.PRIVATE and settings.members["rob"] is Role.REPORTER
    assert len(served.registry.list_tokens("rob")) == 1


def test_a_non_member_of_a_private_registry_is_not_shown_the_settings(
    page: Any, served: Served
) -> None:
    sign_in(page, served, "eve")
    assert page.get_by_role("banner").get_by_role("link", name="Settings").count() == 0
    page.goto("/settings")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
