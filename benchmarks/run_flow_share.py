"""Where the run flow's time goes at one client: the server's share, and what is left.

    python benchmarks/run_flow_share.py --flows 8 [--mlflow /path/to/venv/bin/mlflow]

``vs_mlflow_server.py`` times the everyday training script (its `RunFlow`: start a run,
10 ``log_param``, 100 ``log_metric``, a 10 MiB ``log_artifact``, ``pyfunc.log_model`` with
registration) against both servers. This script says how much of modelreg's flow is
modelreg's own doing. It serves modelreg as ``modelreg serve`` does (`create_app` over a
SQLite file, durable as shipped, under uvicorn with httptools) in a child process, with a
timer around the app that adds up each request's time inside it, by call; runs the flow
``--flows`` times with the stock client in another child (one untimed flow first); and
prints:

* the flow's p50 and mean, and the server's time per flow, by call (mean over the flows),
* what is left: the client's own work (the MLflow client, ``requests``, pickling the
  model), the transport, and uvicorn's parsing outside the app,
* the raw HTTP round trip of one ``log-metric`` (``http.client``, keep-alive), p50,

and with ``--mlflow`` the same flows against ``mlflow server`` (as ``vs_mlflow_server.py``
starts it), then the ratio now (MLflow's mean flow / modelreg's) and its **ceiling**:
MLflow's flow over what is left of modelreg's once its server time is taken away, the
ratio a modelreg server that answered in no time at all would reach. The servers take
turns (modelreg, MLflow, modelreg, MLflow; ``--rounds``), and the figures are the means
over the rounds. A benchmark, not a test: it prints figures from one run.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import vs_mlflow_server as vs  # the flow and the servers, as the comparison runs them

#: Run by a child interpreter: modelreg's app with a per-call timer; SIGUSR1 starts the
#: tally afresh, SIGTERM writes it to argv[3] as JSON and ends the process.
TIMED_SERVER = """
import collections, json, os, signal, sys, time
import uvicorn
from registry_backends import open_registry
from registry_server import create_app

app = create_app(open_registry(sys.argv[1]))
tally = collections.defaultdict(lambda: [0, 0.0])

def call_of(scope):
    path = scope["path"]
    if "/mlflow-artifacts/" in path:
        return scope["method"] + " artifact"
    parts = path.split("/")
    if "logged-models" in parts:  # /logged-models/<id>[/...]: the id is no call of its own
        at = parts.index("logged-models")
        named = ["<id>"] if len(parts) > at + 1 else []
        path = "/".join(parts[: at + 1] + named + parts[at + 2 :])
    return scope["method"] + " " + path.replace("/api/2.0/mlflow", "")

async def timed(scope, receive, send):
    if scope["type"] != "http":
        return await app(scope, receive, send)
    start = time.perf_counter()
    try:
        await app(scope, receive, send)
    finally:
        entry = tally[call_of(scope)]
        entry[0] += 1
        entry[1] += time.perf_counter() - start

def stop(*_):
    with open(sys.argv[3], "w") as f:
        json.dump(tally, f)
    os._exit(0)

signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGUSR1, lambda *_: tally.clear())
uvicorn.run(timed, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", lifespan="off")
"""


def flows_main(url: str, token: str, count: int, work: str, out: str, server_pid: int) -> None:
    """The client child: one untimed flow, then ``count`` timed ones; seconds to ``out``.
    After the untimed flow, a ``server_pid`` other than 0 gets SIGUSR1 (a fresh tally)."""
    os.environ.update(vs.QUIET)
    os.environ["MLFLOW_TRACKING_URI"] = url
    if token:
        os.environ["MLFLOW_TRACKING_TOKEN"] = token
    import logging
    import warnings

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    flow = vs.RunFlow("share", f"share-{os.getpid()}")
    flow.prepare(Path(work) / "flow.bin", 10)
    flow.run()
    if server_pid:
        os.kill(server_pid, signal.SIGUSR1)
        time.sleep(0.2)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        flow.run()
        times.append(time.perf_counter() - start)
    Path(out).write_text(json.dumps(times))


def run_flows(server: vs.Server, count: int, work: Path, server_pid: int = 0) -> list[float]:
    out = work / "flows.json"
    command = [sys.executable, __file__, "--client", server.url, server.token, str(count)]
    command += [str(work), str(out), str(server_pid)]
    subprocess.run(command, check=True, env=server.env)
    return list(json.loads(out.read_text()))


def raw_log_metric(server: vs.Server, calls: int) -> float:
    """p50 seconds of one ``log-metric`` over a kept-alive connection."""
    host, port = server.url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port))
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {server.token}"}

    def call(path: str, body: dict[str, Any]) -> Any:
        conn.request("POST", "/api/2.0/mlflow/" + path, json.dumps(body), headers)
        answer = conn.getresponse()
        data = answer.read()
        assert answer.status == 200, data
        return json.loads(data)

    experiment = call("experiments/create", {"name": f"raw-{os.getpid()}"})["experiment_id"]
    run = call("runs/create", {"experiment_id": experiment, "start_time": 1})["run"]["info"]
    point = {"run_id": run["run_id"], "key": "loss", "value": 0.5, "timestamp": 1}
    times = []
    for step in range(calls + 50):
        start = time.perf_counter()
        call("runs/log-metric", {**point, "step": step})
        times.append(time.perf_counter() - start)
    conn.close()
    return statistics.median(times[50:])


def modelreg_round(count: int, work: Path) -> dict[str, Any]:
    made = vs.modelreg_server(work)  # its database, user and token; served below instead
    port = made.command[made.command.index("--port") + 1]
    tally_file = work / "tally.json"
    command = [sys.executable, "-c", TIMED_SERVER, made.database, port, str(tally_file)]
    server = vs.Server(command, made.url, made.env, made.token, made.database)
    with vs.running(command, made.url + "/health", made.env) as proc:
        raw = raw_log_metric(server, 500)
        flows = run_flows(server, count, work, proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    tally = json.loads(tally_file.read_text())
    per_flow = {
        call: (n / count, seconds / count)
        for call, (n, seconds) in tally.items()
        if call not in ("GET /health", "GET /api/3.0/mlflow/server-info")
    }
    return {"flows": flows, "server": per_flow, "raw_log_metric": raw}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=8, help="timed flows per round")
    parser.add_argument("--rounds", type=int, default=2, help="turns of each server")
    parser.add_argument("--mlflow", help="the mlflow command of a venv with mlflow installed")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args(argv)
    ours: list[dict[str, Any]] = []
    theirs: list[list[float]] = []
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            print(f"modelreg, round {round_ + 1}", file=sys.stderr)
            ours.append(modelreg_round(args.flows, Path(folder)))
        if args.mlflow:
            with tempfile.TemporaryDirectory() as folder:
                print(f"mlflow, round {round_ + 1}", file=sys.stderr)
                server = vs.mlflow_server(Path(folder), args.mlflow)
                with vs.running(server.command, server.url + "/health", server.env):
                    theirs.append(run_flows(server, args.flows, Path(folder)))
    report = summarize(ours, theirs)
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def summarize(ours: list[dict[str, Any]], theirs: list[list[float]]) -> dict[str, Any]:
    flows = [t for r in ours for t in r["flows"]]
    calls: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    for r in ours:
        for call, figures in r["server"].items():
            calls[call].append(figures)
    server = {
        call: {
            "per_flow": statistics.mean(f[0] for f in got),
            "ms_per_flow": 1000 * statistics.mean(f[1] for f in got),
        }
        for call, got in calls.items()
    }
    server_ms = sum(c["ms_per_flow"] for c in server.values())
    mean_ms = 1000 * statistics.mean(flows)
    report: dict[str, Any] = {
        "modelreg_flow_p50_ms": 1000 * statistics.median(flows),
        "modelreg_flow_mean_ms": mean_ms,
        "server_ms_per_flow": server_ms,
        "left_ms_per_flow": mean_ms - server_ms,
        "server_share": server_ms / mean_ms,
        "raw_log_metric_p50_ms": 1000 * statistics.median(r["raw_log_metric"] for r in ours),
        "server_by_call": dict(sorted(server.items(), key=lambda kv: -kv[1]["ms_per_flow"])),
    }
    if theirs:
        their_mean = 1000 * statistics.mean(t for r in theirs for t in r)
        report["mlflow_flow_p50_ms"] = 1000 * statistics.median(t for r in theirs for t in r)
        report["mlflow_flow_mean_ms"] = their_mean
        report["ratio"] = their_mean / mean_ms
        report["ratio_ceiling"] = their_mean / (mean_ms - server_ms)
    return report


def print_report(report: dict[str, Any]) -> None:
    print("| call | per flow | server ms per flow |")
    print("|---|---|---|")
    for call, figures in report["server_by_call"].items():
        print(f"| {call} | {figures['per_flow']:.1f} | {figures['ms_per_flow']:.1f} |")
    print()
    print(
        f"modelreg flow: p50 {report['modelreg_flow_p50_ms']:.0f} ms, mean "
        f"{report['modelreg_flow_mean_ms']:.0f} ms; the server's time in it "
        f"{report['server_ms_per_flow']:.0f} ms ({100 * report['server_share']:.0f}%); "
        f"left (client, transport, HTTP parsing) {report['left_ms_per_flow']:.0f} ms"
    )
    print(f"raw HTTP log-metric round trip: p50 {report['raw_log_metric_p50_ms']:.2f} ms")
    if "ratio" in report:
        print(
            f"mlflow flow: p50 {report['mlflow_flow_p50_ms']:.0f} ms, mean "
            f"{report['mlflow_flow_mean_ms']:.0f} ms; ratio now {report['ratio']:.2f}x; "
            f"ceiling with a server that took no time {report['ratio_ceiling']:.2f}x"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        url, token, count, work, out, pid = sys.argv[2:8]
        flows_main(url, token, int(count), work, out, int(pid))
        sys.exit(0)
    sys.exit(main())
