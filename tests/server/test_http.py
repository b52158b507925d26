"""The server over raw HTTP: error shapes, limits, hostile artifact paths, credentials,
and verified downloads — what the stock client never sends but others will."""

from __future__ import annotations

import base64
import http.client
import json
import logging
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from serverkit import PREFIX, Served, assert_error, send

from registry_core import Registry


@pytest.fixture
def backend() -> str:
    """Raw HTTP is checked on the files backend; the stock-client tests run on every one."""
    return "files"


@pytest.fixture
def draft(served: Served) -> tuple[str, str]:
    """Model ``fraud`` with draft 1.0.0 holding ``model.bin``."""
    reg: Registry = served.registry
    reg.create_model("fraud")
    reg.create_version("fraud", "1.0.0")
    answer = send(served, "PUT", "/api/2.0/mlflow-artifacts/artifacts/fraud/1.0.0/model.bin", b"w")
    assert answer.status == 200
    return "fraud", "1.0.0"


# -- error shapes -----------------------------------------------------------------------


def test_unknown_endpoints_and_methods_answer_mlflow_errors(served: Served) -> None:
    assert_error(send(served, "GET", "/api/2.0/mlflow/nope"), 404, "ENDPOINT_NOT_FOUND")
    answer = send(served, "GET", "/api/2.0/mlflow/registered-models/create")
    assert_error(answer, 405, "ENDPOINT_NOT_FOUND")
    assert "POST" in answer.headers.get("allow", "")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"name": ["x"]}).encode(), "must be a string"),
        (json.dumps({}).encode(), "required parameter 'name'"),
        (json.dumps({"name": "a b"}).encode(), "invalid"),
    ],
)
def test_bad_bodies_are_400(served: Served, body: bytes, why: str) -> None:
    answer = send(served, "POST", "/api/2.0/mlflow/registered-models/create", body)
    assert why in assert_error(answer, 400, "INVALID_PARAMETER_VALUE")["message"]


def test_delete_reads_its_json_body(served: Served) -> None:
    served.registry.create_model("gone")
    answer = send(served, "DELETE", "/api/2.0/mlflow/registered-models/delete", {"name": "gone"})
    assert (answer.status, answer.json()) == (200, {})


def test_oversized_json_bodies_are_413(served: Served) -> None:
    big = {"name": "x", "description": "d" * (2 * 1024 * 1024)}
    answer = send(served, "POST", "/api/2.0/mlflow/registered-models/create", big)
    assert_error(answer, 413, "RESOURCE_LIMIT_EXCEEDED")


def test_oversized_artifacts_are_413_and_leave_nothing(
    served: Served, draft: tuple[str, str]
) -> None:
    url = "/api/2.0/mlflow-artifacts/artifacts/fraud/1.0.0/big.bin"
    assert_error(send(served, "PUT", url, b"x" * (9 * 1024 * 1024)), 413, "RESOURCE_LIMIT_EXCEEDED")
    chunks = (b"x" * 65536 for _ in range(160))  # 10 MiB, chunked: no Content-Length
    answer = send(served, "PUT", url, chunks)  # type: ignore[arg-type]
    assert_error(answer, 413, "RESOURCE_LIMIT_EXCEEDED")
    paths = [a.path.value for a in served.registry.list_artifacts(*draft)]
    assert paths == ["model.bin"]


def test_page_tokens_are_bound_to_their_search(served: Served) -> None:
    for n in "abc":
        served.registry.create_model(f"m{n}")
    answer = send(served, "GET", "/api/2.0/mlflow/registered-models/search?max_results=1")
    token = answer.json()["next_page_token"]
    other = f"/api/2.0/mlflow/model-versions/search?page_token={token}"
    assert_error(send(served, "GET", other), 400, "INVALID_PARAMETER_VALUE")
    garbage = "/api/2.0/mlflow/registered-models/search?page_token=%25%25"
    assert_error(send(served, "GET", garbage), 400, "INVALID_PARAMETER_VALUE")


