"""Schemathesis over the published OpenAPI document: whatever it sends, the server never
answers with a 5xx (the MLflow client would retry those for minutes), and every error is
MLflow-shaped. Examples are bounded so the run stays well under a minute."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from serverkit import PREFIX, Served, serve  # noqa: E402

from registry_backends import open_registry  # noqa: E402
from registry_server.openapi import openapi_document  # noqa: E402

schema = schemathesis.openapi.from_dict(openapi_document(PREFIX))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root: Path = tmp_path_factory.mktemp("openapi")
    registry = open_registry(str(root / "registry"))
    registry.create_model("fraud")
    with registry.new_version("fraud", "1.0.0") as draft:
        draft.log_param("p", "1")
    registry.create_version("fraud", "2.0.0")
    yield from serve(registry, max_body_bytes=256 * 1024, max_artifact_bytes=1024 * 1024)


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case: Any, api: Served) -> None:
    headers = {"Authorization": f"Bearer {api.tokens['ana']}"}
    response = case.call(base_url=api.base + PREFIX, headers=headers, timeout=30)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    )
    if response.status_code >= 400:
        doc = json.loads(response.text)
        assert set(doc) == {"error_code", "message"}
