"""Browser tests of the web UI: the app served by uvicorn in a thread (over the files
backend, and SQLite for the model and version pages), driven by Playwright in the
system's headless Chromium. Each test gets a fresh registry and app; one uvicorn for the
session hands requests to the app of the test running now (stopping a server per test
cost more than many of the tests).

Controls are found by role and accessible name, as a person using a screen reader would
find them. Each test leaves a screenshot of its last page under its temp folder. Under
``CI=true`` a missing browser or Playwright fails the run instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))

from serverkit import PREFIX, Served, ServerThread, open_backend

from needs import need
from registry_core import Registry
from registry_server import create_app

CHROMIUM = os.environ.get("MODELREG_TEST_CHROMIUM") or shutil.which("chromium") or ""


def _need(what: str) -> NoReturn:
    need(what, "apt-get install chromium; pip install playwright")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("playwright")
    if not CHROMIUM:
        _need("the system Chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


#: The backends the pages are tried over. The pages are the same code over every backend,
#: whose behaviour the conformance suite checks, so most run over a local folder; the
#: model and version pages, whose lists and searches SQL answers its own way, run over
#: SQLite too (`tests/ui/test_models_ui.py` and `test_version_ui.py` set ``BACKENDS``).
BACKENDS = ["files"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give ``backend`` the module's ``BACKENDS`` (this file's when it sets none)."""
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", getattr(metafunc.module, "BACKENDS", BACKENDS))


@pytest.fixture
def registry(backend: str, tmp_path: Path) -> Registry:
    return open_backend(backend, tmp_path)


class _CurrentApp:
    """An ASGI app that passes each request to ``app``, the app of the running test."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None, f"a request between tests: {scope.get('path')}"
        await self.app(scope, receive, send)


@pytest.fixture(scope="session")
def _server() -> Iterator[tuple[str, _CurrentApp]]:
    current = _CurrentApp()
    with ServerThread(current) as server:
        yield f"http://127.0.0.1:{server.port}", current


@pytest.fixture
def served(registry: Registry, _server: tuple[str, _CurrentApp]) -> Iterator[Served]:
    """The app over ``registry``; users ana (maintainer), rob (reporter), gil (guest) and
    eve (no membership) each have a token in ``served.tokens`` (as ``serverkit.serve``)."""
    tokens = {}
    for user, role in {"ana": "maintainer", "rob": "reporter", "gil": "guest"}.items():
        registry.grant(user, role)
        tokens[user] = registry.create_token(user, description=f"{user}'s test token")
    tokens["eve"] = registry.create_token("eve")
    base, current = _server
    current.app = create_app(registry, prefix=PREFIX, max_artifact_bytes=None)
    try:
        yield Served(base + PREFIX, base, registry, tokens)
    finally:
        current.app = None


@pytest.fixture
def page(browser: Any, served: Served, tmp_path: Path) -> Iterator[Any]:
    """A fresh browser context (no cookies) on the served app; a screenshot at the end."""
    context = browser.new_context(base_url=served.base)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    try:
        tab.screenshot(path=str(tmp_path / "last-page.png"), full_page=True)
    finally:
        context.close()
