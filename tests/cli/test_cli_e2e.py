"""End to end: the installed ``modelreg`` console script in subprocesses, against a
registry folder on disk (the files backend), through every command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

MODELREG = Path(sys.executable).parent / "modelreg"
GITLAB = {
    "GITLAB_CI": "true",
    "CI_JOB_ID": "4242",
    "CI_PIPELINE_ID": "77",
    "CI_PROJECT_URL": "https://gitlab.example.com/ml/fraud",
    "CI_COMMIT_SHA": "0123abcd",
    "CI_COMMIT_REF_NAME": "main",
}


@attrs.frozen
class Done:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@attrs.frozen
class Modelreg:
    """Runs the console script against one registry folder, from ``cwd``."""

    registry: Path
    cwd: Path

    def __call__(
        self,
        *args: str,
        expect: int = 0,
        stdin: bytes | None = None,
        env: dict[str, str] | None = None,
    ) -> Done:
        clean = {
            k: v
            for k, v in os.environ.items()
            if k not in ("MODELREG_URL", "GITLAB_CI", "GITHUB_ACTIONS")
        }
        proc = subprocess.run(
            [str(MODELREG), "--registry", str(self.registry), *args],
            input=stdin if stdin is not None else b"",
            capture_output=True,
            cwd=self.cwd,
            env={**clean, **(env or {})},
            timeout=60,
        )
        done = Done(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
        assert done.code == expect, f"modelreg {' '.join(args)} -> {done.code}: {done.err}"
        if expect == 1:
            assert done.err.startswith("modelreg: error: ")
            assert done.err.count("\n") == 1
            assert "Traceback" not in done.err
        return done


@pytest.fixture
def modelreg(tmp_path: Path) -> Modelreg:
    return Modelreg(tmp_path / "reg", tmp_path)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """Files to upload: a model file and a config folder."""
    src = tmp_path / "train-out"
    (src / "config" / "nested").mkdir(parents=True)
    (src / "model.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # several chunks
    (src / "config" / "params.json").write_text('{"lr": 0.1}')
    (src / "config" / "nested" / "labels.txt").write_text("fraud\nok\n")
    return src


def test_a_model_version_from_draft_to_deletion(modelreg: Modelreg, workdir: Path) -> None:
    modelreg("model", "create", "fraud", "--description", "Card fraud", "--tag", "team=risk")
    assert "fraud" in modelreg("model", "list").out
    modelreg("model", "update", "fraud", "--description", "Card fraud detector")
    assert "Card fraud detector" in modelreg("model", "show", "fraud").out

    version = modelreg("-q", "version", "create", "fraud", "--bump", "minor").out.strip()
    assert version == "1.0.0"
    modelreg("artifact", "upload", "fraud", version, str(workdir / "model.bin"))
    modelreg(
        "artifact", "upload", "fraud", version, str(workdir / "config"), "--subfolder", "config"
    )
    modelreg("artifact", "upload", "fraud", version, "-", "--name", "scratch.txt", stdin=b"tmp")
    modelreg("artifact", "log", "fraud", version, "epoch 1: loss 0.5")
    modelreg("artifact", "log", "fraud", version, "-", stdin=b"epoch 2: loss 0.25\n")
    modelreg("log", "param", "fraud", version, "lr=0.1", "optimizer=adam")
    modelreg("log", "metric", "fraud", version, "auc=0.81", "--step", "1")
    modelreg("log", "metric", "fraud", version, "auc=0.93", "--step", "2")
    modelreg("log", "tag", "fraud", version, "dataset=2025-03", "stale=yes")
    modelreg("log", "tag", "fraud", version, "--delete", "stale")
    history = modelreg("--json", "log", "metrics", "fraud", version, "--key", "auc").json()["items"]
    assert [(p["step"], p["value"]) for p in history] == [(1, 0.81), (2, 0.93)]

    listed = modelreg("--json", "artifact", "list", "fraud", version).json()["items"]
    assert [a["path"] for a in listed] == [
        "config/nested/labels.txt",
        "config/params.json",
        "logs/run.log",
        "model.bin",
        "scratch.txt",
    ]
    modelreg("artifact", "delete", "fraud", version, "scratch.txt")
    modelreg("version", "publish", "fraud", version)
    modelreg("artifact", "upload", "fraud", version, str(workdir / "model.bin"), expect=1)

    modelreg("alias", "set", "fraud", "production", version)
    assert modelreg("alias", "show", "fraud", "production").out == "1.0.0\n"
    assert modelreg("version", "latest", "fraud").out == "1.0.0\n"
    assert modelreg("version", "resolve", "fraud", "^1.0").out == "1.0.0\n"
    assert modelreg("version", "resolve", "fraud", "production").out == "1.0.0\n"

    dest = workdir.parent / "downloaded"
    modelreg("artifact", "download", "fraud", version, "--dest", str(dest))
    for rel in ("model.bin", "config/params.json", "config/nested/labels.txt"):
        assert (dest / rel).read_bytes() == (workdir / rel).read_bytes()
    log = modelreg("artifact", "cat", "fraud", version, "logs/run.log").out
    assert log == "epoch 1: loss 0.5\nepoch 2: loss 0.25\n"
    assert modelreg("verify", "fraud", version).out.startswith("ok: fraud/1.0.0: 4 artifacts")

    shown = modelreg("--json", "version", "show", "fraud", version).json()
    assert shown["state"] == "ready"
    assert shown["aliases"] == ["production"]
    assert shown["params"] == {"lr": "0.1", "optimizer": "adam"}
    assert shown["tags"] == {"dataset": "2025-03"}
    assert shown["manifest_sha256"]
    text = modelreg("version", "show", "fraud", version).out
    assert "model.bin" in text
    assert next(a["sha256"] for a in shown["artifacts"] if a["path"] == "model.bin") in text

    modelreg("version", "deprecate", "fraud", version, expect=1)  # the alias points at it
    modelreg("alias", "delete", "fraud", "production")
    modelreg("version", "deprecate", "fraud", version)
    modelreg("version", "latest", "fraud", expect=1)
    modelreg("version", "undeprecate", "fraud", version)
    modelreg("version", "yank", "fraud", version)
    assert modelreg("version", "resolve", "fraud", "1.0.0").out == "1.0.0\n"
    modelreg("version", "resolve", "fraud", "^1", expect=1)
    modelreg("version", "update", "fraud", version, "--description", "yanked: label leak")

    modelreg("version", "create", "fraud", "1.1.0-rc.1")
    modelreg("version", "fail", "fraud", "1.1.0-rc.1")
    rows = modelreg("version", "list", "fraud").out.splitlines()
    assert [r.split()[:2] for r in rows[1:]] == [["1.0.0", "yanked"], ["1.1.0-rc.1", "failed"]]
    modelreg("version", "delete", "fraud", "1.1.0-rc.1", expect=2)  # no --yes, no terminal
    modelreg("version", "delete", "fraud", "1.1.0-rc.1", "--yes")
    listed_versions = modelreg("--json", "version", "list", "fraud").json()["items"]
    assert [v["version"] for v in listed_versions] == ["1.0.0"]

    assert modelreg("fsck").code == 0
    modelreg("model", "create", "taken")
    modelreg("model", "rename", "fraud", "taken", expect=1)
    assert modelreg("-q", "model", "rename", "fraud", "risk/fraud").out == "risk/fraud\n"
    modelreg("model", "show", "fraud", expect=1)
    assert modelreg("verify", "risk/fraud", version).out.startswith("ok: risk/fraud/1.0.0")
    modelreg("model", "delete", "taken", "--yes")
    modelreg("model", "delete", "risk/fraud", expect=2)
    modelreg("model", "delete", "risk/fraud", "--yes")
    modelreg("model", "show", "risk/fraud", expect=1)
    assert modelreg("--json", "model", "list").json()["items"] == []
    assert modelreg("--json", "fsck", "--repair").json()["ok"] is True


def test_ci_links_in_gitlab(modelreg: Modelreg) -> None:
    modelreg("model", "create", "fraud")
    made = modelreg("--json", "version", "create", "fraud", "1.0.0", "--ci", env=GITLAB).json()
    assert made["ci_job"]["job_url"] == "https://gitlab.example.com/ml/fraud/-/jobs/4242"
    modelreg("version", "create", "fraud", "1.0.1")
    done = modelreg("version", "create", "fraud", "1.0.2", "--ci", expect=1)
    assert "not running in CI" in done.err
    modelreg("version", "link-ci", "fraud", "1.0.1", env=GITLAB)
    text = modelreg("version", "show", "fraud", "1.0.1").out
    assert "https://gitlab.example.com/ml/fraud/-/pipelines/77" in text


def test_settings_and_acting_as_a_user(modelreg: Modelreg) -> None:
    modelreg("settings", "grant", "ana", "maintainer")
    modelreg("settings", "grant", "rita", "reporter")
    modelreg("settings", "grant", "gus", "guest")
    modelreg("--as", "ana", "settings", "set", "--visibility", "public")
    shown = modelreg("--json", "settings", "show").json()
    assert shown["visibility"] == "public"
    assert shown["members"] == {"ana": "maintainer", "gus": "guest", "rita": "reporter"}

    modelreg("--as", "rita", "model", "create", "fraud")
    refused = modelreg("--as", "gus", "model", "create", "other", expect=1)
    assert "permission denied" in refused.err
    assert "fraud" in modelreg("--as", "stranger", "model", "list").out  # public: anyone reads
    modelreg("--as", "rita", "settings", "grant", "rita", "owner", expect=1)
    modelreg("--as", "ana", "settings", "revoke", "gus")
    modelreg("--as", "ana", "settings", "set", "--visibility", "private")
    modelreg("--as", "gus", "model", "list", expect=1)


def test_usage_and_input_errors(modelreg: Modelreg, workdir: Path) -> None:
    modelreg("model", "show", "ghost", expect=1)
    modelreg("model", "create", "fraud")
    modelreg("version", "create", "fraud", "01.0.0", expect=1)
    modelreg("version", "create", "fraud", "1.0.0")
    modelreg("log", "param", "fraud", "1.0.0", "no-equals-sign", expect=2)
    modelreg("log", "metric", "fraud", "1.0.0", "auc=high", expect=2)
    missing = modelreg("artifact", "upload", "fraud", "1.0.0", str(workdir / "nope"), expect=1)
    assert "No such file" in missing.err
    assert "Example" in modelreg("artifact", "upload", "--help").out
    modelreg("no-such-command", expect=2)
