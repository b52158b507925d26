"""modelreg's main example: a training pipeline that registers what it makes.

It trains a small logistic-regression model (plain Python, no dependencies) on generated
data, and registers each trained model as a version of ``demo/fraud-detector``, with
its parameters, per-epoch metrics, weights file, ``config/`` folder and training log.
It publishes 1.0.0, 1.1.0 and 2.0.0-rc.1, resolves ``^1.0`` and ``latest``, downloads a
version and verifies it against its sealed checksums.

Run it on the default local registry (``./modelreg-registry``, or ``$MODELREG_URL``)::

    python examples/pipeline.py [--registry URL]

Running it again is safe: versions that are already published are kept, not retrained.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

from registry_backends import open_registry
from registry_core import AlreadyExists, CIJob, NotFound, Registry, VersionState

MODEL = "demo/fraud-detector"


def make_data(n: int, seed: int) -> list[tuple[list[float], int]]:
    """Two Gaussian blobs: 'fraud' around (2, 2), 'legit' around (-1, -1)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.random() < 0.3
        centre = 2.0 if label else -1.0
        rows.append(([rng.gauss(centre, 1.2), rng.gauss(centre, 1.2)], int(label)))
    return rows


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


Rows = list[tuple[list[float], int]]


def train(
    data: Rows, *, epochs: int, lr: float, seed: int, on_epoch: Callable[[int, float, float], None]
) -> list[float]:
    """Stochastic gradient descent on the log loss; calls on_epoch(epoch, loss, accuracy)."""
    rng = random.Random(seed)
    weights = [0.0, 0.0, 0.0]  # bias, w1, w2
    for epoch in range(epochs):
        rng.shuffle(data)
        for x, y in data:
            error = sigmoid(weights[0] + weights[1] * x[0] + weights[2] * x[1]) - y
            weights = [
                weights[0] - lr * error,
                *(w - lr * error * xi for w, xi in zip(weights[1:], x, strict=True)),
            ]
        loss, correct = 0.0, 0
        for x, y in data:
            p = sigmoid(weights[0] + weights[1] * x[0] + weights[2] * x[1])
            loss -= math.log(max(p, 1e-12)) if y else math.log(max(1 - p, 1e-12))
            correct += (p >= 0.5) == bool(y)
        on_epoch(epoch, loss / len(data), correct / len(data))
    return weights


def register(
    registry: Registry, version: str, params: dict[str, float | int], workdir: Path
) -> None:
    """Train with ``params`` and publish the result as ``version`` (skip if already there)."""
    try:
        existing = registry.get_version(MODEL, version)
    except NotFound:
        existing = None
    if existing is not None and existing.state is not VersionState.DRAFT:
        if existing.state is VersionState.FAILED:
            registry.delete_version(MODEL, version)  # a crashed earlier run: try again
        else:
            print(f"  {MODEL}@{version} is already {existing.state.value}; keeping it")
            return
    elif existing is not None:
        registry.delete_version(MODEL, version)  # an unfinished draft from a killed run

    data = make_data(600, seed=int(params["seed"]))
    with registry.new_version(
        MODEL, version, description=f"lr={params['lr']}", ci_job=CIJob.from_env()
    ) as draft:
        draft.log_params(params)

        def on_epoch(epoch: int, loss: float, accuracy: float) -> None:
            draft.log_metrics({"loss": loss, "accuracy": accuracy}, step=epoch)
            draft.append_log(f"epoch {epoch}: loss={loss:.4f} accuracy={accuracy:.3f}\n")

        weights = train(
            data,
            epochs=int(params["epochs"]),
            lr=float(params["lr"]),
            seed=int(params["seed"]),
            on_epoch=on_epoch,
        )
        out = workdir / version
        (out / "config").mkdir(parents=True)
        (out / "weights.json").write_text(json.dumps({"bias": weights[0], "w": weights[1:]}))
        (out / "config" / "features.json").write_text(json.dumps(["amount_z", "velocity_z"]))
        (out / "config" / "train.json").write_text(json.dumps(params, indent=2))
        draft.upload_dir(out)
        draft.set_tag("framework", "plain-python")
    final = registry.get_metrics(MODEL, version, "accuracy")[-1].value
    print(f"  published {MODEL}@{version}: accuracy {final:.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", default=None, help="registry URL (default: local folder)")
    args = parser.parse_args(argv)
    registry = open_registry(args.registry)
    print(f"registry: {registry.repository!r}")
    try:
        registry.create_model(MODEL, "Flags fraudulent transactions (example pipeline)")
        print(f"created model {MODEL}")
    except AlreadyExists:
        print(f"model {MODEL} exists from an earlier run")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        register(registry, "1.0.0", {"lr": 0.05, "epochs": 5, "seed": 1}, work)
        register(registry, "1.1.0", {"lr": 0.1, "epochs": 8, "seed": 2}, work)
        register(registry, "2.0.0-rc.1", {"lr": 0.2, "epochs": 12, "seed": 3}, work)

        caret = registry.resolve(MODEL, "^1.0")
        latest = registry.latest(MODEL)
        newest = registry.latest(MODEL, include_prereleases=True)
        print(
            f"resolve '^1.0' -> {caret.version}; latest -> {latest.version}; "
            f"latest with prereleases -> {newest.version}"
        )
        registry.set_alias(MODEL, "production", latest.version)
        print(f"alias production -> {registry.resolve(MODEL, 'production').version}")

        files = registry.download(MODEL, latest.version, work / "download")
        report = registry.verify(MODEL, latest.version)
        print(
            f"downloaded {len(files)} files of {latest.package} "
            f"({latest.size} bytes); verify: {'ok' if report.ok else report.problems}"
        )
        history = registry.get_metrics(MODEL, latest.version, "loss")
        print("loss by epoch: " + " ".join(f"{m.value:.3f}" for m in history))
        print(f"manifest sha256 of {latest.package}: {latest.manifest_sha256}")


if __name__ == "__main__":
    main()
