"""A version's page: header, sections, files (upload, download, delete), metrics,
parameters, tags, log, and the lifecycle actions, in a browser on both backends."""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from serverkit import Served, ServerThread

from registry_core import CIJob, Metric, NotFound, Registry, VersionState
from registry_server import create_app
from registry_server.ui.artifacts import LOG_TAIL_BYTES, read_logs
from registry_server.ui.plots import line_plot, thin

#: Over SQLite too: its lists and searches are SQL's own (see conftest.py).
BACKENDS = ["files", "sqlite"]

URL = "/models/team/fraud/1.0.0"


def _draft(registry: Registry, files: dict[str, bytes] | None = None) -> None:
    registry.create_model("team/fraud", "catches fraud")
    registry.create_version("team/fraud", "1.0.0")
    for name, data in (files or {}).items():
        registry.upload("team/fraud", "1.0.0", io.BytesIO(data), name=name)


def _read(registry: Registry, path: str, version: str = "1.0.0") -> bytes:
    with registry.open_artifact("team/fraud", version, path) as stream:
        return stream.read()


def sign_in(page: Any, served: Served, user: str) -> None:
    """Signed in by the token cookie the sign-in form sets (that form has its own tests):
    one page load less per test."""
    page.context.add_cookies(
        [{"name": "modelreg_token", "value": served.tokens[user], "url": served.base}]
    )


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


# -- header and sections ----------------------------------------------------------------


def test_the_header_shows_state_package_aliases_and_ci_links(page: Any, served: Served) -> None:
    reg = served.registry
    _draft(reg, {"w.bin": b"weights"})
    job = CIJob(
        provider="gitlab",
        job_id="77",
        pipeline_id="12",
        project_url="https://gitlab.example/team/fraud",
        merge_request="5",
    )
    reg.link_ci_job("team/fraud", "1.0.0", job)
    reg.publish("team/fraud", "1.0.0")
    reg.set_alias("team/fraud", "production", "1.0.0")
    sign_in(page, served, "gil")
    page.goto(URL)
    assert page.get_by_role("heading", level=1).inner_text() == "team/fraud 1.0.0"
    main = page.get_by_role("main").inner_text()
    assert "team/fraud/1.0.0" in main and "latest" in main and "production" in main
    digest = reg.get_version("team/fraud", "1.0.0").manifest_sha256
    assert digest is not None and digest in main
    assert page.get_by_role("link", name="gitlab job 77").get_attribute("href") == job.job_url
    assert page.get_by_role("link", name="pipeline 12").get_attribute("href") == job.pipeline_url
    mr = page.get_by_role("link", name="merge request 5")
    assert mr.get_attribute("href") == job.merge_request_url
    tabs = page.get_by_role("navigation", name="Version sections")
    assert tabs.get_by_role("link", name="Artifacts").get_attribute("aria-current") == "page"
    tabs.get_by_role("link", name="Metrics").click()
    assert tabs.get_by_role("link", name="Metrics").get_attribute("aria-current") == "page"
    assert tabs.get_by_role("link", name="Artifacts").get_attribute("aria-current") is None
    expect(page.get_by_role("heading", name="Metrics", level=2)).to_be_visible()


# -- uploading --------------------------------------------------------------------------


def test_upload_through_the_chooser_into_a_subfolder(page: Any, served: Served) -> None:
    _draft(served.registry)
    sign_in(page, served, "rob")
    page.goto(URL)
    page.get_by_label("Subfolder").fill("config")
    page.get_by_label("Files", exact=True).set_input_files(
        [
            {"name": "a.json", "mimeType": "application/json", "buffer": b'{"a": 1}'},
            {"name": "b.bin", "mimeType": "application/octet-stream", "buffer": bytes(range(256))},
        ]
    )
    expect = _expect()
    expect(page.get_by_role("progressbar", name="Uploading a.json")).to_be_visible()
    expect(page.get_by_text("Uploaded config/b.bin")).to_be_visible()
    expect(page.get_by_text("Uploaded config/a.json")).to_be_visible()
    expect(page.get_by_role("link", name="Download config/b.bin")).to_be_visible()
    expect(page.get_by_role("link", name="Download config/a.json")).to_be_visible()
    assert _read(served.registry, "config/a.json") == b'{"a": 1}'
    assert _read(served.registry, "config/b.bin") == bytes(range(256))


