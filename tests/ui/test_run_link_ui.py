"""The "View run at http://host/#/experiments/<id>/runs/<run id>" link the mlflow client
prints lands on the version that is that run."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from serverkit import Served
from uikit import sign_in

from registry_server.mapping import run_id_for


def test_the_mlflow_run_link_opens_the_version_page(page: Any, served: Served) -> None:
    served.registry.create_model("team/fraud")
    served.registry.create_version("team/fraud", "1.2.0")
    sign_in(page, served, "gil")
    page.goto(f"/#/experiments/0/runs/{run_id_for('team/fraud', '1.2.0')}")
    page.wait_for_url("**/models/team/fraud/1.2.0")
    expect(page.get_by_role("heading", name="team/fraud 1.2.0", level=1)).to_be_visible()


def test_a_link_to_an_unknown_run_says_so(page: Any, served: Served) -> None:
    sign_in(page, served, "gil")
    page.goto("/#/experiments/0/runs/nosuchrun")
    page.wait_for_url("**/runs/nosuchrun")
    assert "does not exist" in page.get_by_role("alert").inner_text()
