"""The stock MLflow client against ``modelreg serve`` and ``mlflow server``, side by side.

    python benchmarks/vs_mlflow_server.py --clients 1,4,8 --ops 100 --artifact-mib 100 \\
        --mlflow /path/to/venv-with-mlflow/bin/mlflow --json vs_mlflow.json

Both servers run on this machine over SQLite (``modelreg serve --registry sqlite:///...``
and ``mlflow server --workers 1 --backend-store-uri sqlite:///...``). For each client
count N, N client processes run the same phases in lockstep (a barrier between phases):

* ``create``  ``create_model_version`` (MLflow: after a ``create_run`` per version, which
  modelreg does not need: a modelreg version *is* a run; not timed)
* ``get``     ``get_model_version``
* ``metric``  ``log_metric`` on the client's run
* ``latest``  ``get_latest_versions`` (modelreg: the highest ready version)
* ``upload`` / ``download``  one ``--artifact-mib`` file per client through the proxied
  artifact API (``log_artifact`` / ``download_artifacts``)

and the script reports operations/s over all clients and the p50/p99 (and max) latency
per phase, the servers' idle RSS (whole process tree), and the modelreg server's peak RSS
during a ``--big-mib`` upload. modelreg callers authenticate with a token; MLflow runs
without auth. This is a benchmark, not a test: it prints figures and ratios from one run.

To keep a shared, noisy machine from favouring either side: the two servers take turns,
one client count at a time (the other one stopped: an idle ``mlflow server`` still burns
a fifth of a core in its job runner), and which goes first alternates; each client makes
one untimed call of every phase before the first barrier (first-call imports and code
generation on either side stay out of the figures); MLflow's usage telemetry is off in
the clients and in ``mlflow server`` (its threads poll, and try to reach a network this
machine may not have). With ``--ops 50`` the p99 of one client is its slowest call.
``--rounds R`` repeats each client count R times, the order of the servers alternating,
and reports the median of each figure over the rounds (``max_ms``: the largest): the
machine's speed drifts between one server's turn and the other's, and a single round at
one client lasts under a second.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PHASES = ("create", "get", "metric", "latest")
GOALS = {"throughput_ratio": 3.0, "write_p99_ms_at_8": 100.0, "idle_rss_mib": 150.0}
QUIET = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


# -- servers ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += next(int(x.split()[1]) * 1024 for x in status.splitlines() if x[:6] == "VmRSS:")
        todo += [int(c) for c in children]
    return total


@contextmanager
def running(command: list[str], url: str, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server and wait until ``url`` answers; stop it afterwards."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError as error:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                err = proc.stderr.read().decode() if proc.stderr else ""
                message = f"server did not start: {' '.join(command)}\n{err[-2000:]}"
                raise SystemExit(message) from error
            time.sleep(0.2)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def modelreg_server(work: Path) -> tuple[list[str], str, dict[str, str], str]:
    modelreg = str(Path(sys.executable).parent / "modelreg")
    registry = f"sqlite:///{work / 'modelreg.db'}"
    subprocess.run(
        [modelreg, "--registry", registry, "settings", "grant", "bench", "maintainer"],
        check=True,
        capture_output=True,
    )
    token = subprocess.run(
        [modelreg, "--registry", registry, "token", "create", "--user", "bench"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    command = [
        modelreg,
        "serve",
        "--registry",
        registry,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    url = f"http://127.0.0.1:{port}"
    return command, url, {**os.environ, **QUIET}, token


def mlflow_server(work: Path, mlflow: str) -> tuple[list[str], str, dict[str, str], str]:
    port = free_port()
    command = [
        mlflow,
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{work / 'mlflow.db'}",
        "--artifacts-destination",
        str(work / "mlartifacts"),
    ]
    return command, f"http://127.0.0.1:{port}", {**os.environ, **QUIET}, ""


# -- clients ----------------------------------------------------------------------------


def client_main(
    kind: str,
    url: str,
    token: str,
    index: int,
    ops: int,
    mib: int,
    work: str,
    barrier: Any,
    out: Any,
) -> None:
    """One client process: every phase, timing each call; results go to ``out``."""
    os.environ.update(QUIET)
    if token:
        os.environ["MLFLOW_TRACKING_TOKEN"] = token
    import logging
    import warnings

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.simplefilter("ignore", FutureWarning)  # get_latest_versions is deprecated
    client = mlflow.MlflowClient(tracking_uri=url, registry_uri=url)
    name = f"bench-{index}-{os.getpid()}"
    client.create_registered_model(name)
    if kind == "mlflow":
        experiment = client.create_experiment(f"exp-{index}-{os.getpid()}")
    client.get_registered_model(name)  # warm up: imports and the HTTP session, untimed
    client.search_registered_models(max_results=1)
    warm_up(client, kind, name, experiment if kind == "mlflow" else "")
    timings: dict[str, list[float]] = {p: [] for p in (*PHASES, "upload", "download")}
    versions: list[str] = []

    def timed(phase: str, call: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        result = call()
        timings[phase].append(time.perf_counter() - start)
        return result

    barrier.wait()
    for _ in range(ops):
        if kind == "mlflow":
            run = client.create_run(experiment)
            mv = timed(
                "create",
                lambda r=run: client.create_model_version(
                    name, r.info.artifact_uri, run_id=r.info.run_id
                ),
            )
        else:
            mv = timed("create", lambda: client.create_model_version(name, ""))
        versions.append(mv.version)
    run_id = mv.run_id
    if kind == "modelreg":
        client.set_terminated(run_id)  # publish: modelreg's latest is the highest ready
    barrier.wait()
    for i in range(ops):
        timed("get", lambda v=versions[i]: client.get_model_version(name, v))
    barrier.wait()
    for i in range(ops):
        timed("metric", lambda i=i: client.log_metric(run_id, "loss", 1.0 / (i + 1), step=i))
    barrier.wait()
    for _ in range(ops):
        timed("latest", lambda: client.get_latest_versions(name))
    if mib:
        if kind == "mlflow":
            run_id = client.create_run(experiment).info.run_id
        else:
            run_id = client.create_model_version(name, "").run_id
        path = Path(work) / f"artifact-{index}.bin"
        with path.open("wb") as f:
            f.truncate(mib * 1024 * 1024)
        barrier.wait()
        timed("upload", lambda: client.log_artifact(run_id, str(path)))
        barrier.wait()
        dest = Path(work) / f"down-{index}"
        timed("download", lambda: client.download_artifacts(run_id, path.name, str(dest)))
        path.unlink()
        shutil.rmtree(dest, ignore_errors=True)
    out.put(timings)


def warm_up(client: Any, kind: str, name: str, experiment: str) -> None:
    """One untimed call of each timed phase (on a version of its own)."""
    if kind == "mlflow":
        run = client.create_run(experiment)
        mv = client.create_model_version(name, run.info.artifact_uri, run_id=run.info.run_id)
    else:
        mv = client.create_model_version(name, "")
    client.get_model_version(name, mv.version)
    client.log_metric(mv.run_id, "warm-up", 0.0, step=0)
    client.get_latest_versions(name)


def drive(
    kind: str, url: str, token: str, clients: int, ops: int, mib: int, work: Path
) -> dict[str, Any]:
    """Run ``clients`` processes through the phases; aggregate throughput and latency."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(clients + 1), ctx.Queue()
    procs = [
        ctx.Process(
            target=client_main, args=(kind, url, token, i, ops, mib, str(work), barrier, out)
        )
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    marks = []
    for _ in range(len(PHASES) + (2 if mib else 0)):
        barrier.wait(timeout=1800)
        marks.append(time.perf_counter())
    results = [out.get(timeout=1800) for _ in procs]
    marks.append(time.perf_counter())
    for p in procs:
        p.join()
    phases = [*PHASES, *(("upload", "download") if mib else ())]
    summary: dict[str, Any] = {}
    for i, phase in enumerate(phases):
        samples = sorted(t for r in results for t in r[phase])
        wall = marks[i + 1] - marks[i]
        summary[phase] = {
            "ops_per_s": len(samples) / wall,
            "p50_ms": 1000 * statistics.median(samples),
            "p99_ms": 1000 * samples[min(len(samples) - 1, int(0.99 * len(samples)))],
            "max_ms": 1000 * samples[-1],
        }
        if phase in ("upload", "download"):
            summary[phase]["mib_per_s"] = clients * mib / wall
    return summary


def peak_during_upload(url: str, token: str, pid: int, mib: int, work: Path) -> dict[str, int]:
    """The server tree's RSS before and at its peak while one ``mib`` file goes up."""
    os.environ.update(QUIET)
    os.environ["MLFLOW_TRACKING_TOKEN"] = token
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    client = mlflow.MlflowClient(tracking_uri=url, registry_uri=url)
    client.create_registered_model("big")
    run_id = client.create_model_version("big", "").run_id
    path = work / "big.bin"
    with path.open("wb") as f:
        f.truncate(mib * 1024 * 1024)
    before, peak, done = tree_rss(pid), 0, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    client.log_artifact(run_id, str(path))
    done.set()
    sampler.join()
    path.unlink()
    return {"before": before, "peak": peak}


# -- report -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,4,8", help="client counts, e.g. 1,4,8")
    parser.add_argument("--ops", type=int, default=100, help="calls per client per phase")
    parser.add_argument("--artifact-mib", type=int, default=100, help="0 skips artifacts")
    parser.add_argument("--big-mib", type=int, default=1024, help="RSS check upload; 0 skips")
    parser.add_argument(
        "--mlflow",
        default="",
        help="the mlflow command of a full mlflow install (a venv of its own)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds per client count; figures are medians"
    )
    parser.add_argument("--json", type=Path, help="also write the JSON document here")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.clients.split(",")]
    report: dict[str, Any] = {
        "clients": counts,
        "ops": args.ops,
        "rounds": args.rounds,
        "servers": {},
    }
    servers = {"modelreg": modelreg_server}
    if args.mlflow:
        servers["mlflow"] = lambda w: mlflow_server(w, args.mlflow)  # type: ignore[assignment]
    else:
        print("no mlflow command (--mlflow): measuring modelreg alone", file=sys.stderr)
    works = {kind: Path(tempfile.mkdtemp(prefix=f"vs-mlflow-{kind}-")) for kind in servers}
    try:
        setups = {kind: make(works[kind]) for kind, make in servers.items()}
        rounds: dict[tuple[str, int], list[dict[str, Any]]] = {}
        turn = 0
        for n in counts:
            for r in range(args.rounds):
                kinds = list(servers) if turn % 2 == 0 else list(reversed(servers))
                turn += 1
                for kind in kinds:
                    figures = report["servers"].setdefault(kind, {"runs": {}})
                    command, url, env, token = setups[kind]
                    with running(command, url + "/health", env) as proc:
                        if "idle_rss" not in figures:
                            time.sleep(2)
                            figures["idle_rss"] = tree_rss(proc.pid)
                        print(f"{kind}: {n} client(s), round {r + 1}", file=sys.stderr)
                        rounds.setdefault((kind, n), []).append(
                            drive(kind, url, token, n, args.ops, args.artifact_mib, works[kind])
                        )
                        if kind == "modelreg" and args.big_mib and n == counts[-1] and r == 0:
                            figures["big_upload"] = peak_during_upload(
                                url, token, proc.pid, args.big_mib, works[kind]
                            )
        for (kind, n), summaries in rounds.items():
            report["servers"][kind]["runs"][n] = median_of(summaries)
            report["servers"][kind].setdefault("rounds", {})[n] = summaries
    finally:
        for work in works.values():
            shutil.rmtree(work, ignore_errors=True)
    print_report(report)
    text = json.dumps(report, indent=2, sort_keys=True)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


