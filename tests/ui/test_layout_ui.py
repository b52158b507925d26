"""Layout and accessibility of the pages at 80% and 200% zoom and on a phone.

Zoom is emulated as a browser does it: a 1280-pixel-wide window at 80% zoom lays the page
out in 1600 CSS pixels (at 0.8 device pixels each), at 200% in 640 CSS pixels. On each
page and size: the document never scrolls sideways (a wide table scrolls inside its own
``.scroll`` box), every control has an accessible name (as Chromium's accessibility tree
computes it), and Tab from the top of the page reaches the main controls, each with a
visible focus outline.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from serverkit import Served, open_backend, serve
from uikit import sign_in

from registry_core import CIJob, Registry

MODEL = "team/fraud-detector-with-a-rather-long-name"
EXPERIMENT = "fraud detector: nightly hyper-parameter sweep over the card payments of Europe"

#: name -> browser context options
SIZES: dict[str, dict[str, Any]] = {
    "zoom-80": {"viewport": {"width": 1600, "height": 1000}, "device_scale_factor": 0.8},
    "zoom-200": {"viewport": {"width": 640, "height": 400}, "device_scale_factor": 2},
    "phone": {
        "viewport": {"width": 375, "height": 740},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}
#: name -> (path, signed in, controls Tab must reach in this order); ``{experiment}`` and
#: ``{run}`` stand for the ids of `EXPERIMENT` and its run
PAGES: dict[str, tuple[str, bool, tuple[str, ...]]] = {
    "models": ("/", True, ("Skip to content", "Search models by name", "Search", "New model")),
    "model": (
        f"/models/{MODEL}",
        True,
        ("Skip to content", "New version", "Delete model", "Description", "Save description"),
    ),
    "new-model": ("/models:new", True, ("Skip to content", "Name", "Create model")),
    "sign-in": ("/sign-in", False, ("Skip to content", "Token", "Sign in")),
    "version": (
        f"/models/{MODEL}/1.10.0-rc.1+build.20261204",
        True,
        ("Skip to content", "Publish", "Metrics", "Subfolder"),
    ),
    "version-metrics": (f"/models/{MODEL}/1.2.0?tab=metrics", True, ("Skip to content", "Log")),
    "new-version": (
        f"/models/{MODEL}:new-version",
        True,
        ("Skip to content", "Version", "Description (optional)", "Create & publish"),
    ),
    "settings": ("/settings", True, ("Skip to content", "Registry enabled", "Save settings")),
    "experiments": ("/experiments", True, ("Skip to content", "Experiments", EXPERIMENT)),
    "experiment": (
        "/experiments/{experiment}",
        True,
        ("Skip to content", "Delete experiment", "sweep-candidate-with-a-long-name"),
    ),
    "run": (
        "/runs/{run}",
        True,
        ("Skip to content", "Model", "Bump", "Promote to model version", "Delete run", "Metrics"),
    ),
}
#: Roles of the controls that need a name (Chromium's accessibility tree).
CONTROLS = frozenset(
    {
        "button",
        "link",
        "textbox",
        "searchbox",
        "combobox",
        "listbox",
        "checkbox",
        "radio",
        "spinbutton",
        "slider",
        "switch",
        "tab",
        "menuitem",
        "DisclosureTriangle",
    }
)


def _filled(registry: Registry) -> Registry:
    """Long names, aliases, prereleases, CI links, metrics, an experiment and a run."""
    registry.create_model(MODEL, "Flags card payments that look like fraud. " * 8)
    for number in ("1.0.0", "1.2.0", "1.10.0-rc.1+build.20261204"):
        registry.create_version(MODEL, number, tags={"team": "payments"}, params={"lr": "0.1"})
        registry.upload(MODEL, number, io.BytesIO(b"w" * 100), name="weights.bin", subfolder="a/b")
        registry.link_ci_job(
            MODEL,
            number,
            CIJob(
                provider="gitlab",
                job_id="123456789",
                pipeline_id="987654",
                project_url="https://gitlab.example.com/payments/fraud",
            ),
        )
        registry.log_metrics(MODEL, number, {"loss": 0.5, "auc": 0.91})
        if "-" not in number:
            registry.publish(MODEL, number)
    registry.set_alias(MODEL, "production-candidate-for-europe", "1.2.0")
    experiment = registry.create_experiment(EXPERIMENT)
    params = {f"hyper_parameter_{i}": "0.000123456789" * 3 for i in range(4)}
    run = registry.create_run(experiment.id, name="sweep-candidate-with-a-long-name", params=params)
    registry.log_run_metrics(run.id, {"validation_area_under_the_curve": 0.91, "loss": 0.2})
    registry.upload_run_artifact(run.id, io.BytesIO(b"w" * 100), name="a/b/weights.bin")
    registry.link_run_ci_job(
        run.id, CIJob(provider="gitlab", job_id="123456789", pipeline_id="987654")
    )
    for i in range(3):
        registry.create_model(f"team/model-{i}-{'x' * 60}", "a model " * 30)
    return registry


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One registry and server for the whole module, on one backend (the layout does not
    depend on it): the tests only read, and filling and serving a registry for each case
    cost more than its checks."""
    registry = _filled(open_backend("files", tmp_path_factory.mktemp("layout")))
    yield from serve(registry, max_artifact_bytes=None)


