"""Fixtures for the MLflow-compatible server: a registry on each backend, the app served
by uvicorn in a thread on a free port of 127.0.0.1, and the stock MLflow client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from serverkit import Served, open_backend, serve

from registry_core import Registry

BACKENDS = ["files", "sqlite"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def registry(backend: str, tmp_path: Path) -> Registry:
    return open_backend(backend, tmp_path)


@pytest.fixture
def served(registry: Registry) -> Iterator[Served]:
    yield from serve(registry, max_body_bytes=1024 * 1024, max_artifact_bytes=8 * 1024 * 1024)


@pytest.fixture
def name() -> str:
    """A model name no other test uses: the MLflow client caches artifact repositories
    by run id for the whole process, and run ids are made of model names."""
    return f"model-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def mlflow_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Fail fast (no retries) and keep the client quiet."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    monkeypatch.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


@pytest.fixture
def client(served: Served, mlflow_env: pytest.MonkeyPatch) -> Any:
    """The stock ``MlflowClient`` on the server, as the maintainer ana."""
    mlflow = pytest.importorskip("mlflow")
    mlflow_env.setenv("MLFLOW_TRACKING_TOKEN", served.tokens["ana"])
    return mlflow.MlflowClient(tracking_uri=served.url, registry_uri=served.url)
