"""A PostgreSQL registry with its artifacts on S3: upload time and memory against s3fs.

    python benchmarks/sql_object_store_bench.py --size 1GiB [--postgres-url URL]
                                                [--repeat R] [--no-before] [--dir DIR]
                                                [--json FILE]

Starts moto's S3 server (``ThreadedMotoServer``) in a process of its own on 127.0.0.1, so
that its CPU and memory are not the client's, and makes a fresh PostgreSQL database
through ``--postgres-url`` (default ``$MODELREG_TEST_POSTGRES_URL``), dropped at the end.
The registry is ``postgresql+psycopg://.../<fresh db>?artifacts=s3://modelreg-bench/<run>``
opened with ``endpoint_url`` and credentials as options. In one run, each upload in a
child process of its own (this script with ``--child``), it times

1. the baseline: ``s3fs.S3FileSystem.put_file`` of the file (s3fs's defaults: 50 MiB
   parts, 10 in flight);
2. ``Registry.upload`` of the same file into a draft version (streams, hashes with
   SHA-256, sends a multipart upload straight to the blob's name and completes it once
   the manifest is recorded); the goals are its time over the baseline's and the child's
   peak RSS (``VmHWM``, which includes Python and the imported drivers);
3. for information (``--no-before`` skips it), the same upload through the artifact
   store the SQL backend used before, `FsspecBlobStore`: a temp object under
   ``.modelreg/tmp/`` that commit moves to its name, which S3 does as a full copy.

After each upload the parent publishes the version (the end state of a registry upload is
a READY version), verifies it (downloads and re-hashes every byte through the registry,
timed for information), and checks the bucket: exactly the blob's key, no temp object, no
unfinished multipart upload. Prints a table with PASS/FAIL per goal, then one JSON
document (also written to ``--json FILE``). Needs the ``test`` extra (moto, s3fs, psycopg).
"""

from __future__ import annotations

import argparse
import contextlib
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
import uuid
from collections.abc import Iterator, Sequence
from importlib.metadata import version as installed
from pathlib import Path
from typing import Any

from artifact_bench import MiB, generate, human, parse_size, vmhwm_kib

BUCKET = "modelreg-bench"
MODEL = "bench/weights"
ARTIFACT = "weights.bin"
CREDENTIALS = {"key": "bench-key-id", "secret": "bench-secret"}
GOALS = {"time_ratio": 1.25, "peak_rss_mib": 200.0}

_MOTO = """
import logging, sys
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(f"http://{host}:{port}", flush=True)
sys.stdin.read()  # runs until the parent closes stdin (or exits)
server.stop()
"""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the servers ----------------------------------------------------------------------------


@contextlib.contextmanager
def moto_server() -> Iterator[tuple[str, int]]:
    """moto's S3 in a child process; yields its endpoint and pid."""
    process = subprocess.Popen(
        [sys.executable, "-c", _MOTO], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        endpoint = process.stdout.readline().strip()
        if not endpoint.startswith("http://"):
            raise SystemExit("moto's server did not start (is the test extra installed?)")
        yield endpoint, process.pid
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new PostgreSQL database on ``server``'s host; dropped afterwards."""
    import sqlalchemy as sa

    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"bench_sql_s3_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def s3(endpoint: str) -> Any:
    import s3fs

    return s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True, **CREDENTIALS)


def peak_rss_kib_of(pid: int) -> int | None:
    with contextlib.suppress(OSError, StopIteration, ValueError), open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return None


# -- child side -----------------------------------------------------------------------------


def child(args: argparse.Namespace) -> int:
    """Upload ``--path`` one way; print the call's time and this process's peak RSS."""
    options = {"endpoint_url": args.endpoint, **CREDENTIALS}
    size = os.path.getsize(args.path)
    if args.child == "s3fs":
        fs = s3(args.endpoint)
        started = time.perf_counter()
        fs.put_file(args.path, args.target)
        seconds = time.perf_counter() - started
        stored = int(fs.info(args.target)["size"])
    else:
        from registry_core import Registry

        if args.child == "modelreg":
            from registry_backends import open_registry

            registry = open_registry(args.url, **options)
        else:
            registry = Registry(open_as_before(args.url, options))
        started = time.perf_counter()
        artifact = registry.upload(MODEL, args.version, args.path, name=ARTIFACT)
        seconds = time.perf_counter() - started
        stored = artifact.size
    if stored != size:
        raise SystemExit(f"{args.child}: stored {stored} bytes of {size}")
    print(json.dumps({"seconds": seconds, "vmhwm_kib": vmhwm_kib()}))
    return 0


