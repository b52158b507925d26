"""Artifact upload/download throughput and peak memory, against ``cp`` on the same disk.

    python benchmarks/artifact_bench.py --size 1GiB [--dir DIR] [--url URL] [--json FILE]

In one run, on the disk holding ``--dir`` (default: the system temp dir), it times

* the baselines: ``cp SRC DST && sync`` (what an upload that fsyncs costs at least) and a
  plain ``cp SRC DST`` (the download baseline; SRC is in the page cache, as the registry's
  blob is when modelreg downloads it);
* ``registry.upload(model, version, SRC)`` into a fresh local registry (streams, hashes
  with SHA-256, fsyncs) and ``registry.download(...)`` (streams, re-hashes, writes);

each modelreg operation in a child process (this script with ``--child``), so that its
peak RSS can be read from the child's resource usage and compared with a child that only
imports modelreg and opens the registry. Prints a table and, last, one JSON document.

This is a benchmark, not a test: it prints figures and ratios measured within one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from registry_backends import open_registry
from registry_core import Registry, RegistryError

MiB = 1024 * 1024
BLOCK = 16 * MiB
RATIO_GOAL = 1.5  # upload / (cp + sync) and download / cp
RSS_GOAL_MIB = 64.0  # peak RSS above the interpreter baseline, for any size
ARTIFACT_NAME = "weights.bin"

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")


def parse_size(text: str) -> int:
    """Bytes in ``1GiB``, ``200MiB``, ``10MB``, ``4096``; `ArgumentTypeError` otherwise."""
    match = _SIZE.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise argparse.ArgumentTypeError(
            f"bad size {text!r}: give a number of bytes with an optional unit, such as "
            "4096, 10MB, 200MiB or 1GiB (units: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
        )
    try:
        amount = Decimal(match.group(1)) * _UNITS[unit]
    except InvalidOperation:  # pragma: no cover - the pattern only lets digits through
        raise argparse.ArgumentTypeError(f"bad size {text!r}") from None
    if amount != amount.to_integral_value():
        raise argparse.ArgumentTypeError(f"bad size {text!r}: not a whole number of bytes")
    if amount < 1:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: must be at least 1 byte")
    return int(amount)


def human(size: float) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor:
            return f"{size / factor:.2f} {unit}"
    return f"{int(size)} B"


def maxrss_kib(usage: resource.struct_rusage) -> int:
    """ru_maxrss in KiB (Linux reports KiB, macOS bytes)."""
    return usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss


def vmhwm_kib() -> int | None:
    """This process's own peak RSS (``VmHWM`` in /proc/self/status, KiB), or None.

    Unlike ``ru_maxrss``, it starts from zero at ``exec``: on Linux a child's ``ru_maxrss``
    (whether read by the child itself, from ``wait4`` or from ``RUSAGE_CHILDREN``) is at
    least the parent's RSS when it spawned the child, because the kernel folds the
    spawning address space's high-water mark into it.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def scheme_of(url: str) -> str:
    head, sep, _ = url.partition("://")
    return head.lower() if sep else "file"


def folder_of(url: str) -> Path | None:
    head, sep, _ = url.partition("://")
    if not sep:
        return Path(url)
    if head.lower() == "file":
        return Path(unquote(urlparse(url).path))
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Time modelreg's artifact upload/download against cp on the same disk.",
    )
    parser.add_argument(
        "--size", type=parse_size, help="file size: 4096, 10MB, 200MiB, 1GiB ... (required)"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to make the temporary work folder (default: the system temp dir)",
    )
    parser.add_argument(
        "--url",
        default=None,
        help="registry URL (default: a fresh folder in the work folder, same disk as cp)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of (baselines, upload, download); the best round of each is reported",
    )
    # Internal: the child processes that run one modelreg operation each.
    parser.add_argument(
        "--child", choices=("baseline", "upload", "download"), help=argparse.SUPPRESS
    )
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--version", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    return parser


# -- child side ---------------------------------------------------------------------------


def setup_version(registry: Registry, model: str, version: str) -> None:
    """Make sure ``model`` has the draft ``version`` (memory:// children start empty)."""
    if not len(registry.list_models(prefix=model, page_size=1)):
        registry.create_model(model, "artifact_bench.py")
    registry.create_version(model, version)


