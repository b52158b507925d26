"""S3 and GCS: upload speed and memory against the driver's own upload, and request counts.

    object_store_bench.py --backend s3|gs [--size 1GiB] [--versions 10000]
                          [--endpoint URL] [--json FILE]

Starts the server itself (moto's S3 in this process, or fake-gcs-server as a child, both
on 127.0.0.1; the helpers of ``tests/backends/servers.py``), unless ``--endpoint`` names
one. Then, in one run:

1. uploads a file of ``--size`` random bytes twice, each in its own child process: with
   the driver's plain ``put_file`` (s3fs / gcsfs) and with ``Registry.upload``; the ratio
   of the two times is the goal, and so is the upload child's peak RSS;
2. loads ``--versions`` ready versions of one model (straight into moto's store, or as
   60 concurrent uploads to any other server: making them through a Registry over HTTP
   would take far longer than the measurement), then counts the HTTP requests of
   ``latest`` through a counting proxy;
3. counts the requests of ``create_version`` (an exact version, then a bump) on a model
   with 10 versions and on the model with ``--versions``.

Prints a table with PASS/FAIL per goal, then one JSON document (also to ``--json``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
_TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path[:0] = [str(_TESTS / "backends"), str(_TESTS)]  # servers.py imports needs.py

from servers import S3_CREDENTIALS, Proxy, start_fake_gcs, start_moto, version_objects  # noqa: E402

BUCKET = "modelreg-bench"
GOALS = {"time_ratio": 1.25, "peak_rss_mib": 200, "latest_requests": 3}

_CHILD = """
import json, os, sys, time
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
backend, mode, endpoint, url, path = sys.argv[1:6]
options = json.loads(sys.argv[6])
if mode == "modelreg":
    from registry_backends import open_registry
    registry = open_registry(url, **options)
    registry.create_model("bench")
    registry.create_version("bench", "1.0.0")
    start = time.perf_counter()
    artifact = registry.upload("bench", "1.0.0", path, name="blob.bin")
    seconds = time.perf_counter() - start
    assert artifact.size == os.path.getsize(path)
else:
    target = url.partition("://")[2] + "/plain/blob.bin"
    if backend == "s3":
        import s3fs
        fs = s3fs.S3FileSystem(endpoint_url=endpoint, key=options["key"], secret=options["secret"])
    else:
        import gcsfs.core
        fs = gcsfs.core.GCSFileSystem(endpoint_url=endpoint, token="anon", project="bench")
    start = time.perf_counter()
    fs.put_file(path, target)
    seconds = time.perf_counter() - start
    assert fs.info(target)["size"] == os.path.getsize(path)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forked parent (which may
# hold moto and every object it stored); VmHWM is this address space's own peak.
with open("/proc/self/status") as status:
    kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "peak_rss_mib": kib / 1024}))
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+)\s*(B|KiB|MiB|GiB)?", text.strip())
    if not match:
        raise SystemExit(f"--size {text!r}: want e.g. 1GiB, 200MiB")
    unit = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[match.group(2) or "B"]
    return int(match.group(1)) * unit


@contextlib.contextmanager
def server(backend: str, endpoint: str | None) -> Iterator[tuple[str, bool]]:
    """The endpoint, and whether it is moto in this process (loadable directly)."""
    if endpoint:
        yield endpoint, False
    elif backend == "s3":
        with start_moto() as started:
            yield started, True
    else:
        with start_fake_gcs() as started:
            yield started, False


def make_bucket(backend: str, endpoint: str) -> None:
    if backend == "s3":
        import s3fs

        fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True, **S3_CREDENTIALS)
        if not fs.exists(BUCKET):
            fs.mkdir(BUCKET)
    else:
        import requests

        requests.post(
            f"{endpoint}/storage/v1/b", params={"project": "bench"}, json={"name": BUCKET}
        )


def options(backend: str, endpoint: str) -> dict[str, Any]:
    if backend == "s3":
        return {"endpoint_url": endpoint, **S3_CREDENTIALS}
    return {"endpoint_url": endpoint, "token": "anon", "project": "bench"}


def write_file(size: int) -> Path:
    handle, name = tempfile.mkstemp(prefix="modelreg-bench-", suffix=".bin")
    with os.fdopen(handle, "wb") as out:
        left = size
        while left:
            block = min(left, 64 * 2**20)
            out.write(os.urandom(block))
            left -= block
    return Path(name)


def upload(backend: str, mode: str, endpoint: str, url: str, path: Path) -> dict[str, float]:
    settings = json.dumps(options(backend, endpoint))
    argv = [sys.executable, "-c", _CHILD, backend, mode, endpoint, url, str(path), settings]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"the {mode} upload failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def load(backend: str, in_process: bool, repo: Any, objects: Iterable[tuple[str, bytes]]) -> None:
    """Store test objects fast: into moto's memory, or as concurrent uploads."""
    if backend == "s3" and in_process:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        store = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
        for name, data in objects:
            store.put_object(BUCKET, name, data)
        return
    from registry_backends.files._wire import gather_limited

    wire = repo._store._wire
    calls = [functools.partial(wire.put, name, data) for name, data in objects]
    repo._store._run(gather_limited(calls, 64))


