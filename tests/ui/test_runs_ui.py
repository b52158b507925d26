"""Experiments and runs in the browser: the experiments list, an experiment's runs table,
a run's page (details, parameters, metric plots, files and downloads), promoting a run to
a model version through the form, deleting runs and experiments, and what a guest sees.

One server per backend serves the whole module; each test that changes something makes
its own experiment, runs and model, so the tests do not depend on each other's order.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from serverkit import Served, open_backend, serve

from registry_core import NotFound, Registry, RunStatus, VersionState
from registry_server.ui import experiments

START = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module", params=["files", "sqlite"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The app over a registry shared by the module's tests (overrides conftest's)."""
    registry = open_backend(str(request.param), tmp_path_factory.mktemp(str(request.param)))
    yield from serve(registry, max_artifact_bytes=None)


@pytest.fixture(scope="module")
def baseline(served: Served) -> dict[str, str]:
    """An experiment no test changes: three runs started an hour apart (the last still
    running), parameters, metrics over steps, files in a folder, and the oldest run
    promoted to team/baseline 1.0.0. Returns the ids by name."""
    reg = served.registry
    experiment = reg.create_experiment("baseline sweep")
    reg.create_model("team/baseline")
    ids = {"experiment": experiment.id}
    for i, name in enumerate(("alpha", "beta", "gamma")):
        run = reg.create_run(
            experiment.id,
            name=name,
            params={"lr": f"0.{i + 1}", "epochs": "10", "seed": str(i)},
            tags={"team": "risk"},
            started_at=START + dt.timedelta(hours=i),
        )
        for step in range(5):
            reg.log_run_metrics(run.id, {"loss": 1.0 / (step + i + 1)}, step=step)
        reg.log_run_metrics(run.id, {"auc": 0.8 + i / 100}, step=4)
        reg.upload_run_artifact(run.id, io.BytesIO(bytes(range(200))), name="model/weights.bin")
        reg.upload_run_artifact(run.id, io.BytesIO(b'{"lr": 0.1}'), name="model/config.json")
        reg.upload_run_artifact(run.id, io.BytesIO(f"{name} notes".encode()), name="notes.txt")
        if name != "gamma":
            reg.update_run(
                run.id, status="finished", ended_at=START + dt.timedelta(hours=i, minutes=42)
            )
        ids[name] = run.id
    reg.promote_run(ids["alpha"], "team/baseline", "1.0.0", path="model")
    return ids


def sign_in(page: Any, served: Served, user: str) -> None:
    """Signed in by the token cookie (the sign-in form has its own tests)."""
    page.context.add_cookies(
        [{"name": "modelreg_token", "value": served.tokens[user], "url": served.base}]
    )


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _cells(table: Any) -> list[list[str]]:
    return [
        [cell.inner_text().strip() for cell in row.locator("td").all()]
        for row in table.get_by_role("row").all()[1:]
    ]


def _experiment_with_runs(reg: Registry, name: str, *runs: str) -> tuple[str, list[str]]:
    experiment = reg.create_experiment(name)
    made = []
    for run_name in runs:
        run = reg.create_run(experiment.id, name=run_name, params={"lr": "0.1"})
        reg.upload_run_artifact(run.id, io.BytesIO(b"w" * 64), name="model/weights.bin")
        reg.upload_run_artifact(run.id, io.BytesIO(b"log"), name="logs/train.log")
        made.append(run.id)
    return experiment.id, made


# -- reading ------------------------------------------------------------------------------