def child(args: argparse.Namespace) -> int:
    """One modelreg operation; prints its own timing (and RSS) as JSON on stdout."""
    started = time.perf_counter()
    registry = open_registry(args.url)
    opened = time.perf_counter()
    out: dict[str, Any] = {"mode": args.child, "open_s": opened - started}
    in_memory = scheme_of(args.url) == "memory"
    if args.child == "upload":
        if in_memory:
            setup_version(registry, args.model, args.version)
        t0 = time.perf_counter()
        artifact = registry.upload(args.model, args.version, args.path, name=ARTIFACT_NAME)
        out["seconds"] = time.perf_counter() - t0
        out["bytes"] = artifact.size
        out["sha256"] = artifact.sha256
    elif args.child == "download":
        if in_memory:  # nothing survives the upload child: upload again, untimed
            setup_version(registry, args.model, args.version)
            registry.upload(args.model, args.version, args.source, name=ARTIFACT_NAME)
            out["note"] = "memory://: uploaded again in this child before the download"
        t0 = time.perf_counter()
        written = registry.download(args.model, args.version, args.path)
        out["seconds"] = time.perf_counter() - t0
        out["bytes"] = sum(p.stat().st_size for p in written)
    out["maxrss_kib_self"] = maxrss_kib(resource.getrusage(resource.RUSAGE_SELF))
    out["vmhwm_kib"] = vmhwm_kib()
    print(json.dumps(out))
    return 0


# -- parent side --------------------------------------------------------------------------


def run_child(mode: str, url: str, **extra: str) -> dict[str, Any]:
    """Run this script as ``--child mode``; return its JSON plus its peak RSS and wall time.

    The peak RSS is the child's own ``VmHWM`` where Linux gives it (see `vmhwm_kib`):
    ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` (and ``os.wait4``'s figure for exactly this
    child, also kept in the JSON) start at the parent's RSS at spawn time, which would
    inflate the interpreter baseline and hide the difference being measured.
    """
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--url", url]
    for key, value in extra.items():
        command += [f"--{key}", value]
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    output = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child {mode!r} failed with exit code {proc.returncode}")
    result: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
    result["process_wall_s"] = wall
    result["wait4_maxrss_kib"] = maxrss_kib(usage)
    result["rusage_children_maxrss_kib_so_far"] = maxrss_kib(
        resource.getrusage(resource.RUSAGE_CHILDREN)
    )
    own = result.get("vmhwm_kib")
    result["peak_rss_kib"] = own if own is not None else result["wait4_maxrss_kib"]
    result["peak_rss_source"] = "VmHWM" if own is not None else "wait4 ru_maxrss (inflated)"
    return result


def sh(*command: str) -> float:
    """Run a command; return its wall time."""
    t0 = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - t0


def hash_file(path: Path) -> float:
    """Seconds to read ``path`` and SHA-256 it in this process: the floor under a verified
    download, whatever the backend."""
    t0 = time.perf_counter()
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as stream:
        while chunk := stream.read(MiB):
            digest.update(chunk)
    return time.perf_counter() - t0


