"""A screenshot of every page of the web UI, for a person to look at.

It builds a small demo registry in a temporary folder (three models; versions with files
in subfolders, parameters, metrics over 20 steps, tags, a log, an alias and a CI job
link; users with tokens), serves `registry_server.create_app` with uvicorn on a free port
in a thread, signs in as a maintainer through the sign-in form, and saves a full-page PNG
of each page in `PAGES` to ``--out``::

    python examples/ui_screenshots.py [--out ./screenshots] [--width 1280]

It needs Playwright (``pip install playwright``) and a Chromium (``apt-get install
chromium``; another binary with ``--chromium PATH``). A page that answers an error status
is reported and not saved, the other pages are still taken, and the script then exits
with status 1.
"""

from __future__ import annotations

import argparse
import io
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from registry_backends import open_registry
from registry_core import CIJob, Registry
from registry_server import create_app

MODEL = "fraud/detector"
VERSION = "1.1.0"
MAINTAINER = "ana"


class Shot(NamedTuple):
    """One screenshot: the PNG's name, the page's path (``{model}`` and ``{version}`` are
    filled in), and whether it is taken signed in."""

    name: str
    path: str
    signed_in: bool = True


#: Every page to take, in order. Add a row to take one more.
PAGES: tuple[Shot, ...] = (
    Shot("sign-in", "/sign-in", signed_in=False),
    Shot("models", "/"),
    Shot("models-search", "/models?q=fraud"),
    Shot("new-model", "/models:new"),
    Shot("model", "/models/{model}"),
    Shot("delete-model", "/models/{model}:delete"),
    Shot("version", "/models/{model}/{version}"),
    Shot("version-artifacts", "/models/{model}/{version}?tab=artifacts"),
    Shot("version-metrics", "/models/{model}/{version}?tab=metrics"),
    Shot("version-parameters", "/models/{model}/{version}?tab=parameters"),
    Shot("version-tags", "/models/{model}/{version}?tab=tags"),
    Shot("version-log", "/models/{model}/{version}?tab=log"),
    Shot("new-version", "/models/{model}:new-version"),
    Shot("settings", "/settings"),
)


def build_demo(registry: Registry) -> dict[str, str]:
    """Fill ``registry`` with demo models; returns a token per user."""
    registry.create_model(MODEL, "Flags card payments that look like fraud.")
    for number, loss in (("1.0.0", 0.42), (VERSION, 0.31)):
        registry.create_version(
            MODEL,
            number,
            description=f"Logistic regression, trained by the nightly pipeline ({number}).",
            tags={"team": "payments", "dataset": "2026-11"},
            params={"learning_rate": "0.05", "epochs": "20", "l2": "0.001"},
        )
        registry.upload(MODEL, number, io.BytesIO(b"\x00" * 4096), name="model.bin")
        registry.upload(
            MODEL, number, io.BytesIO(b'{"features": 2}'), name="features.json", subfolder="config"
        )
        registry.upload(
            MODEL,
            number,
            io.BytesIO(b"threshold: 0.7\n"),
            name="thresholds.yaml",
            subfolder="config/serving",
        )
        for step in range(20):
            registry.log_metrics(
                MODEL,
                number,
                {"loss": loss + 0.6 / (step + 1), "accuracy": 0.97 - 0.3 / (step + 1)},
                step=step,
            )
        registry.append_log(MODEL, number, "epoch 1/20 loss=1.02\n...\nepoch 20/20 done\n")
        registry.link_ci_job(
            MODEL,
            number,
            CIJob(
                provider="gitlab",
                job_id="8123",
                pipeline_id="1402",
                project_url="https://gitlab.example.com/payments/fraud",
                commit="3f2c1a9e5b7d",
                ref="main",
            ),
        )
        registry.publish(MODEL, number)
    registry.create_version(MODEL, "2.0.0-rc.1", description="A bigger model, in review.")
    registry.set_alias(MODEL, "production", VERSION)
    registry.create_model("churn/predictor", "Which customers may leave next month.")
    registry.create_version("churn/predictor", "0.3.0", publish=True)
    registry.create_model("search/ranker")
    roles = {MAINTAINER: "maintainer", "rob": "reporter", "gil": "guest"}
    tokens = {}
    for user, role in roles.items():
        registry.grant(user, role)
        tokens[user] = registry.create_token(user, description=f"{user}'s demo token")
    return tokens


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a daemon thread on a free port; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def sign_in(page: Any, token: str, user: str) -> None:
    """Sign in through the form, as a person would."""
    page.goto("/sign-in")
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Signed in as {user}").first.wait_for()


def take(browser: Any, base: str, token: str, out: Path, width: int) -> list[str]:
    """Every page of `PAGES` into ``out``; returns a line per page that failed."""
    failed: list[str] = []
    contexts = {}
    for signed_in in (False, True):
        context = browser.new_context(base_url=base, viewport={"width": width, "height": 800})
        context.set_default_timeout(15_000)
        contexts[signed_in] = context.new_page()
    sign_in(contexts[True], token, MAINTAINER)
    try:
        for shot in PAGES:
            page = contexts[shot.signed_in]
            path = shot.path.format(model=MODEL, version=VERSION)
            try:
                response = page.goto(path)
                status = response.status if response is not None else 0
                if status >= 400:
                    failed.append(f"{shot.name}: GET {path} answered {status}")
                    continue
                page.screenshot(path=str(out / f"{shot.name}.png"), full_page=True)
            except Exception as error:  # a browser error on one page: report, go on
                failed.append(f"{shot.name}: GET {path} failed: {error}")
                continue
            print(f"  {shot.name + '.png':<26} {path}")
    finally:
        for page in contexts.values():
            page.context.close()
    return failed


def main(argv: Sequence[str] | None = None, *, browser: Any = None) -> int:
    """The command; ``browser``: a launched Playwright browser to use (a test's) instead
    of launching Chromium."""
    parser = argparse.ArgumentParser(description="Save a screenshot of every UI page.")
    parser.add_argument("--out", type=Path, default=Path("screenshots"), help="folder")
    parser.add_argument("--width", type=int, default=1280, help="window width in pixels")
    parser.add_argument(
        "--chromium",
        default=shutil.which("chromium") or shutil.which("chromium-browser"),
        help="the Chromium binary (default: chromium on PATH)",
    )
    args = parser.parse_args(argv)
    if browser is None:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            print("this script needs Playwright: pip install playwright", file=sys.stderr)
            return 2
        if not args.chromium:
            print(
                "no Chromium found: apt-get install chromium, or pass --chromium", file=sys.stderr
            )
            return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="modelreg-screenshots-") as folder:
        registry = open_registry(str(Path(folder) / "registry"))
        tokens = build_demo(registry)
        with serving(create_app(registry)) as base:
            print(f"screenshots of {base} into {args.out}/")
            if browser is not None:
                failed = take(browser, base, tokens[MAINTAINER], args.out, args.width)
            else:
                with sync_playwright() as playwright:
                    launched = playwright.chromium.launch(
                        executable_path=args.chromium, args=["--no-sandbox"]
                    )
                    try:
                        failed = take(launched, base, tokens[MAINTAINER], args.out, args.width)
                    finally:
                        launched.close()
    for line in failed:
        print(f"FAILED {line}", file=sys.stderr)
    taken = len(PAGES) - len(failed)
    print(f"{taken} of {len(PAGES)} pages saved" + (f", {len(failed)} failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
