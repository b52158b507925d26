"""Registry metadata workload on any backend URL: creates, reads, ranges, listing, metrics.

    python benchmarks/registry_bench.py --url /tmp/bench-reg --versions 10000 \\
        --checkpoints 1000,10000 --json registry.json

Creates N versions of one model (3 tags each, each published right after it is created),
in a shuffled (seeded) order so that precedence order is exercised, then times
``get_version``, ``latest``, a ``^`` range ``resolve``, paging with ``list_versions``,
``log_metric`` / ``log_metrics`` and ``delete_model``. Prints a table, a goals section and,
last, one JSON document (also written to ``--json FILE``).

This is a benchmark, not a test: it prints figures and ratios measured within one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import random
import shlex
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import unquote, urlparse

from registry_backends import open_registry
from registry_core import Metric, Range, Registry, RegistryError, Version

#: The figure quoted in the issue as the baseline; it is not measured by this script.
BASELINE_QUOTE = "MLflow's file store: 1.9 versions/s at 400 versions"
CREATE_RATE_GOAL = 300.0  # versions/s, at 1,000 and at 10,000 existing versions
CREATE_RATIO_GOAL = 0.8  # rate@10000 / rate@1000
RESOLVE_GOAL_MS = 5.0  # latest and a ^ range resolve, at 10,000 versions
RESOLVE_GOAL_AT = 10_000
CHECKPOINT_WINDOW = 500  # creates timed right after reaching a checkpoint
LAST_WINDOW = 1_000  # creates timed just before reaching N
READS = 200  # calls timed for get_version, latest and resolve
METRIC_BATCH = 1_000


def version_for(i: int) -> str:
    """Version number i: majors by thousands, 100 minors, 10 patches (all distinct)."""
    return f"{i // 1000}.{(i // 10) % 100}.{i % 10}"


def folder_of(url: str) -> Path | None:
    """The local folder a plain path or ``file://`` URL names; None for other schemes."""
    head, sep, _ = url.partition("://")
    if not sep:
        return Path(url)
    if head.lower() == "file":
        return Path(unquote(urlparse(url).path))
    return None


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timed_calls(call: Callable[[int], object], count: int) -> list[float]:
    """Seconds taken by each of ``count`` calls of ``call(i)``."""
    times = []
    for i in range(count):
        start = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - start)
    return times


def latency(times: Sequence[float]) -> dict[str, float]:
    return {
        "calls": len(times),
        "median_ms": statistics.median(times) * 1000,
        "p95_ms": percentile(times, 95) * 1000,
        "max_ms": max(times) * 1000,
    }