def open_as_before(url: str, options: dict[str, Any]) -> Any:
    """The SQL registry as modelreg opened it before: blobs in `FsspecBlobStore`."""
    import fsspec

    from registry_backends.files import FilesRepository
    from registry_backends.sql import SqlRepository
    from registry_backends.sql._blobs import FsspecBlobStore
    from registry_backends.sql._engine import make_engine, parse_url
    from registry_backends.sql._migrate import prepare

    target = parse_url(url)
    fs, root = fsspec.core.url_to_fs(target.artifacts, skip_instance_cache=True, **options)
    blobs = FilesRepository(FsspecBlobStore(fs, root.rstrip("/"), target.artifacts))
    engine = make_engine(target)
    prepare(engine, target, upgrade=False)
    return SqlRepository(engine, target, blobs)


def run_child(mode: str, **extra: str) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode]
    for key, value in extra.items():
        command += [f"--{key}", value]
    done = subprocess.run(command, stdout=subprocess.PIPE, check=False)
    if done.returncode:
        raise SystemExit(f"the {mode} upload failed (exit status {done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    result["peak_rss_mib"] = result["vmhwm_kib"] / 1024
    return result


# -- parent side ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("1GiB"), help="1GiB...")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("MODELREG_TEST_POSTGRES_URL"),
        help="a server where the user may create databases (default $MODELREG_TEST_POSTGRES_URL)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the best time of each")
    parser.add_argument(
        "--no-before", action="store_true", help="skip the FsspecBlobStore upload (information)"
    )
    parser.add_argument("--dir", type=Path, default=None, help="where to write the source file")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--child", choices=("s3fs", "modelreg", "before"), help=argparse.SUPPRESS)
    for internal in ("url", "endpoint", "path", "version", "target"):
        parser.add_argument(f"--{internal}", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    if not args.postgres_url:
        parser.error("give --postgres-url or set $MODELREG_TEST_POSTGRES_URL")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    base = args.dir if args.dir is not None else Path(tempfile.gettempdir())
    if shutil.disk_usage(base).free < 2 * args.size:
        parser.error(f"less than 2 x {human(args.size)} free under {base}")
    work = Path(tempfile.mkdtemp(prefix="modelreg-sql-s3-bench-", dir=base))
    try:
        source = work / "source.bin"
        progress(f"generating {human(args.size)} in {source} ...")
        generate(source, args.size)
        with moto_server() as (endpoint, moto_pid), fresh_database(args.postgres_url) as db:
            progress(f"moto at {endpoint} (pid {moto_pid}); a fresh database for the registry")
            result = measure(args, endpoint, db, source)
            result["moto_server_peak_rss_mib"] = (peak_rss_kib_of(moto_pid) or 0) / 1024
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["command"] = "python benchmarks/sql_object_store_bench.py " + shlex.join(argv)
    result["goals"] = goals(result)
    result["pass"] = all(goal["status"] == "PASS" for goal in result["goals"])
    report(result)
    text = json.dumps(result, indent=2)
    if args.json is not None:
        args.json.write_text(text + "\n")
    print(text)
    return 0


def measure(args: argparse.Namespace, endpoint: str, database: str, source: Path) -> dict[str, Any]:
    from registry_backends import open_registry

    fs = s3(endpoint)
    fs.mkdir(BUCKET)
    run = uuid.uuid4().hex[:8]
    # mode -> the blobs' prefix; every registry URL names the same database
    prefixes = {"modelreg": run} if args.no_before else {"modelreg": run, "before": f"{run}-b"}
    urls = {m: with_artifacts(database, f"s3://{BUCKET}/{p}") for m, p in prefixes.items()}
    # the parent reads every prefix through the new store (the layout is the same)
    registries = {
        m: open_registry(u, endpoint_url=endpoint, **CREDENTIALS) for m, u in urls.items()
    }
    registries["modelreg"].create_model(MODEL, "sql_object_store_bench.py")
    rounds: list[dict[str, Any]] = []
    for r in range(args.repeat):
        found: dict[str, Any] = {}
        target = f"{BUCKET}/{run}-s3fs/{ARTIFACT}"
        progress(f"round {r + 1}/{args.repeat}: s3fs put_file ...")
        found["s3fs"] = run_child("s3fs", endpoint=endpoint, path=str(source), target=target)
        fs.rm(target)  # moto holds objects in memory
        for mode, prefix in prefixes.items():
            progress(f"round {r + 1}/{args.repeat}: {mode} upload ...")
            registry, version = registries[mode], f"1.{r}.{len(found)}"
            registry.create_version(MODEL, version)
            found[mode] = run_child(
                mode, url=urls[mode], endpoint=endpoint, path=str(source), version=version
            )
            registry.publish(MODEL, version)
            started = time.perf_counter()
            if not registry.verify(MODEL, version).ok:
                raise SystemExit(f"{mode}: the uploaded bytes do not verify")
            found[mode]["verify_seconds"] = time.perf_counter() - started
            found[mode]["bucket"] = bucket_state(fs, prefix)
            expected = [f"{MODEL}/{version}/{ARTIFACT}"]
            if found[mode]["bucket"] != {"objects": expected, "unfinished_uploads": []}:
                raise SystemExit(f"{mode}: the bucket holds {found[mode]['bucket']}")
            registry.delete_version(MODEL, version)
        rounds.append(found)
        progress("  " + ", ".join(f"{k} {v['seconds']:.1f}s" for k, v in found.items()))
    return summarize(args, rounds)


def with_artifacts(database: str, artifacts: str) -> str:
    import sqlalchemy as sa

    url = sa.make_url(database).update_query_dict({"artifacts": artifacts})
    return url.render_as_string(hide_password=False)


def bucket_state(fs: Any, prefix: str) -> dict[str, list[str]]:
    """The objects under ``prefix`` (relative names) and its unfinished multipart uploads."""
    fs.invalidate_cache()
    objects = sorted(p.split(f"{prefix}/", 1)[1] for p in fs.find(f"{BUCKET}/{prefix}"))
    uploads = fs.list_multipart_uploads(BUCKET)
    unfinished = sorted(u["Key"] for u in uploads if u["Key"].startswith(f"{prefix}/"))
    return {"objects": objects, "unfinished_uploads": unfinished}


def summarize(args: argparse.Namespace, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    mib = args.size / MiB
    best = {
        mode: {
            "seconds": min(r[mode]["seconds"] for r in rounds),
            "mib_per_s": mib / min(r[mode]["seconds"] for r in rounds),
            "peak_rss_mib": max(r[mode]["peak_rss_mib"] for r in rounds),
            **(
                {"verify_seconds": min(r[mode]["verify_seconds"] for r in rounds)}
                if mode != "s3fs"
                else {}
            ),
        }
        for mode in rounds[0]
    }
    return {
        "benchmark": "sql_object_store_bench",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "versions": {p: installed(p) for p in ("moto", "s3fs", "aiobotocore", "psycopg")},
        "size_bytes": args.size,
        "repeat": args.repeat,
        "best": best,
        "time_ratio": best["modelreg"]["seconds"] / best["s3fs"]["seconds"],
        "before_ratio": (
            best["before"]["seconds"] / best["s3fs"]["seconds"] if "before" in best else None
        ),
        "rounds": rounds,
    }


def goals(r: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [
        (
            f"upload time modelreg / s3fs.put_file <= {GOALS['time_ratio']}",
            r["time_ratio"],
            "",
            GOALS["time_ratio"],
        ),
        (
            f"modelreg upload child peak RSS <= {GOALS['peak_rss_mib']:g} MiB",
            r["best"]["modelreg"]["peak_rss_mib"],
            "MiB",
            GOALS["peak_rss_mib"],
        ),
    ]
    return [
        {
            "goal": goal,
            "figure": figure,
            "unit": unit,
            "status": "PASS" if figure <= limit else "FAIL",
        }
        for goal, figure, unit, limit in rows
    ]


def report(r: dict[str, Any]) -> None:
    best = r["best"]
    print()
    print(
        f"sql_object_store_bench  size={human(r['size_bytes'])} ({r['size_bytes']:,} bytes)  "
        f"rounds={r['repeat']}  {r['date']}  cpus={r['machine']['cpus']}"
    )
    print()
    header = f"  {'upload (each in its own child process)':<46} {'time s':>8} {'MiB/s':>8}"
    header += f" {'ratio':>6} {'peak RSS':>9} {'verify s':>9}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    labels = {
        "s3fs": "s3fs put_file (baseline)",
        "modelreg": "modelreg: PostgreSQL + s3:// artifacts",
        "before": "before: FsspecBlobStore, temp + copy (info)",
    }
    for mode, label in labels.items():
        if mode not in best:
            continue
        row = best[mode]
        ratio = row["seconds"] / best["s3fs"]["seconds"]
        verify = f"{row['verify_seconds']:.2f}" if "verify_seconds" in row else ""
        print(
            f"  {label:<46} {row['seconds']:>8.2f} {row['mib_per_s']:>8.1f} {ratio:>6.2f}"
            f" {row['peak_rss_mib']:>5.0f} MiB {verify:>9}"
        )
    print()
    print("  the time is the upload call alone, measured in the child; peak RSS is the")
    print("  child's VmHWM; verify (parent, information) downloads and re-hashes the blob.")
    print(
        f"  moto's server process peaked at {r['moto_server_peak_rss_mib']:.0f} MiB (not counted)."
    )
    print()
    print("goals")
    for goal in r["goals"]:
        figure = f"{goal['figure']:.2f} {goal['unit']}".strip()
        print(f"  {goal['status']:<4}  {goal['goal']:<48} measured {figure}")
    print()


if __name__ == "__main__":
    sys.exit(main())
