"""The stock MLflow client against ``modelreg serve`` and ``mlflow server``, side by side.

    python benchmarks/vs_mlflow_server.py --clients 1,4,8 --ops 100 --artifact-mib 100 \\
        --mlflow /path/to/venv-with-mlflow/bin/mlflow [--relaxed] --json vs_mlflow.json

Both servers run on this machine over SQLite as shipped (``modelreg serve --registry
sqlite:///...`` and ``mlflow server --workers 1 --backend-store-uri sqlite:///...``), and
both are durable that way: modelreg's file runs WAL with ``synchronous=FULL``, MLflow's
keeps SQLite's defaults (rollback journal, ``synchronous=FULL``). After the run each
server's settings are read back on a connection that the server's own store code opens on
its file (`durability`) and printed. ``--relaxed`` adds a third server, ``modelreg serve``
on ``?synchronous=normal`` (not durable), labelled so and in no goal. For each client
count N, N client processes run the same phases in lockstep (a barrier between phases):

* ``create``  create-to-READY of a version with 2 tags (`TAGS`): MLflow
  ``create_model_version(..., tags=...)``, READY on return, on a run made beforehand
  (untimed, outside the phase); modelreg ``create_model_version(..., tags=...)`` with the
  tag ``modelreg.state=ready`` as well, which publishes the version in the same request
  (without it the version is a draft, its own run, published when the run ends). After
  the phases each client checks its model (untimed): every version READY (modelreg: its
  ``modelreg.state`` tag ``ready``) with exactly those tags.
* ``get``     ``get_model_version``
* ``metric``  ``log_metric`` on the client's run
* ``latest``  ``get_latest_versions`` (modelreg: the highest ready version)
* ``upload`` / ``download``  one ``--artifact-mib`` file per client through the proxied
  artifact API (``log_artifact`` / ``download_artifacts``)

* ``runflow`` (``--run-flows`` per client, 0 skips it) the everyday training script, on
  the fluent API: start a run, 10 ``log_param``, 100 ``log_metric`` (one per step), one
  ``--flow-mib`` file with ``log_artifact``, and ``pyfunc.log_model`` with
  ``registered_model_name`` (``pip_requirements`` given, so the client does not infer
  them). The version is READY when ``log_model`` returns on both servers: MLflow's
  registration points at the logged model's files, modelreg's promotes the run (its files
  become a sealed version, each SHA-256 checked). Each client checks (untimed) that its
  model has a READY version per flow.

and the script reports operations/s over all clients (calls / wall time between the
phase's barriers) and the p50/p99 (and max) latency per phase, the servers' idle RSS
(whole process tree), the modelreg server's peak RSS during a ``--big-mib`` upload, and
the goals as PASS/FAIL. modelreg callers authenticate with a token; MLflow runs without
auth. This is a benchmark, not a test: it prints figures and ratios from one run.

To keep a shared, noisy machine from favouring either side: the servers take turns, one
client count at a time (the others stopped: an idle ``mlflow server`` still burns a fifth
of a core in its job runner), and which goes first rotates; each client makes one untimed
call of every phase before the first barrier (first-call imports and code generation on
either side stay out of the figures); MLflow's usage telemetry is off in the clients and
in ``mlflow server`` (its threads poll, and try to reach a network this machine may not
have). With ``--ops 50`` the p99 of one client is its slowest call. ``--rounds R`` repeats
each client count R times, the order of the servers rotating, and reports the median of
each figure over the rounds (``max_ms``: the largest): the machine's speed drifts between
one server's turn and the other's, and a single round at one client lasts under a second.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
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
from functools import partial
from pathlib import Path
from typing import Any

PHASES = ("create", "get", "metric", "latest")
FLOW_PARAMS, FLOW_METRICS = 10, 100
TAGS = {"framework": "sklearn", "team": "fraud"}  # each version is created with these two
STATE_TAG = "modelreg.state"  # registry_server.mapping.STATE_TAG: a version's real state
DURABLE = "durable by default"  # the issue "Durable by default, and the fastest registry ..."
#: The servers, in the order of the report; the last one only with --relaxed.
LABELS = {
    "modelreg": "modelreg serve",
    "mlflow": "mlflow server",
    "modelreg-relaxed": "modelreg serve ?synchronous=normal (NOT durable)",
}
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


@dataclasses.dataclass(frozen=True)
class Server:
    """How to start one server, reach it, and find its database."""

    command: list[str]
    url: str
    env: dict[str, str]
    token: str  # "" for MLflow (no auth)
    database: str  # its SQLite URL, for reading its durability back


def modelreg_server(work: Path, synchronous: str = "") -> Server:
    """``modelreg serve`` on a SQLite file as shipped (durable), or with ``?synchronous=``."""
    modelreg = str(Path(sys.executable).parent / "modelreg")
    registry = f"sqlite:///{work / 'modelreg.db'}"
    if synchronous:
        registry += f"?synchronous={synchronous}"
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
    return Server(command, f"http://127.0.0.1:{port}", {**os.environ, **QUIET}, token, registry)


def mlflow_server(work: Path, mlflow: str) -> Server:
    """``mlflow server`` on its default store kind, a SQLite file with SQLite's defaults."""
    port = free_port()
    database = f"sqlite:///{work / 'mlflow.db'}"
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
        database,
        "--artifacts-destination",
        str(work / "mlartifacts"),
    ]
    return Server(command, f"http://127.0.0.1:{port}", {**os.environ, **QUIET}, "", database)


