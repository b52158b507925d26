"""Helpers shared by the server tests: serving an app with uvicorn in a thread, and
raw HTTP requests sent exactly as written."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import uvicorn

from needs import need
from registry_backends import open_registry
from registry_core import BackendNotInstalled, InvalidInput, Registry
from registry_server import create_app

PREFIX = "/api/v4/projects/42/ml/mlflow"


def open_backend(kind: str, root: Path) -> Registry:
    """A fresh registry of ``kind`` under ``root``; skips while the SQL backend is absent."""
    if kind == "files":
        return open_registry(str(root / "registry"))
    try:
        return open_registry(f"sqlite:///{root / 'registry.db'}")
    except (InvalidInput, BackendNotInstalled, ImportError) as error:
        need("the SQLite backend", f"pip install -e '.[sql,test]'; opening it said: {error}")


@attrs.frozen
class Served:
    """A running server: its tracking URI, the registry behind it, and a token per user."""

    url: str
    base: str
    registry: Registry
    tokens: dict[str, str]


class ServerThread:
    """uvicorn serving ``app`` in a daemon thread on a socket bound to a free port."""

    def __init__(self, app: Any) -> None:
        # IPPROTO_TCP named: asyncio turns Nagle's algorithm off only on sockets whose
        # proto says TCP, and with it on every answer waited 40 ms for a delayed ACK
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def __enter__(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.005)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()


def serve(registry: Registry, **options: Any) -> Iterator[Served]:
    """Serve ``registry`` (users ana=maintainer, rob=reporter, gil=guest, each a token)."""
    roles = {"ana": "maintainer", "rob": "reporter", "gil": "guest"}
    tokens = {}
    for user, role in roles.items():
        registry.grant(user, role)
        tokens[user] = registry.create_token(user, description=f"{user}'s test token")
    tokens["eve"] = registry.create_token("eve")  # a token, but no membership
    app = create_app(registry, prefix=PREFIX, **options)
    with ServerThread(app) as server:
        base = f"http://127.0.0.1:{server.port}"
        yield Served(base + PREFIX, base, registry, tokens)


@attrs.frozen
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


def send(
    served: Served,
    method: str,
    path: str,
    body: bytes | dict[str, Any] | None = None,
    *,
    user: str | None = "ana",
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request with ``path`` sent exactly as given (no normalisation, no quoting)."""
    url = urlsplit(served.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    sent = dict(headers or {})
    if user is not None:
        sent.setdefault("Authorization", f"Bearer {served.tokens[user]}")
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    if isinstance(body, dict):
        sent["Content-Type"] = "application/json"
    try:
        conn.request(method, PREFIX + path, body=data, headers=sent)
        response = conn.getresponse()
        return Answer(response.status, response.read(), dict(response.getheaders()))
    finally:
        conn.close()


def assert_error(answer: Answer, status: int, code: str) -> dict[str, Any]:
    assert answer.status == status, answer.body
    doc = answer.json()
    assert set(doc) == {"error_code", "message"}
    assert doc["error_code"] == code
    return dict(doc)
