"""The permission rules hold over HTTP: every caller against public and private registries.

Callers: anonymous (no token), ``eve`` (a token but no membership), and the members
``gil`` (guest), ``rob`` (reporter) and ``ana`` (maintainer). Reading needs a public
registry or a membership; changing needs reporter or up. A refused anonymous caller gets
401 (a token may let it in), a refused known user 403.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from serverkit import Served, send

from registry_core import Registry, Version


@pytest.fixture
def backend() -> str:
    return "files"  # the rules live in the core; one backend shows they hold over HTTP


CALLERS = [None, "eve", "gil", "rob", "ana"]
WRITERS = {"rob", "ana"}
MEMBERS = {"gil", "rob", "ana"}


def _operations(reg: Registry) -> dict[str, tuple[str, str, Any, bool]]:
    """name -> (method, path, body, is_a_write); each write gets targets of its own."""
    doomed = f"doomed-{uuid.uuid4().hex[:8]}"
    reg.create_model(doomed)
    art = "/api/2.0/mlflow-artifacts/artifacts"
    new = f"new-{uuid.uuid4().hex[:8]}"
    return {
        "get model": ("GET", "/api/2.0/mlflow/registered-models/get?name=fraud", None, False),
        "get version": (
            "GET",
            "/api/2.0/mlflow/model-versions/get?name=fraud&version=1.0.0",
            None,
            False,
        ),
        "search": ("GET", "/api/2.0/mlflow/registered-models/search", None, False),
        "get run": ("GET", "/api/2.0/mlflow/runs/get?run_id=1_d0_d0_mfraud", None, False),
        "list artifacts": ("GET", f"{art}?path=fraud/1.0.0", None, False),
        "download": ("GET", f"{art}/fraud/1.0.0/model.bin", None, False),
        "create model": ("POST", "/api/2.0/mlflow/registered-models/create", {"name": new}, True),
        "set tag": (
            "POST",
            "/api/2.0/mlflow/registered-models/set-tag",
            {"name": "fraud", "key": "k", "value": "v"},
            True,
        ),
        "log metric": (
            "POST",
            "/api/2.0/mlflow/runs/log-metric",
            {"run_id": "1_d0_d0_mfraud", "key": "m", "value": 1.0, "timestamp": 1},
            True,
        ),
        "upload": ("PUT", f"{art}/fraud/2.0.0/{new}.bin", b"bytes", True),
        "alias by tag": (
            "POST",
            "/api/2.0/mlflow/model-versions/set-tag",
            {"name": "fraud", "version": "1.0.0", "key": "modelreg.alias", "value": "prod"},
            True,
        ),
        "unalias by tag": (
            "DELETE",
            "/api/2.0/mlflow/model-versions/delete-tag",
            {"name": "fraud", "version": "1.0.0", "key": "modelreg.alias"},
            True,
        ),
        "delete model": (
            "DELETE",
            "/api/2.0/mlflow/registered-models/delete",
            {"name": doomed},
            True,
        ),
    }


def _expected(caller: str | None, visibility: str, write: bool) -> int:
    allowed = caller in WRITERS if write else (visibility == "public" or caller in MEMBERS)
    if allowed:
        return 200
    return 401 if caller is None else 403


@pytest.mark.parametrize("visibility", ["public", "private"])
@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c or "anonymous")
def test_permission_matrix(served: Served, visibility: str, caller: str | None) -> None:
    reg = served.registry
    reg.update_settings(visibility=visibility)
    reg.create_model("fraud")
    with reg.new_version("fraud", "1.0.0") as draft:
        draft.upload(io.BytesIO(b"weights"), name="model.bin")
    reg.create_version("fraud", "2.0.0")
    reg.set_alias("fraud", "champion", "1.0.0")  # for "unalias by tag" to remove
    got = {}
    want = {}
    for label, (method, path, body, write) in _operations(reg).items():
        answer = send(served, method, path, body, user=caller)
        got[label] = answer.status
        want[label] = _expected(caller, visibility, write)
        if answer.status != 200:
            code = answer.json()["error_code"]
            assert code == ("UNAUTHENTICATED" if answer.status == 401 else "PERMISSION_DENIED")
    assert got == want


@pytest.mark.parametrize("caller", [None, "gil"], ids=["anonymous", "guest"])
def test_who_may_not_write_cannot_point_an_alias_by_tag(
    served: Served, mlflow_env: pytest.MonkeyPatch, caller: str | None
) -> None:
    mlflow = pytest.importorskip("mlflow")
    reg = served.registry
    reg.update_settings(visibility="public")
    reg.create_model("fraud")
    reg.create_version("fraud", "1.0.0")
    reg.publish("fraud", "1.0.0")
    if caller is not None:
        mlflow_env.setenv("MLFLOW_TRACKING_TOKEN", served.tokens[caller])
    client = mlflow.MlflowClient(tracking_uri=served.url, registry_uri=served.url)
    with pytest.raises(mlflow.exceptions.MlflowException) as error:
        client.set_model_version_tag("fraud", "1.0.0", "modelreg.alias", "champion")
    refused = "UNAUTHENTICATED" if caller is None else "PERMISSION_DENIED"
    assert error.value.error_code == refused
    assert reg.get_model("fraud").aliases == {}
    reg.set_alias("fraud", "champion", "1.0.0")
    with pytest.raises(mlflow.exceptions.MlflowException) as error:
        client.delete_model_version_tag("fraud", "1.0.0", "modelreg.alias")
    assert error.value.error_code == refused
    assert reg.get_alias("fraud", "champion").version == Version.parse("1.0.0")

    mlflow_env.setenv("MLFLOW_TRACKING_TOKEN", served.tokens["rob"])  # a reporter may
    client.delete_model_version_tag("fraud", "1.0.0", "modelreg.alias")
    client.set_model_version_tag("fraud", "1.0.0", "modelreg.alias", "production")
    assert reg.get_model("fraud").aliases == {"production": Version.parse("1.0.0")}


def test_a_revoked_token_is_401_and_a_disabled_registry_refuses_all(served: Served) -> None:
    reg = served.registry
    path = "/api/2.0/mlflow/registered-models/search"
    assert send(served, "GET", path, user="rob").status == 200
    [info] = reg.list_tokens("rob")
    reg.revoke_token(info.id)
    assert send(served, "GET", path, user="rob").json()["error_code"] == "UNAUTHENTICATED"
    reg.update_settings(enabled=False)
    answer = send(served, "GET", path, user="ana")
    assert (answer.status, answer.json()["error_code"]) == (403, "PERMISSION_DENIED")


def test_revoking_a_token_or_a_membership_takes_effect_on_the_next_call(served: Served) -> None:
    reg = served.registry
    reg.create_model("fraud")
    reg.create_version("fraud", "1.0.0")
    reg.publish("fraud", "1.0.0")
    reg.set_alias("fraud", "champion", "1.0.0")
    path = "/api/2.0/mlflow/model-versions/get?name=fraud&version=1.0.0"
    for user in ("gil", "rob"):
        assert send(served, "GET", path, user=user).json()["model_version"]["aliases"] == [
            "champion"
        ]
    [info] = reg.list_tokens("gil")
    reg.revoke_token(info.id)
    answer = send(served, "GET", path, user="gil")
    assert (answer.status, answer.json()["error_code"]) == (401, "UNAUTHENTICATED")
    reg.revoke("rob")
    answer = send(served, "GET", path, user="rob")
    assert (answer.status, answer.json()["error_code"]) == (403, "PERMISSION_DENIED")


def test_the_stock_client_with_basic_and_without_credentials(
    served: Served, mlflow_env: pytest.MonkeyPatch
) -> None:
    mlflow = pytest.importorskip("mlflow")
    client = mlflow.MlflowClient(tracking_uri=served.url, registry_uri=served.url)
    with pytest.raises(mlflow.exceptions.MlflowException) as error:
        client.search_registered_models()
    assert error.value.error_code == "UNAUTHENTICATED"
    mlflow_env.setenv("MLFLOW_TRACKING_USERNAME", "rob")
    mlflow_env.setenv("MLFLOW_TRACKING_PASSWORD", served.tokens["rob"])
    assert client.create_registered_model("by-rob").name == "by-rob"
    mlflow_env.setenv("MLFLOW_TRACKING_PASSWORD", served.tokens["gil"])
    with pytest.raises(mlflow.exceptions.MlflowException) as error:
        client.create_registered_model("by-gil")
    assert error.value.error_code == "PERMISSION_DENIED"
    assert "guest" in str(error.value)