#: Run by the MLflow install's own interpreter: a connection opened by the store code
#: ``mlflow server`` runs, on its database; `read_durability` of vs_mlflow.py reads it.
MLFLOW_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[2])
from vs_mlflow import read_durability
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore
print(json.dumps(read_durability(SqlAlchemyStore(sys.argv[1]).engine)))
"""


def durability(kind: str, server: Server, mlflow: str) -> dict[str, Any]:
    """The server's database settings (``PRAGMA journal_mode``, ``PRAGMA synchronous``),
    read after its run on a connection opened by the code the server runs, on the same URL
    (a server's own connections cannot be asked from outside; WAL is kept in the file,
    ``synchronous`` is set per connection by that code)."""
    if kind == "mlflow":
        interpreter = Path(mlflow).read_text().splitlines()[0].removeprefix("#!").strip()
        here = str(Path(__file__).resolve().parent)
        found = subprocess.run(
            [interpreter, "-c", MLFLOW_PROBE, server.database, here],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, **QUIET},
        )
        return dict(json.loads(found.stdout.strip().splitlines()[-1]))
    from vs_mlflow import read_durability

    from registry_backends.sql import open_sql

    repo = open_sql(server.database)
    try:
        return read_durability(repo.engine)
    finally:
        repo.close()


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
    flows: tuple[int, int] = (0, 0),
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
    timings: dict[str, list[float]] = {p: [] for p in (*PHASES, "upload", "download", "runflow")}
    versions: list[str] = []
    # MLflow's versions point at runs made beforehand, outside the timed phase (a modelreg
    # version is its own run, made by its create).
    runs = [client.create_run(experiment) for _ in range(ops)] if kind == "mlflow" else []

    def timed(phase: str, call: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        result = call()
        timings[phase].append(time.perf_counter() - start)
        return result

    barrier.wait()
    for i in range(ops):
        mv = timed("create", partial(create_to_ready, client, kind, name, runs[i : i + 1]))
        versions.append(mv.version)
    run_id = mv.run_id
    barrier.wait()
    for i in range(ops):
        timed("get", partial(client.get_model_version, name, versions[i]))
    barrier.wait()
    for i in range(ops):
        timed("metric", partial(client.log_metric, run_id, "loss", 1.0 / (i + 1), step=i))
    barrier.wait()
    for _ in range(ops):
        timed("latest", lambda: client.get_latest_versions(name))
    barrier.wait()  # the end of the timed phases; the check below is not timed
    end_state = check_end_state(client, name)
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
        barrier.wait()
        path.unlink()
        shutil.rmtree(dest, ignore_errors=True)
    flow_state: dict[str, int] = {}
    count, flow_mib = flows
    if count:
        os.environ["MLFLOW_TRACKING_URI"] = url
        flow = RunFlow(f"flow-exp-{index}-{os.getpid()}", f"flow-{index}-{os.getpid()}")
        flow.prepare(Path(work) / f"flow-{index}.bin", flow_mib)
        flow.run()  # untimed: imports and first calls
        barrier.wait()
        for _ in range(count):
            timed("runflow", flow.run)
        barrier.wait()
        flow_state = flow.check(client)
        flow.blob.unlink()
    out.put({"timings": timings, "end_state": end_state, "flow_state": flow_state})


class RunFlow:
    """The everyday training script against the tracking URI in the environment."""

    def __init__(self, experiment: str, model: str) -> None:
        import logging

        import mlflow
        import mlflow.pyfunc

        logging.getLogger("mlflow").setLevel(logging.ERROR)  # a warning per log_model
        self.mlflow = mlflow
        self.model = model
        self.blob = Path()
        mlflow.set_experiment(experiment)

    def prepare(self, blob: Path, mib: int) -> None:
        self.blob = blob
        with blob.open("wb") as f:
            f.write(os.urandom(mib * 1024 * 1024))

    def run(self) -> None:
        mlflow = self.mlflow
        with mlflow.start_run():
            for k in range(FLOW_PARAMS):
                mlflow.log_param(f"param_{k}", k)
            for step in range(FLOW_METRICS):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.log_artifact(str(self.blob), "data")
            # the registration prints two lines to stderr ("Successfully registered ...")
            with contextlib.redirect_stderr(io.StringIO()):
                mlflow.pyfunc.log_model(
                    name="model",
                    python_model=make_doubler(),
                    registered_model_name=self.model,
                    pip_requirements=["mlflow"],
                )

    def check(self, client: Any) -> dict[str, int]:
        """The flows' versions, and the READY ones (modelreg: its state tag ``ready``)."""
        found = client.search_model_versions(f"name='{self.model}'", max_results=10_000)
        ready = [
            mv
            for mv in found
            if mv.status == "READY" and mv.tags.get(STATE_TAG, "ready") == "ready"
        ]
        return {"versions": len(found), "ready": len(ready)}