def parse_checkpoints(text: str) -> list[int]:
    try:
        points = sorted({int(p.replace("_", "")) for p in text.split(",") if p.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"checkpoints must be comma-separated integers, got {text!r}"
        ) from None
    if any(p < 0 for p in points):
        raise argparse.ArgumentTypeError("checkpoints must be >= 0")
    return points


def positive(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Time modelreg's metadata operations on one backend URL.",
    )
    parser.add_argument(
        "--url", required=True, help="registry URL: a folder, file://, memory://, sqlite:///..."
    )
    parser.add_argument("--versions", type=positive, required=True, help="versions to create (N)")
    parser.add_argument(
        "--checkpoints",
        type=parse_checkpoints,
        default=None,
        help="comma-separated existing-version counts at which to time 500 creates "
        "(default: those of 1000,10000 that are <= N; '' for none). A checkpoint c times "
        "the creates made while c..c+499 versions exist; when that goes past N, the extra "
        "versions are created for the measurement and deleted again before the reads.",
    )
    parser.add_argument("--metrics", type=positive, default=10_000, help="metric points to log")
    parser.add_argument(
        "--settle",
        type=float,
        default=2.5,
        help="seconds to stay quiet before timing latest and resolve (the files backend "
        "reuses a folder's listing once it is 2 s unchanged; 0 to time right after writes)",
    )
    parser.add_argument("--seed", type=int, default=20261126, help="shuffle and sampling seed")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    parser.add_argument(
        "--reuse", action="store_true", help="allow an existing, non-empty registry"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep a folder this script created (default: remove)"
    )
    return parser


def refuse(message: str) -> NoReturn:
    """Stop with ``message`` on stderr and exit status 2 (nothing was measured)."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def prepare(url: str, reuse: bool) -> tuple[Registry, Path | None]:
    """Open the registry; refuse a non-empty one unless ``reuse``. Returns the folder to
    remove at the end (one this script created), if any."""
    created: Path | None = None
    folder = folder_of(url)
    if folder is not None:
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            if not reuse:
                refuse(
                    f"refusing to run on existing non-empty {str(folder)!r}; give a fresh "
                    "folder or pass --reuse"
                )
        elif not folder.exists():
            folder.mkdir(parents=True)
            created = folder
    try:
        registry = open_registry(url)
    except RegistryError as error:
        refuse(f"cannot open registry {url!r}: {error}")
    if not reuse and len(registry.list_models(page_size=1)):
        refuse(f"refusing to run on {url!r}: it already holds models (pass --reuse)")
    return registry, created


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    n: int = args.versions
    checkpoints: list[int] = (
        [c for c in (1_000, 10_000) if c <= n] if args.checkpoints is None else args.checkpoints
    )
    registry, created_folder = prepare(args.url, args.reuse)
    try:
        return run(args, registry, n, checkpoints)
    finally:
        if created_folder is not None and not args.keep:
            shutil.rmtree(created_folder, ignore_errors=True)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace, registry: Registry, n: int, checkpoints: list[int]) -> int:
    rng = random.Random(args.seed)
    model = f"bench/registry-{os.getpid()}-{int(time.time())}"
    registry.create_model(model, "registry_bench.py workload")

    # -- create + publish ------------------------------------------------------------------
    total = max([n, *(c + CHECKPOINT_WINDOW for c in checkpoints)])
    order = list(range(n))
    rng.shuffle(order)
    extra = list(range(n, total))  # only for checkpoints past N; deleted before the reads
    rng.shuffle(extra)
    order += extra
    create_times: list[float] = []
    publish_times: list[float] = []
    progress(f"creating {total} versions of {model} on {args.url} ...")
    started = time.perf_counter()
    for k, i in enumerate(order):
        version = version_for(i)
        tags = {"team": "bench", "index": str(i), "order": str(k)}
        t0 = time.perf_counter()
        registry.create_version(model, version, tags=tags)
        t1 = time.perf_counter()
        registry.publish(model, version)
        t2 = time.perf_counter()
        create_times.append(t1 - t0)
        publish_times.append(t2 - t1)
        if (k + 1) % 1000 == 0:
            recent = create_times[-1000:]
            progress(
                f"  {k + 1:>6} created  {rate(len(recent), sum(recent)):8.1f} creates/s over "
                f"the last 1000  ({time.perf_counter() - started:.1f} s)"
            )

    last_lo = max(0, n - LAST_WINDOW)
    last_window = create_times[last_lo:n]
    at_n = {
        "window": [last_lo, n],
        "creates": len(last_window),
        "versions_per_s": rate(len(last_window), sum(last_window)),
        "publishes_per_s": rate(len(last_window), sum(publish_times[last_lo:n])),
    }
    at_checkpoint: dict[str, dict[str, Any]] = {}
    for c in checkpoints:
        window = create_times[c : c + CHECKPOINT_WINDOW]
        at_checkpoint[str(c)] = {
            "window": [c, c + CHECKPOINT_WINDOW],
            "creates": len(window),
            "versions_per_s": rate(len(window), sum(window)),
            "publishes_per_s": rate(len(window), sum(publish_times[c : c + CHECKPOINT_WINDOW])),
        }
    create_ratio = None
    if "1000" in at_checkpoint and "10000" in at_checkpoint:
        create_ratio = (
            at_checkpoint["10000"]["versions_per_s"] / at_checkpoint["1000"]["versions_per_s"]
        )

    extra_delete_s = None
    if extra:
        progress(f"deleting the {len(extra)} checkpoint-only versions again (untimed) ...")
        t0 = time.perf_counter()
        for i in extra:
            registry.delete_version(model, version_for(i))
        extra_delete_s = time.perf_counter() - t0

    # -- reads at N versions ---------------------------------------------------------------
    progress("timing reads ...")
    picks = [version_for(rng.randrange(n)) for _ in range(READS)]

    def get_one(j: int) -> None:
        found = registry.get_version(model, picks[j])
        if str(found.version) != picks[j]:
            raise SystemExit(f"get_version({picks[j]}) returned {found.version}")

    get_times = timed_calls(get_one, READS)

    expected_latest = version_for(n - 1)

    def latest_after_write(j: int) -> None:
        registry.set_tag(model, picks[j], "touched", str(j))  # a write into the folder
        t0 = time.perf_counter()
        registry.latest(model)
        after_write_times.append(time.perf_counter() - t0)

    after_write_times: list[float] = []
    for j in range(20):
        latest_after_write(j)
    time.sleep(args.settle)
    latest_times = timed_calls(lambda _: registry.latest(model), READS)
    got = str(registry.latest(model).version)
    if got != expected_latest:
        raise SystemExit(f"latest returned {got}, expected {expected_latest}")

    middle_major = ((n - 1) // 1000 + 1) // 2
    spec = f"^{middle_major}.0"
    wanted = Range.parse(spec)
    expected_range = max(
        (Version.parse(version_for(i)) for i in range(n)),
        key=lambda v: (wanted.contains(v), v.precedence_key),
    )
    range_times = timed_calls(lambda _: registry.resolve(model, spec), READS)
    got = str(registry.resolve(model, spec).version)
    if got != str(expected_range):
        raise SystemExit(f"resolve({spec!r}) returned {got}, expected {expected_range}")

    progress("paging through all versions ...")
    t0 = time.perf_counter()
    seen, pages, token = 0, 0, None
    while True:
        page = registry.list_versions(model, page_size=100, page_token=token)
        seen += len(page)
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    list_s = time.perf_counter() - t0
    if seen != n:
        raise SystemExit(f"list_versions gave {seen} versions, expected {n}")

    # -- metrics ---------------------------------------------------------------------------
    m: int = args.metrics
    target = version_for(order[0])
    progress(f"logging {m} metrics singly and in batches of {METRIC_BATCH} ...")
    t0 = time.perf_counter()
    for step in range(m):
        registry.log_metric(model, target, "loss", 1.0 / (step + 1), step=step)
    single_s = time.perf_counter() - t0
    now = dt.datetime.now(dt.timezone.utc)
    points = [Metric("acc", step / m, step, now) for step in range(m)]
    batches = [points[i : i + METRIC_BATCH] for i in range(0, m, METRIC_BATCH)]
    t0 = time.perf_counter()
    for batch in batches:
        registry.log_metrics(model, target, batch)
    batch_s = time.perf_counter() - t0

    # -- delete ----------------------------------------------------------------------------
    progress("deleting the model ...")
    t0 = time.perf_counter()
    registry.delete_model(model)
    delete_s = time.perf_counter() - t0

    result: dict[str, Any] = {
        "benchmark": "registry_bench",
        "command": "python benchmarks/registry_bench.py " + shlex.join(args.argv),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "url": args.url,
        "backend": args.url.partition("://")[0] if "://" in args.url else "file",
        "versions": n,
        "versions_created": total,
        "seed": args.seed,
        "create": {
            "total_s": sum(create_times),
            "versions_per_s_overall": rate(total, sum(create_times)),
            "at_n": at_n,
            "at_checkpoint": at_checkpoint,
            "ratio_10000_over_1000": create_ratio,
        },
        "publish": {
            "total_s": sum(publish_times),
            "versions_per_s_overall": rate(total, sum(publish_times)),
        },
        "checkpoint_extra_delete_s": extra_delete_s,
        "get_version": latency(get_times),
        "latest": latency(latest_times),
        "latest_right_after_a_write": latency(after_write_times),
        "settle_s": args.settle,
        "resolve_range": {"spec": spec, "answer": str(expected_range), **latency(range_times)},
        "list_versions": {"page_size": 100, "pages": pages, "versions": seen, "total_s": list_s},
        "metrics": {
            "points": m,
            "single_s": single_s,
            "single_points_per_s": rate(m, single_s),
            "batch_size": METRIC_BATCH,
            "batch_s": batch_s,
            "batch_points_per_s": rate(m, batch_s),
        },
        "delete_model_s": delete_s,
        "baseline_reference": {"quote": BASELINE_QUOTE, "measured": False},
    }
    result["goals"] = goals(result)
    report(result)
    text = json.dumps(result, indent=2)
    if args.json is not None:
        args.json.write_text(text + "\n")
    print(text)
    return 0


def goals(result: dict[str, Any]) -> list[dict[str, Any]]:
    files = result["backend"] == "file"
    scope = "" if files else "goal set for the files backend; informational here"
    out: list[dict[str, Any]] = []

    def add(name: str, figure: float | None, unit: str, ok: bool | None, why: str = "") -> None:
        status = "n/a" if ok is None else ("PASS" if ok else "FAIL")
        out.append(
            {
                "goal": name,
                "figure": figure,
                "unit": unit,
                "status": status,
                "note": (why or scope).strip(),
            }
        )

    checkpoint = result["create"]["at_checkpoint"]
    for c in ("1000", "10000"):
        got = checkpoint.get(c)
        figure = None if got is None else got["versions_per_s"]
        add(
            f"create at {int(c):,} existing versions >= {CREATE_RATE_GOAL:.0f}/s",
            figure,
            "versions/s",
            None if figure is None else figure >= CREATE_RATE_GOAL,
            "" if got is not None else f"needs --checkpoints including {c}",
        )
    ratio = result["create"]["ratio_10000_over_1000"]
    add(
        f"create rate@10000 / rate@1000 >= {CREATE_RATIO_GOAL}",
        ratio,
        "",
        None if ratio is None else ratio >= CREATE_RATIO_GOAL,
        "" if ratio is not None else "needs --checkpoints 1000,10000",
    )
    for key, label in (("latest", "latest"), ("resolve_range", "^ range resolve")):
        figure = result[key]["median_ms"]
        big_enough = result["versions"] >= RESOLVE_GOAL_AT
        add(
            f"{label} median < {RESOLVE_GOAL_MS:g} ms at {RESOLVE_GOAL_AT:,} versions",
            figure,
            "ms",
            (figure < RESOLVE_GOAL_MS) if big_enough else None,
            "" if big_enough else f"measured at {result['versions']:,} versions, not 10,000",
        )
    return out


def report(r: dict[str, Any]) -> None:
    c = r["create"]
    print()
    print(f"registry_bench  url={r['url']}  backend={r['backend']}  versions={r['versions']:,}")
    print(f"  {r['date']}  python {r['machine']['python']}  cpus={r['machine']['cpus']}")
    print()
    rows: list[tuple[str, str]] = [
        ("versions created (incl. checkpoint extras)", f"{r['versions_created']:,}"),
        ("create, overall", f"{c['versions_per_s_overall']:.1f} versions/s"),
        (
            f"create, last {c['at_n']['creates']:,} before N ({c['at_n']['window'][0]:,}.."
            f"{c['at_n']['window'][1]:,})",
            f"{c['at_n']['versions_per_s']:.1f} versions/s",
        ),
    ]
    for point, got in c["at_checkpoint"].items():
        rows.append(
            (
                f"create at {int(point):,} existing ({got['creates']} creates)",
                f"{got['versions_per_s']:.1f} versions/s",
            )
        )
    if c["ratio_10000_over_1000"] is not None:
        rows.append(("create rate@10000 / rate@1000", f"{c['ratio_10000_over_1000']:.3f}"))
    rows.append(("publish, overall", f"{r['publish']['versions_per_s_overall']:.1f} versions/s"))
    for key, label in (
        ("get_version", "get_version (random)"),
        ("latest_right_after_a_write", "latest, right after a write"),
        ("latest", f"latest, registry quiet {r['settle_s']:g} s"),
        ("resolve_range", f"resolve {r['resolve_range']['spec']!r}, quiet"),
    ):
        got = r[key]
        rows.append(
            (
                f"{label}, {got['calls']} calls",
                f"median {got['median_ms']:.3f} ms  p95 {got['p95_ms']:.3f} ms",
            )
        )
    lv = r["list_versions"]
    rows.append(
        (
            f"list_versions all ({lv['pages']} pages of {lv['page_size']})",
            f"{lv['total_s']:.3f} s",
        )
    )
    mt = r["metrics"]
    rows.append((f"log_metric x{mt['points']:,}", f"{mt['single_points_per_s']:.1f} points/s"))
    rows.append(
        (
            f"log_metrics, batches of {mt['batch_size']:,}",
            f"{mt['batch_points_per_s']:.1f} points/s",
        )
    )
    rows.append(("delete_model", f"{r['delete_model_s']:.3f} s"))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    print()
    print("goals")
    for goal in r["goals"]:
        figure = "-" if goal["figure"] is None else f"{goal['figure']:.3f} {goal['unit']}".strip()
        note = f"  ({goal['note']})" if goal["note"] else ""
        print(f"  {goal['status']:<4}  {goal['goal']:<52} measured {figure}{note}")
    print()
    print(f"baseline reference (quoted from the issue, not measured here): {BASELINE_QUOTE}")
    print()


if __name__ == "__main__":
    sys.exit(main())
