"""Peak memory of ``modelreg serve`` while the web UI takes one large upload.

    python benchmarks/ui_upload_memory.py [--size 1GiB] [--dir DIR] [--json FILE]

The browser's script sends each file as one ``PUT <version page>:upload-file?path=...``
whose body the server streams into `Registry.upload`, so the server's memory should not
grow with the file. This script checks that end to end, the way a browser does it:

1. makes a fresh local registry in a temporary folder under ``--dir`` with a draft
   version, and a source file of ``--size`` bytes (a 16 MiB block from ``os.urandom``,
   repeated) whose SHA-256 it computes on the way;
2. starts ``modelreg serve --trust-anonymous`` on it in a subprocess;
3. fetches the version page (which sets the CSRF cookie) and reads the server's peak RSS
   (``VmHWM`` in ``/proc/<pid>/status``): the figure *before*;
4. ``PUT``s the file with a plain HTTP client (``http.client``, streaming it from disk in
   1 MiB blocks, with the cookie, the ``X-CSRF-Token`` header and the ``Origin`` a
   browser sends), timing the request;
5. reads ``VmHWM`` again (*after*) and checks the stored artifact's size and SHA-256.

Goal: the server's peak RSS after the upload ≤ 200 MiB, whatever the size. Progress goes
to stderr; the figures, the goal line and one JSON document to stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from artifact_bench import human, parse_size

from registry_backends import open_registry

MiB = 1024 * 1024
BLOCK = 16 * MiB
GOAL_MIB = 200.0
MODEL, VERSION, NAME = "bench/ui-upload", "1.0.0", "weights.bin"
MODELREG = Path(sys.executable).parent / "modelreg"


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set (``VmHWM``), in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no VmHWM in /proc/{pid}/status")
    return int(match.group(1))


def make_source(path: Path, size: int) -> str:
    """Write ``size`` bytes to ``path``; return their SHA-256."""
    block = os.urandom(BLOCK)
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            piece = block[: min(left, BLOCK)]
            out.write(piece)
            digest.update(piece)
            left -= len(piece)
    return digest.hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(registry: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [
        str(MODELREG),
        "--registry",
        str(registry),
        "serve",
        "--port",
        str(port),
        "--trust-anonymous",
        "--log-level",
        "warning",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELREG_", "MLFLOW_"))}
    with log.open("wb") as stderr:
        server = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                if answer.read() == b"OK":
                    return server
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            stop(server)
            raise RuntimeError(f"modelreg serve did not start:\n{log.read_text()}")
        time.sleep(0.1)


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def csrf_cookie(port: int, page: str) -> str:
    """GET the version page, as a browser would first; the CSRF value it sets."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", page)
        answer = conn.getresponse()
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"GET {page} answered {answer.status}")
        cookie = answer.getheader("set-cookie") or ""
    finally:
        conn.close()
    match = re.search(r"modelreg_csrf=([^;]+)", cookie)
    if match is None:
        raise RuntimeError(f"GET {page} set no CSRF cookie: {cookie!r}")
    return match.group(1)


def upload(port: int, page: str, source: Path, size: int, csrf: str) -> tuple[float, int, str]:
    """PUT the file to ``<page>:upload-file``; (seconds, status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600, blocksize=MiB)
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Length": str(size),
        "Cookie": f"modelreg_csrf={csrf}",
        "X-CSRF-Token": csrf,
        "Origin": f"http://127.0.0.1:{port}",
    }
    try:
        with source.open("rb") as body:
            started = time.perf_counter()
            conn.request("PUT", f"{page}:upload-file?path={NAME}", body=body, headers=headers)
            answer = conn.getresponse()
            text = answer.read().decode(errors="replace")
            seconds = time.perf_counter() - started
    finally:
        conn.close()
    return seconds, answer.status, text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("1GiB"))
    parser.add_argument("--dir", default=None, help="where the temporary folder goes")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the JSON here")
    args = parser.parse_args(argv)
    size: int = args.size
    work = Path(tempfile.mkdtemp(prefix="ui-upload-bench-", dir=args.dir))
    if shutil.disk_usage(work).free < 3 * size:
        shutil.rmtree(work)
        print(f"not enough free disk under {work.parent} for 3 x {human(size)}", file=sys.stderr)
        return 2
    server = None
    try:
        note(f"writing a {human(size)} source file")
        source = work / "source.bin"
        sha256 = make_source(source, size)
        folder = work / "registry"
        registry = open_registry(str(folder))
        registry.create_model(MODEL)
        registry.create_version(MODEL, VERSION)
        port = free_port()
        note(f"starting modelreg serve on port {port}")
        server = start_server(folder, port, work / "server.log")
        page = f"/models/{MODEL}/{VERSION}"
        csrf = csrf_cookie(port, page)
        before = peak_rss_kib(server.pid)
        note(f"uploading {human(size)} through {page}:upload-file")
        seconds, status, text = upload(port, page, source, size, csrf)
        after = peak_rss_kib(server.pid)
        if status != 201:
            raise RuntimeError(f"the upload answered {status}: {text[:500]}")
        stored = registry.get_version(MODEL, VERSION).artifacts
        if [(a.path.value, a.size, a.sha256) for a in stored] != [(NAME, size, sha256)]:
            raise RuntimeError(f"the registry holds {stored!r}, not the file sent")
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(work, ignore_errors=True)

    peak_mib = after / 1024
    rate = size / MiB / seconds
    passed = peak_mib <= GOAL_MIB
    print(f"upload of {human(size)} through the UI's :upload-file endpoint (modelreg serve)")
    print("| figure | value |\n|---|---|")
    print(f"| server peak RSS before the upload | {before / 1024:.1f} MiB |")
    print(f"| server peak RSS after the upload | {peak_mib:.1f} MiB |")
    print(f"| growth during the upload | {(after - before) / 1024:.1f} MiB |")
    print(f"| upload time | {seconds:.2f} s |")
    print(f"| throughput | {rate:.1f} MiB/s |")
    print(f"| peak / goal ({GOAL_MIB:.0f} MiB) | {peak_mib / GOAL_MIB:.2f} |")
    print(
        f"{'PASS' if passed else 'FAIL'}: server peak RSS {peak_mib:.1f} MiB <= {GOAL_MIB:.0f} MiB"
    )
    document: dict[str, Any] = {
        "benchmark": "ui_upload_memory",
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "size_bytes": size,
        "seconds": seconds,
        "mib_per_s": rate,
        "peak_rss_before_kib": before,
        "peak_rss_after_kib": after,
        "goal_mib": GOAL_MIB,
        "ratio_to_goal": peak_mib / GOAL_MIB,
        "pass": passed,
    }
    text = json.dumps(document, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