def make_doubler() -> Any:
    """The smallest model (defined here: mlflow is imported only by the clients)."""
    import mlflow.pyfunc

    class Doubler(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: Any, model_input: list[float]) -> list[float]:
            return [2 * x for x in model_input]

    return Doubler()


def create_to_ready(client: Any, kind: str, name: str, run: list[Any]) -> Any:
    """A version with the 2 `TAGS`, READY: MLflow's create answers with a READY version (on
    ``run``, made beforehand); modelreg's create with the tag ``modelreg.state=ready``
    publishes the version in the same request (the tag is not stored)."""
    if kind == "mlflow":
        info = run[0].info
        return client.create_model_version(name, info.artifact_uri, run_id=info.run_id, tags=TAGS)
    return client.create_model_version(name, "", tags={**TAGS, STATE_TAG: "ready"})


def check_end_state(client: Any, name: str) -> dict[str, int]:
    """Versions of ``name``, READY ones, and READY ones whose tags are exactly `TAGS`.
    modelreg shows every version's state in the tag `STATE_TAG` (its ``status`` is READY
    for drafts too, as GitLab's), so a version counts as READY only with that tag
    ``ready``, or without it (MLflow)."""
    found = client.search_model_versions(f"name='{name}'", max_results=10_000)
    ready = [
        mv for mv in found if mv.status == "READY" and mv.tags.get(STATE_TAG, "ready") == "ready"
    ]
    tagged = [mv for mv in ready if {k: v for k, v in mv.tags.items() if k != STATE_TAG} == TAGS]
    return {"versions": len(found), "ready": len(ready), "ready_with_tags": len(tagged)}