@pytest.fixture(scope="module")
def ana(browser: Any, served: Served) -> list[dict[str, Any]]:
    """ana's cookies, from signing in through the form once (a person stays signed in
    from page to page; the sign-in itself is tested in test_models_ui.py)."""
    context = browser.new_context(base_url=served.base)
    try:
        sign_in(context.new_page(), served, "ana")
        return list(context.cookies())
    finally:
        context.close()


@pytest.fixture(scope="module", params=list(SIZES))
def window(request: pytest.FixtureRequest, browser: Any, served: Served) -> Iterator[Any]:
    """A browser context of one size on the served app, and its tab, shared by the
    module's tests at that size: each loads its page afresh (the pages keep nothing in
    the browser but the sign-in cookie)."""
    context = browser.new_context(base_url=served.base, **SIZES[request.param])
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def sized(window: Any) -> Any:
    """The tab of one size, not signed in."""
    window.context.clear_cookies()
    return window


def _open(page: Any, served: Served, ana: list[dict[str, Any]], name: str) -> None:
    path, signed_in, _ = PAGES[name]
    if "{" in path:
        experiment = served.registry.get_experiment_by_name(EXPERIMENT)
        [run] = served.registry.list_runs(experiment.id)
        path = path.format(experiment=experiment.id, run=run.id)
    if signed_in:
        page.context.add_cookies(ana)
    response = page.goto(path)
    assert response is not None
    if response.status == 404 and name == "version":
        pytest.skip("the version page is not built yet")
    assert response.status == 200, f"{path}: {response.status}"


def _unnamed_controls(page: Any) -> tuple[int, list[str]]:
    """How many controls the page has, and those whose accessible name is empty (as
    ``role: `` and the start of their HTML)."""
    session = page.context.new_cdp_session(page)
    try:
        tree = session.send("Accessibility.getFullAXTree")["nodes"]
        missing, seen = [], 0
        for node in tree:
            role = node.get("role", {}).get("value")
            if node.get("ignored") or role not in CONTROLS:
                continue
            seen += 1
            if not str(node.get("name", {}).get("value", "")).strip():
                backend = node.get("backendDOMNodeId")
                html = ""
                if backend is not None:
                    remote = session.send("DOM.resolveNode", {"backendNodeId": backend})
                    got = session.send(
                        "Runtime.callFunctionOn",
                        {
                            "objectId": remote["object"]["objectId"],
                            "functionDeclaration": "function() { return this.outerHTML; }",
                            "returnByValue": True,
                        },
                    )
                    html = str(got["result"].get("value", ""))[:160]
                missing.append(f"{role}: {html}")
        return seen, missing
    finally:
        session.detach()


_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const label = el.getAttribute("aria-label")
    || (el.labels && el.labels.length ? el.labels[0].textContent : "")
    || el.textContent || el.value || "";
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  return {
    name: label.replace(/\\s+/g, " ").trim(),
    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
    inside: box.width > 0 && box.height > 0 && box.left >= -1
      && box.right <= window.innerWidth + 1,
  };
}"""


#: The page's width, the window's, and the outermost elements that stick out to the right
#: (what makes the page scroll sideways), outside boxes that scroll by themselves.
_OVERFLOW = """() => {
  const limit = Math.min(window.innerWidth, document.documentElement.clientWidth) + 1;
  const out = Array.from(document.body.querySelectorAll("*")).filter((e) => {
    if (e.closest(".scroll") && !e.classList.contains("scroll")) return false;
    const parent = e.parentElement;
    return e.getBoundingClientRect().right > limit
      && (!parent || parent.getBoundingClientRect().right <= limit);
  });
  return [document.documentElement.scrollWidth, window.innerWidth,
          out.slice(0, 5).map((e) => e.outerHTML.slice(0, 160))];
}"""


@pytest.mark.parametrize("name", list(PAGES))
def test_no_sideways_scroll_of_the_page(
    sized: Any, served: Served, ana: list[dict[str, Any]], name: str
) -> None:
    _open(sized, served, ana, name)
    widths = sized.evaluate(_OVERFLOW)
    scroll_width, inner_width, sticking_out = widths
    width = sized.viewport_size["width"]  # a phone's innerWidth grows to fit the page
    assert scroll_width <= min(inner_width, width), (scroll_width, inner_width, sticking_out)


@pytest.mark.parametrize("name", list(PAGES))
def test_every_control_has_an_accessible_name(
    sized: Any, served: Served, ana: list[dict[str, Any]], name: str
) -> None:
    _open(sized, served, ana, name)
    for menu in sized.locator("details").all():  # closed menus hide their links
        menu.evaluate("el => el.open = true")
    seen, unnamed = _unnamed_controls(sized)
    assert seen >= 3 and unnamed == []


@pytest.mark.parametrize("name", list(PAGES))
def test_tab_reaches_the_main_controls_with_a_visible_focus(
    sized: Any, served: Served, ana: list[dict[str, Any]], name: str
) -> None:
    _open(sized, served, ana, name)
    wanted = list(PAGES[name][2])
    sized.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    sized.evaluate("() => window.scrollTo(0, 0)")
    reached: list[str] = []
    for _ in range(40):
        sized.keyboard.press("Tab")
        focused = sized.evaluate(_FOCUSED)
        if focused is None:
            continue
        reached.append(focused["name"])
        if wanted and focused["name"] == wanted[0]:
            assert focused["outline"], f"{wanted[0]!r} shows no focus outline"
            assert focused["inside"], f"{wanted[0]!r} is focused off screen"
            wanted.pop(0)
        if not wanted:
            break
    assert not wanted, f"Tab never reached {wanted} in order; it went through {reached}"
