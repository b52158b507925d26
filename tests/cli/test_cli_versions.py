"""``modelreg version ...`` through `main`."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from registry_core import CIJob, Registry, VersionState

if TYPE_CHECKING:
    from conftest import Cli

GITLAB = {
    "GITLAB_CI": "true",
    "CI_JOB_ID": "42",
    "CI_PIPELINE_ID": "7",
    "CI_PROJECT_URL": "https://gitlab.example.com/ml/fraud",
    "CI_COMMIT_SHA": "abc123",
    "CI_COMMIT_REF_NAME": "main",
}


@pytest.fixture
def not_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITLAB_CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def in_gitlab(monkeypatch: pytest.MonkeyPatch, not_in_ci: None) -> None:
    for name, value in GITLAB.items():
        monkeypatch.setenv(name, value)


def test_version_create_exact(cli: Cli, registry: Registry) -> None:
    registry.create_model("fraud")
    run = cli("version", "create", "fraud", "1.2.0", "--description", "d", "--tag", "k=v")
    assert (run.code, run.out) == (0, "created version 1.2.0 of model 'fraud' (draft)\n")
    made = registry.get_version("fraud", "1.2.0")
    assert (made.description, dict(made.tags)) == ("d", {"k": "v"})


def test_version_create_with_publish_is_ready_at_once(cli: Cli, registry: Registry) -> None:
    registry.create_model("fraud")
    run = cli("version", "create", "fraud", "0.1.0", "--tag", "source=baseline", "--publish")
    assert (run.code, run.out) == (0, "created version 0.1.0 of model 'fraud' (ready)\n")
    made = registry.get_version("fraud", "0.1.0")
    assert made.state.value == "ready" and made.manifest_sha256 is not None
    assert str(registry.latest("fraud").version) == "0.1.0"


def test_version_create_bumps_and_quiet_prints_the_version(cli: Cli, registry: Registry) -> None:
    registry.create_model("fraud")
    assert cli("version", "create", "fraud", "--bump", "minor", quiet=True).out == "1.0.0\n"
    assert cli("version", "create", "fraud", "--bump", "minor", quiet=True).out == "1.1.0\n"
    doc = cli("version", "create", "fraud", "--bump", "patch", "--prerelease", "rc", json=True)
    assert doc.json()["version"] == "1.1.1-rc.0"
    assert doc.json()["state"] == "draft"


@pytest.mark.parametrize(
    "args",
    [
        ["fraud"],
        ["fraud", "1.0.0", "--bump", "major"],
        ["fraud", "1.0.0", "--prerelease", "rc"],
        ["fraud", "--bump", "huge"],
    ],
)
def test_version_create_needs_exactly_one_of_version_and_bump(
    cli: Cli, registry: Registry, args: list[str]
) -> None:
    registry.create_model("fraud")
    run = cli("version", "create", *args)
    assert run.code == 2
    assert "usage: modelreg version create" in run.err


def test_a_bad_version_is_exit_1(cli: Cli, registry: Registry) -> None:
    registry.create_model("fraud")
    run = cli("version", "create", "fraud", "v1.0")
    assert run.code == 1
    assert run.err.startswith("modelreg: error: ")
    assert "SemVer" in run.err
    assert run.err.count("\n") == 1


def test_version_create_ci_links_the_job(cli: Cli, registry: Registry, in_gitlab: None) -> None:
    registry.create_model("fraud")
    doc = cli("version", "create", "fraud", "1.0.0", "--ci", json=True).json()
    assert doc["ci_job"]["job_id"] == "42"
    assert doc["ci_job"]["job_url"] == "https://gitlab.example.com/ml/fraud/-/jobs/42"
    job = registry.get_version("fraud", "1.0.0").ci_job
    assert job is not None
    assert job.pipeline_id == "7"


def test_version_create_ci_outside_ci_is_exit_1(
    cli: Cli, registry: Registry, not_in_ci: None
) -> None:
    registry.create_model("fraud")
    run = cli("version", "create", "fraud", "1.0.0", "--ci")
    assert run.code == 1
    assert "not running in CI" in run.err
    assert registry.list_versions("fraud").items == ()


def test_version_link_ci(
    cli: Cli, registry: Registry, draft: tuple[str, str], in_gitlab: None
) -> None:
    run = cli("version", "link-ci", *draft)
    assert run.code == 0
    assert "gitlab job 42" in run.out
    assert registry.get_version(*draft).ci_job == CIJob.from_env(GITLAB)


def _versions(registry: Registry, *specs: str) -> None:
    registry.create_model("fraud")
    for spec in specs:
        text, _, state = spec.partition(":")
        registry.create_version("fraud", text)
        registry.upload("fraud", text, io.BytesIO(b"x" * 2048), name="w.bin")
        if state in ("ready", "deprecated", "yanked"):
            registry.publish("fraud", text)
        if state == "deprecated":
            registry.deprecate("fraud", text)
        if state == "yanked":
            registry.yank("fraud", text)


def test_version_list_table(cli: Cli, registry: Registry) -> None:
    _versions(registry, "1.0.0:ready", "0.9.0", "1.1.0-rc.1:ready")
    lines = cli("version", "list", "fraud").out.splitlines()
    assert lines[0].split() == ["VERSION", "STATE", "CREATED", "ARTIFACTS", "SIZE"]
    assert [line.split()[0] for line in lines[1:]] == ["0.9.0", "1.0.0", "1.1.0-rc.1"]
    assert lines[1].split()[1] == "draft"
    assert lines[1].endswith("1  2.0 KiB")


def test_version_list_filters_and_orders(cli: Cli, registry: Registry) -> None:
    _versions(registry, "1.0.0:ready", "1.1.0:deprecated", "1.2.0", "2.0.0-rc.1:ready")

    def listed(*args: str) -> list[str]:
        return [
            v["version"] for v in cli("version", "list", "fraud", *args, json=True).json()["items"]
        ]

    assert listed("--state", "ready") == ["1.0.0", "2.0.0-rc.1"]
    assert listed("--state", "ready", "--no-prereleases") == ["1.0.0"]
    assert listed("--state", "ready,deprecated", "--order=-precedence") == [
        "2.0.0-rc.1",
        "1.1.0",
        "1.0.0",
    ]
    assert listed("--state", "draft", "--state", "deprecated") == ["1.1.0", "1.2.0"]
    assert listed("--page-size", "1", "--all") == ["1.0.0", "1.1.0", "1.2.0", "2.0.0-rc.1"]
    page = cli("version", "list", "fraud", "--page-size", "3", json=True).json()
    assert page["next_page_token"]


def test_version_list_rejects_an_unknown_state(cli: Cli, registry: Registry) -> None:
    registry.create_model("fraud")
    run = cli("version", "list", "fraud", "--state", "gone")
    assert run.code == 2
    assert "states are" in run.err


def test_version_list_of_an_unknown_model_is_exit_1(cli: Cli) -> None:
    run = cli("version", "list", "nope")
    assert (run.code, run.err) == (1, "modelreg: error: model 'nope' does not exist\n")


def test_version_show_everything(cli: Cli, registry: Registry, in_gitlab: None) -> None:
    registry.create_model("fraud")
    registry.create_version("fraud", "1.0.0", description="first", ci_job=CIJob.from_env())
    registry.upload("fraud", "1.0.0", io.BytesIO(b"abc"), name="model.bin", subfolder="w")
    registry.log_params("fraud", "1.0.0", {"lr": "0.1"})
    registry.log_metric("fraud", "1.0.0", "auc", 0.5, step=1)
    registry.log_metric("fraud", "1.0.0", "auc", 0.9, step=2)
    registry.set_tag("fraud", "1.0.0", "team", "risk")
    published = registry.publish("fraud", "1.0.0")
    registry.set_alias("fraud", "production", "1.0.0")
    out = cli("version", "show", "fraud", "1.0.0").out
    sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    for expected in (
        "fraud 1.0.0",
        "state:        ready",
        "description:  first",
        "aliases:      production",
        "team = risk",
        "lr = 0.1",
        "auc = 0.9 (step 2)",
        "gitlab job 42",
        "https://gitlab.example.com/ml/fraud/-/jobs/42",
        "https://gitlab.example.com/ml/fraud/-/pipelines/7",
        f"manifest:     sha256 {published.manifest_sha256}",
        f"w/model.bin   3 B  {sha}",
    ):
        assert expected in out, expected
    doc = cli("version", "show", "fraud", "1.0.0", json=True).json()
    assert doc["aliases"] == ["production"]
    assert doc["artifacts"] == [{"path": "w/model.bin", "size": 3, "sha256": sha}]
    assert doc["metrics"]["auc"]["value"] == 0.9
    assert (doc["package"], doc["size"]) == ("fraud/1.0.0", 3)
    assert doc["ci_job"]["pipeline_url"].endswith("/-/pipelines/7")


@pytest.mark.parametrize(
    ("moves", "state"),
    [
        (["publish"], "ready"),
        (["fail"], "failed"),
        (["publish", "deprecate"], "deprecated"),
        (["publish", "deprecate", "undeprecate"], "ready"),
        (["publish", "deprecate", "yank"], "yanked"),
        (["publish", "yank"], "yanked"),
    ],
)
def test_lifecycle_commands(
    cli: Cli, registry: Registry, draft: tuple[str, str], moves: list[str], state: str
) -> None:
    for move in moves:
        run = cli("version", move, *draft)
        assert run.code == 0, run.err
    assert run.out.endswith(f": {state}\n")
    assert registry.get_version(*draft).state is VersionState(state)
    assert cli("version", "show", *draft, json=True).json()["state"] == state


def test_an_illegal_move_is_exit_1(cli: Cli, draft: tuple[str, str]) -> None:
    run = cli("version", "deprecate", *draft)
    assert run.code == 1
    assert "is draft and cannot become deprecated" in run.err


def test_version_update(cli: Cli, registry: Registry, ready: tuple[str, str]) -> None:
    assert cli("version", "update", *ready, "--description", "better").code == 0
    assert registry.get_version(*ready).description == "better"


def test_version_delete(
    cli: Cli, registry: Registry, ready: tuple[str, str], stdin: Callable[..., None]
) -> None:
    stdin()
    assert cli("version", "delete", *ready).code == 2
    cli("alias", "set", "fraud", "production", "1.0.0")
    run = cli("version", "delete", *ready, "--yes")
    assert run.code == 1
    assert "alias production points at it" in run.err
    run = cli("version", "delete", *ready, "--yes", "--force", json=True)
    assert run.json() == {"deleted": {"model": "fraud", "version": "1.0.0"}}
    assert registry.list_versions("fraud").items == ()
    assert cli("version", "show", *ready).code == 1


def test_latest_and_resolve(cli: Cli, registry: Registry) -> None:
    _versions(registry, "1.0.0:ready", "1.2.0:ready", "1.3.0:yanked", "2.0.0-rc.1:ready", "2.0.0")
    registry.set_alias("fraud", "production", "1.0.0")
    assert cli("version", "latest", "fraud").out == "1.2.0\n"
    assert cli("version", "latest", "fraud", "--prereleases").out == "2.0.0-rc.1\n"
    assert cli("version", "latest", "fraud", json=True).json()["state"] == "ready"
    assert cli("version", "resolve", "fraud", "^1").out == "1.2.0\n"
    assert cli("version", "resolve", "fraud", "production").out == "1.0.0\n"
    assert cli("version", "resolve", "fraud", "1.3.0").out == "1.3.0\n"
    assert cli("version", "resolve", "fraud", ">=2.0.0-rc.0", "--prereleases").out == (
        "2.0.0-rc.1\n"
    )
    run = cli("version", "resolve", "fraud", "^3")
    assert run.code == 1
    assert "no ready version" in run.err


def test_latest_without_a_ready_version_is_exit_1(cli: Cli, draft: tuple[str, str]) -> None:
    run = cli("version", "latest", "fraud")
    assert (run.code, run.err) == (1, "modelreg: error: model 'fraud' has no ready version\n")
