"""The UI works inside a larger service that mounts the app below a path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from serverkit import ServerThread, open_backend
from starlette.applications import Starlette
from starlette.routing import Mount

from registry_server import create_app


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[tuple[str, str]]:
    registry = open_backend("files", tmp_path)
    registry.grant("ana", "maintainer")
    token = registry.create_token("ana")
    registry.create_model("team/fraud", "found in the mounted app")
    registry.create_version("team/fraud", "1.0.0", publish=True)
    service = Starlette(routes=[Mount("/registry", app=create_app(registry))])
    with ServerThread(service) as server:
        yield f"http://127.0.0.1:{server.port}", token


def test_pages_links_and_sign_in_stay_below_the_mount(
    browser: Any, mounted: tuple[str, str]
) -> None:
    base, token = mounted
    context = browser.new_context(base_url=base)
    page = context.new_page()
    try:
        page.goto("/registry/sign-in")
        page.get_by_label("Token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="team/fraud").click()
        page.wait_for_url("**/registry/models/team/fraud")
        expect(page.get_by_text("found in the mounted app")).to_be_visible()
        page.get_by_role("link", name="1.0.0").first.click()
        page.wait_for_url("**/registry/models/team/fraud/1.0.0")
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies["modelreg_token"]["path"] == "/registry"
        assert (
            cookies["modelreg_token"]["httpOnly"] and cookies["modelreg_token"]["sameSite"] == "Lax"
        )
        style = page.request.get("/registry/-/static/ui.css")
        assert style.ok and "text/css" in style.headers["content-type"]
    finally:
        context.close()
