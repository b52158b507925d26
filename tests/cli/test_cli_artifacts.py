"""``modelreg artifact ...`` and ``modelreg log ...`` through `main`, progress bars too."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pytest

from registry_backends.cli import main, progress
from registry_core import Registry

if TYPE_CHECKING:
    from conftest import Cli


def test_upload_a_file_and_a_directory(
    cli: Cli, registry: Registry, draft: tuple[str, str], files: Path
) -> None:
    run = cli("artifact", "upload", *draft, str(files / "model.bin"), str(files / "conf"))
    assert run.code == 0, run.err
    assert run.out.splitlines() == [
        "uploaded model.bin (900 B)",
        "uploaded a.json (8 B)",
        "uploaded sub/b.txt (1 B)",
    ]
    assert run.err == ""  # stderr is no terminal: no bar
    paths = [a.path.value for a in registry.list_artifacts(*draft)]
    assert paths == ["a.json", "model.bin", "sub/b.txt"]


def test_upload_with_name_and_subfolder_as_json(
    cli: Cli, registry: Registry, draft: tuple[str, str], files: Path
) -> None:
    run = cli(
        "artifact", "upload", *draft, str(files / "model.bin"), "--name", "w.bin",
        "--subfolder", "weights", json=True,
    )  # fmt: skip
    doc = run.json()["items"]
    assert [a["path"] for a in doc] == ["weights/w.bin"]
    assert doc[0]["size"] == 900
    assert len(doc[0]["sha256"]) == 64
    run = cli("artifact", "upload", *draft, str(files / "conf"), "--subfolder", "c", json=True)
    assert [a["path"] for a in run.json()["items"]] == ["c/a.json", "c/sub/b.txt"]


def test_upload_from_stdin_needs_a_name(
    cli: Cli, registry: Registry, draft: tuple[str, str], stdin: Callable[..., None]
) -> None:
    assert cli("artifact", "upload", *draft, "-").code == 2
    stdin(b"streamed bytes")
    assert cli("artifact", "upload", *draft, "-", "--name", "s.bin").code == 0
    with registry.open_artifact(*draft, "s.bin") as stream:
        assert stream.read() == b"streamed bytes"


def test_upload_usage_errors(cli: Cli, draft: tuple[str, str], files: Path) -> None:
    two = [str(files / "model.bin"), str(files / "conf" / "a.json")]
    assert cli("artifact", "upload", *draft, *two, "--name", "x").code == 2
    run = cli("artifact", "upload", *draft, str(files / "conf"), "--name", "x")
    assert run.code == 2
    assert "--subfolder" in run.err


def test_uploading_a_missing_local_file_is_exit_1(
    cli: Cli, draft: tuple[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "nope.bin"
    run = cli("artifact", "upload", *draft, str(missing))
    assert run.code == 1
    assert run.err == f"modelreg: error: cannot read '{missing}': No such file or directory\n"


def test_an_unreadable_local_file_is_exit_1(
    cli: Cli, draft: tuple[str, str], files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = str(files / "model.bin")
    real_open = open

    def refusing_open(file: object, *args: object, **kwargs: object) -> object:
        if file == target:
            raise PermissionError(13, "Permission denied", target)
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", refusing_open)
    run = cli("artifact", "upload", *draft, target)
    assert run.code == 1
    assert "Permission denied" in run.err


def test_uploading_into_a_ready_version_is_exit_1(
    cli: Cli, ready: tuple[str, str], files: Path
) -> None:
    run = cli("artifact", "upload", *ready, str(files / "model.bin"))
    assert run.code == 1
    assert "sealed" in run.err


def test_artifact_list(cli: Cli, registry: Registry, draft: tuple[str, str], files: Path) -> None:
    registry.upload_dir(*draft, files)
    lines = cli("artifact", "list", *draft).out.splitlines()
    assert lines[0].split() == ["PATH", "SIZE", "SHA256"]
    assert [line.split()[0] for line in lines[1:]] == ["conf/a.json", "conf/sub/b.txt", "model.bin"]
    listed = registry.list_artifacts(*draft)
    assert [line.split()[-1] for line in lines[1:]] == [a.sha256[:12] for a in listed]
    doc = cli("artifact", "list", *draft, "--prefix", "conf/sub", json=True).json()
    assert [a["path"] for a in doc["items"]] == ["conf/sub/b.txt"]
    assert doc["items"][0]["sha256"] == listed[1].sha256  # JSON keeps the whole hash
    assert doc["next_page_token"] is None


def test_download_everything_and_compare_bytes(
    cli: Cli, registry: Registry, draft: tuple[str, str], files: Path, tmp_path: Path
) -> None:
    registry.upload_dir(*draft, files)
    dest = tmp_path / "out"
    run = cli("artifact", "download", *draft, "--dest", str(dest))
    assert run.code == 0, run.err
    for rel in ("model.bin", "conf/a.json", "conf/sub/b.txt"):
        assert (dest / rel).read_bytes() == (files / rel).read_bytes()
    assert len(run.out.splitlines()) == 3


def test_download_some_paths_as_json(
    cli: Cli, registry: Registry, draft: tuple[str, str], files: Path, tmp_path: Path
) -> None:
    registry.upload_dir(*draft, files)
    dest = tmp_path / "some"
    doc = cli(
        "artifact", "download", *draft, "--dest", str(dest), "--path", "conf/a.json", json=True
    )
    assert doc.json() == {"dest": str(dest), "files": [str(dest / "conf" / "a.json")]}
    assert sorted(p.name for p in dest.rglob("*") if p.is_file()) == ["a.json"]
    run = cli("artifact", "download", *draft, "--dest", str(dest), "--path", "nope")
    assert run.code == 1
    assert "artifact 'nope' does not exist" in run.err


def test_download_into_a_file_is_exit_1(
    cli: Cli, registry: Registry, draft: tuple[str, str], files: Path, tmp_path: Path
) -> None:
    registry.upload_dir(*draft, files)
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    run = cli("artifact", "download", *draft, "--dest", str(blocker))
    assert run.code == 1
    assert run.err.startswith("modelreg: error: cannot write")


def test_download_of_damaged_bytes_is_exit_1(
    cli: Cli, registry: Registry, ready: tuple[str, str], tmp_path: Path
) -> None:
    writer = registry.repository.open_blob_writer("fraud/1.0.0/model.bin")
    writer.write(b"tampered")
    writer.commit()
    run = cli("artifact", "download", *ready, "--dest", str(tmp_path / "d"))
    assert run.code == 1
    assert "modelreg: error:" in run.err
    assert not (tmp_path / "d" / "model.bin").exists()


def test_artifact_cat(
    cli: Cli, registry_url: str, ready: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = io.BytesIO()
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(raw, encoding="utf-8"))
    assert main(["--registry", registry_url, "artifact", "cat", *ready, "model.bin"]) == 0
    assert raw.getvalue() == b"weights"
    monkeypatch.undo()
    assert cli("artifact", "cat", *ready, "model.bin", json=True).code == 2


def test_artifact_delete(cli: Cli, registry: Registry, draft: tuple[str, str], files: Path) -> None:
    registry.upload_dir(*draft, files)
    run = cli("artifact", "delete", *draft, "model.bin", "conf/a.json")
    assert run.code == 0
    assert [a.path.value for a in registry.list_artifacts(*draft)] == ["conf/sub/b.txt"]
    run = cli("artifact", "delete", *draft, "model.bin")
    assert run.code == 1
    assert "does not exist" in run.err


def test_artifact_log_appends_lines_and_stdin(
    cli: Cli, registry: Registry, draft: tuple[str, str], stdin: Callable[..., None]
) -> None:
    assert cli("artifact", "log", *draft, "first").code == 0
    assert cli("artifact", "log", *draft, "second\n").code == 0
    stdin(b"from stdin")
    doc = cli("artifact", "log", *draft, "-", json=True).json()
    assert doc["path"] == "logs/run.log"
    with registry.open_artifact(*draft, "logs/run.log") as stream:
        assert stream.read() == b"first\nsecond\nfrom stdin"
    cli("artifact", "log", *draft, "x", "--name", "train.log")
    assert registry.open_artifact(*draft, "logs/train.log").read() == b"x\n"


def test_log_param(cli: Cli, registry: Registry, draft: tuple[str, str]) -> None:
    run = cli("log", "param", *draft, "lr=0.1", "opt=adam", "expr=a=b")
    assert run.code == 0
    assert dict(registry.get_version(*draft).params) == {"lr": "0.1", "opt": "adam", "expr": "a=b"}
    assert cli("log", "param", *draft, "lr=0.1", json=True).json()["params"]["lr"] == "0.1"
    run = cli("log", "param", *draft, "lr=0.2")
    assert run.code == 1
    assert "written once" in run.err


@pytest.mark.parametrize("bad", ["novalue", "=v", ""])
def test_bad_key_value_syntax_is_exit_2(cli: Cli, draft: tuple[str, str], bad: str) -> None:
    run = cli("log", "param", *draft, bad)
    assert run.code == 2
    assert "KEY=VALUE" in run.err


def test_the_same_key_twice_is_exit_2(cli: Cli, draft: tuple[str, str]) -> None:
    assert cli("log", "param", *draft, "a=1", "a=2").code == 2
    assert cli("log", "metric", *draft, "a=1", "a=2").code == 2


def test_log_metric_and_metrics(cli: Cli, registry: Registry, draft: tuple[str, str]) -> None:
    assert cli("log", "metric", *draft, "auc=0.5", "loss=1e-3").code == 0
    doc = cli("log", "metric", *draft, "auc=0.75", "--step", "3", json=True).json()["items"]
    assert doc[0]["key"] == "auc"
    assert (doc[0]["value"], doc[0]["step"]) == (0.75, 3)
    cli("log", "metric", *draft, "loss=nan", "--step", "4")
    points = registry.get_metrics(*draft)
    assert [(p.key, p.step) for p in points] == [("auc", 0), ("loss", 0), ("auc", 3), ("loss", 4)]
    assert math.isnan(points[-1].value)
    lines = cli("log", "metrics", *draft).out.splitlines()
    assert lines[0].split() == ["KEY", "STEP", "VALUE", "LOGGED"]
    assert len(lines) == 5
    history = cli("log", "metrics", *draft, "--key", "loss", json=True).json()["items"]
    assert [p["value"] for p in history] == [0.001, "nan"]


@pytest.mark.parametrize("bad", ["auc=high", "auc", "auc=1", "auc=0.1 --step x"])
def test_bad_metrics_are_exit_2(cli: Cli, draft: tuple[str, str], bad: str) -> None:
    args = bad.split()
    if bad == "auc=1":
        args += ["--step", "one"]
    assert cli("log", "metric", *draft, *args).code == 2


def test_log_tag_sets_and_deletes(cli: Cli, registry: Registry, ready: tuple[str, str]) -> None:
    assert cli("log", "tag", *ready, "a=1", "b=2").code == 0
    doc = cli("log", "tag", *ready, "c=3", "--delete", "a", json=True).json()
    assert doc["tags"] == {"b": "2", "c": "3"}
    assert cli("log", "tag", *ready).code == 2
    run = cli("log", "tag", *ready, "--delete", "zzz")
    assert run.code == 1
    assert "tag 'zzz' is not set" in run.err


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_built_in_bar_shows_when_stderr_is_a_terminal(
    cli: Cli, draft: tuple[str, str], files: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(progress, "_load_tqdm", lambda: None)
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert cli("artifact", "upload", *draft, str(files)).code == 0
    assert "upload [" in terminal.getvalue()
    assert "100% 909 B / 909 B" in terminal.getvalue()
    terminal.seek(0)
    terminal.truncate()
    cli("artifact", "download", *draft, "--dest", str(tmp_path / "d"))
    assert "download [" in terminal.getvalue()
    terminal.seek(0)
    terminal.truncate()
    cli("artifact", "download", *draft, "--dest", str(tmp_path / "d"), quiet=True)
    assert terminal.getvalue() == ""


def test_tqdm_draws_the_bar_when_installed(
    cli: Cli, draft: tuple[str, str], files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tqdm", reason="tqdm is optional (the cli extra)")
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert cli("artifact", "upload", *draft, str(files)).code == 0
    assert "upload" in terminal.getvalue()


class FakeTqdm:
    made: ClassVar[list[FakeTqdm]] = []

    def __init__(self, **kwargs: object) -> None:
        self.kwargs = kwargs
        self.n = 0
        FakeTqdm.made.append(self)

    def __enter__(self) -> FakeTqdm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True

    def update(self, n: int) -> None:
        self.n += n


def test_tqdm_gets_the_total_and_every_byte(
    cli: Cli, draft: tuple[str, str], files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeTqdm.made.clear()
    monkeypatch.setattr(progress, "_load_tqdm", lambda: FakeTqdm)
    monkeypatch.setattr("sys.stderr", FakeTerminal())
    assert cli("artifact", "upload", *draft, str(files)).code == 0
    (bar,) = FakeTqdm.made
    assert (bar.kwargs["total"], bar.n, bar.kwargs["unit"]) == (909, 909, "B")
    assert bar.closed


def test_text_bar_renders_known_and_unknown_totals() -> None:
    known = progress.TextBar(2048, "up", io.StringIO())
    known.update(1024)
    assert known.render() == "up [" + "#" * 15 + "." * 15 + "]  50% 1.0 KiB / 2.0 KiB"
    unknown = progress.TextBar(None, "up", io.StringIO())
    unknown.update(5)
    assert unknown.render() == "up 5 B"


def test_read_commands_take_an_alias_or_range_for_the_version(
    cli: Cli, registry: Registry, ready: tuple[str, str], tmp_path: Path
) -> None:
    registry.set_alias("fraud", "production", "1.0.0")
    run = cli("artifact", "download", "fraud", "production", "--dest", str(tmp_path / "d"))
    assert run.code == 0, run.err
    assert (tmp_path / "d" / "model.bin").read_bytes() == b"weights"
    assert (
        cli("artifact", "list", "fraud", "^1", json=True).json()["items"][0]["path"] == "model.bin"
    )
    assert cli("verify", "fraud", "latest").code == 0
    assert cli("version", "show", "fraud", "production", json=True).json()["version"] == "1.0.0"
    refused = cli("version", "publish", "fraud", "production")  # changes need the number
    assert refused.code == 1 and "SemVer" in refused.err
