"""``registry_backends.copy``: many small versions into SQLite, one large blob into S3.

    copy_bench.py [--versions 1000] [--mib 1024] [--files 1] [--only versions|blob]
                  [--dir DIR] [--workers 4] [--profile] [--json FILE]

Two measurements, in one run, each copy in a child process (this script with ``--child``)
that times the ``copy`` call alone and reports its own peak RSS (``VmHWM``):

(a) **versions**: a local folder registry with ``--versions`` ready versions of one model
    (each: two files of 300 and 500 bytes, three params, three metrics) is copied into a
    new SQLite registry. Both sides are durable, as the library is by default: the folder
    fsyncs each file it writes, SQLite runs with ``synchronous=FULL``. Figure: versions/s;
    goal ≥ 200. A second copy, which finds everything there, is timed for information.
(b) **blob**: one version with a ``--mib`` MiB artifact (random bytes; ``--files N``
    splits it into N artifacts) in a local folder registry is copied into a registry on
    S3 (moto's server, started in this process as the tests do), against
    ``s3fs.put_file`` of the same file(s), one after the other, to the same server, each
    side in a fresh child. Goals: copy / put_file ≤ 1.25 in time, the copying child's
    peak RSS ≤ 200 MiB (moto's memory is this parent's, not counted). End state:
    ``put_file`` leaves the object(s) of ``--mib`` MiB in all; the copy leaves them too,
    plus the registry's documents (format, settings, the model, the version and their
    index markers: about 1 KiB in 7 objects).

``--profile`` runs each copy child under cProfile (its main thread: blobs move in worker
threads) and prints its top functions. This is a benchmark, not a test: it prints figures
and ratios measured within one run, then one JSON document (also to ``--json FILE``).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import platform
import pstats
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
_TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path[:0] = [str(_TESTS / "backends"), str(_TESTS)]  # servers.py imports needs.py

from servers import S3_CREDENTIALS, start_moto  # noqa: E402  (the tests' moto)

MiB = 2**20
BLOCK = 16 * MiB
BUCKET = "modelreg-copy-bench"
MODEL = "bench/copy"
GOALS = {"versions_per_s": 200.0, "time_ratio": 1.25, "peak_rss_mib": 200.0}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def vmhwm_mib() -> float:
    """This process's own peak RSS (``VmHWM``): unlike ``ru_maxrss`` it does not start at
    the spawning parent's RSS, which here holds moto and every object it stored."""
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return kib / 1024


# -- child side -----------------------------------------------------------------------------


def child(args: argparse.Namespace) -> int:
    """Time one operation; print its figures as JSON on the last line of stdout."""
    options = json.loads(args.options)
    out: dict[str, Any] = {"mode": args.child}
    profiler = cProfile.Profile() if args.profile else None
    if args.child == "put_file":
        import s3fs

        fs = s3fs.S3FileSystem(skip_instance_cache=True, **_s3fs_options(options))
        names = sorted(os.listdir(args.src))
        start = time.perf_counter()
        for name in names:  # one after the other
            fs.put_file(os.path.join(args.src, name), f"{args.dst}/{name}")
        out["seconds"] = time.perf_counter() - start
        out["bytes"] = sum(fs.info(f"{args.dst}/{name}")["size"] for name in names)
    else:
        from registry_backends import open_registry
        from registry_backends.copy import copy

        src, dst = open_registry(args.src), open_registry(args.dst, **options)
        if profiler is not None:
            profiler.enable()
        start = time.perf_counter()
        report = copy(src, dst, workers=args.workers)
        out["seconds"] = time.perf_counter() - start
        if profiler is not None:
            profiler.disable()
        out["bytes"] = report.bytes_copied
        out["blobs"] = report.blobs_copied
        out["copied"] = len(report.copied)
        out["unchanged"] = len(report.unchanged)
        out["conflicts"] = list(report.conflicts)
    out["peak_rss_mib"] = vmhwm_mib()
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(30)
        out["profile"] = text.getvalue()
    print(json.dumps(out))
    return 0


def _s3fs_options(options: dict[str, Any]) -> dict[str, Any]:
    return {
        "endpoint_url": options["endpoint_url"],
        "key": options["key"],
        "secret": options["secret"],
    }


# -- parent side ----------------------------------------------------------------------------