def test_the_navigation_leads_to_the_experiments_and_a_table_of_runs(
    page: Any, served: Served, baseline: dict[str, str]
) -> None:
    sign_in(page, served, "gil")
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Experiments").click()
    expect(page.get_by_role("heading", name="Experiments", level=1)).to_be_visible()
    listed = page.get_by_role("table", name="Experiments, oldest first")
    expect(listed.get_by_role("link", name="Default")).to_be_visible()
    listed.get_by_role("link", name="baseline sweep").click()
    expect(page.get_by_role("heading", name="baseline sweep", level=1)).to_be_visible()
    table = page.get_by_role("table", name="Runs of baseline sweep, newest first")
    headers = [h.inner_text() for h in table.get_by_role("columnheader").all()]
    assert headers == [
        "Run",
        "Status",
        "Started",
        "Duration",
        "param epochs",
        "param lr",
        "param seed",
        "metric auc",
        "metric loss",
        "Promoted to",
    ]
    assert _cells(table) == [
        ["gamma", "running", "2026-11-30 11:00 UTC", "", "10", "0.3", "2", "0.82", "0.142857", ""],
        ["beta", "finished", "2026-11-30 10:00 UTC", "42 min 0 s", "10", "0.2", "1", "0.81",
         "0.166667", ""],
        ["alpha", "finished", "2026-11-30 09:00 UTC", "42 min 0 s", "10", "0.1", "0", "0.8",
         "0.2", "team/baseline 1.0.0"],
    ]  # fmt: skip
    table.get_by_role("link", name="team/baseline 1.0.0").click()
    expect(page.get_by_role("heading", name="team/baseline 1.0.0", level=1)).to_be_visible()
    page.get_by_role("link", name=f"run {baseline['alpha']}").click()  # "Promoted from"
    expect(page.get_by_role("heading", name="Run alpha", level=1)).to_be_visible()