def warm_up(client: Any, kind: str, name: str, experiment: str) -> None:
    """One untimed call of each timed phase (on a version of its own)."""
    run = [client.create_run(experiment)] if kind == "mlflow" else []
    mv = create_to_ready(client, kind, name, run)
    client.get_model_version(name, mv.version)
    client.log_metric(mv.run_id, "warm-up", 0.0, step=0)
    client.get_latest_versions(name)


def drive(
    kind: str,
    url: str,
    token: str,
    clients: int,
    ops: int,
    mib: int,
    work: Path,
    flows: tuple[int, int] = (0, 0),
) -> dict[str, Any]:
    """Run ``clients`` processes through the phases; aggregate throughput and latency."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(clients + 1), ctx.Queue()
    procs = [
        ctx.Process(
            target=client_main,
            args=(kind, url, token, i, ops, mib, str(work), barrier, out, flows),
        )
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    # Barriers: the start of each of PHASES and the end of the last; with artifacts, the
    # start of the upload, of the download and the end of the download.
    marks = []
    for _ in range(len(PHASES) + 1 + (3 if mib else 0) + (2 if flows[0] else 0)):
        barrier.wait(timeout=1800)
        marks.append(time.perf_counter())
    results = [out.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join()
    spans = {phase: (i, i + 1) for i, phase in enumerate(PHASES)}
    if mib:
        first = len(PHASES) + 1
        spans.update(upload=(first, first + 1), download=(first + 1, first + 2))
    if flows[0]:
        spans["runflow"] = (len(marks) - 2, len(marks) - 1)
    phases: dict[str, Any] = {}
    for phase, (start, stop) in spans.items():
        samples = sorted(t for r in results for t in r["timings"][phase])
        wall = marks[stop] - marks[start]
        phases[phase] = {
            "ops_per_s": len(samples) / wall,
            "p50_ms": 1000 * statistics.median(samples),
            "p99_ms": 1000 * samples[min(len(samples) - 1, int(0.99 * len(samples)))],
            "max_ms": 1000 * samples[-1],
        }
        if phase in ("upload", "download"):
            phases[phase]["mib_per_s"] = clients * mib / wall
    keys = ("versions", "ready", "ready_with_tags")
    end_state = {key: sum(r["end_state"][key] for r in results) for key in keys}
    flow_state = {
        key: sum(r["flow_state"].get(key, 0) for r in results) for key in ("versions", "ready")
    }
    return {"phases": phases, "end_state": end_state, "flow_state": flow_state}


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
        "--run-flows", type=int, default=5, help="training-script runs per client; 0 skips"
    )
    parser.add_argument("--flow-mib", type=int, default=10, help="the run's artifact, MiB")
    parser.add_argument(
        "--mlflow",
        default="",
        help="the mlflow command of a full mlflow install (a venv of its own)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds per client count; figures are medians"
    )
    parser.add_argument(
        "--relaxed",
        action="store_true",
        help="also run modelreg serve on ?synchronous=normal (not durable), apart from goals",
    )
    parser.add_argument("--json", type=Path, help="also write the JSON document here")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.clients.split(",")]
    report: dict[str, Any] = {
        "clients": counts,
        "ops": args.ops,
        "run_flows": args.run_flows,
        "rounds": args.rounds,
        "tags": TAGS,
        "servers": {},
    }
    servers: dict[str, Callable[[Path], Server]] = {"modelreg": modelreg_server}
    if args.mlflow:
        servers["mlflow"] = lambda w: mlflow_server(w, args.mlflow)
    else:
        print("no mlflow command (--mlflow): measuring modelreg alone", file=sys.stderr)
    if args.relaxed:
        servers["modelreg-relaxed"] = lambda w: modelreg_server(w, "normal")
    works = {kind: Path(tempfile.mkdtemp(prefix=f"vs-mlflow-{kind}-")) for kind in servers}
    try:
        setups = {kind: make(works[kind]) for kind, make in servers.items()}
        rounds = run_rounds(setups, works, counts, args, report)
        for (kind, n), summaries in rounds.items():
            figures = report["servers"][kind]
            figures["runs"][n] = median_of([s["phases"] for s in summaries])
            figures.setdefault("rounds", {})[n] = [s["phases"] for s in summaries]
            figures.setdefault("end_state", {})[n] = [s["end_state"] for s in summaries]
            figures.setdefault("flow_state", {})[n] = [s["flow_state"] for s in summaries]
        for kind, server in setups.items():
            report["servers"][kind]["durability"] = durability(kind, server, args.mlflow)
    finally:
        for work in works.values():
            shutil.rmtree(work, ignore_errors=True)
    report["goals"] = goals_of(report)
    print_report(report)
    text = json.dumps(report, indent=2, sort_keys=True)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if all(g["verdict"] != "FAIL" for g in report["goals"]) else 1


def run_rounds(
    setups: dict[str, Server],
    works: dict[str, Path],
    counts: list[int],
    args: argparse.Namespace,
    report: dict[str, Any],
) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Every client count, ``--rounds`` times, on each server in turn (the first rotating)."""
    rounds: dict[tuple[str, int], list[dict[str, Any]]] = {}
    order, turn = list(setups), 0
    for n in counts:
        for r in range(args.rounds):
            k = turn % len(order)
            turn += 1
            for kind in order[k:] + order[:k]:
                figures = report["servers"].setdefault(kind, {"runs": {}})
                server = setups[kind]
                with running(server.command, server.url + "/health", server.env) as proc:
                    if "idle_rss" not in figures:
                        time.sleep(2)
                        figures["idle_rss"] = tree_rss(proc.pid)
                    print(f"{kind}: {n} client(s), round {r + 1}", file=sys.stderr)
                    summary = drive(
                        kind,
                        server.url,
                        server.token,
                        n,
                        args.ops,
                        args.artifact_mib,
                        works[kind],
                        (args.run_flows, args.flow_mib),
                    )
                    rounds.setdefault((kind, n), []).append(summary)
                    if kind == "modelreg" and args.big_mib and n == counts[-1] and r == 0:
                        figures["big_upload"] = peak_during_upload(
                            server.url, server.token, proc.pid, args.big_mib, works[kind]
                        )
    return rounds


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


