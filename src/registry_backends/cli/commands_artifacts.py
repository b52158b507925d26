"""``modelreg artifact ...`` and ``modelreg log ...``: files, logs, params, metrics, tags."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from registry_backends.cli.common import (
    Context,
    Subparsers,
    UsageError,
    add_command,
    add_group,
    key_value,
    local_files,
    metric_value,
    read_version,
    to_mapping,
)
from registry_backends.cli.output import format_size, format_time, listing, short_hash, table
from registry_backends.cli.progress import bars_wanted, progress_bar
from registry_core import Artifact, ArtifactPath

__all__ = ["register"]


def register(subparsers: Subparsers) -> None:
    """Add the ``artifact`` and ``log`` command groups."""
    _register_artifact(subparsers)
    _register_log(subparsers)


def _model_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL")
    parser.add_argument("version", metavar="VERSION")


# -- artifact ---------------------------------------------------------------------------


def _register_artifact(subparsers: Subparsers) -> None:
    group = add_group(
        subparsers,
        "artifact",
        summary="upload, list, download and delete a version's files",
        examples=[
            "modelreg artifact upload fraud 1.3.0 model.pkl config/",
            "modelreg artifact download fraud 1.3.0 --dest ./fraud-1.3.0",
        ],
    )
    p = add_command(
        group,
        "upload",
        summary="upload files, and directories recursively, into a draft version",
        examples=[
            "modelreg artifact upload fraud 1.3.0 model.pkl",
            "modelreg artifact upload fraud 1.3.0 ./checkpoints --subfolder ckpt",
            "tar c data | modelreg artifact upload fraud 1.3.0 - --name data.tar",
        ],
        func=artifact_upload,
        details="A directory's files keep their paths relative to it (under --subfolder if\n"
        "given). PATH '-' reads standard input and needs --name.",
    )
    _model_version(p)
    p.add_argument("paths", metavar="PATH", nargs="+")
    p.add_argument("--name", metavar="N", help="the artifact's name (one file only)")
    p.add_argument("--subfolder", metavar="S", help="put the artifacts under this folder")

    p = add_command(
        group,
        "list",
        summary="list a version's artifacts with sizes and SHA-256",
        examples=[
            "modelreg artifact list fraud 1.3.0",
            "modelreg artifact list fraud 1.3.0 --prefix logs",
        ],
        func=artifact_list,
    )
    _model_version(p)
    p.add_argument("--prefix", metavar="P", help="only artifacts under this folder")

    p = add_command(
        group,
        "download",
        summary="download artifacts, each checked against its SHA-256",
        examples=[
            "modelreg artifact download fraud 1.3.0 --dest ./fraud",
            "modelreg artifact download fraud 1.3.0 --path model.pkl --path conf/a.json",
        ],
        func=artifact_download,
    )
    _model_version(p)
    p.add_argument("--dest", default=".", metavar="DIR", help="where to write (default: .)")
    p.add_argument("--path", action="append", metavar="P", help="only this artifact (repeat)")

    p = add_command(
        group,
        "cat",
        summary="write one artifact's bytes to standard output, checked against its SHA-256",
        examples=["modelreg artifact cat fraud 1.3.0 logs/run.log"],
        func=artifact_cat,
    )
    _model_version(p)
    p.add_argument("path", metavar="PATH")

    p = add_command(
        group,
        "delete",
        summary="delete artifacts from a draft version (all named paths must exist)",
        examples=["modelreg artifact delete fraud 1.3.0 model.pkl scratch/notes.txt"],
        func=artifact_delete,
    )
    _model_version(p)
    p.add_argument("paths", metavar="PATH", nargs="+")

    p = add_command(
        group,
        "log",
        summary="append text to a draft's log artifact logs/<name>",
        examples=[
            "modelreg artifact log fraud 1.3.0 'epoch 3: loss 0.12'",
            "python train.py 2>&1 | modelreg artifact log fraud 1.3.0 - --name train.log",
        ],
        func=artifact_log,
        details="TEXT gets a newline at its end if it has none; '-' appends standard input as is.",
    )
    _model_version(p)
    p.add_argument("text", metavar="TEXT|-")
    p.add_argument("--name", default="run.log", metavar="NAME", help="log file (default run.log)")


def _upload_total(sources: list[str]) -> int | None:
    """Bytes the upload will move, from the files' sizes (None when stdin is read)."""
    total = 0
    for source in sources:
        if source == "-":
            return None
        path = Path(source)
        if path.is_dir():
            total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        else:
            total += path.stat().st_size
    return total