def median_of(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per phase, the median of each figure over the rounds (``max_ms``: the largest)."""
    merged: dict[str, Any] = {}
    for phase, first in summaries[0].items():
        merged[phase] = {
            figure: (max if figure == "max_ms" else statistics.median)(
                s[phase][figure] for s in summaries
            )
            for figure in first
        }
    return merged


def print_report(report: dict[str, Any]) -> None:
    servers = report["servers"]
    print("\n| server | clients | phase | ops/s | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|")
    for kind, figures in servers.items():
        for n, phases in figures["runs"].items():
            for phase, f in phases.items():
                rate = f"{f['ops_per_s']:.1f}" + (
                    f" ({f['mib_per_s']:.0f} MiB/s)" if "mib_per_s" in f else ""
                )
                print(
                    f"| {kind} | {n} | {phase} | {rate} | {f['p50_ms']:.1f} | {f['p99_ms']:.1f} "
                    f"| {f['max_ms']:.1f} |"
                )
    print()
    ours = servers["modelreg"]
    print(
        f"modelreg idle RSS: {ours['idle_rss'] / 2**20:.0f} MiB "
        f"(goal < {GOALS['idle_rss_mib']:.0f})"
    )
    if "big_upload" in ours:
        big = ours["big_upload"]
        print(
            f"modelreg RSS through the big upload: {big['before'] / 2**20:.0f} -> "
            f"{big['peak'] / 2**20:.0f} MiB peak"
        )
    writes = [ours["runs"][n]["create"]["p99_ms"] for n in ours["runs"] if int(n) == 8]
    if writes:
        verdict = "PASS" if writes[0] < GOALS["write_p99_ms_at_8"] else "FAIL"
        print(f"{verdict} write (create) p99 at 8 clients: {writes[0]:.1f} ms (goal < 100)")
    if "mlflow" in servers:
        theirs = servers["mlflow"]
        print(f"mlflow idle RSS: {theirs['idle_rss'] / 2**20:.0f} MiB")
        for n in ours["runs"]:
            for phase in ("create", "get"):
                ratio = ours["runs"][n][phase]["ops_per_s"] / theirs["runs"][n][phase]["ops_per_s"]
                verdict = "PASS" if ratio >= GOALS["throughput_ratio"] else "FAIL"
                each = [
                    f"{a[phase]['ops_per_s'] / b[phase]['ops_per_s']:.1f}x"
                    for a, b in zip(ours["rounds"][n], theirs["rounds"][n], strict=True)
                ]
                print(
                    f"{verdict} {phase} throughput at {n} clients: {ratio:.1f}x MLflow "
                    f"(goal 3x; rounds: {', '.join(each)})"
                )


if __name__ == "__main__":
    raise SystemExit(main())
