"""Where the server runs a call: the few-point-read calls on the event loop when the
backend's reads never wait, everything else in a worker thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from serverkit import PREFIX, Served, ServerThread, send
from starlette.types import Receive, Scope, Send

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