def artifact_upload(ctx: Context) -> int:
    """Upload the files and directories given."""
    a = ctx.args
    sources: list[str] = a.paths
    if a.name is not None and len(sources) != 1:
        raise UsageError("--name names one file; give exactly one PATH with it")
    if "-" in sources and a.name is None:
        raise UsageError("PATH '-' reads standard input and needs --name")
    local = [s for s in sources if s != "-"]
    uploaded: list[Artifact] = []
    with local_files(local, "read"):
        total = _upload_total(sources)
        if a.name is not None and local and Path(local[0]).is_dir():
            raise UsageError("--name names a file; for a directory use --subfolder")
        with progress_bar(total, "upload", enabled=bars_wanted(ctx.quiet)) as progress:
            for source in sources:
                if source != "-" and Path(source).is_dir():
                    uploaded += ctx.registry.upload_dir(
                        a.model, a.version, source, subfolder=a.subfolder, progress=progress
                    )
                    continue
                uploaded.append(
                    ctx.registry.upload(
                        a.model,
                        a.version,
                        sys.stdin.buffer if source == "-" else source,
                        name=a.name,
                        subfolder=a.subfolder,
                        progress=progress,
                    )
                )
    lines = [f"uploaded {art.path} ({format_size(art.size)})" for art in uploaded]
    ctx.out.done(listing(uploaded), "\n".join(lines))
    return 0


def artifact_list(ctx: Context) -> int:
    """List a version's artifacts."""
    a = ctx.args
    artifacts = ctx.registry.list_artifacts(
        a.model, read_version(ctx, a.model, a.version), prefix=a.prefix
    )
    rows = [(art.path, format_size(art.size), short_hash(art.sha256)) for art in artifacts]
    ctx.out.result(listing(artifacts), table(["PATH", "SIZE", "SHA256"], rows, right="SIZE"))
    return 0


def artifact_download(ctx: Context) -> int:
    """Download some or all of a version's artifacts under --dest."""
    a = ctx.args
    version = ctx.registry.get_version(a.model, read_version(ctx, a.model, a.version))
    if a.path:
        wanted = {ArtifactPath.parse(p).key for p in a.path}
        total = sum(art.size for art in version.artifacts if art.path.key in wanted)
    else:
        total = version.size
    with (
        local_files([a.dest], "write"),
        progress_bar(total, "download", enabled=bars_wanted(ctx.quiet)) as progress,
    ):
        written = ctx.registry.download(
            version.model, version.version, a.dest, paths=a.path, progress=progress
        )
    ctx.out.done(
        {"dest": str(a.dest), "files": [str(w) for w in written]},
        "\n".join(str(w) for w in written),
    )
    return 0


def artifact_cat(ctx: Context) -> int:
    """Copy one artifact to stdout."""
    a = ctx.args
    if ctx.json:
        raise UsageError("artifact cat writes the artifact's bytes; --json does not apply")
    with ctx.registry.open_artifact(
        a.model, read_version(ctx, a.model, a.version), a.path
    ) as stream:
        sys.stdout.flush()
        shutil.copyfileobj(stream, sys.stdout.buffer, 1024 * 1024)
        sys.stdout.buffer.flush()
    return 0


def artifact_delete(ctx: Context) -> int:
    """Delete artifacts from a draft."""
    a = ctx.args
    ctx.registry.delete_artifacts(a.model, a.version, a.paths)
    ctx.out.done(
        {"deleted": {"model": a.model, "version": a.version, "paths": a.paths}},
        "\n".join(f"deleted {p}" for p in a.paths),
    )
    return 0


def artifact_log(ctx: Context) -> int:
    """Append text (or stdin) to a log artifact."""
    a = ctx.args
    log = ctx.registry.append_log(a.model, a.version, _log_text(a.text), name=a.name)
    ctx.out.done(log, f"appended to {log.path} ({format_size(log.size)})")
    return 0


