"""modelreg's SQL backend against MLflow's SQLAlchemy stores, in one run, same database kind.

    .venv/bin/python benchmarks/vs_mlflow.py --db sqlite --versions 10000 [--relaxed]
    .venv/bin/python benchmarks/vs_mlflow.py --db postgres --versions 1000 \\
        --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Each side gets a fresh database of the same kind (files in a temp folder, or new PostgreSQL
databases made through ``--postgres-url``, default ``$MODELREG_TEST_POSTGRES_URL``, dropped
at the end) and a freshly spawned interpreter of its own: MLflow's model-registry and
tracking ``SqlAlchemyStore`` as MLflow sets them up, and ``Registry(open_sql(url))``. The
sides run at once but never together: each phase is cut into blocks (10 for creates, gets
and single metrics; rounds for latest and batches) that the sides take in turns, the first
mover rotating, so that a shared machine's load (another job, the database's checkpoint
after the other side's writes) hits all alike. MLflow is not a dependency of modelreg:
install ``mlflow-skinny`` (or ``mlflow``) to run this. Progress goes to stderr; the
durability of each side, the end state after the creates, the figures with their ratios,
the goals as PASS/FAIL and one JSON document go to stdout.

Durability: both sides run as shipped, and both are durable that way (a commit is on disk
when the call returns). MLflow's SQLite file keeps SQLite's defaults (rollback journal,
``synchronous=FULL``); modelreg's runs WAL with ``synchronous=FULL``. On PostgreSQL both
keep the same ``synchronous_commit`` (``--synchronous-commit``, set on every database). Each
side reads its settings back from its own connections (``PRAGMA journal_mode`` and ``PRAGMA
synchronous``; ``SHOW synchronous_commit``), and the output shows them. ``--relaxed`` adds a
third side, modelreg with ``?synchronous=normal`` (SQLite ``synchronous=NORMAL``, PostgreSQL
``synchronous_commit=off``): not durable, labelled so, and in no goal.

What is timed (``time.perf_counter``): N creates-to-READY of one model, each with 2 tags
(modelreg ``create_version(..., tags=..., publish=True)``, one call and one commit; MLflow
``create_model_version(..., tags=...)``, whose version is READY on return), after which
every side's end state is checked (N READY versions, each with exactly those tags); 300
gets of random versions (median); "latest" on models of 100, 1,000 and N versions, timed
in turns (median; MLflow's "latest" is its own ``get_latest_versions(name)``); paging
through the N versions 100 per page (median of up to 3 passes; a pass still running after
`PAGE_BUDGET` s is stopped and reported as a lower bound); ``--metrics`` single
``log_metric`` calls; 5 rounds of 10 batches of 1,000 points (median round); deleting the
model with its N versions.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import functools
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
TAGS = {"framework": "sklearn", "team": "fraud"}  # the issue: "each created with two tags"
BATCH = 1_000  # MLflow's log_batch takes at most 1,000 metrics
PAGE_BUDGET = 120.0  # s; MLflow's offset paging on PostgreSQL can take far longer
BLOCKS = 10  # creates, gets and single metrics: blocks taken in turns by the sides
ROUNDS = 5  # batched metrics: the median of 5 rounds of 10 batches (the machine is shared)
SQLITE_SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
#: The sides, in the order of every list of figures; the last one only with --relaxed.
LABELS = {
    "mlflow": "MLflow",
    "modelreg": "modelreg",
    "modelreg-relaxed": "modelreg ?synchronous=normal (NOT durable)",
}


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
    kind: str, server: str | None, synchronous_commit: str, relaxed: bool
) -> Iterator[tuple[dict[str, str], str]]:
    """({side: URL}, artifact folder) on fresh databases; removed afterwards."""
    folder = tempfile.mkdtemp(prefix="modelreg-vs-mlflow-")
    sides = [*LABELS] if relaxed else [*LABELS][:2]
    try:
        if kind == "sqlite":
            urls = {side: f"sqlite:///{folder}/{side}.db" for side in sides}
            if relaxed:
                urls["modelreg-relaxed"] += "?synchronous=normal"
            yield urls, folder
            return
        import sqlalchemy as sa

        if not server:
            raise SystemExit("--db postgres needs --postgres-url or $MODELREG_TEST_POSTGRES_URL")
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        names = {side: f"bench_{side.replace('-', '_')}_{uuid.uuid4().hex[:8]}" for side in sides}
        with admin.connect() as conn:
            for name in names.values():
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                if synchronous_commit != "on":  # the same for every side
                    conn.exec_driver_sql(
                        f'ALTER DATABASE "{name}" SET synchronous_commit = {synchronous_commit}'
                    )
        base = sa.make_url(server)
        urls = {
            side: base.set(database=name).render_as_string(hide_password=False)
            for side, name in names.items()
        }
        urls["modelreg"] += f"?artifacts={folder}/artifacts"
        if relaxed:
            urls["modelreg-relaxed"] += f"?artifacts={folder}/artifacts-relaxed&synchronous=normal"
        try:
            yield urls, folder
        finally:
            with admin.connect() as conn:
                for name in names.values():
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def read_durability(engine: Any) -> dict[str, Any]:
    """The durability settings of a live pooled connection of ``engine``, as the database
    reports them. Durable: a commit is on disk when it returns (SQLite ``synchronous`` FULL
    or EXTRA; PostgreSQL ``synchronous_commit`` not ``off``)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            journal = str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower()
            level = int(conn.exec_driver_sql("PRAGMA synchronous").scalar())
            return {
                "journal_mode": journal,
                "synchronous": SQLITE_SYNCHRONOUS.get(level, str(level)),
                "durable": level >= 2,
            }
        commit = str(conn.exec_driver_sql("SHOW synchronous_commit").scalar())
        return {"synchronous_commit": commit, "durable": commit != "off"}