def run_child(
    mode: str, src: str, dst: str, args: argparse.Namespace, **options: Any
) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode]
    command += ["--src", src, "--dst", dst, "--options", json.dumps(options)]
    command += ["--workers", str(args.workers)] + (["--profile"] if args.profile else [])
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"child {mode!r} failed with exit code {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result.get("conflicts"):
        raise SystemExit(f"child {mode!r}: conflicts {result['conflicts']}")
    if "profile" in result:
        log(f"--- cProfile of {mode} ({src} -> {dst}) ---\n{result['profile']}")
    return result


def make_versions(url: str, count: int) -> float:
    """``count`` ready versions, each with two small files, three params and three metrics."""
    from registry_backends import open_registry

    registry = open_registry(url)
    start = time.perf_counter()
    registry.create_model(MODEL, "copy_bench.py")
    for i in range(count):
        version = f"{i // 1000}.{(i // 10) % 100}.{i % 10}"
        params = {"lr": 0.001 * (i % 7 + 1), "depth": i % 9, "seed": i}
        registry.create_version(MODEL, version, params=params, tags={"n": str(i)})
        registry.upload(
            MODEL, version, io.BytesIO(os.urandom(150).hex().encode()), name="model.pkl"
        )
        registry.upload(MODEL, version, io.BytesIO(b"{}".ljust(500)), name="conf/params.json")
        registry.log_metrics(MODEL, version, {"auc": i / count, "loss": 1 - i / count, "f1": 0.5})
        registry.publish(MODEL, version)
        if (i + 1) % 200 == 0:
            log(f"  made {i + 1}/{count} versions")
    return time.perf_counter() - start