def _log_text(text: str) -> str:
    if text == "-":
        return sys.stdin.read()
    return text if text.endswith("\n") else text + "\n"


# -- log --------------------------------------------------------------------------------


def _register_log(subparsers: Subparsers) -> None:
    group = add_group(
        subparsers,
        "log",
        summary="record parameters, metrics and tags of a version",
        examples=[
            "modelreg log param fraud 1.3.0 lr=0.01 epochs=20",
            "modelreg log metric fraud 1.3.0 auc=0.93 --step 20",
        ],
    )
    p = add_command(
        group,
        "param",
        summary="record parameters of a draft (each written once)",
        examples=["modelreg log param fraud 1.3.0 lr=0.01 optimizer=adam"],
        func=log_param,
    )
    _model_version(p)
    p.add_argument("pairs", metavar="KEY=VALUE", nargs="+", type=key_value)

    p = add_command(
        group,
        "metric",
        summary="add points to metric histories",
        examples=["modelreg log metric fraud 1.3.0 auc=0.93 loss=0.12 --step 20"],
        func=log_metric,
    )
    _model_version(p)
    p.add_argument("pairs", metavar="KEY=VALUE", nargs="+", type=metric_value)
    p.add_argument("--step", type=int, default=0, metavar="N", help="the step (default 0)")

    p = add_command(
        group,
        "tag",
        summary="set or delete version tags (editable in every state)",
        examples=["modelreg log tag fraud 1.3.0 dataset=2025-03 --delete stale"],
        func=log_tag,
    )
    _model_version(p)
    p.add_argument("pairs", metavar="KEY=VALUE", nargs="*", type=key_value)
    p.add_argument("--delete", action="append", default=[], metavar="KEY", help="remove a tag")

    p = add_command(
        group,
        "metrics",
        summary="show the logged metric points in the order they were logged",
        examples=["modelreg log metrics fraud 1.3.0 --key auc"],
        func=log_metrics,
    )
    _model_version(p)
    p.add_argument("--key", metavar="K", help="only this metric")


def log_param(ctx: Context) -> int:
    """Record parameters."""
    a = ctx.args
    params = to_mapping(a.pairs, "param")
    ctx.registry.log_params(a.model, a.version, params)
    version = ctx.registry.get_version(a.model, a.version)
    ctx.out.done(version, "\n".join(f"param {k} = {v}" for k, v in params.items()))
    return 0


def log_metric(ctx: Context) -> int:
    """Record metric points at one step."""
    a = ctx.args
    metrics: dict[str, float] = {}
    for key, value in a.pairs:
        if key in metrics:
            raise UsageError(f"metric {key!r} is given twice")
        metrics[key] = value
    points = ctx.registry.log_metrics(a.model, a.version, metrics, step=a.step)
    ctx.out.done(
        listing(points), "\n".join(f"metric {p.key} = {p.value!r} (step {p.step})" for p in points)
    )
    return 0


def log_tag(ctx: Context) -> int:
    """Set and delete version tags."""
    a = ctx.args
    tags = to_mapping(a.pairs, "tag")
    if not tags and not a.delete:
        raise UsageError("nothing to do: give KEY=VALUE pairs or --delete KEY")
    registry = ctx.registry
    version = registry.get_version(a.model, a.version)
    for key, value in tags.items():
        version = registry.set_tag(a.model, a.version, key, value)
    for key in a.delete:
        version = registry.delete_tag(a.model, a.version, key)
    lines = [f"tag {k} = {v}" for k, v in tags.items()] + [f"deleted tag {k}" for k in a.delete]
    ctx.out.done(version, "\n".join(lines))
    return 0


def log_metrics(ctx: Context) -> int:
    """Show metric history."""
    a = ctx.args
    points = ctx.registry.get_metrics(a.model, read_version(ctx, a.model, a.version), a.key)
    rows = [(p.key, p.step, repr(p.value), format_time(p.timestamp, seconds=True)) for p in points]
    ctx.out.result(
        listing(points), table(["KEY", "STEP", "VALUE", "LOGGED"], rows, right="STEP,VALUE")
    )
    return 0
