"""``modelreg export``, ``modelreg import`` and ``modelreg verify-package``: one version as
a package file (`registry_backends.package`)."""

from __future__ import annotations

import os

from registry_backends.cli.common import Context, Subparsers, add_command, local_files, read_version
from registry_backends.cli.output import format_size, plural
from registry_backends.cli.progress import bars_wanted, progress_bar
from registry_backends.package import Package, _import_package, export_version, verify_package
from registry_core import ModelVersion

__all__ = ["register"]


def register(subparsers: Subparsers) -> None:
    """Add ``export``, ``import`` and ``verify-package``."""
    p = add_command(
        subparsers,
        "export",
        summary="write a sealed version, its metadata and files as one tar package",
        examples=[
            "modelreg export fraud 1.2.0 -o fraud-1.2.0.tar",
            "modelreg export fraud production -o fraud-prod.tar",
        ],
        func=export,
        details="The package holds a manifest (modelreg-package.json: the model, the "
        "version's state, description, params, tags, CI link, metrics and every file's "
        "SHA-256) and the files under files/. The same version always gives the same bytes. "
        "Drafts and failed versions are refused. Default -o: MODEL-VERSION.tar.",
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument("version", metavar="VERSION", help="a version, alias, range or 'latest'")
    p.add_argument("-o", "--output", metavar="FILE", help="the package file to write")

    p = add_command(
        subparsers,
        "import",
        summary="bring a version in from a package, after checking every file's SHA-256",
        examples=[
            "modelreg import fraud-1.2.0.tar",
            "modelreg import fraud-1.2.0.tar --registry sqlite:///other.db",
        ],
        func=import_,
        details="Nothing is written unless the whole package checks out. The model is "
        "created if missing. A version already there with the same content is left as it "
        "is; with other content the import is refused.",
    )
    p.add_argument("file", metavar="FILE")

    p = add_command(
        subparsers,
        "verify-package",
        summary="check a package file offline: its structure and every file's SHA-256",
        examples=["modelreg verify-package fraud-1.2.0.tar"],
        func=verify,
    )
    p.add_argument("file", metavar="FILE")


def _summary(package: Package) -> dict[str, object]:
    return {
        "model": str(package.model),
        "version": str(package.version),
        "state": package.state.value,
        "files": len(package.files),
        "bytes": package.size,
    }


def _counts(package: Package) -> str:
    return f"{plural(len(package.files), 'file')}, {format_size(package.size)}"


def export(ctx: Context) -> int:
    """Export one version to a package file."""
    a = ctx.args
    version = ctx.registry.get_version(a.model, read_version(ctx, a.model, a.version))
    out = a.output or f"{str(version.model).replace('/', '-')}-{version.version}.tar"
    with (
        local_files([os.path.dirname(os.path.abspath(out))], "write"),
        progress_bar(version.size, "export", enabled=bars_wanted(ctx.quiet)) as progress,
    ):
        package = export_version(
            ctx.registry, version.model, version.version, out, progress=progress
        )
    ctx.out.done(
        {**_summary(package), "file": out},
        f"exported {package.model} {package.version} ({_counts(package)}) to {out}",
        quiet_text=out,
    )
    return 0


def import_(ctx: Context) -> int:
    """Import a package into the registry."""
    path = ctx.args.file
    with local_files([path], "read"):
        total = 2 * os.path.getsize(path)  # checked, then stored
        with progress_bar(total, "import", enabled=bars_wanted(ctx.quiet)) as progress:
            # checked before a local registry is made for it: a bad package makes none
            checked = verify_package(path, progress=progress) if ctx.registry_is_new() else None
            version, wrote = _import_package(path, ctx.registry, progress=progress, checked=checked)
    ctx.out.done(
        {**_version_summary(version), "imported": wrote},
        f"imported {version.model} {version.version} ({version.state.value}, "
        f"{plural(len(version.artifacts), 'file')}, {format_size(version.size)})"
        if wrote
        else f"{version.model} {version.version} is already in the registry with the same "
        "content; nothing changed",
        quiet_text=f"{version.model} {version.version}",
    )
    return 0


def _version_summary(version: ModelVersion) -> dict[str, object]:
    return {
        "model": str(version.model),
        "version": str(version.version),
        "state": version.state.value,
        "files": len(version.artifacts),
        "bytes": version.size,
    }


def verify(ctx: Context) -> int:
    """Check a package file; exit 1 (with the problem on stderr) if it is not sound."""
    path = ctx.args.file
    with local_files([path], "read"):
        total = os.path.getsize(path)
        with progress_bar(total, "verify", enabled=bars_wanted(ctx.quiet)) as progress:
            package = verify_package(path, progress=progress)
    ctx.out.result(
        {**_summary(package), "ok": True},
        f"ok: {package.model} {package.version} ({package.state.value}), {_counts(package)}",
    )
    return 0
