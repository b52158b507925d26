"""Server time of the web UI's models list and model page on a big registry.

    python benchmarks/ui_pages.py [--backends files,sqlite] [--versions 10000] \\
        [--models 1000] [--requests 30] [--dir DIR] [--json FILE]

On each backend it builds a fresh registry in a temporary folder: one model holding N
versions (each with two tags, created ready with ``create_version(..., publish=True)``;
one alias) and M other models with one version each. Then it calls the app of
`registry_server.create_app` in-process (an ASGI scope built here and the app awaited
directly: no socket, no HTTP parsing) as a signed-in maintainer, and times

* ``GET /``: the first page of the models list (the big model is on it);
* ``GET /models?q=<prefix>``: the models whose name starts with a prefix;
* ``GET /models/<big model>``: the big model's page (its first 50 versions);
* its second page (``?page=<token>`` of the first page's "Next page" link);

each ``--requests`` times after ``--warmup`` untimed requests, and prints the median and
p95 and their ratio to the issue's goal: under 100 ms of server time at 10,000 versions.
Each answer is checked (status 200, the page shows what it should).

This is a benchmark, not a test: it prints figures and ratios measured within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import html
import json
import math
import os
import platform
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from registry_backends import open_registry
from registry_core import Registry
from registry_server import create_app

GOAL_MS = 100.0  # server time of a page, at 10,000 versions
GOAL_AT = 10_000
BIG_MODEL = "team-0/big"
SEARCH_PREFIX = "team-3/"
USER = "bench-maintainer"
BACKENDS = ("files", "sqlite")


def version_for(i: int) -> str:
    """Version number i: majors by thousands, 100 minors, 10 patches (all distinct)."""
    return f"{i // 1000}.{(i // 10) % 100}.{i % 10}"


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def open_fresh(backend: str, folder: Path) -> Registry:
    if backend == "files":
        return open_registry(str(folder / "registry"))
    return open_registry(f"sqlite:///{folder / 'registry.db'}")


def build(registry: Registry, versions: int, models: int) -> str:
    """Fill ``registry``; returns a maintainer's token."""
    started = time.perf_counter()
    registry.create_model(BIG_MODEL, "the model with many versions")
    for i in range(versions):
        registry.create_version(
            BIG_MODEL,
            version_for(i),
            tags={"team": "bench", "index": str(i)},
            publish=True,
        )
        if (i + 1) % 2000 == 0:
            progress(f"  {i + 1:>6} versions  ({time.perf_counter() - started:.1f} s)")
    registry.set_alias(BIG_MODEL, "production", version_for(versions // 2))
    for i in range(models):
        name = f"team-{i % 10}/model-{i:04d}"
        registry.create_model(name, f"other model {i}")
        registry.create_version(name, "1.0.0", publish=True)
    progress(f"  {models} other models  ({time.perf_counter() - started:.1f} s)")
    registry.grant(USER, "maintainer")
    return registry.create_token(USER, description="ui_pages.py")


class InProcessClient:
    """GET requests sent straight to an ASGI app, timed from the call to the last byte."""

    def __init__(self, app: Any, cookie: str) -> None:
        self._app = app
        self._cookie = cookie
        self._loop = asyncio.new_event_loop()

    def close(self) -> None:
        self._loop.close()

    def get(self, target: str) -> tuple[int, str, float]:
        """(status, body, seconds) of ``GET target``."""
        return self._loop.run_until_complete(self._get(target))

    async def _get(self, target: str) -> tuple[int, str, float]:
        path, _, query = target.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"cookie", self._cookie.encode()),
                (b"accept", b"text/html"),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        start = time.perf_counter()
        await self._app(scope, receive, send)
        seconds = time.perf_counter() - start
        return status, b"".join(chunks).decode("utf-8"), seconds


def next_page_link(body: str) -> str:
    found = re.search(r'<a href="([^"]+)" rel="next">', body)
    if found is None:
        raise AssertionError("the big model's page has no 'Next page' link")
    return html.unescape(found.group(1))


def time_page(
    client: InProcessClient, target: str, expect: str, warmup: int, requests: int
) -> dict[str, Any]:
    for _ in range(warmup):
        client.get(target)
    times = []
    for _ in range(requests):
        status, body, seconds = client.get(target)
        if status != 200 or expect not in body:
            raise AssertionError(f"GET {target}: status {status}, {expect!r} not in the page")
        times.append(seconds)
    median = statistics.median(times) * 1000
    p95 = percentile(times, 95) * 1000
    return {
        "target": target,
        "requests": requests,
        "median_ms": median,
        "p95_ms": p95,
        "max_ms": max(times) * 1000,
        "median_over_goal": median / GOAL_MS,
        "p95_over_goal": p95 / GOAL_MS,
    }


def measure(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"ui-pages-{backend}-", dir=args.dir))
    try:
        registry = open_fresh(backend, folder)
        progress(f"{backend}: building {args.versions:,} versions + {args.models:,} models ...")
        token = build(registry, args.versions, args.models)
        client = InProcessClient(create_app(registry), f"modelreg_token={quote(token)}")
        try:
            big = f"/models/{quote(BIG_MODEL)}"
            _, first, _ = client.get(big)
            second = next_page_link(first)
            pages = [
                ("models list: GET /", "/", BIG_MODEL),
                (f"search: GET /models?q={SEARCH_PREFIX}", f"/models?q={SEARCH_PREFIX}", "team-3/"),
                (f"model page: GET {big}", big, version_for(args.versions - 1)),
                ("model page, 2nd page", second, "Versions"),
            ]
            results = []
            for label, target, expect in pages:
                progress(f"{backend}: timing {label}")
                got = time_page(client, target, expect, args.warmup, args.requests)
                results.append({"page": label, **got})
        finally:
            client.close()
        return {"backend": backend, "pages": results}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def report(result: dict[str, Any]) -> None:
    print()
    print(
        f"ui_pages  versions={result['versions']:,}  other models={result['models']:,}  "
        f"requests={result['requests']} (after {result['warmup']} warm-up)"
    )
    machine = result["machine"]
    print(f"  {result['date']}  python {machine['python']}  cpus={machine['cpus']}")
    print()
    header = f"  {'backend':<8} {'page':<40} {'median':>10} {'p95':>10} {'p95/goal':>9}  goal"
    print(header)
    for run in result["runs"]:
        for page in run["pages"]:
            ok = page["p95_ms"] < GOAL_MS
            status = "PASS" if ok else "FAIL"
            if result["versions"] < GOAL_AT:
                status = "n/a"
            print(
                f"  {run['backend']:<8} {page['page']:<40} {page['median_ms']:>7.1f} ms "
                f"{page['p95_ms']:>7.1f} ms {page['p95_over_goal']:>9.2f}  {status}"
            )
    print()
    print(f"goal: every page's server time < {GOAL_MS:g} ms at {GOAL_AT:,} versions (p95 judged)")
    print()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Time the web UI's big pages in-process.")
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help=f"comma-separated, of {', '.join(BACKENDS)} (default: both)",
    )
    parser.add_argument("--versions", type=int, default=GOAL_AT, help="versions of the big model")
    parser.add_argument("--models", type=int, default=1_000, help="other models")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per page first")
    parser.add_argument("--dir", default=None, help="where the temporary registries go")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown or not backends or args.versions < 2 or args.requests < 1:
        print(f"bad arguments: backends {backends}, versions {args.versions}", file=sys.stderr)
        return 2
    result: dict[str, Any] = {
        "benchmark": "ui_pages",
        "command": shlex.join(["python", "benchmarks/ui_pages.py", *argv]),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "versions": args.versions,
        "models": args.models,
        "requests": args.requests,
        "warmup": args.warmup,
        "goal_ms": GOAL_MS,
        "runs": [measure(backend, args) for backend in backends],
    }
    report(result)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
