"""The models list, creating and deleting models, a model's page, signing in, CSRF."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from playwright.sync_api import expect
from serverkit import Served
from uikit import sign_in

from registry_core import NotFound, Registry

#: Over SQLite too: its lists and searches are SQL's own (see conftest.py).
BACKENDS = ["files", "sqlite"]


def _fill(registry: Registry, name: str, *versions: str) -> None:
    registry.create_model(name, f"about {name}")
    for version in versions:
        registry.create_version(name, version)
        registry.upload(name, version, io.BytesIO(b"weights"), name="w.bin")
        if "-" not in version:
            registry.publish(name, version)


def test_an_anonymous_visitor_of_a_private_registry_is_asked_to_sign_in(
    page: Any, served: Served
) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    page.get_by_role("main").get_by_role("link", name="Sign in").click()
    page.get_by_label("Token").fill("mr_not-a-real-token")
    page.get_by_role("button", name="Sign in").click()
    assert "unknown or revoked" in page.get_by_role("alert").inner_text()
    page.get_by_label("Token").fill(served.tokens["ana"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Models")).to_be_visible()
    expect(page.get_by_role("banner").get_by_text("Signed in as ana")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_create_a_model_with_the_name_rules_checked_as_you_type(page: Any, served: Served) -> None:
    served.registry.create_model("taken")
    sign_in(page, served, "rob")
    page.get_by_role("link", name="New model").click()
    name = page.get_by_label("Name")
    name.fill("team//fraud")
    assert "empty" in page.locator("#name-problem").inner_text()
    assert name.get_attribute("aria-invalid") == "true"
    name.fill("team/2.0.0")
    assert "version number" in page.locator("#name-problem").inner_text()
    name.fill("TAKEN")
    assert page.locator("#name-problem").inner_text() == ""
    page.get_by_role("button", name="Create model").click()
    assert "already exists" in page.get_by_role("alert").inner_text()
    page.get_by_label("Name").fill("team/fraud")
    page.get_by_label("Description (optional)").fill("catches fraud")
    page.get_by_role("button", name="Create model").click()
    expect(page.get_by_role("heading", name="team/fraud", level=1)).to_be_visible()
    assert "Model team/fraud created." in page.get_by_role("status").inner_text()
    assert served.registry.get_model("team/fraud").description == "catches fraud"


def test_the_models_list_searches_by_prefix_and_pages_by_keyset(page: Any, served: Served) -> None:
    for i in range(23):
        served.registry.create_model(f"team/m{i:02d}")
    _fill(served.registry, "other", "1.0.0", "1.1.0", "2.0.0-rc.1")
    sign_in(page, served, "gil")
    rows = page.get_by_role("row")
    assert rows.count() == 21  # a header and a page of 20
    page.get_by_label("Search models by name").fill("team/")
    page.get_by_role("button", name="Search").click()
    assert rows.count() == 21
    assert page.get_by_role("link", name="other").count() == 0
    page.get_by_role("link", name="Next page").click()
    names = [c.inner_text() for c in page.get_by_role("row").locator("td:first-child").all()]
    assert names == ["team/m20", "team/m21", "team/m22"]
    assert page.get_by_role("link", name="Next page").count() == 0
    page.get_by_label("Search models by name").fill("oth")
    page.get_by_role("button", name="Search").click()
    row = page.get_by_role("row", name=re.compile("other"))
    assert row.get_by_role("cell").nth(1).inner_text() == "1.1.0"  # latest ready release
    assert row.get_by_role("cell").nth(2).inner_text() == "3"
    assert page.get_by_role("link", name="New model").count() == 0  # a guest may not


def test_delete_a_model_from_the_list_after_a_confirmation(page: Any, served: Served) -> None:
    _fill(served.registry, "doomed", "1.0.0", "1.1.0")
    served.registry.set_alias("doomed", "production", "1.0.0")
    sign_in(page, served, "rob")
    page.get_by_role("group").filter(has_text="⋯").first.wait_for()
    page.get_by_label("Actions for doomed").click()
    page.get_by_role("link", name="Delete model doomed").click()
    text = page.get_by_role("main").inner_text()
    assert "2 versions" in text and "2 files" in text and "production" in text
    page.get_by_label("Type doomed to confirm").fill("wrong")
    page.get_by_role("button", name="Delete model").click()
    assert "Type the model's name" in page.get_by_role("alert").inner_text()
    served.registry.get_model("doomed")
    page.get_by_label("Type doomed to confirm").fill("doomed")
    page.get_by_role("button", name="Delete model").click()
    assert "Model doomed deleted." in page.get_by_role("status").inner_text()
    with pytest.raises(NotFound):
        served.registry.get_model("doomed")


def test_a_model_page_edits_its_description_and_aliases(page: Any, served: Served) -> None:
    _fill(served.registry, "fraud", "1.0.0", "1.1.0", "2.0.0-rc.1")
    sign_in(page, served, "rob")
    page.goto("/models/fraud")
    latest = page.get_by_role("row", name=re.compile("1.1.0"))
    assert "latest" in latest.inner_text()
    assert "prerelease" in page.get_by_role("row", name=re.compile("2.0.0-rc.1")).inner_text()
    page.get_by_label("Description").fill("new words")
    page.get_by_role("button", name="Save description").click()
    assert served.registry.get_model("fraud").description == "new words"
    page.get_by_label("Alias", exact=True).fill("champion")
    page.get_by_label("Version", exact=True).fill("2.0.0-rc.1")
    page.get_by_role("button", name="Set alias").click()
    assert "ready" in page.get_by_role("alert").inner_text()  # only ready versions
    page.get_by_label("Alias", exact=True).fill("champion")
    page.get_by_label("Version", exact=True).fill("1.0.0")
    page.get_by_role("button", name="Set alias").click()
    assert str(served.registry.get_alias("fraud", "champion").version) == "1.0.0"
    assert "champion" in page.get_by_role("row", name=re.compile("1.0.0")).inner_text()
    page.get_by_role("button", name="Delete alias champion").click()
    assert served.registry.get_model("fraud").aliases == {}


def test_a_guest_is_offered_no_changes_and_the_server_refuses_them(
    page: Any, served: Served
) -> None:
    _fill(served.registry, "fraud", "1.0.0")
    sign_in(page, served, "gil")
    page.goto("/models/fraud")
    assert page.get_by_role("button", name="Save description").count() == 0
    assert page.get_by_role("link", name="Delete model").count() == 0
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    answer = page.request.post(
        "/models/fraud:update",
        form={"csrf": csrf, "description": "vandalised"},
        headers={"Origin": served.base},
        max_redirects=0,
    )
    assert answer.status == 403
    assert served.registry.get_model("fraud").description == "about fraud"


def test_a_form_without_the_csrf_value_is_refused(page: Any, served: Served) -> None:
    served.registry.create_model("fraud")
    sign_in(page, served, "ana")
    answer = page.request.post(
        "/models/fraud:update", form={"description": "forged"}, max_redirects=0
    )
    assert answer.status == 403 and "expired" in answer.text()
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    forged = page.request.post(
        "/models/fraud:update",
        form={"csrf": csrf, "description": "forged"},
        headers={"Origin": "http://evil.example"},
        max_redirects=0,
    )
    assert forged.status == 403
    assert served.registry.get_model("fraud").description == ""


def test_without_javascript_pages_read_and_forms_work(
    browser: Any, served: Served, tmp_path: Any
) -> None:
    _fill(served.registry, "fraud", "1.0.0")
    context = browser.new_context(base_url=served.base, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/sign-in")
        page.get_by_label("Token").fill(served.tokens["rob"])
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="New model").click()
        page.get_by_label("Name").fill("no-script")
        page.get_by_role("button", name="Create model").click()
        expect(page.get_by_role("heading", name="no-script", level=1)).to_be_visible()
        page.get_by_role("link", name="Models").first.click()
        page.get_by_role("link", name="fraud").click()
        expect(page.get_by_role("link", name="1.0.0").first).to_be_visible()
        page.screenshot(path=str(tmp_path / "no-script.png"))
    finally:
        context.close()
    assert served.registry.get_model("no-script").name.value == "no-script"


def test_anonymous_visitors_of_a_public_registry_read_but_are_offered_no_changes(
    page: Any, served: Served
) -> None:
    _fill(served.registry, "fraud", "1.0.0")
    served.registry.update_settings(visibility="public")
    page.goto("/")
    page.get_by_role("link", name="fraud").click()
    expect(page.get_by_role("heading", name="fraud", level=1)).to_be_visible()
    for name in ("New version", "Delete model"):
        assert page.get_by_role("link", name=name).count() == 0
    assert page.get_by_role("button", name="Save description").count() == 0
    assert page.get_by_role("link", name="Settings").count() == 1  # public: readable
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    answer = page.request.post(
        "/models:create", form={"csrf": csrf, "name": "intruder"}, max_redirects=0
    )
    assert answer.status == 403
    assert [m.name.value for m in served.registry.list_models()] == ["fraud"]


def test_a_revoked_token_signs_the_browser_out(page: Any, served: Served) -> None:
    sign_in(page, served, "ana")
    for token in served.registry.list_tokens("ana"):
        served.registry.revoke_token(token.id)
    page.reload()
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("banner").get_by_role("link", name="Sign in")).to_be_visible()
    assert "modelreg_token" not in {c["name"] for c in page.context.cookies()}