def test_upload_by_drag_and_drop(page: Any, served: Served) -> None:
    _draft(served.registry)
    sign_in(page, served, "rob")
    page.goto(URL)
    drop = page.get_by_role("region", name="Drop files to upload")
    assert drop.get_attribute("tabindex") == "0"
    carried = page.evaluate_handle(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File(["dropped bytes"], "dropped.txt", {type: "text/plain"}));
            return data;
        }"""
    )
    drop.dispatch_event("drop", {"dataTransfer": carried})
    expect = _expect()
    expect(page.get_by_text("Uploaded dropped.txt")).to_be_visible()
    expect(page.get_by_role("link", name="Download dropped.txt")).to_be_visible()
    assert _read(served.registry, "dropped.txt") == b"dropped bytes"


def test_the_drop_area_opens_the_file_chooser_from_the_keyboard(page: Any, served: Served) -> None:
    _draft(served.registry)
    choosers: list[Any] = []
    page.on("filechooser", lambda chooser: choosers.append(chooser))  # intercept from the start
    sign_in(page, served, "rob")
    page.goto(URL)
    drop = page.get_by_role("region", name="Drop files to upload")
    drop.focus()
    expect = _expect()
    expect(drop).to_be_focused()
    page.keyboard.press("Enter")
    deadline = 100
    while not choosers and deadline:
        page.wait_for_timeout(100)
        deadline -= 1
    assert choosers, "Enter on the drop area opened no file chooser"
    choosers[0].set_files([{"name": "keyed.txt", "mimeType": "text/plain", "buffer": b"k"}])
    expect(page.get_by_role("link", name="Download keyed.txt")).to_be_visible()
    assert _read(served.registry, "keyed.txt") == b"k"


def test_the_upload_form_works_without_javascript(
    browser: Any, served: Served, tmp_path: Path
) -> None:
    _draft(served.registry)
    context = browser.new_context(base_url=served.base, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, served, "rob")
        page.goto(URL)
        assert page.get_by_role("region", name="Drop files to upload").count() == 0  # hidden
        page.get_by_label("Subfolder").fill("weights/v2")
        page.get_by_label("Files", exact=True).set_input_files(
            [
                {"name": "w.bin", "mimeType": "application/octet-stream", "buffer": b"\0" * 3000},
                {"name": "n.txt", "mimeType": "text/plain", "buffer": b"notes"},
            ]
        )
        page.get_by_role("button", name="Upload").click()
        assert "Uploaded" in page.get_by_role("status").inner_text()
        expect(page.get_by_role("link", name="Download weights/v2/w.bin")).to_be_visible()
        page.get_by_label("Files", exact=True).set_input_files(
            [{"name": "n.txt", "mimeType": "text/plain", "buffer": b"again"}]
        )
        page.get_by_label("Subfolder").fill("weights/v2")
        page.get_by_role("button", name="Upload").click()
        assert "already exists" in page.get_by_role("alert").inner_text()
        page.screenshot(path=str(tmp_path / "no-js.png"), full_page=True)
    finally:
        context.close()
    assert _read(served.registry, "weights/v2/w.bin") == b"\0" * 3000
    assert _read(served.registry, "weights/v2/n.txt") == b"notes"


def test_refused_uploads_show_the_rule_on_the_page(page: Any, served: Served) -> None:
    _draft(served.registry, {"taken.txt": b"first"})
    sign_in(page, served, "rob")
    page.goto(URL)
    files = page.get_by_label("Files", exact=True)
    files.set_input_files([{"name": "taken.txt", "mimeType": "text/plain", "buffer": b"x"}])
    expect = _expect()
    expect(page.get_by_role("alert")).to_contain_text("already exists")
    page.get_by_label("Subfolder").fill("a/../b")
    files.set_input_files([{"name": "c.txt", "mimeType": "text/plain", "buffer": b"x"}])
    expect(page.get_by_role("alert").nth(1)).to_contain_text("'..'")
    page.get_by_label("Subfolder").fill("")
    served.registry.publish("team/fraud", "1.0.0")  # sealed behind the page's back
    files.set_input_files([{"name": "late.txt", "mimeType": "text/plain", "buffer": b"x"}])
    expect(page.get_by_role("alert").nth(2)).to_contain_text("sealed")
    assert _read(served.registry, "taken.txt") == b"first"


def test_an_upload_over_the_limit_is_refused(registry: Registry) -> None:
    """``create_app(max_artifact_bytes=...)`` holds for the page's uploads too."""
    import http.client

    for user, role in {"rob": "reporter"}.items():
        registry.grant(user, role)
    token = registry.create_token("rob")
    _draft(registry)
    with ServerThread(create_app(registry, max_artifact_bytes=10)) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/sign-in")
        answer = conn.getresponse()
        answer.read()
        cookie = answer.getheader("set-cookie") or ""
        csrf = re.search(r"modelreg_csrf=([^;]+)", cookie)
        assert csrf is not None
        cookies = f"modelreg_csrf={csrf.group(1)}; modelreg_token={token}"
        for body in (b"x" * 11, b"y" * 10):
            conn.request(
                "PUT",
                URL + ":upload-file?path=f.bin",
                body=body,
                headers={
                    "Cookie": cookies,
                    "X-CSRF-Token": csrf.group(1),
                    "Origin": f"http://127.0.0.1:{server.port}",
                },
            )
            answer = conn.getresponse()
            text = answer.read().decode()
            if body.startswith(b"x"):
                assert answer.status == 400 and "largest upload accepted is 10" in text
        assert answer.status == 201, text
        conn.close()
    assert _read(registry, "f.bin") == b"y" * 10