# -- artifact paths ---------------------------------------------------------------------

BAD_PATHS = [
    "../../../etc/passwd",
    "sub/../../x",
    "%2e%2e/%2e%2e/x",
    "%2E%2E%2fx",
    "%252e%252e/x",
    "a%2fb",
    "/etc/passwd",
    "a//b",
    "./x",
    "a\\b",
    "a%5cb",
    "..%5cx",
    "a%00b",
    "a%0ab",
    "C:%5cwin",
]


@pytest.mark.parametrize("bad", BAD_PATHS)
@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
def test_hostile_artifact_paths_are_400(
    served: Served, draft: tuple[str, str], tmp_path: Path, method: str, bad: str
) -> None:
    url = f"/api/2.0/mlflow-artifacts/artifacts/fraud/1.0.0/{bad}"
    answer = send(served, method, url, b"evil" if method == "PUT" else None)
    assert_error(answer, 400, "INVALID_PARAMETER_VALUE")
    assert [a.path.value for a in served.registry.list_artifacts(*draft)] == ["model.bin"]
    assert not list(tmp_path.parent.rglob("passwd")) and not list(tmp_path.rglob("x"))


@pytest.mark.parametrize("bad", ["fraud/1.0.0/../x", "fraud/1.0.0/%2e%2e", "/fraud/1.0.0", "fraud"])
def test_hostile_listing_paths_are_400(served: Served, draft: tuple[str, str], bad: str) -> None:
    answer = send(served, "GET", f"/api/2.0/mlflow-artifacts/artifacts?path={bad}")
    assert_error(answer, 400, "INVALID_PARAMETER_VALUE")


def test_listing_missing_folders_is_empty_and_missing_versions_404(
    served: Served, draft: tuple[str, str]
) -> None:
    answer = send(served, "GET", "/api/2.0/mlflow-artifacts/artifacts?path=fraud/1.0.0/nothing")
    assert (answer.status, answer.json()) == (200, {"files": []})
    answer = send(served, "GET", "/api/2.0/mlflow-artifacts/artifacts?path=fraud/9.0.0")
    assert_error(answer, 404, "RESOURCE_DOES_NOT_EXIST")


def test_models_with_slashes_and_versions_with_build_metadata(served: Served) -> None:
    served.registry.create_model("team/fraud")
    served.registry.create_version("team/fraud", "1.0.0+build.7")
    url = "/api/2.0/mlflow-artifacts/artifacts/team/fraud/1.0.0+build.7/conf/a%20b.json"
    assert send(served, "PUT", url, b"{}").status == 200
    got = send(served, "GET", url)
    assert (got.status, got.body) == (200, b"{}")
    assert served.registry.list_artifacts("team/fraud", "1.0.0")[0].path.value == "conf/a b.json"
    run = send(served, "GET", "/api/2.0/mlflow/runs/get?run_id=1_d0_d0_pbuild_d7_mteam_sfraud")
    assert run.json()["run"]["info"]["artifact_uri"] == "mlflow-artifacts:/team/fraud/1.0.0+build.7"


# -- downloads are verified ---------------------------------------------------------------


def test_a_corrupted_artifact_is_never_served_whole(served: Served, tmp_path: Path) -> None:
    reg = served.registry
    reg.create_model("fraud")
    reg.create_version("fraud", "1.0.0")
    data = bytes(range(256)) * 8192  # 2 MiB: more than one chunk
    url = "/api/2.0/mlflow-artifacts/artifacts/fraud/1.0.0/model.bin"
    assert send(served, "PUT", url, data).status == 200
    assert send(served, "GET", url).body == data
    blob = next(p for p in tmp_path.rglob("model.bin") if p.is_file())
    blob.write_bytes(data[:-1] + b"\x00")  # same size, one byte changed
    with pytest.raises(http.client.IncompleteRead):
        send(served, "GET", url)