def describe_durability(found: dict[str, Any]) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in found.items() if k not in ("durable", "stores"))
    verdict = "durable" if found["durable"] else "NOT durable (a power loss can lose commits)"
    return f"{settings}: {verdict}"


def summarize_versions(states: dict[str, str], tags: dict[str, dict[str, str]]) -> dict[str, int]:
    """Versions, READY ones, and READY ones whose tags are exactly `TAGS`."""
    ready = [v for v, state in states.items() if state == "READY"]
    return {
        "versions": len(states),
        "ready": len(ready),
        "ready_with_tags": sum(tags.get(v, {}) == TAGS for v in ready),
    }


# -- the sides ------------------------------------------------------------------------------


class MlflowSide:
    """The workload through MLflow's SQLAlchemy stores."""

    def __init__(self, url: str, folder: str) -> None:
        from mlflow.entities.model_registry import ModelVersionTag
        from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as Models
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as Runs

        self.runs = Runs(url, os.path.join(folder, "mlruns"))
        self.models = Models(url)
        self.model = MAIN
        experiment = self.runs.create_experiment("bench")
        self.run_id = self.runs.create_run(experiment, "bench", 0, [], "bench").info.run_id
        self.tags = [ModelVersionTag(k, v) for k, v in TAGS.items()]

    def durability(self) -> dict[str, Any]:
        registry = read_durability(self.models.engine)
        tracking = read_durability(self.runs.engine)
        if tracking == registry:
            return registry
        both = registry["durable"] and tracking["durable"]
        return {"durable": both, "stores": [registry, tracking]}

    def add_model(self, name: str) -> None:
        self.models.create_registered_model(name)

    def create(self, i: int, model: str = MAIN) -> None:
        """Create-to-READY: MLflow's version is READY when the call returns."""
        self.models.create_model_version(model, f"/models/{i}", tags=self.tags)

    def end_state(self, model: str) -> dict[str, int]:
        import sqlalchemy as sa

        where = {"n": model}
        with self.models.engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT version, status FROM model_versions WHERE name = :n"), where
            )
            states = {str(v): str(s) for v, s in rows}
            tags: dict[str, dict[str, str]] = {}
            for v, key, value in conn.execute(
                sa.text("SELECT version, key, value FROM model_version_tags WHERE name = :n"),
                where,
            ):
                tags.setdefault(str(v), {})[key] = value
        return summarize_versions(states, tags)

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
    """The workload through ``Registry(open_sql(url))``."""

    def __init__(self, url: str) -> None:
        from registry_backends.sql import open_sql
        from registry_core import Metric, Registry

        self._metric = Metric
        self.repo = open_sql(url)
        self.registry = Registry(self.repo)
        self.model = MAIN
        self.metrics_version = "0.0.0"

    def durability(self) -> dict[str, Any]:
        return read_durability(self.repo.engine)

    def add_model(self, name: str) -> None:
        self.registry.create_model(name)

    def create(self, i: int, model: str = MAIN) -> None:
        """Create-to-READY: one call, one commit, the version ready and sealed."""
        self.registry.create_version(model, semver(i), tags=TAGS, publish=True)

    def end_state(self, model: str) -> dict[str, int]:
        states: dict[str, str] = {}
        tags: dict[str, dict[str, str]] = {}
        token = None
        while True:
            page = self.registry.list_versions(model, page_size=100, page_token=token)
            for found in page.items:
                key = str(found.version)
                states[key] = found.state.name
                tags[key] = dict(found.tags)
            token = page.next_page_token
            if token is None:
                return summarize_versions(states, tags)

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
    turns on every side, so that the load of a shared machine hits all alike."""

    def __init__(self, side: MlflowSide | ModelregSide, versions: int) -> None:
        self.side = side
        self.versions = versions
        self.latest_models: dict[int, str] = {}

    def start(self) -> None:
        self.side.add_model(MAIN)

    def durability(self) -> dict[str, Any]:
        return self.side.durability()

    def create_block(self, first: int, stop: int) -> float:
        """Seconds spent creating versions ``first`` to ``stop - 1``, each to READY."""
        spent = 0.0
        for i in range(first, stop):
            spent += timed(functools.partial(self.side.create, i))
        return spent

    def end_state(self) -> dict[str, int]:
        return self.side.end_state(MAIN)

    def latest_setup(self) -> list[int]:
        """Models of 100 and 1,000 versions beside the main one (untimed); their sizes."""
        models = {count: f"bench-{count}" for count in CHECKPOINTS if count < self.versions}
        for count, name in models.items():
            note(f"a model of {count} versions for the latest comparison")
            self.side.add_model(name)
            for i in range(count):
                self.side.create(i, name)
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
            count: timed(functools.partial(self.side.latest, name, count))
            for count, name in self.latest_models.items()
        }

    def gets(self, picks: list[int]) -> list[float]:
        return [timed(functools.partial(self.side.get, i)) for i in picks]

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
    """One side in a fresh interpreter (none pays for another's imports and garbage):
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
    """``method`` on every side, results in the order of ``sides``; the first mover
    rotates with ``turn``."""
    k = turn % len(sides)
    results = {side.name: side(method, *args) for side in sides[k:] + sides[:k]}
    return [results[side.name] for side in sides]


def run(urls: dict[str, str], folder: str, versions: int, metrics: int) -> dict[str, Any]:
    """Every side at once, each in a spawned process, every phase cut into blocks taken in
    turns; each figure is a list in the order of ``urls``."""
    sides = [Side(name, url, folder, versions) for name, url in urls.items()]
    try:
        return _conduct(sides, versions, metrics)
    finally:
        for side in sides:
            side.close()


def _conduct(sides: list[Side], versions: int, metrics: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    in_turns(sides, 0, "start")
    out["durability"] = in_turns(sides, 0, "durability")
    note(f"creating {versions} versions to READY on each side, {BLOCKS} blocks in turns")
    created = [0.0] * len(sides)
    edges = [versions * b // BLOCKS for b in range(BLOCKS + 1)]
    for b in range(BLOCKS):
        for s, seconds in enumerate(in_turns(sides, b, "create_block", *edges[b : b + 2])):
            created[s] += seconds
    out["create"] = [versions / seconds for seconds in created]
    out["end_state"] = in_turns(sides, 0, "end_state")

    sizes = in_turns(sides, 0, "latest_setup")[0]
    spent: list[dict[int, list[float]]] = [{n: [] for n in sizes} for _ in sides]
    rounds, total = 0, 0.0
    while rounds < 200 and (rounds < 3 or total < 40):
        for s, found in enumerate(in_turns(sides, rounds, "latest_round")):
            for n, seconds in found.items():
                spent[s][n].append(seconds)
                total += seconds
        rounds += 1
    for n in sizes:
        out[f"latest@{n}"] = [1000 * statistics.median(mine[n]) for mine in spent]

    note("reading single versions, then paging through all of them by 100")
    rng = random.Random(7)
    picks = [rng.randrange(versions) for _ in range(300)]
    times: list[list[float]] = [[] for _ in sides]
    for b in range(BLOCKS):
        for s, found in enumerate(in_turns(sides, b, "gets", picks[b::BLOCKS])):
            times[s].extend(found)
    out["get"] = [1000 * statistics.median(t) for t in times]
    out["page"], out["page_seen"] = _page(sides, versions)

    note(f"{metrics} single metrics, {ROUNDS} rounds of {10 * BATCH} batched points")
    single = [0.0] * len(sides)
    edges = [metrics * b // BLOCKS for b in range(BLOCKS + 1)]
    for b in range(BLOCKS):
        first, stop = edges[b : b + 2]
        for s, seconds in enumerate(in_turns(sides, b, "log_metric_block", first, stop - first)):
            single[s] += seconds
    out["log_metric"] = [metrics / seconds for seconds in single]
    rates: list[list[float]] = [[] for _ in sides]
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
    spent: list[list[float]] = [[] for _ in sides]
    seen = [versions] * len(sides)
    going = [True] * len(sides)
    for turn in range(3):
        k = turn % len(sides)
        for s in [*range(k, len(sides)), *range(k)]:
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


# -- figures and goals ----------------------------------------------------------------------


#: (figure key, row label, unit, higher is better); latest@N rows come after the gets.
FIGURES = [
    ("create", "create-to-READY, 2 tags", "versions/s", True),
    ("get", "get a version (median)", "ms", False),
    ("page", "page through all versions by 100", "s", False),
    ("log_metric", "single log_metric", "calls/s", True),
    ("batched", "batched metrics (1,000 per call)", "points/s", True),
    ("delete", "delete the model", "s", False),
]


@dataclasses.dataclass(frozen=True)
class Goal:
    """One goal on modelreg's durable figure. ``test``: ``x`` is at least ``target`` times
    MLflow's; ``<`` and ``>=`` compare the figure itself (in its unit); ``flat`` is at most
    ``target`` times modelreg's own ``latest@100``."""

    figure: str
    test: str
    target: float
    text: str
    source: str  # the issue that set it
    min_versions: int = 0  # n/a with fewer versions


DURABLE = "durable by default"  # the issue "Durable by default, and the fastest registry ..."
GOALS = {
    "sqlite": [
        Goal("create", "x", 4, "create-to-READY with 2 tags >= 4x MLflow", DURABLE),
        Goal("log_metric", "x", 5, "single log_metric >= 5x MLflow", DURABLE),
        Goal("get", "x", 50, "get a version >= 50x MLflow", DURABLE),
        Goal("latest@10000", "<", 1, "latest < 1 ms at 10,000 versions", DURABLE),
        Goal("batched", ">=", 100_000, "batched metrics >= 100,000 points/s", DURABLE),
        Goal("latest@10000", "flat", 2, "latest at 10,000 <= 2x latest at 100", "issue 4"),
        Goal("delete", "<", 1, "delete a model of 10,000 versions < 1 s", "issue 4", 10_000),
        Goal("page", "<", 0.5, "page through 10,000 versions < 0.5 s", "issue 4", 10_000),
    ],
    "postgres": [
        Goal("create", "x", 4, "create-to-READY with 2 tags >= 4x MLflow", DURABLE),
        Goal("get", "x", 20, "get a version >= 20x MLflow", DURABLE),
        Goal("log_metric", "x", 3, "single log_metric >= 3x MLflow", "issue 4"),
        Goal("batched", ">=", 50_000, "batched metrics >= 50,000 points/s", "issue 4"),
        Goal("latest@10000", "<", 2, "latest < 2 ms at 10,000 versions", "issue 4"),
        Goal("latest@10000", "flat", 2, "latest at 10,000 <= 2x latest at 100", "issue 4"),
        Goal("delete", "<", 1, "delete a model of 10,000 versions < 1 s", "issue 4", 10_000),
        Goal("page", "<", 0.5, "page through 10,000 versions < 0.5 s", "issue 4", 10_000),
    ],
}


def rows_of(result: dict[str, Any], names: list[str], versions: int) -> list[dict[str, Any]]:
    """One row per figure: every side's value and each modelreg side's speedup."""
    latest = sorted((k for k in result if k.startswith("latest@")), key=lambda k: int(k[7:]))
    figures = [
        *FIGURES[:2],
        *((k, f"latest over {int(k[7:]):,} versions (median)", "ms", False) for k in latest),
        *FIGURES[2:],
    ]
    rows = []
    for key, label, unit, higher in figures:
        values = dict(zip(names, result[key], strict=True))
        theirs = values["mlflow"]
        row: dict[str, Any] = {"figure": key, "operation": label, "unit": unit, **values}
        for name in names[1:]:
            mine = values[name]
            row[f"speedup_{name}"] = mine / theirs if higher else theirs / mine
        if key == "page":
            row["seen"] = dict(zip(names, result["page_seen"], strict=True))
            row["mlflow_lower_bound"] = row["seen"]["mlflow"] < versions
        rows.append(row)
    return rows


def judge(
    goal: Goal, rows: dict[str, dict[str, Any]], versions: int, end_ok: bool
) -> dict[str, Any]:
    """The goal's verdict (PASS, FAIL or n/a) on modelreg's durable figure."""
    row = rows.get(goal.figure)
    out: dict[str, Any] = {**dataclasses.asdict(goal), "measured": None, "verdict": "n/a"}
    if row is None or versions < goal.min_versions:
        return out
    mine = row["modelreg"]
    if goal.test == "x":
        measured = row["speedup_modelreg"]
        ok = measured >= goal.target
    elif goal.test == "flat":
        measured = mine / rows["latest@100"]["modelreg"]
        ok = measured <= goal.target
    else:
        measured = mine
        ok = mine < goal.target if goal.test == "<" else mine >= goal.target
    if goal.figure == "page" and row["seen"]["modelreg"] < versions:
        ok = False
    if goal.figure == "create" and not end_ok:
        ok = False  # a create that does not leave the same end state is not comparable
    out.update(measured=measured, verdict="PASS" if ok else "FAIL")
    return out


def evaluate(
    result: dict[str, Any], names: list[str], versions: int, kind: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = rows_of(result, names, versions)
    expected = {"versions": versions, "ready": versions, "ready_with_tags": versions}
    end_ok = all(state == expected for state in result["end_state"])
    by_figure = {row["figure"]: row for row in rows}
    goals = [judge(goal, by_figure, versions, end_ok) for goal in GOALS[kind]]
    mlflow, ours = result["durability"][:2]
    equal = mlflow["durable"] == ours["durable"]
    goals.insert(
        0,
        {
            "text": "equal durability, MLflow and modelreg as shipped",
            "source": DURABLE,
            "measured": f"MLflow durable={mlflow['durable']}, modelreg durable={ours['durable']}",
            "verdict": "PASS" if equal else "FAIL",
        },
    )
    return rows, goals


def print_report(
    result: dict[str, Any],
    names: list[str],
    rows: list[dict[str, Any]],
    goals: list[dict[str, Any]],
    title: str,
) -> None:
    print(f"\nmodelreg SQL backend vs MLflow SqlAlchemyStore on {title}")
    print("durability, read back from each side's own connection:")
    for name, found in zip(names, result["durability"], strict=True):
        print(f"  {LABELS[name]:<44} {describe_durability(found)}")
    print(f"end state after the creates (expected: every version READY with the {len(TAGS)} tags):")
    for name, state in zip(names, result["end_state"], strict=True):
        print(
            f"  {LABELS[name]:<44} {state['versions']} versions, {state['ready']} READY, "
            f"{state['ready_with_tags']} READY with the tags"
        )
    head = f"{'operation':<36} {'unit':<10} {'MLflow':>10} {'modelreg':>10} {'x':>7}"
    if len(names) > 2:
        head += f" {'relaxed*':>10} {'x':>7}"
    print("\n" + head)
    print("-" * len(head))
    for r in rows:
        more = ">" if r.get("mlflow_lower_bound") else " "
        line = f"{r['operation']:<36} {r['unit']:<10} {more}{r['mlflow']:>9.3f}"
        for name in names[1:]:
            line += f" {r[name]:>10.3f} {more}{r[f'speedup_{name}']:>5.1f}x"
        print(line)
        if r.get("mlflow_lower_bound"):
            print(f"{'':<36} (MLflow stopped after {r['seen']['mlflow']} versions)")
    legend = "'x': how many times faster than MLflow"
    if len(names) > 2:
        legend += "; relaxed*: modelreg ?synchronous=normal, NOT durable, in no goal"
    print(f"({legend})")
    print("\ngoals (modelreg as shipped, durable):")
    for g in goals:
        measured = g["measured"]
        shown = f"{measured:,.3f}" if isinstance(measured, float) else str(measured or "-")
        print(f"  {g['verdict']:<4} {g['text']} [{g['source']}]: {shown}")


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
        help="PostgreSQL: set on every database; 'off' takes the WAL flush out of each commit",
    )
    parser.add_argument(
        "--relaxed",
        action="store_true",
        help="add modelreg with ?synchronous=normal (not durable) as a third side",
    )
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    with databases(args.db, args.postgres_url, args.synchronous_commit, args.relaxed) as (
        urls,
        folder,
    ):
        names = list(urls)
        result = run(urls, folder, args.versions, args.metrics)
    rows, goals = evaluate(result, names, args.versions, args.db)
    title = args.db
    if args.db == "postgres":
        title += f" (synchronous_commit={args.synchronous_commit} on every database)"
    print_report(result, names, rows, goals, title)
    document = {
        "db": args.db,
        "synchronous_commit": args.synchronous_commit if args.db == "postgres" else None,
        "versions": args.versions,
        "tags": TAGS,
        "sides": {name: LABELS[name] for name in names},
        "durability": dict(zip(names, result["durability"], strict=True)),
        "end_state": dict(zip(names, result["end_state"], strict=True)),
        "rows": rows,
        "goals": goals,
    }
    print(json.dumps(document, indent=1))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(document, out, indent=1)
    return 0 if all(g["verdict"] != "FAIL" for g in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