def count_requests(backend: str, endpoint: str, in_process: bool, versions: int) -> dict[str, Any]:
    from registry_backends import open_registry
    from registry_core import Version

    scheme = "s3" if backend == "s3" else "gs"
    url = f"{scheme}://{BUCKET}/counts-{uuid.uuid4().hex[:8]}"
    direct = open_registry(url, **options(backend, endpoint))
    direct.create_model("m")
    direct.create_version("m", "0.0.1")
    direct.publish("m", "0.0.1")
    key = ("versions", "m", Version.parse("0.0.1").precedence_key)
    template = dict(direct._repo.get(key).data)  # type: ignore[attr-defined,union-attr]
    prefix = url.partition(f"{BUCKET}/")[2]
    found: dict[str, Any] = {}
    for model, count in (("small", 10), ("m", versions)):
        if model != "m":
            direct.create_model(model)
        started = time.perf_counter()
        names = [f"1.{i}.0" for i in range(count)]
        load(
            backend,
            in_process,
            direct._repo,
            version_objects(prefix, model, names, {**template, "model": model}),
        )
        log(f"loaded {count} versions of {model!r} in {time.perf_counter() - started:.1f}s")
    with Proxy(endpoint) as proxy:
        registry = open_registry(url, **options(backend, proxy.url))
        proxy.reset()
        latest = registry.latest("m")
        found["latest_requests"] = len(proxy.requests)
        found["latest_version"] = str(latest.version)
        for model, label in (("small", "10"), ("m", str(versions))):
            proxy.reset()
            registry.create_version(model, "2.0.0")
            exact = len(proxy.requests)
            proxy.reset()
            registry.create_version(model, bump="patch")
            found[f"create_version_requests_at_{label}"] = {
                "exact": exact,
                "bump": len(proxy.requests),
            }
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["s3", "gs"], required=True)
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--endpoint", help="use this server instead of starting one")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    size = parse_size(args.size)
    scheme = "s3" if args.backend == "s3" else "gs"
    with server(args.backend, args.endpoint) as (endpoint, in_process):
        make_bucket(args.backend, endpoint)
        log(f"server at {endpoint}; writing {args.size} of random bytes")
        path = write_file(size)
        try:
            runs = {}
            for mode in ("plain", "modelreg"):
                url = f"{scheme}://{BUCKET}/upload-{mode}-{uuid.uuid4().hex[:8]}"
                runs[mode] = upload(args.backend, mode, endpoint, url, path)
                seconds, rss = runs[mode]["seconds"], runs[mode]["peak_rss_mib"]
                log(f"{mode}: {seconds:.1f}s, peak RSS {rss:.0f} MiB")
        finally:
            path.unlink()
        counts = count_requests(args.backend, endpoint, in_process, args.versions)
    ratio = runs["modelreg"]["seconds"] / runs["plain"]["seconds"]
    small = counts["create_version_requests_at_10"]
    large = counts[f"create_version_requests_at_{args.versions}"]
    driver = "s3fs" if args.backend == "s3" else "gcsfs"
    rows = [
        (
            f"upload {args.size}: modelreg / {driver}.put_file time",
            f"{ratio:.2f}",
            f"<= {GOALS['time_ratio']}",
            ratio <= GOALS["time_ratio"],
        ),
        (
            f"upload {args.size}: modelreg child peak RSS",
            f"{runs['modelreg']['peak_rss_mib']:.0f} MiB",
            f"<= {GOALS['peak_rss_mib']} MiB",
            runs["modelreg"]["peak_rss_mib"] <= GOALS["peak_rss_mib"],
        ),
        (
            f"latest over {args.versions} versions: requests",
            str(counts["latest_requests"]),
            f"<= {GOALS['latest_requests']}",
            counts["latest_requests"] <= GOALS["latest_requests"],
        ),
        (
            f"create_version requests at 10 / {args.versions} (exact)",
            f"{small['exact']} / {large['exact']}",
            "equal",
            small["exact"] == large["exact"],
        ),
        (
            f"create_version requests at 10 / {args.versions} (bump)",
            f"{small['bump']} / {large['bump']}",
            "equal",
            small["bump"] == large["bump"],
        ),
    ]
    width = max(len(row[0]) for row in rows)
    print(f"{'metric':<{width}}  {'value':>12}  {'goal':>12}  result")
    for metric, value, goal, ok in rows:
        print(f"{metric:<{width}}  {value:>12}  {goal:>12}  {'PASS' if ok else 'FAIL'}")
    report = {
        "backend": args.backend,
        "size_bytes": size,
        "versions": args.versions,
        "upload": runs,
        "time_ratio": ratio,
        **counts,
        "goals": GOALS,
        "pass": all(row[3] for row in rows),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