def generate(path: Path, size: int) -> float:
    """Write ``size`` random-looking bytes (a repeated 16 MiB block), fsynced."""
    t0 = time.perf_counter()
    block = os.urandom(min(BLOCK, size))
    with open(path, "wb") as out:
        left = size
        while left:
            n = min(left, len(block))
            out.write(block[:n] if n < len(block) else block)
            left -= n
        out.flush()
        os.fsync(out.fileno())
    return time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    if args.size is None:
        parser.error("--size is required (for example --size 1GiB)")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    size: int = args.size
    base = Path(args.dir) if args.dir is not None else Path(tempfile.gettempdir())
    if not base.is_dir():
        parser.error(f"--dir {str(base)!r} is not a directory")
    free = shutil.disk_usage(base).free
    if free < 3 * size:
        print(
            f"warning: only {human(free)} free under {base}; this benchmark needs 3 x "
            f"{human(size)} = {human(3 * size)} (source, registry copy, download). Refusing.",
            file=sys.stderr,
        )
        return 2
    made_folder: Path | None = None
    if args.url is not None:
        folder = folder_of(args.url)
        if folder is not None:
            if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
                parser.error(f"--url {args.url!r} is an existing non-empty folder; use a fresh one")
            if not folder.exists():
                folder.mkdir(parents=True)
                made_folder = folder
    work = Path(tempfile.mkdtemp(prefix="modelreg-artifact-bench-", dir=base))
    try:
        return run(args, argv, size, base, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if made_folder is not None:
            shutil.rmtree(made_folder, ignore_errors=True)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace, argv: list[str], size: int, base: Path, work: Path) -> int:
    src = work / "source.bin"
    dst = work / "cp-copy.bin"
    download_dir = work / "download"
    url = args.url if args.url is not None else str(work / "registry")
    in_memory = scheme_of(url) == "memory"
    folder = folder_of(url)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    try:
        registry = open_registry(url)
    except RegistryError as error:
        print(f"cannot open registry {url!r}: {error}", file=sys.stderr)
        return 2
    model = f"bench/artifacts-{os.getpid()}"
    if not in_memory:
        registry.create_model(model, "artifact_bench.py")

    progress(f"generating {human(size)} in {src} ...")
    generate_s = generate(src, size)
    sh("sync")

    progress("child: import modelreg + open the registry (interpreter baseline) ...")
    baseline = run_child("baseline", url)

    rounds: list[dict[str, Any]] = []
    for r in range(args.repeat):
        version = f"1.0.{r}"
        progress(f"round {r + 1}/{args.repeat}: cp + sync ...")
        sh("sync")  # flush anyone else's dirty pages first, untimed
        t0 = time.perf_counter()
        subprocess.run(["cp", str(src), str(dst)], check=True)
        subprocess.run(["sync"], check=True)
        cp_sync_s = time.perf_counter() - t0
        dst.unlink()
        sh("sync")
        progress(f"round {r + 1}/{args.repeat}: cp (page cache warm) ...")
        cp_s = sh("cp", str(src), str(dst))
        dst.unlink()
        sh("sync")
        hash_s = hash_file(src)

        progress(f"round {r + 1}/{args.repeat}: modelreg upload (child) ...")
        if not in_memory:
            registry.create_version(model, version)
        upload = run_child("upload", url, model=model, version=version, path=str(src))
        if upload["bytes"] != size:
            raise SystemExit(f"upload stored {upload['bytes']} bytes, expected {size}")
        if not in_memory:
            registry.publish(model, version)
        sh("sync")

        progress(f"round {r + 1}/{args.repeat}: modelreg download (child) ...")
        download = run_child(
            "download", url, model=model, version=version, path=str(download_dir), source=str(src)
        )
        if download["bytes"] != size:
            raise SystemExit(f"download wrote {download['bytes']} bytes, expected {size}")
        shutil.rmtree(download_dir)
        if not in_memory:
            registry.delete_version(model, version)
        sh("sync")
        rounds.append(
            {
                "cp_sync_s": cp_sync_s,
                "cp_s": cp_s,
                "sha256_only_s": hash_s,
                "upload": upload,
                "download": download,
            }
        )

    if not in_memory:
        registry.delete_model(model)

    best_cp_sync = min(r["cp_sync_s"] for r in rounds)
    best_cp = min(r["cp_s"] for r in rounds)
    best_hash = min(r["sha256_only_s"] for r in rounds)
    best_up = min(rounds, key=lambda r: r["upload"]["seconds"])["upload"]
    best_down = min(rounds, key=lambda r: r["download"]["seconds"])["download"]
    base_rss = baseline["peak_rss_kib"] / 1024
    up_rss = max(r["upload"]["peak_rss_kib"] for r in rounds) / 1024
    down_rss = max(r["download"]["peak_rss_kib"] for r in rounds) / 1024
    mib = size / MiB

    result: dict[str, Any] = {
        "benchmark": "artifact_bench",
        "command": "python benchmarks/artifact_bench.py " + shlex.join(argv),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "size_bytes": size,
        "dir": str(base),
        "url": args.url if args.url is not None else "<work folder>/registry (fresh, same disk)",
        "backend": scheme_of(url),
        "repeat": args.repeat,
        "generate_s": generate_s,
        "baseline_cp_sync": {"seconds": best_cp_sync, "mib_per_s": mib / best_cp_sync},
        "baseline_cp": {
            "seconds": best_cp,
            "mib_per_s": mib / best_cp,
            "note": "source in the page cache (warm); no sync, as download does not fsync",
        },
        "sha256_only": {
            "seconds": best_hash,
            "mib_per_s": mib / best_hash,
            "ratio_to_cp": best_hash / best_cp,
            "note": "read + SHA-256 in one process, page cache warm: the floor of a verified "
            "download (information, not a goal)",
        },
        "upload": {
            "seconds": best_up["seconds"],
            "mib_per_s": mib / best_up["seconds"],
            "ratio_to_cp_sync": best_up["seconds"] / best_cp_sync,
            "peak_rss_mib": up_rss,
            "rss_above_baseline_mib": up_rss - base_rss,
        },
        "download": {
            "seconds": best_down["seconds"],
            "mib_per_s": mib / best_down["seconds"],
            "ratio_to_cp": best_down["seconds"] / best_cp,
            "ratio_to_sha256_only": best_down["seconds"] / best_hash,
            "peak_rss_mib": down_rss,
            "rss_above_baseline_mib": down_rss - base_rss,
        },
        "interpreter_baseline": {
            "peak_rss_mib": base_rss,
            "open_s": baseline["open_s"],
            "wait4_maxrss_kib": baseline["wait4_maxrss_kib"],
        },
        "peak_rss_source": baseline["peak_rss_source"],
        "parent_maxrss_kib": maxrss_kib(resource.getrusage(resource.RUSAGE_SELF)),
        "rounds": rounds,
    }
    result["goals"] = goals(result, in_memory)
    report(result)
    text = json.dumps(result, indent=2)
    if args.json is not None:
        args.json.write_text(text + "\n")
    print(text)
    return 0


