"""``modelreg serve`` as real subprocesses, and a small REST client for them.

Shared by ``test_two_servers.py`` and ``benchmarks/two_servers.py``: several server
processes over one registry URL (PostgreSQL for metadata, S3 for files), each started the
way an operator starts one, with the registry URL and the S3 settings in its environment.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

__all__ = ["MLFLOW", "Answer", "Rest", "ServeProcess", "s3_environment", "tags"]

MODELREG = Path(sys.executable).parent / "modelreg"
MLFLOW = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
#: Variables a server process must not inherit from whoever runs the tests.
_DROPPED = ("MODELREG_", "MLFLOW_", "AWS_")


def s3_environment(endpoint: str, key: str, secret: str) -> dict[str, str]:
    """What the S3 artifact store reads (botocore's own variables): an S3-compatible
    server at ``endpoint`` with these credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def tags(mapping: Mapping[str, str]) -> list[dict[str, str]]:
    """MLflow's ``[{key, value}]`` form of a tag dict."""
    return [{"key": key, "value": value} for key, value in mapping.items()]


class ServeProcess:
    """One ``modelreg serve`` child on 127.0.0.1:``port``; the registry URL goes in
    ``MODELREG_URL`` (as a deployment would pass it, keeping a password off the command
    line), stderr to ``log``."""

    def __init__(
        self, url: str, port: int, log: Path, env: Mapping[str, str], prefix: str = ""
    ) -> None:
        self.port = port
        self.log = log
        self.base = f"http://127.0.0.1:{port}{prefix}"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)}
        command = [str(MODELREG), "serve", "--port", str(port), "--log-level", "warning"]
        if prefix:
            command += ["--prefix", prefix]
        with log.open("wb") as stderr:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env={**inherited, **env, "MODELREG_URL": url},
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, seconds: float = 60.0) -> None:
        """Poll ``/health`` until it answers; raise with the server's log if it never does."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=2) as answer:
                    if answer.read() == b"OK":
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"modelreg serve on port {self.port} did not start:\n{self.text()}"
                )
            time.sleep(0.05)

    def text(self) -> str:
        """What the server wrote to stderr so far."""
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Answer:
    """A status and a body (parsed as JSON when it is JSON)."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        """MLflow's ``error_code`` of an error answer."""
        if self.status == 200:
            return None
        try:
            return str(self.json().get("error_code"))
        except ValueError:
            return None

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.body[:300]!r})"


class Rest:
    """One keep-alive connection to a server (so one per thread), sending a token.

    A connection idle for a while is replaced before it is used again rather than retried
    after a failure: the server closes idle keep-alive connections (uvicorn: after 5 s),
    and a write must never be sent twice.
    """

    _IDLE = 2.0

    def __init__(self, base: str, token: str, timeout: float = 60.0) -> None:
        parts = urlsplit(base)
        self.host, self.port, self.prefix = parts.hostname or "", parts.port, parts.path
        self.token = token
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._used = 0.0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ""
    ) -> Answer:
        if self._conn is None or time.monotonic() - self._used > self._IDLE:
            self.close()
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        headers = {"Authorization": f"Bearer {self.token}"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            self._conn.request(method, self.prefix + path, body=body, headers=headers)
            response = self._conn.getresponse()
            answer = Answer(response.status, response.read())
        except BaseException:
            self.close()
            raise
        self._used = time.monotonic()
        if response.will_close:
            self.close()
        return answer

    def call(self, method: str, endpoint: str, fields: Mapping[str, Any] | None = None) -> Answer:
        """An MLflow REST call: GET fields in the query string, others as a JSON body."""
        if method == "GET":
            query = f"?{urlencode(fields)}" if fields else ""
            return self.request("GET", f"{MLFLOW}{endpoint}{query}")
        body = json.dumps(dict(fields or {})).encode()
        return self.request(method, MLFLOW + endpoint, body, "application/json")

    def ok(self, method: str, endpoint: str, fields: Mapping[str, Any] | None = None) -> Any:
        """`call`, which must answer 200; its JSON."""
        answer = self.call(method, endpoint, fields)
        if answer.status != 200:
            raise AssertionError(f"{method} {endpoint} {fields}: {answer!r}")
        return answer.json()

    def put_artifact(self, model: str, version: str, path: str, data: bytes) -> Answer:
        return self.request("PUT", _artifact(model, version, path), data)

    def get_artifact(self, model: str, version: str, path: str) -> Answer:
        return self.request("GET", _artifact(model, version, path))


def _artifact(model: str, version: str, path: str) -> str:
    return f"{ARTIFACTS}/{quote(model)}/{quote(version)}/{quote(path)}"