# -- downloading and deleting -----------------------------------------------------------


def test_download_one_file_and_download_all_as_a_tar(page: Any, served: Served) -> None:
    files = {"w.bin": bytes(range(256)) * 9, "config/p.json": b"{}", "config/deep/x.txt": b"x"}
    _draft(served.registry, files)
    served.registry.publish("team/fraud", "1.0.0")
    sign_in(page, served, "gil")
    page.goto(URL)
    with page.expect_download() as caught:
        page.get_by_role("link", name="Download config/p.json").click()
    one = caught.value
    assert one.suggested_filename == "p.json"
    assert Path(one.path()).read_bytes() == b"{}"
    with page.expect_download() as caught:
        page.get_by_role("link", name="Download all").click()
    everything = caught.value
    assert everything.suggested_filename == "team-fraud-1.0.0.tar"
    with tarfile.open(everything.path()) as tar:
        got = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert got == files


def test_tick_files_and_delete_them_after_a_confirmation(page: Any, served: Served) -> None:
    _draft(served.registry, {"a.txt": b"a", "sub/b.txt": b"b", "sub/c.txt": b"c"})
    sign_in(page, served, "rob")
    page.goto(URL)
    page.get_by_label("Select a.txt").check()
    page.get_by_label("Select sub/c.txt").check()
    page.get_by_role("button", name="Delete selected").click()
    listed = page.get_by_role("list", name="Files to delete").get_by_role("listitem")
    assert [item.inner_text() for item in listed.all()] == ["a.txt (1 Byte)", "sub/c.txt (1 Byte)"]
    page.get_by_role("button", name="Delete these files").click()
    assert "Deleted 2 files." in page.get_by_role("status").inner_text()
    paths = [a.path.value for a in served.registry.list_artifacts("team/fraud", "1.0.0")]
    assert paths == ["sub/b.txt"]
    page.get_by_role("button", name="Delete selected").click()  # nothing ticked
    assert "Tick the files" in page.get_by_role("alert").inner_text()


# -- metrics, parameters, tags, log -----------------------------------------------------