def bench_versions(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    src = str(work / "versions-source")
    dst = f"sqlite:///{work / 'versions-target'}/registry.db"
    (work / "versions-target").mkdir()
    log(f"(a) making {args.versions} versions in {src} ...")
    made = make_versions(src, args.versions)
    log("(a) copy files -> SQLite (child) ...")
    first = run_child("copy", src, dst, args)
    if first["copied"] < args.versions:
        raise SystemExit(f"copied only {first['copied']} documents for {args.versions} versions")
    log("(a) copy again, nothing to do (child) ...")
    again = run_child("copy", src, dst, args)
    if again["copied"] or again["blobs"]:
        raise SystemExit(f"the second copy wrote something: {again}")
    rate = args.versions / first["seconds"]
    return {
        "versions": args.versions,
        "make_source_s": made,
        "copy": first,
        "versions_per_s": rate,
        "again": again,
        "again_versions_per_s": args.versions / again["seconds"],
        "goal_versions_per_s": GOALS["versions_per_s"],
        "pass": rate >= GOALS["versions_per_s"],
    }


def write_random(path: Path, size: int) -> None:
    block = os.urandom(min(BLOCK, size))
    with open(path, "wb") as out:
        left = size
        while left:
            n = min(left, len(block))
            out.write(block[:n])
            left -= n


def bench_blob(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import s3fs

    from registry_backends import open_registry

    size = args.mib * MiB
    blobs = work / "blobs"
    blobs.mkdir()
    src = str(work / "blob-source")
    registry = open_registry(src)
    registry.create_model(MODEL)
    registry.create_version(MODEL, "1.0.0")
    log(f"(b) writing {args.mib} MiB of random bytes in {args.files} file(s) ...")
    for i in range(args.files):
        path = blobs / f"weights-{i}.bin"
        write_random(path, size // args.files + (size % args.files if i == 0 else 0))
        log(f"(b) uploading {path.name} into the source registry (untimed) ...")
        registry.upload(MODEL, "1.0.0", path, name=path.name)
    registry.publish(MODEL, "1.0.0")
    with start_moto() as endpoint:
        options = {"endpoint_url": endpoint, **S3_CREDENTIALS}
        fs = s3fs.S3FileSystem(skip_instance_cache=True, **_s3fs_options(options))
        fs.mkdir(BUCKET)
        plain_prefix = f"{BUCKET}/plain-{uuid.uuid4().hex[:8]}"
        log("(b) s3fs.put_file (child) ...")
        plain = run_child("put_file", str(blobs), plain_prefix, args, **options)
        if plain["bytes"] != size:
            raise SystemExit(f"put_file stored {plain['bytes']} bytes, expected {size}")
        fs.rm(plain_prefix, recursive=True)  # moto keeps its memory; the bucket is empty
        dst = f"s3://{BUCKET}/copy-{uuid.uuid4().hex[:8]}"
        log(f"(b) copy files -> {dst} (child) ...")
        copied = run_child("copy", src, dst, args, **options)
        if copied["bytes"] != size or copied["blobs"] != args.files:
            raise SystemExit(f"the copy moved {copied['blobs']} blobs, {copied['bytes']} bytes")
        objects = fs.find(dst.removeprefix("s3://"), detail=True)
        small = sum(info["size"] for info in objects.values()) - size
        check = open_registry(dst, **options)
        if not check.verify(MODEL, "1.0.0").ok:
            raise SystemExit("the copied version does not verify")
    ratio = copied["seconds"] / plain["seconds"]
    return {
        "mib": args.mib,
        "files": args.files,
        "put_file": plain,
        "copy": copied,
        "time_ratio": ratio,
        "copy_mib_per_s": args.mib / copied["seconds"],
        "put_file_mib_per_s": args.mib / plain["seconds"],
        "destination_objects": len(objects),
        "destination_other_bytes": small,
        "goal_time_ratio": GOALS["time_ratio"],
        "goal_peak_rss_mib": GOALS["peak_rss_mib"],
        "pass": ratio <= GOALS["time_ratio"] and copied["peak_rss_mib"] <= GOALS["peak_rss_mib"],
    }


def report(result: dict[str, Any]) -> None:
    rows: list[tuple[str, str, str, str]] = []
    if "versions" in result:
        a = result["versions"]
        rows.append(
            (
                f"(a) copy {a['versions']} versions, files -> SQLite",
                f"{a['copy']['seconds']:.2f} s = {a['versions_per_s']:.0f} versions/s",
                f">= {GOALS['versions_per_s']:.0f}/s",
                "PASS" if a["pass"] else "FAIL",
            )
        )
        rows.append(
            (
                "(a) copy again (nothing to copy)",
                f"{a['again']['seconds']:.2f} s = {a['again_versions_per_s']:.0f} versions/s",
                "",
                "info",
            )
        )
        rows.append(
            ("(a) copying child peak RSS", f"{a['copy']['peak_rss_mib']:.0f} MiB", "", "info")
        )
    if "blob" in result:
        b = result["blob"]
        rows.append(
            (
                f"(b) s3fs.put_file {b['mib']} MiB, {b['files']} file(s)",
                f"{b['put_file']['seconds']:.2f} s, {b['put_file']['peak_rss_mib']:.0f} MiB RSS",
                "",
                "base",
            )
        )
        rows.append(
            (
                f"(b) copy {b['mib']} MiB, {b['files']} file(s), files -> S3",
                f"{b['copy']['seconds']:.2f} s = {b['time_ratio']:.2f} x put_file",
                f"<= {GOALS['time_ratio']}",
                "PASS" if b["time_ratio"] <= GOALS["time_ratio"] else "FAIL",
            )
        )
        rss = b["copy"]["peak_rss_mib"]
        rows.append(
            (
                "(b) copying child peak RSS",
                f"{rss:.0f} MiB",
                f"<= {GOALS['peak_rss_mib']:.0f} MiB",
                "PASS" if rss <= GOALS["peak_rss_mib"] else "FAIL",
            )
        )
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'figure':<40}  {'goal':<12}  result")
    for name, figure, goal, status in rows:
        print(f"{name:<{width}}  {figure:<40}  {goal:<12}  {status}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=1000, help="versions for (a)")
    parser.add_argument("--mib", type=int, default=1024, help="MiB of the blob for (b)")
    parser.add_argument(
        "--files", type=int, default=1, help="(b): split the --mib MiB into this many artifacts"
    )
    parser.add_argument("--only", choices=["versions", "blob"], help="run one measurement")
    parser.add_argument("--dir", type=Path, default=None, help="where to make the work folder")
    parser.add_argument("--workers", type=int, default=4, help="copy(workers=...)")
    parser.add_argument("--profile", action="store_true", help="cProfile each copy child")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", choices=["copy", "put_file"], help=argparse.SUPPRESS)
    parser.add_argument("--src", help=argparse.SUPPRESS)
    parser.add_argument("--dst", help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.child:
        return child(args)
    if args.versions < 1 or args.mib < 1 or args.files < 1:
        raise SystemExit("--versions, --mib and --files must be at least 1")
    work = Path(tempfile.mkdtemp(prefix="modelreg-copy-bench-", dir=args.dir))
    result: dict[str, Any] = {
        "benchmark": "copy_bench",
        "command": "python benchmarks/copy_bench.py " + shlex.join(argv),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "workers": args.workers,
    }
    try:
        if args.only in (None, "versions"):
            result["versions"] = bench_versions(args, work)
        if args.only in (None, "blob"):
            result["blob"] = bench_blob(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    report(result)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
