"""End to end through the installed ``modelreg`` command: ``token create`` issues a token,
``serve`` runs the server as a subprocess, and the stock MLflow client uses both. The
server's peak memory stays flat through a large upload and download."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_backends._install import install_command
from registry_backends.cli import main

MODELREG = Path(sys.executable).parent / "modelreg"
BIG = 256 * 1024 * 1024


def modelreg(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MODELREG_URL"}
    done = subprocess.run(
        [str(MODELREG), *args], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    return done


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss(pid: int) -> int:
    """The process's high-water mark of resident memory, in bytes (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    registry = tmp_path / "registry"
    modelreg("--registry", str(registry), "settings", "grant", "ana", "maintainer")
    port = free_port()
    command = ["serve", "--registry", str(registry), "--port", str(port), "--prefix", "/mlflow"]
    proc = subprocess.Popen(
        [str(MODELREG), *command, "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/mlflow"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as answer:
                assert answer.read() == b"OK"
            break
        except OSError as error:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                assert proc.stderr is not None
                message = f"modelreg serve did not start: {proc.stderr.read()!r}"
                raise AssertionError(message) from error
            time.sleep(0.05)
    yield url, proc, registry
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    assert proc.stderr is not None
    proc.stderr.close()


def test_token_commands_and_serve_with_the_stock_client(
    server: tuple[str, subprocess.Popen[bytes], Path],
    mlflow_env: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    mlflow = pytest.importorskip("mlflow")
    url, proc, registry = server
    token = modelreg("--registry", str(registry), "token", "create", "--user", "ana").stdout
    token = token.strip()
    assert token.startswith("mrt_")
    listed = json.loads(modelreg("--registry", str(registry), "--json", "token", "list").stdout)[
        "items"
    ]
    assert [(t["user"], len(t["id"])) for t in listed] == [("ana", 16)]
    assert token not in json.dumps(listed)

    mlflow_env.setenv("MLFLOW_TRACKING_TOKEN", token)
    client = mlflow.MlflowClient(tracking_uri=url, registry_uri=url)
    client.create_registered_model("served")
    version = client.create_model_version("served", "", tags={"gitlab.version": "0.1.0"})
    big = tmp_path / "weights.bin"
    with big.open("wb") as out:
        out.truncate(BIG)  # sparse: cheap to make, still BIG bytes on the wire
    before = peak_rss(proc.pid)
    client.log_artifact(version.run_id, str(big))
    client.set_terminated(version.run_id)
    back = Path(client.download_artifacts(version.run_id, "weights.bin", str(tmp_path / "dl")))
    assert back.stat().st_size == BIG
    growth = peak_rss(proc.pid) - before
    print(f"peak RSS {before >> 20} MiB before, +{growth >> 20} MiB through {BIG >> 20} MiB")
    assert growth < 64 * 1024 * 1024, f"the server's peak RSS grew {growth >> 20} MiB"

    modelreg("--registry", str(registry), "token", "revoke", listed[0]["id"])
    with pytest.raises(mlflow.exceptions.MlflowException) as error:
        client.get_registered_model("served")
    assert error.value.error_code == "UNAUTHENTICATED"


def test_serve_without_the_server_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for module in ("uvicorn", "registry_server"):
        monkeypatch.setitem(sys.modules, module, None)
    code = main(["--registry", str(tmp_path / "r"), "serve", "--port", "1"])
    assert code == 1
    assert install_command("server") in capsys.readouterr().err


def test_serve_refuses_a_bad_prefix(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["--registry", str(tmp_path / "r"), "serve", "--prefix", "mlflow/"]) == 2
    assert "--prefix" in capsys.readouterr().err


def test_serve_on_a_port_in_use_is_one_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert main(["--registry", str(tmp_path / "r"), "serve", "--port", port]) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in err
    assert "pick another with --port" in err


def test_serve_says_where_it_listens(server: tuple[str, subprocess.Popen[bytes], Path]) -> None:
    url, proc, _ = server
    proc.terminate()
    proc.wait(10)
    assert proc.stderr is not None
    said = proc.stderr.read().decode()
    root = url.removesuffix("/mlflow")
    assert f"modelreg: serving on {url} (web UI at {root}/; press Ctrl+C to stop)" in said