def test_metrics_are_plotted_and_listed(page: Any, served: Served) -> None:
    _draft(served.registry)
    at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    values = [2.0, 1.5, math.nan, 0.75, -0.25]
    points = [Metric("loss", v, step, at) for step, v in enumerate(values)]
    points.append(Metric("auc", 0.9, 7, at))
    served.registry.log_metrics("team/fraud", "1.0.0", points)
    sign_in(page, served, "gil")
    page.goto(URL + "?tab=metrics")
    loss = page.get_by_role("img", name="Plot of loss over steps")
    expect(loss).to_be_visible()
    line = loss.locator("polyline").get_attribute("points") or ""
    assert len(line.split()) == 4  # the NaN is left out of the line
    assert "-0.25" in loss.inner_html() and "step 4" in loss.inner_html()
    auc = page.get_by_role("img", name="Plot of auc over steps")
    assert auc.locator("circle").count() == 1  # a single point
    table = page.get_by_role("table", name="Values of loss")
    rows = [r.inner_text().split("\t")[:2] for r in table.get_by_role("row").all()[1:]]
    assert rows == [["0", "2"], ["1", "1.5"], ["2", "NaN"], ["3", "0.75"], ["4", "-0.25"]]
    assert "2026-01-02 03:04:05 UTC" in table.inner_text()


def test_parameters_tags_and_the_log(page: Any, served: Served) -> None:
    _draft(served.registry)
    served.registry.append_log("team/fraud", "1.0.0", "epoch 1 <done>\n")
    sign_in(page, served, "rob")
    page.goto(URL + "?tab=parameters")
    page.get_by_label("Key").fill("lr")
    page.get_by_label("Value").fill("0.01")
    page.get_by_role("button", name="Add parameter").click()
    expect(page.get_by_role("row", name="lr 0.01")).to_be_visible()
    page.get_by_label("Key").fill("lr")
    page.get_by_label("Value").fill("0.02")
    page.get_by_role("button", name="Add parameter").click()
    assert "written once" in page.get_by_role("alert").inner_text()
    assert served.registry.get_version("team/fraud", "1.0.0").params == {"lr": "0.01"}

    page.get_by_role("navigation", name="Version sections").get_by_role("link", name="Tags").click()
    page.get_by_label("Key").fill("owner")
    page.get_by_label("Value").fill("risk team")
    page.get_by_role("button", name="Set tag").click()
    expect(page.get_by_role("row", name="owner risk team")).to_be_visible()
    assert served.registry.get_version("team/fraud", "1.0.0").tags == {"owner": "risk team"}
    page.get_by_role("button", name="Delete tag owner").click()
    assert served.registry.get_version("team/fraud", "1.0.0").tags == {}

    page.goto(URL + "?tab=log")
    log = page.get_by_role("region", name="logs/run.log")
    assert log.locator("pre").inner_text() == "epoch 1 <done>\n"
    page.get_by_label("Text to append").fill("epoch 2")
    page.get_by_role("button", name="Append to log").click()
    expected = "epoch 1 <done>\nepoch 2\n"
    assert page.locator("pre").inner_text() == expected
    assert _read(served.registry, "logs/run.log").decode() == expected


def test_a_long_log_shows_its_last_mebibyte(page: Any, served: Served) -> None:
    _draft(served.registry)
    lines = "".join(f"line {i:07d}\n" for i in range(110_000))  # 1.4 MB
    served.registry.append_log("team/fraud", "1.0.0", lines)
    [view] = read_logs(served.registry, served.registry.get_version("team/fraud", "1.0.0"))
    assert view.cut and view.size == len(lines)
    assert len(view.text) <= LOG_TAIL_BYTES and view.text.startswith("line ")
    assert view.text.endswith("line 0109999\n") and "line 0000000" not in view.text
    sign_in(page, served, "gil")
    answer = page.request.get(URL + "?tab=log")  # read, not drawn: 1 MiB of text is slow
    assert "this is its last 1 MiB" in answer.text() and "line 0109999" in answer.text()


# -- lifecycle --------------------------------------------------------------------------


