"""Where the server runs a call: the few-point-read calls on the event loop when the
backend's reads never wait, the small writes of a run there too when its writes are quick
(SQLite) and would not wait, everything else in a worker thread."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from serverkit import PREFIX, Served, ServerThread, send
from starlette.types import Receive, Scope, Send

from registry_backends import open_registry
from registry_core import MemoryRepository, Registry
from registry_core.protocol import Document, Key
from registry_server import create_app


class _Recording(MemoryRepository):
    """Memory storage that notes which threads read from it."""

    def __init__(self, quick: bool) -> None:
        super().__init__()
        self.quick_reads = quick
        self.readers: set[int] = set()

    def get(self, key: Key) -> Document | None:
        self.readers.add(threading.get_ident())
        return super().get(key)


class _Setup:
    def __init__(self, quick: bool) -> None:
        self.repo = _Recording(quick)
        self.loop_threads: set[int] = set()
        registry = Registry(self.repo)
        registry.grant("ana", "maintainer")
        self.token = registry.create_token("ana")
        registry.create_model("fraud")
        registry.create_version("fraud", "1.0.0")
        self.registry = registry

    def reader_threads(self, served: Served, method: str, path: str, body: dict) -> set[int]:
        self.repo.readers.clear()
        answer = send(served, method, path, body)
        assert answer.status == 200, answer.body
        return set(self.repo.readers)


@pytest.fixture(params=[True, False], ids=["quick-reads", "slow-reads"])
def setup(request: pytest.FixtureRequest) -> Iterator[tuple[_Setup, Served]]:
    made = _Setup(request.param)
    inner = create_app(made.registry, prefix=PREFIX)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        made.loop_threads.add(threading.get_ident())
        await inner(scope, receive, send)

    with ServerThread(app) as server:
        base = f"http://127.0.0.1:{server.port}"
        yield made, Served(base + PREFIX, base, made.registry, {"ana": made.token})


def test_point_reads_run_on_the_event_loop_only_over_quick_reads(
    setup: tuple[_Setup, Served],
) -> None:
    made, served = setup
    query = "/api/2.0/mlflow/model-versions/get?name=fraud&version=1.0.0"
    readers = made.reader_threads(served, "GET", query, {})
    assert len(made.loop_threads) == 1
    if made.repo.quick_reads:
        assert readers == made.loop_threads
    else:
        assert readers and not readers & made.loop_threads


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/2.0/mlflow/model-versions/create", {"name": "fraud", "source": ""}),
        ("GET", "/api/2.0/mlflow/runs/get?run_id=1_d0_d0_mfraud", {}),
        ("GET", "/api/2.0/mlflow/registered-models/search", {}),
    ],
    ids=["write", "metrics-read", "search"],
)
def test_writes_and_longer_reads_always_run_in_a_worker_thread(
    setup: tuple[_Setup, Served], method: str, path: str, body: dict
) -> None:
    made, served = setup
    readers = made.reader_threads(served, method, path, body)
    assert readers and not readers & made.loop_threads


# -- small writes on SQLite -----------------------------------------------------------------


class _SqliteSetup:
    """A SQLite registry with a run, served; notes the threads its writes run on."""

    def __init__(self, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.path = path
        self.registry = open_registry(f"sqlite:///{path}")
        self.run = self.registry.create_run(self.registry.create_experiment("fraud").id)
        self.registry.create_model("fraud")
        self.writers: list[int] = []
        repo = self.registry.repository
        put = repo.put_if_absent

        def noting(key: Key, data: dict) -> Document:
            self.writers.append(threading.get_ident())
            return put(key, data)

        monkeypatch.setattr(repo, "put_if_absent", noting)

    def metric(self, step: int) -> dict:
        return {"run_id": self.run.id, "key": "loss", "value": 0.5, "timestamp": 1, "step": step}


@pytest.fixture
def sqlite_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[_SqliteSetup, Served, set[int]]]:
    made = _SqliteSetup(tmp_path / "registry.db", monkeypatch)
    loop_threads: set[int] = set()
    inner = create_app(made.registry, prefix=PREFIX)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        loop_threads.add(threading.get_ident())
        await inner(scope, receive, send)

    made.registry.grant("ana", "maintainer")
    token = made.registry.create_token("ana")
    made.writers.clear()
    with ServerThread(app) as server:
        base = f"http://127.0.0.1:{server.port}"
        yield made, Served(base + PREFIX, base, made.registry, {"ana": token}), loop_threads
    made.registry.repository.close()  # type: ignore[attr-defined]


def test_a_small_write_on_sqlite_runs_on_the_event_loop(
    sqlite_served: tuple[_SqliteSetup, Served, set[int]],
) -> None:
    made, served, loop_threads = sqlite_served
    answer = send(served, "POST", "/api/2.0/mlflow/runs/log-metric", made.metric(0))
    assert answer.status == 200, answer.body
    assert made.writers and set(made.writers) == loop_threads
    assert [m.step for m in made.registry.get_run_metrics(made.run.id)] == [0]


def test_a_small_write_that_would_wait_goes_to_a_thread_and_the_loop_serves_on(
    sqlite_served: tuple[_SqliteSetup, Served, set[int]],
) -> None:
    """Another process holds the file's write lock: the metric waits for it in a worker
    thread, while the event loop goes on answering reads."""
    made, served, loop_threads = sqlite_served
    holder = sqlite3.connect(made.path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    answers: list[int] = []
    writing = threading.Thread(
        target=lambda: answers.append(
            send(served, "POST", "/api/2.0/mlflow/runs/log-metric", made.metric(1)).status
        )
    )
    try:
        writing.start()
        time.sleep(0.3)
        started = time.monotonic()
        read = send(served, "GET", "/api/2.0/mlflow/registered-models/get?name=fraud")
        assert read.status == 200, read.body
        assert time.monotonic() - started < 0.25
        assert answers == []  # still waiting for the lock
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    writing.join(30)
    assert answers == [200]
    assert made.writers and not set(made.writers) & loop_threads
    assert [m.step for m in made.registry.get_run_metrics(made.run.id)] == [1]
