"""modelreg's SQL backend against MLflow's SQLAlchemy stores, in one run, same database kind.

    .venv/bin/python benchmarks/vs_mlflow.py --db sqlite --versions 10000
    .venv/bin/python benchmarks/vs_mlflow.py --db postgres --versions 10000 \\
        --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Each side gets a fresh database of the same kind (two files in a temp folder, or two new
PostgreSQL databases made through ``--postgres-url``, default ``$MODELREG_TEST_POSTGRES_URL``,
dropped at the end) and a freshly spawned interpreter of its own: MLflow's model-registry
and tracking ``SqlAlchemyStore`` as MLflow sets them up, and ``Registry(open_sql(url))``.
Both run at once but never together: each phase is cut into blocks (10 for creates, gets
and single metrics; rounds for latest and batches) that the two sides take in turns, the
first mover alternating, so that a shared machine's load (another job, the database's
checkpoint after the other side's writes) hits both alike. Figures are printed for both
with the ratio and PASS/FAIL against the goal, then one JSON document. MLflow is not a
dependency of modelreg: install ``mlflow-skinny`` (or ``mlflow``) to run this. Progress
goes to stderr.

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
BLOCKS = 10  # creates, gets and single metrics: blocks taken in turns by the two sides
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


class Phases:
    """The timed steps of the workload on one side; the conductor (`run`) calls them in
    turns on both sides, so that the load of a shared machine hits both alike."""

    def __init__(self, side: MlflowSide | ModelregSide, versions: int) -> None:
        self.side = side
        self.versions = versions
        self.latest_models: dict[int, str] = {}

    def start(self) -> None:
        self.side.add_model(MAIN)

    def create_block(self, first: int, stop: int) -> tuple[float, float]:
        """(create seconds, publish seconds) of versions ``first`` to ``stop - 1``."""
        spent = published = 0.0
        for i in range(first, stop):
            spent += timed(lambda i=i: self.side.create(i))
            if isinstance(self.side, ModelregSide):  # timed apart: latest needs ready ones
                published += timed(lambda i=i: self.side.publish(i))
        return spent, published

    def latest_setup(self) -> list[int]:
        """Models of 100 and 1,000 versions beside the main one (untimed); their sizes."""
        models = {count: f"bench-{count}" for count in CHECKPOINTS if count < self.versions}
        for count, name in models.items():
            note(f"{self.side.name}: a model of {count} versions for the latest comparison")
            self.side.add_model(name)
            for i in range(count):
                self.side.create(i, name)
                if isinstance(self.side, ModelregSide):
                    self.side.publish(i, name)
        if self.versions in CHECKPOINTS:
            models[self.versions] = MAIN
        self.latest_models = models
        return sorted(models)

    def latest_round(self) -> dict[int, float]:
        """One "latest" per model, after an untimed one: the first call of a turn runs on
        caches the other side just cooled, which no model size should pay alone."""
        first = next(iter(self.latest_models.items()))
        self.side.latest(first[1], first[0])
        return {
            count: timed(lambda c=count, n=name: self.side.latest(n, c))
            for count, name in self.latest_models.items()
        }

    def gets(self, picks: list[int]) -> list[float]:
        return [timed(lambda i=i: self.side.get(i)) for i in picks]

    def page_pass(self) -> tuple[float, int]:
        """(seconds, versions seen) of one pass, stopped after `PAGE_BUDGET` s."""
        start = time.perf_counter()
        seen = self.side.page_all(PAGE_BUDGET)
        return time.perf_counter() - start, seen

    def log_metric_block(self, first: int, count: int) -> float:
        return timed(lambda: _repeat(self.side.log_metric, count, 1, first))

    def batched_round(self, round_: int) -> float:
        return timed(lambda: _repeat(self.side.log_batch, 10, BATCH, 10 * round_))

    def delete(self) -> float:
        return timed(self.side.delete)


def _worker(name: str, url: str, folder: str, versions: int, conn: Any) -> None:
    """One side in a fresh interpreter (neither pays for the other's imports and garbage):
    runs the `Phases` method each message names and sends back its result."""
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    side = MlflowSide(url, folder) if name == "mlflow" else ModelregSide(url)
    phases = Phases(side, versions)
    try:
        while (message := conn.recv()) is not None:
            method, args = message
            try:
                conn.send(("ok", getattr(phases, method)(*args)))
            except Exception as error:  # reported by the conductor
                conn.send(("error", f"{name}: {method}{args}: {error!r}"))
    finally:
        side.close()


class Side:
    """The conductor's handle on one worker process."""

    def __init__(self, name: str, url: str, folder: str, versions: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.name = name
        self._conn, theirs = context.Pipe()
        self._process = context.Process(
            target=_worker, args=(name, url, folder, versions, theirs), daemon=True
        )
        self._process.start()

    def __call__(self, method: str, *args: Any) -> Any:
        self._conn.send((method, args))
        status, value = self._conn.recv()
        if status != "ok":
            raise RuntimeError(value)
        return value

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self._process.join(timeout=60)


def in_turns(sides: list[Side], turn: int, method: str, *args: Any) -> list[Any]:
    """``method`` on both sides, [MLflow, modelreg] results; who goes first alternates."""
    order = sides if turn % 2 == 0 else sides[::-1]
    results = {side.name: side(method, *args) for side in order}
    return [results[side.name] for side in sides]


def run(mlflow_url: str, our_url: str, folder: str, versions: int, metrics: int) -> dict[str, Any]:
    """Both sides at once, each in a spawned process, every phase cut into blocks taken in
    turns; figures as [MLflow, ours]."""
    sides = [
        Side("mlflow", mlflow_url, folder, versions),
        Side("modelreg", our_url, folder, versions),
    ]
    try:
        return _conduct(sides, versions, metrics)
    finally:
        for side in sides:
            side.close()


def _conduct(sides: list[Side], versions: int, metrics: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    in_turns(sides, 0, "start")
    note(f"creating {versions} versions on each side, {BLOCKS} blocks in turns")
    created = [[0.0, 0.0], [0.0, 0.0]]
    edges = [versions * b // BLOCKS for b in range(BLOCKS + 1)]
    for b in range(BLOCKS):
        for s, (made, published) in enumerate(
            in_turns(sides, b, "create_block", *edges[b : b + 2])
        ):
            created[s][0] += made
            created[s][1] += published
    out["create_rate"] = [versions / made for made, _ in created]
    out["publish_rate"] = versions / created[1][1]

    sizes = in_turns(sides, 0, "latest_setup")[0]
    spent: list[dict[int, list[float]]] = [{n: [] for n in sizes} for _ in sides]
    rounds, total = 0, 0.0
    while rounds < 200 and (rounds < 3 or total < 40):
        for s, found in enumerate(in_turns(sides, rounds, "latest_round")):
            for n, seconds in found.items():
                spent[s][n].append(seconds)
                total += seconds
        rounds += 1
    out["latest"] = {n: [statistics.median(spent[s][n]) for s in range(2)] for n in sizes}

    note("reading single versions, then paging through all of them by 100")
    rng = random.Random(7)
    picks = [rng.randrange(versions) for _ in range(300)]
    times: list[list[float]] = [[], []]
    for b in range(BLOCKS):
        for s, found in enumerate(in_turns(sides, b, "gets", picks[b::BLOCKS])):
            times[s].extend(found)
    out["get"] = [statistics.median(t) for t in times]
    out["page"], out["page_seen"] = _page(sides, versions)

    note(f"{metrics} single metrics, {ROUNDS} rounds of {10 * BATCH} batched points")
    single = [0.0, 0.0]
    edges = [metrics * b // BLOCKS for b in range(BLOCKS + 1)]
    for b in range(BLOCKS):
        first, stop = edges[b : b + 2]
        for s, seconds in enumerate(in_turns(sides, b, "log_metric_block", first, stop - first)):
            single[s] += seconds
    out["log_metric"] = [metrics / seconds for seconds in single]
    rates: list[list[float]] = [[], []]
    for r in range(ROUNDS):
        for s, seconds in enumerate(in_turns(sides, r, "batched_round", r)):
            rates[s].append(10 * BATCH / seconds)
    out["batched"] = [statistics.median(found) for found in rates]
    note(f"deleting the model with {versions} versions on each side")
    out["delete"] = in_turns(sides, 0, "delete")
    return out


def _page(sides: list[Side], versions: int) -> tuple[list[float], list[int]]:
    """Per side: the median of up to 3 full passes, or, when a pass does not finish within
    `PAGE_BUDGET` s, the time spent and how far it got (a lower bound)."""
    spent: list[list[float]] = [[], []]
    seen = [versions, versions]
    going = [True, True]
    for turn in range(3):
        order = [0, 1] if turn % 2 == 0 else [1, 0]
        for s in order:
            if not going[s]:
                continue
            seconds, got = sides[s]("page_pass")
            spent[s].append(seconds)
            if got < versions:
                seen[s], going[s] = got, False
                spent[s] = [seconds]
            elif sum(spent[s]) > 5:
                going[s] = False
    return [statistics.median(found) for found in spent], seen


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
