"""``export_version`` of a large version against ``tar cf`` of the same files.

    python benchmarks/export_bench.py [--mib 1024] [--files 1] [--dir DIR] [--repeat R]
                                      [--json FILE]

In one run, on the disk holding ``--dir`` (default: the system temp dir), it makes a local
registry holding one ready version of ``--files`` files, ``--mib`` MiB in all (random
bytes), and times, alternately and ``--repeat`` times each (best time reported):

* **tar cf**: ``tar cf OUT.tar -C <the version's folder in the registry> FILES``, then an
  ``fsync`` of OUT.tar: the same files, read from the same place, into one archive on the
  same disk, made durable;
* **modelreg export**: ``export_version(registry, model, version, OUT.tar)``: reads each
  blob, hashes it (SHA-256) and checks it against the manifest, writes the archive under a
  temporary name, fsyncs it, renames it and fsyncs the folder.

Both end with one archive holding the files, fsynced; an untimed ``sync`` runs before
each timing so that neither pays for the other's dirty pages, and each archive is
deleted before the next run. The blobs were just written, so both read them warm from
the page cache. ``verify_package`` of the exported archive is timed once, for
information. Goal: export / (tar cf + fsync) <= 1.5.

This is a benchmark, not a test: it prints figures and ratios measured within one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from registry_backends import export_version, open_registry, verify_package

MiB = 2**20
BLOCK = 16 * MiB
RATIO_GOAL = 1.5
MODEL, VERSION = "bench", "1.0.0"


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_source(folder: Path, total: int, count: int) -> list[Path]:
    """``count`` files of random bytes, ``total`` bytes in all (a random block repeated)."""
    block = os.urandom(BLOCK)
    sizes = [total // count + (1 if i < total % count else 0) for i in range(count)]
    files = []
    for index, size in enumerate(sizes):
        path = folder / f"weights-{index}.bin"
        with open(path, "wb") as out:
            left = size
            while left:
                left -= out.write(block[: min(left, BLOCK)])
        files.append(path)
    return files


def time_tar(blobs: Path, names: list[str], out: Path) -> float:
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    subprocess.run(["tar", "cf", str(out), "-C", str(blobs), *names], check=True)
    fsync(out)
    return time.perf_counter() - start


def time_export(url: str, out: Path) -> float:
    registry = open_registry(url)
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    export_version(registry, MODEL, VERSION, out)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description="Time export_version against tar cf.")
    parser.add_argument("--mib", type=int, default=1024, help="MiB in all (default 1024)")
    parser.add_argument("--files", type=int, default=1, help="how many files (default 1)")
    parser.add_argument("--dir", type=Path, default=None, help="where to work (default: tmp)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (best is kept)")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.mib < 1 or args.files < 1 or args.repeat < 1:
        parser.error("--mib, --files and --repeat must be at least 1")
    if shutil.which("tar") is None:
        parser.error("needs tar on PATH")
    total = args.mib * MiB
    work = Path(tempfile.mkdtemp(prefix="export-bench-", dir=args.dir))
    try:
        free = shutil.disk_usage(work).free
        if free < 3 * total:
            parser.error(f"needs {3 * args.mib} MiB free in {work.parent}, has {free // MiB}")
        result = run(work, total, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["command"] = "python benchmarks/export_bench.py " + shlex.join(argv)
    print(json.dumps(result, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def run(work: Path, total: int, args: argparse.Namespace) -> dict[str, Any]:
    source = work / "source"
    source.mkdir()
    url = str(work / "registry")
    registry = open_registry(url)
    registry.create_model(MODEL)
    with registry.new_version(MODEL, VERSION) as draft:
        for path in make_source(source, total, args.files):
            draft.upload(path)
            path.unlink()
    blobs = work / "registry" / MODEL / VERSION
    names = sorted(p.name for p in blobs.iterdir())
    tar_times, export_times = [], []
    out = work / "out.tar"
    for _ in range(args.repeat):
        tar_times.append(time_tar(blobs, names, out))
        tar_size = out.stat().st_size
        out.unlink()
        export_times.append(time_export(url, out))
        export_size = out.stat().st_size
    start = time.perf_counter()
    verify_package(out)
    verify_time = time.perf_counter() - start
    tar_best, export_best = min(tar_times), min(export_times)
    ratio = export_best / tar_best
    mib = total / MiB
    print(f"{args.files} file(s), {mib:.0f} MiB, on {work.parent}")
    print(f"  tar cf + fsync      {tar_best:8.3f} s  {mib / tar_best:8.1f} MiB/s  ({tar_size} B)")
    print(
        f"  modelreg export     {export_best:8.3f} s  {mib / export_best:8.1f} MiB/s  "
        f"({export_size} B)"
    )
    print(f"  verify-package      {verify_time:8.3f} s  {mib / verify_time:8.1f} MiB/s  (info)")
    verdict = "PASS" if ratio <= RATIO_GOAL else "FAIL"
    print(f"  export / tar cf     {ratio:8.2f}     goal <= {RATIO_GOAL}: {verdict}")
    return {
        "benchmark": "export_bench",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "mib": args.mib,
        "files": args.files,
        "tar_seconds": tar_times,
        "export_seconds": export_times,
        "verify_package_seconds": verify_time,
        "tar_bytes": tar_size,
        "export_bytes": export_size,
        "ratio_export_to_tar": ratio,
        "goal": RATIO_GOAL,
        "goal_met": ratio <= RATIO_GOAL,
    }


if __name__ == "__main__":
    sys.exit(main())
