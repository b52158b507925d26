"""Two ``modelreg serve`` processes over one PostgreSQL database and one S3 bucket behave as
one registry, as a team's deployment behind a load balancer must.

The layout is the real one: moto's S3 server, a fresh PostgreSQL schema, and two
``modelreg serve`` subprocesses started at once on the same URL (``?artifacts=s3://...``),
the S3 endpoint and credentials in their environment. Racing client threads send their
calls to the two servers in turn: one winner for one version, distinct bumps, no lost
update on one model, artifacts and publishing seen through the other server at once,
every metric point kept, and a token revoked on both at once (tokens live in the database).

Needs ``MODELREG_TEST_POSTGRES_URL``; with ``CI`` set, a missing server or package fails.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backends"))

from servers import S3_CREDENTIALS, free_port, require, start_moto

from needs import need

require("moto", "boto3", "s3fs", "sqlalchemy", "psycopg", "mlflow", extra="s3,postgres,server")

import mlflow  # noqa: E402
from serve_processes import Answer, Rest, ServeProcess, s3_environment, tags  # noqa: E402
from sql_support import ENV, new_database  # noqa: E402

from registry_backends.sql import open_sql  # noqa: E402
from registry_core import Registry, Version  # noqa: E402

BUCKET = "modelreg-two-servers"
PREFIX = "/mlflow"
T = TypeVar("T")


@attrs.frozen
class Cluster:
    """Two servers over one registry, a token for the maintainer ``ana``, the registry
    opened in this process (for tokens only: it never touches S3 here) and the bucket."""

    servers: list[ServeProcess]
    token: str
    registry: Registry
    s3: Any
    artifacts: str  # the key prefix in BUCKET

    def rest(self, index: int) -> Rest:
        return Rest(self.servers[index % 2].base, self.token)


def _postgres_url() -> tuple[str, Callable[[], None]]:
    if not os.environ.get(ENV["postgresql"]):
        need(f"${ENV['postgresql']}", "these tests need PostgreSQL; .ci/run sets it")
    return new_database("postgresql")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    import boto3
    import sqlalchemy as sa

    database, drop = _postgres_url()
    logs = tmp_path_factory.mktemp("servers")
    artifacts = f"registry-{uuid.uuid4().hex[:8]}"
    url = sa.make_url(database).update_query_dict({"artifacts": f"s3://{BUCKET}/{artifacts}"})
    url_text = url.render_as_string(hide_password=False)
    try:
        with start_moto() as endpoint:
            env = s3_environment(endpoint, S3_CREDENTIALS["key"], S3_CREDENTIALS["secret"])
            s3 = boto3.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                region_name=env["AWS_DEFAULT_REGION"],
            )
            s3.create_bucket(Bucket=BUCKET)
            # Started together on an empty schema: they race to create the tables.
            servers = [
                ServeProcess(url_text, free_port(), logs / f"server-{n}.log", env, PREFIX)
                for n in range(2)
            ]
            try:
                for server in servers:
                    server.wait_ready()
                repository = open_sql(url_text)  # the tables exist now
                registry = Registry(repository)
                registry.grant("ana", "maintainer")
                token = registry.create_token("ana", description="two-servers test")
                try:
                    yield Cluster(servers, token, registry, s3, artifacts)
                finally:
                    repository.close()
            finally:
                for server in servers:
                    server.stop()
            for server in servers:
                unexpected = [
                    line
                    for line in server.text().splitlines()
                    if line.strip() and not line.startswith("modelreg: serving on")
                ]
                assert not unexpected, f"server on {server.port} logged:\n" + "\n".join(unexpected)
    finally:
        drop()


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of (start, end) spans that were open at one instant."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    open_now = peak = 0
    for _, step in events:
        open_now += step
        peak = max(peak, open_now)
    return peak


def race(cluster: Cluster, count: int, action: Callable[[int, list[Rest]], T]) -> list[T]:
    """``action(i, rests)`` in ``count`` threads released at once; thread ``i`` gets its own
    connections to both servers, ``rests[0]`` to server ``i % 2``. Results by ``i``.

    It checks that they did race: at some instant at least half of them were in flight.
    """
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    spans: list[tuple[float, float]] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        rests = [cluster.rest(i), cluster.rest(i + 1)]
        try:
            for rest in rests:  # connect before the start line
                assert rest.request("GET", "/health").status == 200
            barrier.wait(30)
            start = time.monotonic()
            results[i] = action(i, rests)
            spans.append((start, time.monotonic()))
        except BaseException as error:
            errors.append(error)
            barrier.abort()
        finally:
            for rest in rests:
                rest.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a client thread hung"
    if errors:
        raise errors[0]
    assert most_at_once(spans) >= count // 2, "the clients did not overlap: no race was tested"
    return results


def new_model(cluster: Cluster) -> str:
    name = f"team/m-{uuid.uuid4().hex[:10]}"
    cluster.rest(0).ok("POST", "/registered-models/create", {"name": name})
    return name


def create(rest: Rest, model: str, **tag_map: str) -> Answer:
    fields = {"name": model, "source": "", "tags": tags(tag_map)}
    return rest.call("POST", "/model-versions/create", fields)


def created(rest: Rest, model: str, version: str) -> str:
    """Create draft ``version`` of ``model``; its run id."""
    answer = create(rest, model, **{"gitlab.version": version})
    assert answer.status == 200, answer
    return str(answer.json()["model_version"]["run_id"])


def version_on(rest: Rest, model: str, version: str) -> dict[str, Any]:
    found = rest.ok("GET", "/model-versions/get", {"name": model, "version": version})
    return dict(found["model_version"])


def tag_map(entity: dict[str, Any]) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in entity.get("tags", [])}


# -- races ------------------------------------------------------------------------------


def test_racing_creates_of_one_version_have_exactly_one_winner(cluster: Cluster) -> None:
    """Each racer sends its own tag, so no create looks like a retry of another (a retried
    identical create answers with the draft it made)."""
    model = new_model(cluster)
    for version in ("1.0.0", "2.0.0", "3.0.0", "3.1.0"):

        def racer(i: int, rests: list[Rest], version: str = version) -> Answer:
            return create(rests[0], model, **{"gitlab.version": version, "racer": str(i)})

        answers = race(cluster, 12, racer)
        winners = [i for i, answer in enumerate(answers) if answer.status == 200]
        assert len(winners) == 1, answers
        losers = {(a.status, a.code) for i, a in enumerate(answers) if i != winners[0]}
        assert losers == {(400, "RESOURCE_ALREADY_EXISTS")}, answers
        for server in range(2):
            assert tag_map(version_on(cluster.rest(server), model, version))["racer"] == str(
                winners[0]
            )


def test_racing_bumps_get_distinct_versions_without_gaps(cluster: Cluster) -> None:
    model = new_model(cluster)
    answers = race(
        cluster, 16, lambda i, rests: create(rests[0], model, **{"modelreg.bump": "patch"})
    )
    assert all(answer.status == 200 for answer in answers), answers
    versions = [answer.json()["model_version"]["version"] for answer in answers]
    expected = ["1.0.0"] + [f"1.0.{n}" for n in range(1, 16)]  # the first bump makes 1.0.0
    assert sorted(versions, key=Version.parse) == expected
    for server in range(2):
        found = cluster.rest(server).ok(
            "GET", "/model-versions/search", {"filter": f"name='{model}'", "max_results": 100}
        )
        assert sorted(v["version"] for v in found["model_versions"]) == sorted(expected)


def test_concurrent_changes_to_one_model_through_both_servers_lose_nothing(
    cluster: Cluster,
) -> None:
    """Model tags, aliases, version tags (each client its own key) and descriptions, all
    at once on one model and one version: every key is there at the end, on both."""
    model = new_model(cluster)
    first = cluster.rest(0)
    run_id = created(first, model, "1.0.0")
    first.ok("POST", "/runs/update", {"run_id": run_id, "status": "FINISHED"})  # aliases: ready

    def change(i: int, rests: list[Rest]) -> None:
        rest, kind = rests[0], i % 4
        if kind == 0:
            fields = {"name": model, "key": f"k{i}", "value": f"v{i}"}
            rest.ok("POST", "/registered-models/set-tag", fields)
        elif kind == 1:
            fields = {"name": model, "alias": f"a{i}", "version": "1.0.0"}
            rest.ok("POST", "/registered-models/alias", fields)
        elif kind == 2:
            fields = {"name": model, "version": "1.0.0", "key": f"vt{i}", "value": f"v{i}"}
            rest.ok("POST", "/model-versions/set-tag", fields)
        else:
            rest.ok("PATCH", "/registered-models/update", {"name": model, "description": f"d{i}"})

    count = 24
    race(cluster, count, change)
    for server in range(2):
        rest = cluster.rest(server)
        found = rest.ok("GET", "/registered-models/get", {"name": model})["registered_model"]
        assert tag_map(found) == {f"k{i}": f"v{i}" for i in range(0, count, 4)}
        aliases = {a["alias"]: a["version"] for a in found["aliases"]}
        assert aliases == {f"a{i}": "1.0.0" for i in range(1, count, 4)}
        assert found["description"] in {f"d{i}" for i in range(3, count, 4)}
        version = version_on(rest, model, "1.0.0")
        expected = {f"vt{i}": f"v{i}" for i in range(2, count, 4)}
        assert tag_map(version) == {
            **expected,
            "gitlab.version": "1.0.0",
            "modelreg.state": "ready",
        }
        assert sorted(version["aliases"]) == sorted(aliases)


def test_metric_points_logged_through_both_servers_are_all_kept(cluster: Cluster) -> None:
    model = new_model(cluster)
    run_id = created(cluster.rest(0), model, "1.0.0")
    per_client, clients = 25, 8

    def log(i: int, rests: list[Rest]) -> None:
        for j in range(per_client):
            step = i * per_client + j
            fields = {
                "run_id": run_id,
                "key": "loss",
                "value": step / 1000,
                "timestamp": 1_700_000_000_000 + step,
                "step": step,
            }
            rests[j % 2].ok("POST", "/runs/log-metric", fields)  # each server in turn

    race(cluster, clients, log)
    for server in range(2):
        history = cluster.rest(server).ok(
            "GET", "/metrics/get-history", {"run_id": run_id, "metric_key": "loss"}
        )["metrics"]
        assert sorted((p["step"], p["value"]) for p in history) == [
            (step, step / 1000) for step in range(per_client * clients)
        ]


# -- one registry, whichever server answers -----------------------------------------------


def test_artifacts_and_publishing_are_seen_through_the_other_server_at_once(
    cluster: Cluster, mlflow_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mlflow_env.setenv("MLFLOW_TRACKING_TOKEN", cluster.token)
    one = cluster.servers[0]
    client = mlflow.MlflowClient(tracking_uri=one.base, registry_uri=one.base)
    b = cluster.rest(1)
    model = new_model(cluster)
    mv = client.create_model_version(model, "", tags={"gitlab.version": "1.0.0"})
    weights = os.urandom(3 * 1024 * 1024 + 17)
    (tmp_path / "weights.bin").write_bytes(weights)
    client.log_artifact(mv.run_id, str(tmp_path / "weights.bin"))  # through the first
    notes = b"uploaded through the second server\n"
    assert b.put_artifact(model, "1.0.0", "docs/notes.txt", notes).status == 200

    downloaded = b.get_artifact(model, "1.0.0", "weights.bin")
    assert downloaded.status == 200
    assert hashlib.sha256(downloaded.body).digest() == hashlib.sha256(weights).digest()
    back = cluster.rest(0).get_artifact(model, "1.0.0", "docs/notes.txt")
    assert (back.status, back.body) == (200, notes)
    listed = b.request("GET", f"/api/2.0/mlflow-artifacts/artifacts?path={model}/1.0.0")
    assert {f["path"] for f in listed.json()["files"]} == {"weights.bin", "docs"}

    stored = cluster.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{cluster.artifacts}/{model}/")
    sizes = {o["Key"].rsplit("/1.0.0/", 1)[-1]: o["Size"] for o in stored.get("Contents", [])}
    assert sizes == {"weights.bin": len(weights), "docs/notes.txt": len(notes)}

    client.set_terminated(str(mv.run_id))  # publish through the first ...
    version = version_on(b, model, "1.0.0")  # ... and the second sees it ready at once
    assert tag_map(version)["modelreg.state"] == "ready"
    run = b.ok("GET", "/runs/get", {"run_id": mv.run_id})["run"]
    assert run["info"]["status"] == "FINISHED"
    latest = b.ok("POST", "/registered-models/get-latest-versions", {"name": model})
    assert [v["version"] for v in latest["model_versions"]] == ["1.0.0"]
    sealed = b.put_artifact(model, "1.0.0", "late.txt", b"too late")
    assert (sealed.status, sealed.code) == (400, "INVALID_PARAMETER_VALUE")
    again = cluster.rest(0).get_artifact(model, "1.0.0", "weights.bin")
    assert again.status == 200 and again.body == weights

    at_once = create(
        cluster.rest(0), model, **{"gitlab.version": "2.0.0", "modelreg.state": "ready"}
    )
    assert at_once.status == 200, at_once  # ready in one call through the first ...
    latest = b.ok("POST", "/registered-models/get-latest-versions", {"name": model})
    assert [v["version"] for v in latest["model_versions"]] == ["2.0.0"]  # ... latest on the second


def test_a_token_made_later_works_on_both_servers_and_revoking_it_stops_both(
    cluster: Cluster,
) -> None:
    """The servers keep no tokens of their own: they read each one's hash from the
    database on every call."""
    token = cluster.registry.create_token("ana", description="short-lived")
    rests = [Rest(server.base, token) for server in cluster.servers]
    for rest in rests:
        assert rest.call("GET", "/registered-models/search").status == 200
    cluster.registry.revoke_token(hashlib.sha256(token.encode()).hexdigest()[:16])
    for rest in rests:
        answer = rest.call("GET", "/registered-models/search")
        assert (answer.status, answer.code) == (401, "UNAUTHENTICATED")