def goals(r: dict[str, Any], in_memory: bool) -> list[dict[str, Any]]:
    local = r["backend"] == "file"
    scope = "" if local else "goal set for the files backend on a local disk; informational"
    rss_note = (
        "memory:// keeps the bytes in RAM, so its RSS grows with the size" if in_memory else ""
    )
    up, down = r["upload"], r["download"]
    rows = [
        ("upload / (cp + sync) <= 1.5", up["ratio_to_cp_sync"], "", up["ratio_to_cp_sync"] <= 1.5),
        ("verified download / cp <= 1.5", down["ratio_to_cp"], "", down["ratio_to_cp"] <= 1.5),
        (
            f"upload peak RSS <= {RSS_GOAL_MIB:g} MiB above baseline",
            up["rss_above_baseline_mib"],
            "MiB",
            None if in_memory else up["rss_above_baseline_mib"] <= RSS_GOAL_MIB,
        ),
        (
            f"download peak RSS <= {RSS_GOAL_MIB:g} MiB above baseline",
            down["rss_above_baseline_mib"],
            "MiB",
            None if in_memory else down["rss_above_baseline_mib"] <= RSS_GOAL_MIB,
        ),
    ]
    out = []
    for name, figure, unit, ok in rows:
        status = "n/a" if ok is None else ("PASS" if ok else "FAIL")
        note = rss_note if (ok is None and in_memory) else scope
        out.append({"goal": name, "figure": figure, "unit": unit, "status": status, "note": note})
    return out


def report(r: dict[str, Any]) -> None:
    print()
    print(
        f"artifact_bench  size={human(r['size_bytes'])} ({r['size_bytes']:,} bytes)  "
        f"backend={r['backend']}  dir={r['dir']}  rounds={r['repeat']}"
    )
    print(f"  {r['date']}  python {r['machine']['python']}  cpus={r['machine']['cpus']}")
    print()
    header = (
        f"  {'operation':<36} {'time s':>9} {'MiB/s':>9} {'ratio':>7} {'RSS MiB':>9} {'+base':>8}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    base = r["interpreter_baseline"]["peak_rss_mib"]
    up, down = r["upload"], r["download"]
    lines = [
        ("cp + sync (upload baseline)", r["baseline_cp_sync"], None, None, None),
        ("cp, page cache warm (download base)", r["baseline_cp"], None, None, None),
        (
            "sha256 only, in-process (info)",
            r["sha256_only"],
            r["sha256_only"]["ratio_to_cp"],
            None,
            None,
        ),
        (
            "modelreg upload (stream + SHA-256)",
            up,
            up["ratio_to_cp_sync"],
            up["peak_rss_mib"],
            up["rss_above_baseline_mib"],
        ),
        (
            "modelreg download (re-hash + verify)",
            down,
            down["ratio_to_cp"],
            down["peak_rss_mib"],
            down["rss_above_baseline_mib"],
        ),
    ]
    for label, row, ratio, rss, above in lines:
        ratio_s = "" if ratio is None else f"{ratio:.2f}"
        rss_s = "" if rss is None else f"{rss:.1f}"
        above_s = "" if above is None else f"{above:+.1f}"
        print(
            f"  {label:<36} {row['seconds']:>9.3f} {row['mib_per_s']:>9.1f} {ratio_s:>7} "
            f"{rss_s:>9} {above_s:>8}"
        )
    print(f"  {'child: import + open only (baseline)':<36} {'':>9} {'':>9} {'':>7} {base:>9.1f}")
    print()
    print(
        f"  information: download / sha256-only = {down['ratio_to_sha256_only']:.2f}; hashing "
        f"alone takes {r['sha256_only']['ratio_to_cp']:.2f} x the cp baseline"
    )
    print()
    print("  times of modelreg operations are measured inside the child (the call only);")
    print(f"  peak RSS is the child's own {r['peak_rss_source']}, compared with a child that only")
    print("  imports modelreg and opens the registry (ru_maxrss of a child counts the")
    print("  parent's RSS at spawn on Linux; it is kept in the JSON as wait4_maxrss_kib).")
    print()
    print("goals")
    for goal in r["goals"]:
        figure = f"{goal['figure']:.2f} {goal['unit']}".strip()
        note = f"  ({goal['note']})" if goal["note"] else ""
        print(f"  {goal['status']:<4}  {goal['goal']:<44} measured {figure}{note}")
    print()


if __name__ == "__main__":
    sys.exit(main())
