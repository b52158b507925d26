"""The create-version form: files in a subfolder, parameters, metrics and a log in one
go, published or left a draft; every field checked before anything is stored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from serverkit import Served
from uikit import sign_in

from registry_core import Conflict, Registry, VersionState


def _file(name: str, data: bytes) -> dict[str, Any]:
    return {"name": name, "mimeType": "application/octet-stream", "buffer": data}


@pytest.fixture
def bare(browser: Any, served: Served) -> Iterator[Any]:
    """A tab with JavaScript off, to see the form as the server alone makes it."""
    context = browser.new_context(base_url=served.base, java_script_enabled=False)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_create_and_publish_a_version_with_files_params_metrics_and_a_log(
    page: Any, served: Served
) -> None:
    served.registry.create_model("fraud")
    sign_in(page, served, "ana")
    page.goto("/models/fraud")
    page.get_by_role("link", name="New version").click()
    page.get_by_label("Version", exact=True).fill("1.0.0")
    page.get_by_label("Description (optional)").fill("first cut")
    page.get_by_label("Files (optional)").set_input_files(
        [_file("model.pkl", b"weights"), _file("config.json", b"{}")]
    )
    page.get_by_label("Subfolder (optional)").fill("model/")
    expect(page.get_by_text("model/config.json")).to_be_visible()  # the paths, shown as chosen
    page.get_by_label("Parameters (optional)").fill("learning_rate = 0.01\n\nepochs=10\n")
    page.get_by_label("Metrics (optional)").fill("accuracy 0.93\nloss 0.5 1\nloss 0.25 2")
    page.get_by_label("Log (optional)").fill("epoch 1\nepoch 2")
    page.get_by_role("button", name="Create & publish").click()

    expect(page.get_by_role("heading", name="fraud 1.0.0")).to_be_visible()
    assert "created and published with 3 files" in page.get_by_role("status").inner_text()
    registry = served.registry
    version = registry.get_version("fraud", "1.0.0")
    assert version.state is VersionState.READY
    assert version.description == "first cut"
    paths = sorted(str(a.path) for a in version.artifacts)
    assert paths == ["logs/run.log", "model/config.json", "model/model.pkl"]
    assert dict(version.params) == {"learning_rate": "0.01", "epochs": "10"}
    metrics = [(m.key, m.value, m.step) for m in registry.get_metrics("fraud", "1.0.0")]
    assert sorted(metrics) == [("accuracy", 0.93, 0), ("loss", 0.25, 2), ("loss", 0.5, 1)]
    with registry.open_artifact("fraud", "1.0.0", "logs/run.log") as log:
        assert log.read() == b"epoch 1\nepoch 2\n"
    with registry.open_artifact("fraud", "1.0.0", "model/model.pkl") as weights:
        assert weights.read() == b"weights"


def test_create_a_draft_offered_the_next_versions(page: Any, served: Served) -> None:
    registry = served.registry
    registry.create_model("fraud")
    registry.create_version("fraud", "1.2.3", publish=True)
    registry.create_version("fraud", "0.9.0")
    sign_in(page, served, "rob")  # a reporter may create versions
    page.goto("/models/fraud:new-version")
    version = page.get_by_label("Version", exact=True)
    version.fill("v1.0.0")
    assert "leading v" in page.locator("#version-problem").inner_text()
    assert version.get_attribute("aria-invalid") == "true"
    version.fill("1.02.0")
    assert "leading zeros" in page.locator("#version-problem").inner_text()
    page.get_by_role("button", name="Create draft").click()  # the browser holds it back
    assert registry.count_versions("fraud") == 2
    page.get_by_role("button", name="Use 2.0.0 (next major)").click()
    assert version.input_value() == "2.0.0"
    page.get_by_role("button", name="Use 1.3.0 (next minor)").click()
    assert version.input_value() == "1.3.0"
    page.get_by_role("button", name="Use 1.2.4 (next patch)").click()
    assert version.input_value() == "1.2.4"
    page.get_by_label("Files (optional)").set_input_files([_file("w.bin", b"w")])
    page.get_by_role("button", name="Create draft").click()
    assert "created as a draft with 1 file" in page.get_by_role("status").inner_text()
    draft = registry.get_version("fraud", "1.2.4")
    assert draft.state is VersionState.DRAFT
    assert [str(a.path) for a in draft.artifacts] == ["w.bin"]


def test_a_bad_version_and_a_bad_param_line_come_back_and_store_nothing(
    bare: Any, served: Served
) -> None:
    served.registry.create_model("fraud")
    sign_in(bare, served, "ana")
    bare.goto("/models/fraud:new-version")
    expect(bare.get_by_text("1.0.0 (first version)")).to_be_visible()  # text, not a button
    assert bare.get_by_role("button", name="Use 1.0.0 (first version)").count() == 0
    bare.get_by_label("Version", exact=True).fill("1.0")
    bare.get_by_label("Description (optional)").fill("kept")
    bare.get_by_label("Parameters (optional)").fill("lr=0.1\nepochs 10")
    bare.get_by_label("Metrics (optional)").fill("auc 0.9")
    bare.get_by_label("Files (optional)").set_input_files([_file("w.bin", b"w")])
    with bare.expect_response(lambda r: r.request.method == "POST") as posted:
        bare.get_by_role("button", name="Create & publish").click()
    assert posted.value.status == 400
    assert "is not a SemVer 2.0.0 version" in bare.locator("#version-problem").inner_text()
    assert bare.locator("#version-problem").get_attribute("role") == "alert"
    assert "line 2" in bare.locator("#params-problem").inner_text()
    assert bare.get_by_label("Version", exact=True).get_attribute("aria-invalid") == "true"
    assert bare.get_by_label("Description (optional)").input_value() == "kept"
    assert bare.get_by_label("Metrics (optional)").input_value() == "auc 0.9"
    assert served.registry.count_versions("fraud") == 0
    served.registry.create_version("fraud", "1.0.0")
    bare.get_by_label("Version", exact=True).fill("1.0.0+build.7")  # equal in precedence
    bare.get_by_label("Parameters (optional)").fill("lr=0.1")
    bare.get_by_role("button", name="Create draft").click()
    assert "already exists" in bare.locator("#version-problem").inner_text()
    assert bare.locator("#params-problem").inner_text() == ""
    assert served.registry.count_versions("fraud") == 1


def test_a_version_without_files_is_published_in_one_step(page: Any, served: Served) -> None:
    served.registry.create_model("fraud")
    sign_in(page, served, "rob")
    page.goto("/models/fraud:new-version")
    page.get_by_role("button", name="Use 1.0.0 (first version)").click()
    page.get_by_label("Parameters (optional)").fill("seed=42")
    page.get_by_role("button", name="Create & publish").click()
    assert "created and published." in page.get_by_role("status").inner_text()
    version = served.registry.get_version("fraud", "1.0.0")
    assert version.state is VersionState.READY and version.artifacts == ()
    assert dict(version.params) == {"seed": "42"}


def test_a_step_that_fails_after_creation_marks_the_version_failed(
    page: Any, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    served.registry.create_model("fraud")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise Conflict("the store went away")

    monkeypatch.setattr(Registry, "upload", broken)  # the server runs in this process
    sign_in(page, served, "ana")
    page.goto("/models/fraud:new-version")
    page.get_by_label("Version", exact=True).fill("1.0.0")
    page.get_by_label("Files (optional)").set_input_files([_file("w.bin", b"w")])
    page.get_by_role("button", name="Create & publish").click()
    alert = page.get_by_role("alert").inner_text()
    assert "uploading 'w.bin' failed: the store went away" in alert
    assert "marked failed" in alert
    assert served.registry.get_version("fraud", "1.0.0").state is VersionState.FAILED


def test_a_guest_is_not_offered_the_form_and_a_forged_post_is_refused(
    page: Any, served: Served
) -> None:
    served.registry.create_model("fraud")
    sign_in(page, served, "gil")
    page.goto("/models/fraud")
    assert page.get_by_role("link", name="New version").count() == 0
    page.goto("/models/fraud:new-version")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    assert "reporter or up" in page.get_by_role("alert").inner_text()
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    answer = page.request.post(
        "/models/fraud:create-version",
        multipart={
            "csrf": csrf,
            "version": "1.0.0",
            "then": "publish",
            "files": {"name": "w.bin", "mimeType": "application/octet-stream", "buffer": b"w"},
        },
        headers={"Origin": served.base},
        max_redirects=0,
    )
    assert answer.status == 403
    assert served.registry.count_versions("fraud") == 0
