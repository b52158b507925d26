"""modelreg's SQL backend against MLflow's SQLAlchemy stores, in one run, same database kind.

    .venv/bin/python benchmarks/vs_mlflow.py --db sqlite --versions 10000
    .venv/bin/python benchmarks/vs_mlflow.py --db postgres --versions 10000 \\
        --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Each side gets a fresh database of the same kind (two files in a temp folder, or two new
PostgreSQL databases made through ``--postgres-url``, default ``$MODELREG_TEST_POSTGRES_URL``,
dropped at the end), and runs the same workload in a freshly spawned interpreter of its
own, MLflow first: its model-registry and tracking ``SqlAlchemyStore`` as MLflow sets
them up, and ``Registry(open_sql(url))``. Figures are printed for both with the ratio and
PASS/FAIL against the goal, then one JSON document. MLflow is not a dependency of modelreg:
install ``mlflow-skinny`` (or ``mlflow``) to run this. Progress goes to stderr.

What is timed (``time.perf_counter``): N creates of one model (3 tags each; modelreg also
publishes each version, timed apart, since only ready versions count as latest); 300 gets
of random versions (median); "latest" on models of 100, 1,000 and N versions, timed in
turns (median; MLflow's "latest" is its own ``get_latest_versions(name)``); paging through
the N versions 100 per page (median of up to 3 passes; a pass still running after
`PAGE_BUDGET` s is stopped and reported as a lower bound); ``--metrics`` single
``log_metric`` calls; 5 rounds of 10 batches of 1,000 points (median round); deleting the
model with its N versions.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

CHECKPOINTS = (100, 1_000, 10_000)
MAIN = "bench-model"
TAGS = {"framework": "sklearn", "team": "fraud", "dataset": "cards-2026-11"}
BATCH = 1_000  # MLflow's log_batch takes at most 1,000 metrics
PAGE_BUDGET = 120.0  # s; MLflow's offset paging on PostgreSQL can take far longer
ROUNDS = 5  # batched metrics: the median of 5 rounds of 10 batches (the machine is shared)


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def semver(i: int) -> str:
    """Version number i (0-based) as SemVer, ascending with i: 1,000 per major."""
    return f"{i // 1000}.{(i // 10) % 100}.{i % 10}"


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


# -- databases ------------------------------------------------------------------------------


@contextlib.contextmanager
def databases(
    kind: str, server: str | None, synchronous_commit: str = "on"
) -> Iterator[tuple[str, str, str]]:
    """(MLflow URL, modelreg URL, artifact folder) on fresh databases; removed afterwards."""
    folder = tempfile.mkdtemp(prefix="modelreg-vs-mlflow-")
    try:
        if kind == "sqlite":
            yield f"sqlite:///{folder}/mlflow.db", f"sqlite:///{folder}/modelreg.db", folder
            return
        import sqlalchemy as sa

        if not server:
            raise SystemExit("--db postgres needs --postgres-url or $MODELREG_TEST_POSTGRES_URL")
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        names = [f"bench_{side}_{uuid.uuid4().hex[:8]}" for side in ("mlflow", "modelreg")]
        with admin.connect() as conn:
            for name in names:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                if synchronous_commit != "on":  # the same for both sides
                    conn.exec_driver_sql(
                        f'ALTER DATABASE "{name}" SET synchronous_commit = {synchronous_commit}'
                    )
        base = sa.make_url(server)
        urls = [base.set(database=n).render_as_string(hide_password=False) for n in names]
        try:
            yield urls[0], f"{urls[1]}?artifacts={folder}/artifacts", folder
        finally:
            with admin.connect() as conn:
                for name in names:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- the two sides --------------------------------------------------------------------------


class MlflowSide:
    """The workload through MLflow's SQLAlchemy stores."""

    name = "MLflow"

    def __init__(self, url: str, folder: str) -> None:
        from mlflow.entities.model_registry import ModelVersionTag
        from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as Models
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as Runs

        self._tag = ModelVersionTag
        self.runs = Runs(url, os.path.join(folder, "mlruns"))
        self.models = Models(url)
        self.model = MAIN
        experiment = self.runs.create_experiment("bench")
        self.run_id = self.runs.create_run(experiment, "bench", 0, [], "bench").info.run_id
        self.tags = [self._tag(k, v) for k, v in TAGS.items()]

    def add_model(self, name: str) -> None:
        self.models.create_registered_model(name)

    def create(self, i: int, model: str = MAIN) -> None:
        self.models.create_model_version(model, f"/models/{i}", tags=self.tags)

    def get(self, i: int) -> None:
        assert int(self.models.get_model_version(self.model, str(i + 1)).version) == i + 1

    def latest(self, model: str, count: int) -> None:
        found = self.models.get_latest_versions(model)
        assert max(int(v.version) for v in found) == count

    def page_all(self, budget: float) -> int:
        seen, token, start = 0, None, time.perf_counter()
        while time.perf_counter() - start < budget:
            page = self.models.search_model_versions(
                f"name='{self.model}'", max_results=100, page_token=token
            )
            seen += len(page)
            token = page.token
            if not token:
                break
        return seen

    def log_metric(self, i: int) -> None:
        from mlflow.entities import Metric

        self.runs.log_metric(self.run_id, Metric("loss", 1.0 / (i + 1), int(time.time() * 1000), i))

    def log_batch(self, start: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        points = [Metric("acc", 0.5, now, start + k) for k in range(BATCH)]
        self.runs.log_batch(self.run_id, metrics=points, params=[], tags=[])

    def delete(self) -> None:
        self.models.delete_registered_model(self.model)

    def close(self) -> None:
        for store in (self.runs, self.models):
            with contextlib.suppress(Exception):
                store.engine.dispose()


class ModelregSide:
    """The workload through ``Registry(open_sql(url))``; versions are published as made."""

    name = "modelreg"

    def __init__(self, url: str) -> None:
        from registry_backends.sql import open_sql
        from registry_core import Metric, Registry

        self._metric = Metric
        self.repo = open_sql(url)
        self.registry = Registry(self.repo)
        self.model = MAIN
        self.publish_seconds = 0.0
        self.metrics_version = "0.0.0"

    def add_model(self, name: str) -> None:
        self.registry.create_model(name)

    def create(self, i: int, model: str = MAIN) -> None:
        self.registry.create_version(model, semver(i), tags=TAGS)

    def publish(self, i: int, model: str = MAIN) -> None:
        self.publish_seconds += timed(lambda: self.registry.publish(model, semver(i)))

    def get(self, i: int) -> None:
        assert str(self.registry.get_version(self.model, semver(i)).version) == semver(i)

    def latest(self, model: str, count: int) -> None:
        assert str(self.registry.latest(model).version) == semver(count - 1)

    def page_all(self, budget: float) -> int:
        seen, token, start = 0, None, time.perf_counter()
        while time.perf_counter() - start < budget:
            page = self.registry.list_versions(self.model, page_size=100, page_token=token)
            seen += len(page.items)
            token = page.next_page_token
            if token is None:
                break
        return seen

    def log_metric(self, i: int) -> None:
        self.registry.log_metric(self.model, self.metrics_version, "loss", 1.0 / (i + 1), step=i)

    def log_batch(self, start: int) -> None:
        now = dt.datetime.now(dt.timezone.utc)
        points = [self._metric("acc", 0.5, start + k, now) for k in range(BATCH)]
        self.registry.log_metrics(self.model, self.metrics_version, points)

    def delete(self) -> None:
        self.registry.delete_model(self.model)

    def close(self) -> None:
        self.repo.close()


# -- the workload ---------------------------------------------------------------------------


def measure(side: MlflowSide | ModelregSide, versions: int, metrics: int) -> dict[str, Any]:
    """Every figure of one side, in the order the workload runs."""
    out: dict[str, Any] = {"create_s": 0.0}
    note(f"{side.name}: creating {versions} versions")
    side.add_model(MAIN)
    for i in range(versions):
        out["create_s"] += timed(lambda i=i: side.create(i))
        if isinstance(side, ModelregSide):
            side.publish(i)  # timed apart: latest needs ready versions
    out["create_rate"] = versions / out["create_s"]
    if isinstance(side, ModelregSide):
        out["publish_rate"] = versions / side.publish_seconds
    out["latest"] = _latest(side, versions)
    rng = random.Random(7)
    picks = [rng.randrange(versions) for _ in range(300)]
    note(f"{side.name}: reading single versions, then paging through all of them by 100")
    out["get"] = statistics.median([timed(lambda i=i: side.get(i)) for i in picks])
    out["page"], out["page_seen"] = _page(side, versions)
    note(f"{side.name}: {metrics} single metrics, {ROUNDS} rounds of {10 * BATCH} batched points")
    out["log_metric"] = metrics / timed(lambda: _repeat(side.log_metric, metrics))
    out["batched"] = statistics.median(
        10 * BATCH / timed(lambda r=r: _repeat(side.log_batch, 10, BATCH, 10 * r))
        for r in range(ROUNDS)
    )
    note(f"{side.name}: deleting the model with {versions} versions")
    out["delete"] = timed(side.delete)
    return out


def _latest(side: MlflowSide | ModelregSide, versions: int) -> dict[int, float]:
    """Median seconds of "latest" on models of 100, 1,000 and 10,000 versions, timed in
    turns, round after round, so that the load of a shared machine hits them alike."""
    models = {count: f"bench-{count}" for count in CHECKPOINTS if count < versions}
    for count, name in models.items():
        note(f"{side.name}: a model of {count} versions for the latest comparison")
        side.add_model(name)
        for i in range(count):
            side.create(i, name)
            if isinstance(side, ModelregSide):
                side.publish(i, name)
    if versions in CHECKPOINTS:
        models[versions] = MAIN
    spent: dict[int, list[float]] = {count: [] for count in models}
    rounds = 0
    while rounds < 200 and (rounds < 3 or sum(map(sum, spent.values())) < 20):
        for count, name in models.items():
            spent[count].append(timed(lambda c=count, n=name: side.latest(n, c)))
        rounds += 1
    return {count: statistics.median(times) for count, times in spent.items()}


def _page(side: MlflowSide | ModelregSide, versions: int) -> tuple[float, int]:
    """(seconds, versions seen): the median of up to 3 full passes, or, when a pass does
    not finish within `PAGE_BUDGET` s, the time spent and how far it got (a lower bound)."""
    spent = []
    for _ in range(3):
        start = time.perf_counter()
        seen = side.page_all(PAGE_BUDGET)
        spent.append(time.perf_counter() - start)
        if seen < versions:
            return spent[-1], seen
        if sum(spent) > 5:
            break
    return statistics.median(spent), versions


def run_side(name: str, url: str, folder: str, versions: int, metrics: int) -> dict[str, Any]:
    """One side in this process (the benchmark runs each side in a fresh interpreter, so
    neither pays for the other's imports and garbage)."""
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    side = MlflowSide(url, folder) if name == "mlflow" else ModelregSide(url)
    try:
        return measure(side, versions, metrics)
    finally:
        side.close()


def run(mlflow_url: str, our_url: str, folder: str, versions: int, metrics: int) -> dict[str, Any]:
    """Both sides, one after the other, each in a spawned process; figures as [MLflow, ours]."""
    sides = []
    context = multiprocessing.get_context("spawn")
    for name, url in (("mlflow", mlflow_url), ("modelreg", our_url)):
        with context.Pool(1) as pool:
            sides.append(pool.apply(run_side, (name, url, folder, versions, metrics)))
    theirs, ours = sides
    out: dict[str, Any] = {
        key: [theirs[key], ours[key]]
        for key in ("create_rate", "get", "page", "log_metric", "batched", "delete")
    }
    out["latest"] = {n: [theirs["latest"][n], ours["latest"][n]] for n in ours["latest"]}
    out["page_seen"] = [theirs["page_seen"], ours["page_seen"]]
    out["publish_rate"] = ours["publish_rate"]
    return out


def _repeat(call: Callable[[int], None], count: int, stride: int = 1, first: int = 0) -> None:
    for i in range(first, first + count):
        call(i * stride)


# -- the report -----------------------------------------------------------------------------


def report(result: dict[str, Any], versions: int, kind: str) -> list[dict[str, Any]]:
    """Rows of (operation, MLflow, modelreg, ratio, goal, verdict)."""
    rows: list[dict[str, Any]] = []

    def add(
        op: str,
        unit: str,
        pair: list[float],
        higher: bool,
        goal: str,
        ok: bool | None,
        at_least: bool = False,
    ) -> None:
        theirs, mine = pair
        ratio = (mine / theirs) if higher else (theirs / mine)
        verdict = "n/a" if ok is None else ("PASS" if ok else "FAIL")
        rows.append(
            {
                "operation": op,
                "unit": unit,
                "mlflow": theirs,
                "modelreg": mine,
                "speedup": ratio,
                "goal": goal,
                "verdict": verdict,
                "mlflow_lower_bound": at_least,  # MLflow stopped at the time budget
            }
        )

    ms = [1000 * x for x in result["get"]]
    add(
        f"create {versions} versions",
        "versions/s",
        result["create_rate"],
        True,
        ">= 4x MLflow",
        result["create_rate"][1] >= 4 * result["create_rate"][0],
    )
    add("get a version (median)", "ms", ms, False, ">= 10x MLflow", ms[0] >= 10 * ms[1])
    latest = {n: [1000 * x for x in pair] for n, pair in result["latest"].items()}
    for n, pair in sorted(latest.items()):
        goal, ok = "", None
        if n == 10_000:
            ok = pair[1] < 2 and 100 in latest and pair[1] <= 2 * latest[100][1]
            goal = "< 2 ms and <= 2x time@100"
        add(f"latest over {n} versions (median)", "ms", pair, False, goal, ok)
    add(
        "single log_metric",
        "calls/s",
        result["log_metric"],
        True,
        ">= 3x MLflow",
        result["log_metric"][1] >= 3 * result["log_metric"][0],
    )
    add(
        "batched metrics",
        "points/s",
        result["batched"],
        True,
        ">= 50,000 points/s",
        result["batched"][1] >= 50_000,
    )
    add(
        f"delete a model with {versions} versions",
        "s",
        result["delete"],
        False,
        "< 1 s",
        result["delete"][1] < 1 if versions >= 10_000 else None,
    )
    theirs_seen, ours_seen = result["page_seen"]
    add(
        f"page through {versions} versions by 100",
        "s",
        result["page"],
        False,
        "< 0.5 s",
        result["page"][1] < 0.5 if versions >= 10_000 and ours_seen == versions else None,
        at_least=theirs_seen < versions,
    )
    if theirs_seen < versions:
        rows[-1]["note"] = f"MLflow stopped after {theirs_seen} of {versions} versions"
    return rows


def print_table(rows: list[dict[str, Any]], kind: str, result: dict[str, Any]) -> None:
    print(f"\nmodelreg SQL backend vs MLflow SqlAlchemyStore on {kind}")
    head = f"{'operation':<38} {'unit':<11} {'MLflow':>10} {'modelreg':>10} {'x':>7}  goal"
    print(head)
    print("-" * len(head))
    for r in rows:
        more = ">" if r["mlflow_lower_bound"] else " "
        print(
            f"{r['operation']:<38} {r['unit']:<11} {more}{r['mlflow']:>9.3f} "
            f"{r['modelreg']:>10.3f} {more}{r['speedup']:>5.1f}x  {r['goal'] or '-'} "
            f"{r['verdict'] if r['goal'] else ''}"
        )
        if r.get("note"):
            print(f"{'':<38} ({r['note']})")
    print(
        f"(modelreg publish, not part of create: {result['publish_rate']:.0f} versions/s; "
        "'x' is how many times faster modelreg is)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=1_000, help="single log_metric calls")
    parser.add_argument("--postgres-url", default=os.environ.get("MODELREG_TEST_POSTGRES_URL"))
    parser.add_argument(
        "--synchronous-commit",
        choices=["on", "off"],
        default="on",
        help="PostgreSQL: set on both databases; 'off' takes the WAL flush out of each commit",
    )
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    with databases(args.db, args.postgres_url, args.synchronous_commit) as (
        mlflow_url,
        our_url,
        folder,
    ):
        result = run(mlflow_url, our_url, folder, args.versions, args.metrics)
    rows = report(result, args.versions, args.db)
    kind = (
        args.db
        if args.db == "sqlite"
        else f"postgres (synchronous_commit={args.synchronous_commit})"
    )
    print_table(rows, kind, result)
    document = {
        "db": args.db,
        "synchronous_commit": args.synchronous_commit if args.db == "postgres" else None,
        "versions": args.versions,
        "rows": rows,
        "publish_rate": result["publish_rate"],
    }
    print(json.dumps(document, indent=1))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(document, out, indent=1)
    return 0 if all(r["verdict"] != "FAIL" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
