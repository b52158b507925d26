"""`upload_dir` of a folder of many small files against one `upload` call per file.

    python benchmarks/upload_dir_bench.py [--files 100,1000] [--url URL ...]

Until 2026-12, `upload_dir` made one `upload` per file, and each upload rewrote the
draft's whole manifest twice (hold the path, then add the file), so a folder of N files
cost O(N^2): 2,000 files took 84 s on SQLite. Now a folder is held, streamed and added in
two document writes whatever N is. The baseline here is that old way, done with the public
API: one ``upload`` per file into a draft, the same files, bytes and paths. Both sides are
durable as shipped, end with the same manifest (checked), and run on the same store one
after the other, per backend and size.

By default it runs on a local folder and on a SQLite file in a new temporary folder;
``--url`` (repeatable) names other registries (each gets a model of its own, left there).
For each size it prints seconds and ms per file on both sides and the ratio; the goal is
that ``upload_dir`` stays linear: its ms per file at the largest size within 2x of that at
the smallest. A benchmark, not a test: it prints figures from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from registry_backends import open_registry
from registry_core import Registry


def make_folder(root: Path, count: int) -> Path:
    """``count`` files of 1 KiB in ten subfolders, like a tokenizer or a sharded checkpoint."""
    for i in range(count):
        path = root / f"part-{i % 10}" / f"file-{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(1024))
    return root


def one_by_one(registry: Registry, model: str, folder: Path) -> None:
    """The baseline: one ``upload`` per file, at the path ``upload_dir`` gives it."""
    for local in sorted(p for p in folder.rglob("*") if p.is_file()):
        subfolder = local.parent.relative_to(folder).as_posix()
        registry.upload(model, "1.0.0", local, subfolder=None if subfolder == "." else subfolder)


def in_one_call(registry: Registry, model: str, folder: Path) -> None:
    registry.upload_dir(model, "1.0.0", folder)


def timed(
    registry: Registry, model: str, fill: Callable[[str], object]
) -> tuple[float, list[tuple[str, str]]]:
    """Seconds of ``fill(model)`` into a new draft of ``model``, and the manifest it left."""
    registry.create_model(model)
    registry.create_version(model, "1.0.0")
    start = time.perf_counter()
    fill(model)
    seconds = time.perf_counter() - start
    manifest = [(a.path.value, a.sha256) for a in registry.list_artifacts(model, "1.0.0")]
    return seconds, manifest


def measure(url: str, sizes: list[int], work: Path) -> list[dict[str, Any]]:
    registry = open_registry(url)
    tag = f"{os.getpid()}-{int(time.time())}"
    rows = []
    for count in sizes:
        folder = make_folder(work / f"files-{count}", count)
        print(f"{url}: {count} files, one upload each", file=sys.stderr)
        before, listed_before = timed(
            registry, f"bench/one-{count}-{tag}", partial(one_by_one, registry, folder=folder)
        )
        print(f"{url}: {count} files, upload_dir", file=sys.stderr)
        now, listed_now = timed(
            registry, f"bench/dir-{count}-{tag}", partial(in_one_call, registry, folder=folder)
        )
        rows.append(
            {
                "url": url,
                "files": count,
                "one_by_one_s": before,
                "upload_dir_s": now,
                "one_by_one_ms_per_file": before / count * 1000,
                "upload_dir_ms_per_file": now / count * 1000,
                "ratio": before / now,
                "same_manifest": listed_before == listed_now and len(listed_now) == count,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", default="100,1000", help="folder sizes, comma-separated")
    parser.add_argument("--url", action="append", default=[], help="a registry URL (repeatable)")
    parser.add_argument("--json", help="also write the JSON document here")
    args = parser.parse_args(argv)
    sizes = sorted(int(n) for n in args.files.split(","))
    with tempfile.TemporaryDirectory(prefix="modelreg-upload-dir-") as temp:
        work = Path(temp)
        urls = args.url or [str(work / "registry"), f"sqlite:///{work / 'registry.db'}"]
        rows = [row for url in urls for row in measure(url, sizes, work)]
    print("| registry | files | one upload per file | upload_dir | ms/file before | now | x |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        shown = r["url"].replace(str(work), "<tmp>")
        print(
            f"| {shown} | {r['files']} | {r['one_by_one_s']:.2f} s | {r['upload_dir_s']:.2f} s "
            f"| {r['one_by_one_ms_per_file']:.2f} | {r['upload_dir_ms_per_file']:.2f} "
            f"| {r['ratio']:.1f}x |"
        )
    goals = []
    for url in urls:
        mine = [r for r in rows if r["url"] == url]
        growth = mine[-1]["upload_dir_ms_per_file"] / mine[0]["upload_dir_ms_per_file"]
        same = all(r["same_manifest"] for r in mine)
        goals.append(
            {
                "text": f"upload_dir stays linear on {url.replace(str(work), '<tmp>')}: ms/file "
                f"at {mine[-1]['files']} files within 2x of {mine[0]['files']}",
                "value": round(growth, 2),
                "verdict": "PASS" if growth <= 2 and same else "FAIL",
            }
        )
    print("\ngoals (both sides durable as shipped, same manifest at the end):")
    for goal in goals:
        print(f"  {goal['verdict']} {goal['text']}: {goal['value']}x")
    document = json.dumps({"rows": rows, "goals": goals}, indent=2)
    print(document)
    if args.json:
        Path(args.json).write_text(document)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