def test_the_runs_table_pages_newest_first(
    page: Any, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(experiments, "RUNS_PER_PAGE", 4)  # the server runs in this process
    reg = served.registry
    experiment = reg.create_experiment("many runs")
    for i in range(11):  # created out of start order
        started = START + dt.timedelta(minutes=(i * 7) % 11)
        reg.create_run(experiment.id, name=f"r{i:02d}", started_at=started)
    sign_in(page, served, "gil")
    page.goto(f"/experiments/{experiment.id}")
    assert "(11)" in page.get_by_role("heading", name=re.compile("^Runs")).inner_text()
    names = [row[0] for row in _cells(page.get_by_role("table"))]
    assert len(names) == 4
    while page.get_by_role("link", name="Next page").count():
        page.get_by_role("link", name="Next page").click()
        names += [row[0] for row in _cells(page.get_by_role("table"))]
    runs = {run.name: run for run in reg.list_runs(experiment.id)}
    assert names == sorted(runs, key=lambda n: runs[n].started_at, reverse=True)
    page.get_by_role("link", name="First page").click()
    assert len(_cells(page.get_by_role("table"))) == 4


def test_the_run_page_shows_details_parameters_metrics_and_files(
    page: Any, served: Served, baseline: dict[str, str]
) -> None:
    sign_in(page, served, "gil")
    page.goto(f"/runs/{baseline['beta']}")
    expect(page.get_by_role("heading", name="Run beta", level=1)).to_be_visible()
    main = page.get_by_role("main").inner_text()
    assert baseline["beta"] in main and "finished" in main and "after 42 min 0 s" in main
    assert page.get_by_role("main").get_by_role("link", name="baseline sweep").count() == 2

    files = page.get_by_role("region", name="Artifacts")
    for path in ("model/weights.bin", "model/config.json", "notes.txt"):
        expect(files.get_by_role("link", name=f"Download {path}")).to_be_visible()
    with page.expect_download() as caught:
        files.get_by_role("link", name="Download model/weights.bin").click()
    assert caught.value.suggested_filename == "weights.bin"
    assert Path(caught.value.path()).read_bytes() == bytes(range(200))

    tabs = page.get_by_role("navigation", name="Run sections")
    tabs.get_by_role("link", name="Parameters").click()
    expect(page.get_by_role("row", name="lr 0.2")).to_be_visible()
    expect(page.get_by_role("row", name="seed 1")).to_be_visible()
    tabs.get_by_role("link", name="Tags").click()
    expect(page.get_by_role("row", name="team risk")).to_be_visible()
    tabs.get_by_role("link", name="Metrics").click()
    loss = page.get_by_role("img", name="Plot of loss over steps")
    assert len((loss.locator("polyline").get_attribute("points") or "").split()) == 5
    assert page.get_by_role("img", name="Plot of auc over steps").locator("circle").count() == 1
    values = _cells(page.get_by_role("table", name="Values of loss"))
    assert [row[:2] for row in values] == [["0", "0.5"], ["1", "0.333333"], ["2", "0.25"],
                                          ["3", "0.2"], ["4", "0.166667"]]  # fmt: skip


def test_a_promoted_runs_files_are_read_from_its_version(
    page: Any, served: Served, baseline: dict[str, str]
) -> None:
    sign_in(page, served, "gil")
    page.goto(f"/runs/{baseline['alpha']}")
    link = page.get_by_role("link", name="team/baseline 1.0.0")
    assert link.get_attribute("href") == "/models/team/baseline/1.0.0"
    assert "the files under model" in page.get_by_role("main").inner_text()
    with page.expect_download() as caught:
        page.get_by_role("link", name="Download model/config.json").click()
    assert Path(caught.value.path()).read_bytes() == b'{"lr": 0.1}'


# -- promoting ----------------------------------------------------------------------------


def test_promote_a_run_through_the_form(page: Any, served: Served) -> None:
    reg = served.registry
    reg.create_model("team/promoted")
    _, (run_id,) = _experiment_with_runs(reg, "promote me", "candidate")
    sign_in(page, served, "rob")
    page.goto(f"/runs/{run_id}")
    page.get_by_label("Model", exact=True).fill("team/promoted")
    page.get_by_label("Bump").select_option("major")
    page.get_by_label("Folder (optional)").fill("model")
    page.get_by_label("Description (optional)").fill("the best of the sweep")
    page.get_by_role("button", name="Promote to model version").click()
    expect(page.get_by_role("heading", name="team/promoted 1.0.0", level=1)).to_be_visible()
    notice = page.get_by_role("status").inner_text()
    assert "Run candidate promoted to version 1.0.0 of team/promoted." in notice
    assert page.locator(".badges .state").inner_text() == "ready"
    expect(page.get_by_role("link", name="Download weights.bin")).to_be_visible()
    assert page.get_by_role("link", name="Download logs/train.log").count() == 0
    entity = reg.get_version("team/promoted", "1.0.0")
    assert entity.state is VersionState.READY and entity.description == "the best of the sweep"
    assert [a.path.value for a in entity.artifacts] == ["weights.bin"]

    page.goto(f"/runs/{run_id}")  # promoted: the form and the delete link are gone
    expect(page.get_by_role("link", name="team/promoted 1.0.0")).to_be_visible()
    assert page.get_by_role("button", name="Promote to model version").count() == 0
    assert page.get_by_role("link", name="Delete run", exact=True).count() == 0


def test_a_refused_promotion_shows_the_rule(page: Any, served: Served) -> None:
    reg = served.registry
    reg.create_model("team/twice")
    _, (run_id,) = _experiment_with_runs(reg, "promote twice", "again")
    sign_in(page, served, "rob")
    page.goto(f"/runs/{run_id}")
    page.get_by_label("Model", exact=True).fill("team/missing")
    page.get_by_label("Version (optional)").fill("1.0.0")
    page.get_by_role("button", name="Promote to model version").click()
    assert "model 'team/missing' does not exist" in page.get_by_role("alert").inner_text()
    assert reg.get_run(run_id).promoted_to is None

    reg.promote_run(run_id, "team/twice", "1.0.0")  # behind the page's back
    page.get_by_label("Model", exact=True).fill("team/twice")
    page.get_by_role("button", name="Promote to model version").click()  # bump minor
    alert = page.get_by_role("alert").inner_text()
    assert "already became version team/twice/1.0.0" in alert and "promoted once" in alert
    assert [str(v.version) for v in reg.list_versions("team/twice")] == ["1.0.0"]


# -- deleting -----------------------------------------------------------------------------


def test_delete_a_run_after_a_confirmation(page: Any, served: Served) -> None:
    reg = served.registry
    experiment_id, (doomed, kept) = _experiment_with_runs(reg, "run removal", "doomed", "kept")
    sign_in(page, served, "rob")
    page.goto(f"/runs/{doomed}")
    page.get_by_role("link", name="Delete run", exact=True).click()
    expect(page.get_by_role("heading", name="Delete run doomed?")).to_be_visible()
    listed = page.get_by_role("main").get_by_role("listitem").all_inner_texts()
    assert listed == ["logs/train.log (3 Bytes)", "model/weights.bin (64 Bytes)"]
    page.get_by_role("button", name="Delete run", exact=True).click()
    page.wait_for_url(f"**/experiments/{experiment_id}")
    assert "Run doomed deleted." in page.get_by_role("status").inner_text()
    assert page.get_by_role("link", name="doomed").count() == 0
    expect(page.get_by_role("link", name="kept")).to_be_visible()
    with pytest.raises(NotFound):
        reg.get_run(doomed)
    assert reg.get_run(kept).status is RunStatus.RUNNING


def test_a_promoted_run_cannot_be_deleted(
    page: Any, served: Served, baseline: dict[str, str]
) -> None:
    sign_in(page, served, "rob")
    page.goto(f"/runs/{baseline['alpha']}:delete")  # not offered, but an old link
    page.get_by_role("button", name="Delete run", exact=True).click()
    alert = page.get_by_role("alert").inner_text()
    assert "became version team/baseline/1.0.0" in alert and "cannot be deleted" in alert
    assert served.registry.get_run(baseline["alpha"]).promoted_to == "team/baseline/1.0.0"


def test_delete_an_experiment_whose_run_became_a_version(page: Any, served: Served) -> None:
    reg = served.registry
    reg.create_model("team/kept")
    experiment_id, (promoted, _) = _experiment_with_runs(reg, "to delete", "star", "other")
    reg.promote_run(promoted, "team/kept", "1.0.0")
    sign_in(page, served, "ana")
    page.goto(f"/experiments/{experiment_id}")
    page.get_by_role("link", name="Delete experiment").click()
    main = page.get_by_role("main")
    assert "2 runs" in main.inner_text() and "2 files" in main.inner_text()  # its own files
    assert page.get_by_role("list", name="Runs that became versions").inner_text() == (
        "star → team/kept 1.0.0"
    )
    page.get_by_role("button", name="Delete experiment").click()  # the box not ticked
    assert "has runs that became versions" in page.get_by_role("alert").inner_text()
    assert reg.get_experiment(experiment_id).name == "to delete"
    page.get_by_label("Also delete the runs that became versions").check()
    page.get_by_role("button", name="Delete experiment").click()
    page.wait_for_url("**/experiments")
    assert "Experiment to delete deleted." in page.get_by_role("status").inner_text()
    assert page.get_by_role("link", name="to delete").count() == 0
    with pytest.raises(NotFound):
        reg.get_experiment(experiment_id)
    assert reg.get_version("team/kept", "1.0.0").state is VersionState.READY


# -- permissions --------------------------------------------------------------------------


def test_a_guest_sees_no_promote_or_delete_controls(
    page: Any, served: Served, baseline: dict[str, str]
) -> None:
    sign_in(page, served, "gil")
    page.goto(f"/experiments/{baseline['experiment']}")
    assert page.get_by_role("link", name="Delete experiment").count() == 0
    page.goto(f"/runs/{baseline['gamma']}")
    assert page.get_by_role("button").all_inner_texts() == ["Sign out"]
    assert page.get_by_role("textbox").count() == 0 and page.get_by_role("combobox").count() == 0
    assert page.get_by_role("link", name="Delete run", exact=True).count() == 0
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    answer = page.request.post(
        f"/runs/{baseline['gamma']}:promote",
        form={"csrf": csrf or "", "model": "team/baseline", "bump": "minor"},
        headers={"Origin": served.base},
        max_redirects=0,
    )
    assert answer.status == 403
    assert served.registry.get_run(baseline["gamma"]).promoted_to is None