def goals_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The goals on modelreg as shipped (durable), each PASS, FAIL or n/a."""
    servers, ops = report["servers"], report["ops"]
    ours, theirs = servers["modelreg"], servers.get("mlflow")
    goals: list[dict[str, Any]] = []

    def add(text: str, source: str, measured: Any, ok: bool | None) -> None:
        verdict = "n/a" if ok is None else ("PASS" if ok else "FAIL")
        goals.append({"text": text, "source": source, "measured": measured, "verdict": verdict})

    def ratio(n: int, phase: str) -> float:
        return float(ours["runs"][n][phase]["ops_per_s"] / theirs["runs"][n][phase]["ops_per_s"])

    sides = {kind: servers[kind] for kind in ("modelreg", "mlflow") if kind in servers}
    if theirs is not None:
        durable = {kind: figures["durability"]["durable"] for kind, figures in sides.items()}
        add(
            "equal durability, both servers as shipped",
            DURABLE,
            ", ".join(f"{kind} durable={value}" for kind, value in durable.items()),
            len(set(durable.values())) == 1,
        )
    wrong = [
        f"{kind} at {n} clients: {state}"
        for kind, figures in sides.items()
        for n, states in figures["end_state"].items()
        for state in states
        if set(state.values()) != {n * (ops + 1)}
    ]
    add(
        f"same end state: every version READY with the {len(TAGS)} tags",
        DURABLE,
        "; ".join(wrong) or "yes, on both",
        not wrong,
    )
    for n in report["clients"]:
        create = ratio(n, "create") if theirs is not None else None
        add(
            f"create-to-READY throughput >= 3x MLflow at {n} client(s)",
            DURABLE,
            create,
            None if create is None or n not in (1, 4, 8) else create >= 3 and not wrong,
        )
    flows = report.get("run_flows", 0)
    if flows:
        unready = [
            f"{kind} at {n} clients: {state}"
            for kind, figures in sides.items()
            for n, states in figures["flow_state"].items()
            for state in states
            if set(state.values()) != {n * (flows + 1)}
        ]
        add(
            "same end state of the run flows: a READY version per flow",
            "issue 14",
            "; ".join(unready) or "yes, on both",
            not unready,
        )
        for n in report["clients"]:
            flow = ratio(n, "runflow") if theirs is not None else None
            add(
                f"run flow throughput >= 3x MLflow at {n} client(s)",
                "issue 14",
                flow,
                None if flow is None or n not in (1, 4, 8) else flow >= 3 and not unready,
            )
    for n in report["clients"]:
        get = ratio(n, "get") if theirs is not None else None
        add(f"get throughput >= 3x MLflow at {n} client(s)", "issue 6", get, _at_least(get, 3))
    p99 = ours["runs"].get(8, {}).get("create", {}).get("p99_ms")
    write = None if p99 is None else p99 < 100
    add("create-to-READY p99 < 100 ms at 8 clients", DURABLE, p99, write)
    rss = ours["idle_rss"] / 2**20
    add("idle server RSS < 150 MiB", "issue 6", rss, rss < 150)
    return goals


def _at_least(value: float | None, target: float) -> bool | None:
    return None if value is None else value >= target


def print_report(report: dict[str, Any]) -> None:
    servers = report["servers"]
    print("\ndurability (read back after the run, see `durability`):")
    for kind, figures in servers.items():
        found = figures["durability"]
        settings = ", ".join(f"{k}={v}" for k, v in found.items() if k != "durable")
        verdict = "durable" if found["durable"] else "NOT durable (a power loss can lose commits)"
        print(f"  {LABELS[kind]:<50} {settings}: {verdict}")
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
    if "mlflow" in servers:
        print_ratios(report)
    print()
    ours = servers["modelreg"]
    for kind, figures in servers.items():
        print(f"{LABELS[kind]} idle RSS: {figures['idle_rss'] / 2**20:.0f} MiB")
    if "big_upload" in ours:
        big = ours["big_upload"]
        print(
            f"modelreg RSS through the big upload: {big['before'] / 2**20:.0f} -> "
            f"{big['peak'] / 2**20:.0f} MiB peak"
        )
    print("\ngoals (modelreg serve as shipped, durable):")
    for g in report["goals"]:
        measured = g["measured"]
        shown = f"{measured:,.2f}" if isinstance(measured, float) else str(measured or "-")
        print(f"  {g['verdict']:<4} {g['text']} [{g['source']}]: {shown}")


def print_ratios(report: dict[str, Any]) -> None:
    """Per client count and phase: each modelreg server's ops/s over MLflow's, the median
    over the rounds and each round's."""
    servers = report["servers"]
    theirs = servers["mlflow"]
    mine = [kind for kind in servers if kind != "mlflow"]
    heads = "".join(f" {kind} ops/s | x |" for kind in mine)
    print(f"\n| clients | phase | MLflow ops/s |{heads}")
    print("|---|---|---|" + "---|---|" * len(mine))
    for n, phases in theirs["runs"].items():
        for phase, f in phases.items():
            cells: list[str] = []
            for kind in mine:
                ours = servers[kind]["runs"][n][phase]["ops_per_s"]
                each = [
                    f"{a[phase]['ops_per_s'] / b[phase]['ops_per_s']:.1f}"
                    for a, b in zip(servers[kind]["rounds"][n], theirs["rounds"][n], strict=True)
                ]
                cells.append(
                    f"{ours:.1f} | {ours / f['ops_per_s']:.1f}x (rounds {', '.join(each)})"
                )
            print(f"| {n} | {phase} | {f['ops_per_s']:.1f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