# -- credentials ------------------------------------------------------------------------


def test_credentials(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    path = "/api/2.0/mlflow/registered-models/search"
    bogus = "mrt_" + "A" * 43
    answer = send(served, "GET", path, user=None, headers={"Authorization": f"Bearer {bogus}"})
    assert bogus not in assert_error(answer, 401, "UNAUTHENTICATED")["message"]
    basic = base64.b64encode(f"whoever:{served.tokens['ana']}".encode()).decode()
    answer = send(served, "GET", path, user=None, headers={"Authorization": f"Basic {basic}"})
    assert answer.status == 200
    for header in ("Basic !!!", "Basic " + base64.b64encode(b"only-user").decode(), "Token x"):
        answer = send(served, "GET", path, user=None, headers={"Authorization": header})
        assert_error(answer, 401, "UNAUTHENTICATED")
    assert send(served, "GET", path, user=None).status == 401  # private registry, anonymous
    assert bogus not in caplog.text and served.tokens["ana"] not in caplog.text


# -- the small endpoints ------------------------------------------------------------------


def test_server_info_logged_models_health_and_openapi(served: Served) -> None:
    info = send(served, "GET", "/api/3.0/mlflow/server-info", user=None)
    assert info.json() == {"multipart_uploads_enabled": False, "multipart_downloads_enabled": False}
    models = send(served, "POST", "/api/2.0/mlflow/logged-models/search", {"experiment_ids": ["0"]})
    assert models.json() == {"models": []}
    assert send(served, "GET", "/health", user=None).body == b"OK"
    doc = send(served, "GET", "/openapi.json", user=None).json()
    assert doc["servers"] == [{"url": PREFIX}]
    assert "/api/2.0/mlflow/model-versions/create" in doc["paths"]
    mpu = send(served, "POST", "/api/2.0/mlflow-artifacts/mpu/create/fraud/1.0.0", {"path": "x"})
    assert assert_error(mpu, 501, "NOT_IMPLEMENTED")["message"].startswith(
        "Multipart upload is not supported for the current artifact repository"
    )


def test_nothing_answers_outside_the_prefix(served: Served) -> None:
    url = urlsplit(served.base)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    conn.request("GET", "/api/2.0/mlflow/registered-models/search")
    response = conn.getresponse()
    assert response.status == 404
    assert json.loads(response.read())["error_code"] == "ENDPOINT_NOT_FOUND"
    conn.close()


def test_the_app_mounted_in_a_larger_one_serves_its_calls_below_the_mount(
    registry: Registry,
) -> None:
    from serverkit import ServerThread
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from registry_server import create_app

    registry.create_model("fraud")
    registry.create_version("fraud", "1.0.0")
    outer = Starlette(routes=[Mount("/ml", create_app(registry, trust_anonymous=True))])
    with ServerThread(outer) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            answers = []
            for mount in ("/ml", "", "/ml/x"):
                path = "/api/2.0/mlflow/model-versions/get?name=fraud&version=1.0.0"
                conn.request("GET", mount + path)
                response = conn.getresponse()
                answers.append((response.status, response.read()))
        finally:
            conn.close()
    assert answers[0][0] == 200
    assert json.loads(answers[0][1])["model_version"]["version"] == "1.0.0"
    assert [status for status, _ in answers[1:]] == [404, 404]


def test_head_of_an_artifact_reads_nothing_and_writes_nothing(
    served: Served, draft: tuple[str, str]
) -> None:
    url = "/api/2.0/mlflow-artifacts/artifacts/fraud/1.0.0/model.bin"
    answer = send(served, "HEAD", url)
    assert (answer.status, answer.headers["content-length"], answer.body) == (200, "1", b"")
    assert send(served, "HEAD", url.replace("model.bin", "new.bin")).status == 404
    assert [a.path.value for a in served.registry.list_artifacts(*draft)] == ["model.bin"]