def test_lifecycle_actions_and_a_refused_one(page: Any, served: Served) -> None:
    reg = served.registry
    _draft(reg, {"w.bin": b"w"})
    reg.create_version("team/fraud", "1.1.0")
    sign_in(page, served, "rob")
    page.goto("/models/team/fraud/1.1.0")
    assert page.get_by_role("button", name="Deprecate").count() == 0  # not from draft
    page.get_by_role("button", name="Mark as failed").click()
    assert reg.get_version("team/fraud", "1.1.0").state is VersionState.FAILED

    page.goto(URL)
    page.get_by_role("button", name="Publish").click()
    assert "Version 1.0.0 published." in page.get_by_role("status").inner_text()
    assert reg.get_version("team/fraud", "1.0.0").state is VersionState.READY
    assert page.get_by_label("Files", exact=True).count() == 0  # sealed: no uploads
    page.get_by_role("button", name="Deprecate").click()
    assert reg.get_version("team/fraud", "1.0.0").state is VersionState.DEPRECATED
    assert page.get_by_role("button", name="Set alias").count() == 0  # ready only
    page.get_by_role("button", name="Undeprecate").click()
    assert reg.get_version("team/fraud", "1.0.0").state is VersionState.READY
    page.get_by_label("Alias", exact=True).fill("production")
    page.get_by_role("button", name="Set alias").click()
    assert str(reg.get_alias("team/fraud", "production").version) == "1.0.0"
    page.get_by_role("button", name="Yank").click()
    alert = page.get_by_role("alert").inner_text()
    assert "alias production points at it" in alert
    assert reg.get_version("team/fraud", "1.0.0").state is VersionState.READY

    page.get_by_role("link", name="Delete version").click()
    main = page.get_by_role("main").inner_text()
    assert "w.bin" in main and "production" in main
    page.get_by_role("button", name="Delete version").click()  # the alias not ticked
    assert "alias production points at it" in page.get_by_role("alert").inner_text()
    page.get_by_label(re.compile("Also delete the alias")).check()
    page.get_by_role("button", name="Delete version").click()
    assert "Version 1.0.0 deleted." in page.get_by_role("status").inner_text()
    with pytest.raises(NotFound):
        reg.get_version("team/fraud", "1.0.0")
    assert reg.get_model("team/fraud").aliases == {}


def test_yank_a_ready_version(page: Any, served: Served) -> None:
    _draft(served.registry, {"w.bin": b"w"})
    served.registry.publish("team/fraud", "1.0.0")
    sign_in(page, served, "rob")
    page.goto(URL)
    page.get_by_role("button", name="Yank").click()
    assert "Version 1.0.0 yanked." in page.get_by_role("status").inner_text()
    assert served.registry.get_version("team/fraud", "1.0.0").state is VersionState.YANKED
    assert page.get_by_role("button", name="Undeprecate").count() == 0


# -- permissions ------------------------------------------------------------------------


def test_a_guest_sees_no_change_controls_and_the_server_refuses_them(
    page: Any, served: Served
) -> None:
    _draft(served.registry, {"w.bin": b"w"})
    sign_in(page, served, "gil")
    for tab in ("artifacts", "parameters", "tags", "log"):
        page.goto(f"{URL}?tab={tab}")
        assert page.get_by_role("button").all_inner_texts() == ["Sign out"], tab
        assert page.get_by_role("textbox").count() == 0
    assert page.get_by_role("link", name="Delete version").count() == 0
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    answer = page.request.post(
        URL + ":publish", form={"csrf": csrf}, headers={"Origin": served.base}, max_redirects=0
    )
    assert answer.status == 403
    put = page.request.put(
        URL + ":upload-file?path=evil.bin",
        data=b"evil",
        headers={"X-CSRF-Token": csrf or "", "Origin": served.base},
    )
    assert put.status == 403
    state = served.registry.get_version("team/fraud", "1.0.0")
    assert state.state is VersionState.DRAFT
    assert [a.path.value for a in state.artifacts] == ["w.bin"]


# -- plots ------------------------------------------------------------------------------


def test_a_plot_escapes_the_key_and_handles_odd_series() -> None:
    svg = str(line_plot('<script>"x"</script>', [(0, 1.0)]))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'role="img"' in svg and "<circle" in svg
    constant = str(line_plot("c", [(0, 3.0), (5, 3.0)]))
    assert "<polyline" in constant and ">3<" in constant
    assert "No finite values" in str(line_plot("n", [(0, math.nan), (1, math.inf)]))


def test_a_long_series_is_thinned_for_drawing_only() -> None:
    series = [(i, math.sin(i / 50)) for i in range(100_000)]
    series[54_321] = (54_321, 40.0)  # a spike survives thinning
    drawn = thin(series)
    assert len(drawn) <= 1200 and (54_321, 40.0) in drawn
    assert drawn == sorted(drawn)
    svg = str(line_plot("big", series))
    assert len(svg) < 60_000 and ">40<" in svg
