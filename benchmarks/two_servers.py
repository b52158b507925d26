"""One and two ``modelreg serve`` processes over PostgreSQL + S3: throughput, latency, CPU.

    two_servers.py [--servers 1,2] [--clients 8] [--ops 100] [--artifact-bytes 0]
                   [--calls 1|2] [--rounds 1] [--postgres-url URL] [--json FILE]

A team's layout on one machine: PostgreSQL for metadata (the server of ``--postgres-url``,
default ``$MODELREG_TEST_POSTGRES_URL``; the script makes a fresh database per measurement
and drops it), moto's S3 server for files (started by the script in a process of its own),
and 1 or 2 ``modelreg serve`` processes on the same URL (``...?artifacts=s3://...``),
the S3 endpoint and credentials in their environment, the schema made by ``modelreg db
upgrade`` first. ``--clients`` client processes (raw HTTP, keep-alive, a token each)
do create-to-READY over MLflow's REST API, each on a model of its own:

* without an artifact (``--calls 1``, the default): one ``POST model-versions/create``
  with two tags (no version tag: the next major) and the tag ``modelreg.state=ready``,
  which publishes the version in the same commit; the answer must say ``ready``;
* ``--calls 2``, or with ``--artifact-bytes N``: ``POST model-versions/create`` makes a
  draft (MLflow's status says ``READY`` for a draft too: the modelreg state is the tag
  ``modelreg.state``), then ``PUT`` one artifact of N random bytes into it when asked,
  then ``POST runs/update`` ``status=FINISHED`` publishes (seals) it.

With two servers, client ``i`` talks to server ``i % 2``. Each client makes one untimed
operation first. Figures: operations/s (all clients' operations over the wall time from
the first start to the last end), p50/p99/max latency of one whole operation, and where
the CPU went (``utime + stime`` from ``/proc/<pid>/stat`` before and after):

* each server process (uvicorn runs in the one process, threads included);
* PostgreSQL, two ways: the backends of the benchmark database's connections (found in
  ``pg_stat_activity`` every 0.25 s; a backend that exits between samples loses what it
  used since its last sample: the count of those is printed), and the whole cluster (the
  postmaster's own and reaped children's time plus every live child's: the WAL writer,
  checkpointer and autovacuum included, and anyone else's sessions on that server);
* the moto process, and the client processes (each reads its own ``/proc/self/stat``).

``--rounds R`` alternates the order of the configurations and reports each figure's median.
PostgreSQL keeps its durable default (``synchronous_commit=on``); nothing is tuned.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / sub) for sub in ("server", "backends", ".")]

from serve_processes import Rest, ServeProcess, s3_environment, tags  # noqa: E402

BUCKET = "modelreg-bench"
KEY, SECRET = "bench-key-id", "bench-secret"
TICK = os.sysconf("SC_CLK_TCK")
MODELREG = Path(sys.executable).parent / "modelreg"


# -- CPU from /proc ---------------------------------------------------------------------


def stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def cpu_seconds(pid: int, *, reaped: bool = False) -> float | None:
    """utime + stime of ``pid`` (plus its reaped children's with ``reaped``)."""
    fields = stat_fields(pid)
    if fields is None:
        return None
    used = int(fields[11]) + int(fields[12])
    if reaped:
        used += int(fields[13]) + int(fields[14])
    return used / TICK


def cluster_seconds(postmaster: int) -> float:
    """All CPU of a PostgreSQL cluster so far: the postmaster with its reaped children,
    and every live child."""
    total = cpu_seconds(postmaster, reaped=True) or 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == postmaster:
                total += (int(fields[11]) + int(fields[12])) / TICK
    return total


class BackendSampler:
    """The CPU of the backends serving one database, sampled from ``pg_stat_activity``."""

    def __init__(self, admin: Any, database: str) -> None:
        self._admin = admin
        self._database = database
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _pids(self) -> list[int]:
        import sqlalchemy as sa

        query = sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :db")
        with self._admin.connect() as conn:
            return [int(pid) for pid in conn.execute(query, {"db": self._database}).scalars()]

    def _sample(self) -> None:
        for pid in self._pids():
            used = cpu_seconds(pid)
            if used is not None:
                self._last[pid] = used
                self._start.setdefault(pid, 0.0)  # born during the run: all of it counts

    def postmaster(self) -> int | None:
        """The cluster's postmaster (the parent of a backend), if it runs on this machine."""
        import sqlalchemy as sa

        with self._admin.connect() as conn:
            own = int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
        fields = stat_fields(own)
        return None if fields is None else int(fields[1])

    def start(self) -> None:
        for pid in self._pids():
            used = cpu_seconds(pid)
            if used is not None:
                self._start[pid] = self._last[pid] = used
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self._sample()

    def finish(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        alive = set(self._pids())
        self._sample()
        return {
            "cpu_s": sum(self._last[pid] - self._start[pid] for pid in self._last),
            "backends": len(self._last),
            "exited": len(set(self._last) - alive),
        }


# -- the layout -------------------------------------------------------------------------


@contextmanager
def moto_process() -> Iterator[tuple[str, int]]:
    """moto's S3 server in a child process; yields (endpoint, pid)."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--child-moto"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    endpoint = child.stdout.readline().strip()
    if not endpoint.startswith("http"):
        raise SystemExit("moto did not start")
    try:
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket=BUCKET)
        yield endpoint, child.pid
    finally:
        child.stdin.close()
        child.wait(30)


def moto_child() -> None:
    """``--child-moto``: serve S3 until stdin closes (the tests' quiet, atomic moto)."""
    from servers import start_moto

    with start_moto() as endpoint:
        print(endpoint, flush=True)
        sys.stdin.read()


def modelreg(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(MODELREG), *args], env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode:
        raise SystemExit(f"modelreg {' '.join(args[:2])} failed: {done.stderr}")
    return done.stdout.strip()


@contextmanager
def fresh_database(admin: Any, base: Any) -> Iterator[tuple[str, str]]:
    """A new database on the server; yields (its URL with ``?artifacts=``, its name)."""
    name = f"mr_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).update_query_dict({"artifacts": f"s3://{BUCKET}/{name}"})
    try:
        yield url.render_as_string(hide_password=False), name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- clients ----------------------------------------------------------------------------


def client_main(
    base: str, token: str, index: int, ops: int, size: int, calls: int, barrier: Any, out: Any
) -> None:
    """One client: one untimed operation, then ``ops`` timed ones; results to ``out``."""
    rest = Rest(base, token)
    model = f"bench/client-{index}"
    rest.ok("POST", "/registered-models/create", {"name": model})
    data = os.urandom(size)
    at_once = calls == 1 and not size
    state = {"modelreg.state": "ready"} if at_once else {}

    def operation() -> None:
        mine = tags({"team": "bench", "by": str(index), **state})
        fields = {"name": model, "source": "", "tags": mine}
        version = rest.ok("POST", "/model-versions/create", fields)["model_version"]
        if at_once:
            shown = {tag["key"]: tag["value"] for tag in version["tags"]}
            assert shown["modelreg.state"] == "ready", version
            return
        if size:
            answer = rest.put_artifact(model, version["version"], "model.bin", data)
            assert answer.status == 200, answer
        done = rest.ok("POST", "/runs/update", {"run_id": version["run_id"], "status": "FINISHED"})
        assert done["run_info"]["status"] == "FINISHED", done

    operation()
    latencies = []
    barrier.wait()  # everyone warmed up: the parent reads the CPU counters
    barrier.wait()  # go
    cpu_before = cpu_seconds(os.getpid()) or 0.0
    start = time.monotonic()
    for _ in range(ops):
        began = time.perf_counter()
        operation()
        latencies.append(time.perf_counter() - began)
    end = time.monotonic()
    cpu_after = cpu_seconds(os.getpid()) or 0.0
    rest.close()
    out.put({"latencies": latencies, "start": start, "end": end, "cpu_s": cpu_after - cpu_before})


def measure(args: argparse.Namespace, servers: int, endpoint: str, moto_pid: int) -> dict[str, Any]:
    """One configuration on a fresh database: ``servers`` processes, the clients split."""
    import sqlalchemy as sa

    base = sa.make_url(args.postgres_url)
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    env = {**os.environ, **s3_environment(endpoint, KEY, SECRET)}
    env = {k: v for k, v in env.items() if not k.startswith("MODELREG_")}
    logs = Path(tempfile.mkdtemp(prefix="two-servers-"))
    try:
        with fresh_database(admin, base) as (url, database):
            modelreg(env, "db", "upgrade", url)
            modelreg(env, "--registry", url, "settings", "grant", "bench", "reporter")
            token = modelreg(env, "--registry", url, "-q", "token", "create", "--user", "bench")
            procs = [
                ServeProcess(url, port, logs / f"server-{n}.log", env)
                for n, port in enumerate(free_ports(servers))
            ]
            try:
                for proc in procs:
                    proc.wait_ready()
                return drive(args, procs, token, admin, database, moto_pid)
            finally:
                for proc in procs:
                    proc.stop()
                for proc in procs:
                    problems = [
                        line
                        for line in proc.text().splitlines()
                        if line.strip() and not line.startswith("modelreg: serving on")
                    ]
                    if problems:
                        print(f"server {proc.port} logged:\n" + "\n".join(problems[-20:]))
    finally:
        admin.dispose()


def free_ports(count: int) -> list[int]:
    from servers import free_port

    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def drive(
    args: argparse.Namespace,
    procs: list[ServeProcess],
    token: str,
    admin: Any,
    database: str,
    moto_pid: int,
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(args.clients + 1), ctx.Queue()
    clients = [
        ctx.Process(
            target=client_main,
            args=(
                procs[i % len(procs)].base,
                token,
                i,
                args.ops,
                args.artifact_bytes,
                args.calls,
                barrier,
                out,
            ),
        )
        for i in range(args.clients)
    ]
    for client in clients:
        client.start()
    barrier.wait(timeout=600)  # the clients have warmed up
    load_before = os.getloadavg()
    sampler = BackendSampler(admin, database)
    postmaster = sampler.postmaster()
    before = {p.pid: cpu_seconds(p.pid) or 0.0 for p in procs}
    moto_before = cpu_seconds(moto_pid) or 0.0
    cluster_before = cluster_seconds(postmaster) if postmaster else 0.0
    sampler.start()
    barrier.wait(timeout=60)
    results = [out.get(timeout=1800) for _ in clients]
    backends = sampler.finish()
    after = {p.pid: cpu_seconds(p.pid) or 0.0 for p in procs}
    moto_after = cpu_seconds(moto_pid) or 0.0
    cluster_after = cluster_seconds(postmaster) if postmaster else 0.0
    for client in clients:
        client.join(60)
    latencies = sorted(t for r in results for t in r["latencies"])
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {
        "servers": len(procs),
        "operations": len(latencies),
        "wall_s": wall,
        "ops_per_s": len(latencies) / wall,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "max_ms": 1000 * latencies[-1],
        "cpu_s": {
            "servers": [after[p.pid] - before[p.pid] for p in procs],
            "postgres_backends": backends["cpu_s"],
            "postgres_cluster": cluster_after - cluster_before if postmaster else None,
            "moto": moto_after - moto_before,
            "clients": sum(r["cpu_s"] for r in results),
        },
        "load_average": [round(x, 2) for x in load_before + os.getloadavg()],  # 1, 5, 15 min
        "postgres_backends_seen": backends["backends"],
        "postgres_backends_exited": backends["exited"],
    }


# -- report -----------------------------------------------------------------------------


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the rounds (``max_ms``: the largest)."""

    def mid(values: list[Any]) -> Any:
        return None if None in values else statistics.median(values)

    first = runs[0]
    skipped = ("cpu_s", "max_ms", "load_average")
    merged = {k: mid([r[k] for r in runs]) for k in first if k not in skipped}
    merged["max_ms"] = max(r["max_ms"] for r in runs)
    merged["cpu_s"] = {
        k: (
            [statistics.median(r["cpu_s"][k][i] for r in runs) for i in range(len(v))]
            if isinstance(v, list)
            else mid([r["cpu_s"][k] for r in runs])
        )
        for k, v in first["cpu_s"].items()
    }
    return merged


def print_report(report: dict[str, Any]) -> None:
    print(f"\n{report['clients']} clients x {report['ops']} create-to-READY operations each")
    extra = report["artifact_bytes"]
    print(f"each: {report['api']}" + (f" ({extra}-byte artifact)" if extra else ""))
    print("\n| servers | ops/s | p50 ms | p99 ms | max ms | wall s |")
    print("|---|---|---|---|---|---|")
    for n, f in report["results"].items():
        print(
            f"| {n} | {f['ops_per_s']:.1f} | {f['p50_ms']:.1f} | {f['p99_ms']:.1f} "
            f"| {f['max_ms']:.1f} | {f['wall_s']:.2f} |"
        )
    print("\nCPU seconds over the run (ms per operation in brackets):\n")
    print(
        "| servers | each server | PostgreSQL: db backends | PostgreSQL: cluster | moto | clients |"
    )
    print("|---|---|---|---|---|---|")
    for n, f in report["results"].items():
        cpu, ops = f["cpu_s"], f["operations"]

        def show(seconds: float | None, ops: int = ops) -> str:
            return "n/a" if seconds is None else f"{seconds:.2f} ({1000 * seconds / ops:.2f})"

        each = " + ".join(f"{s:.2f}" for s in cpu["servers"])
        total = sum(cpu["servers"])
        print(
            f"| {n} | {each} ({1000 * total / ops:.2f}) | {show(cpu['postgres_backends'])} "
            f"| {show(cpu['postgres_cluster'])} | {show(cpu['moto'])} | {show(cpu['clients'])} |"
        )
    print()
    for n, f in report["results"].items():
        print(
            f"{n} server(s): {f['postgres_backends_seen']:.0f} PostgreSQL backends served the "
            f"database, {f['postgres_backends_exited']:.0f} exited during the run (medians)"
        )
    loads = "; ".join(
        f"{n} server(s): " + ", ".join(str(r["load_average"][0]) for r in runs)
        for n, runs in report["runs"].items()
    )
    print(f"1-minute load average at the start of each round: {loads}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="1,2", help="server counts, e.g. 1,2")
    parser.add_argument("--clients", type=int, default=8, help="client processes")
    parser.add_argument("--ops", type=int, default=100, help="operations per client")
    parser.add_argument("--artifact-bytes", type=int, default=0, help="0: no artifact")
    parser.add_argument(
        "--calls",
        type=int,
        choices=(1, 2),
        default=1,
        help="without an artifact: 1 = create ready at once, 2 = create then runs/update",
    )
    parser.add_argument("--rounds", type=int, default=1, help="figures are medians")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "MODELREG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        help="a server where the user may create databases",
    )
    parser.add_argument("--json", type=Path, help="also write the JSON document here")
    parser.add_argument("--child-moto", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_moto:
        moto_child()
        return 0
    counts = [int(n) for n in args.servers.split(",")]
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in counts}
    with moto_process() as (endpoint, moto_pid):
        for r in range(args.rounds):
            for n in counts if r % 2 == 0 else list(reversed(counts)):
                print(f"round {r + 1}: {n} server(s)", file=sys.stderr)
                runs[n].append(measure(args, n, endpoint, moto_pid))
    report = {
        "clients": args.clients,
        "ops": args.ops,
        "artifact_bytes": args.artifact_bytes,
        "rounds": args.rounds,
        "calls": args.calls if not args.artifact_bytes else 3,
        "api": (
            "MLflow REST: model-versions/create with modelreg.state=ready"
            if args.calls == 1 and not args.artifact_bytes
            else "MLflow REST: model-versions/create, artifact PUT, runs/update FINISHED"
            if args.artifact_bytes
            else "MLflow REST: model-versions/create, runs/update FINISHED"
        ),
        "results": {n: median_of(found) for n, found in runs.items()},
        "runs": runs,
    }
    print_report(report)
    text = json.dumps(report, indent=2, sort_keys=True)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
