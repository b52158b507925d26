"""``modelreg import-mlflow --from URI``: an MLflow model registry brought into modelreg.

Wired into the parser by `registry_backends.cli.app`; the work is
`registry_backends.mlflow_import`, and the ``mlflow`` client is imported only when the
command runs. Exit 0 when everything was imported, already there or skipped (a skip is
listed with its reason), 1 when a version or alias met a conflict (listed, not
overwritten).
"""

from __future__ import annotations

import os

from registry_backends import open_registry
from registry_backends.cli.common import Context, Subparsers, add_command
from registry_backends.cli.output import to_jsonable
from registry_backends.cli.progress import bars_wanted, progress_bar
from registry_backends.mlflow_import import ImportProgress, ImportReport, import_mlflow

__all__ = ["register"]


def register(subparsers: Subparsers) -> None:
    """Add ``import-mlflow``."""
    p = add_command(
        subparsers,
        "import-mlflow",
        summary="import the models, versions and aliases of an MLflow model registry",
        examples=[
            "modelreg import-mlflow --from sqlite:///mlflow.db --dry-run",
            "modelreg import-mlflow --from sqlite:///mlflow.db --registry ./models",
            "modelreg import-mlflow --from http://mlflow.internal:5000",
        ],
        func=run,
        details="URI is an MLflow tracking server or store URI. Each registered model comes "
        "with its description, tags and aliases; each version with its description, tags, "
        "its run's params and metric histories, and its files. MLflow's version N becomes "
        "N.0.0, unless its tag gitlab.version, modelreg.version or semver names a SemVer "
        "(an invalid one skips the version); the tags mlflow.version and mlflow.run_id "
        "record where it came from. READY versions are published (sealed), Archived ones "
        "then deprecated, FAILED_REGISTRATION ones imported as failed, PENDING ones "
        "skipped. Run it again to import only what is new: nothing is overwritten, and a "
        "version that changed in MLflow since is reported as a conflict. Needs the MLflow "
        "client: pip install 'modelreg[mlflow]'.",
    )
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="URI",
        help="the MLflow registry: http(s)://server or a store URI such as sqlite:///mlflow.db",
    )
    p.add_argument("--dry-run", action="store_true", help="write nothing; show the mapping")


def run(ctx: Context) -> int:
    """Import, with a progress bar on a terminal, then print the report."""
    args = ctx.args
    # MLflow draws a bar per download; the command draws its own
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow's client retries a server that does not answer for about four minutes by
    # default; the command gives up after about seven seconds (set these to wait longer)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    enabled = bars_wanted(ctx.quiet) and not args.dry_run
    with progress_bar(None, "importing", enabled=enabled) as bar:
        seen = 0

        def progress(now: ImportProgress) -> None:
            nonlocal seen
            if bar is not None:
                bar(now.bytes_done - seen)
            seen = now.bytes_done

        # a dry run into a local registry not made yet compares with an empty one
        new = args.dry_run and ctx.registry_is_new()
        registry = open_registry("memory://") if new else ctx.registry
        report = import_mlflow(args.source, registry, dry_run=args.dry_run, progress=progress)
    ctx.out.result(_payload(report), str(report))
    return 1 if report.conflicts else 0


def _payload(report: ImportReport) -> dict[str, object]:
    return {
        "dry_run": report.dry_run,
        "imported": list(report.imported),
        "unchanged": list(report.unchanged),
        "skipped": list(report.skipped),
        "conflicts": list(report.conflicts),
        "versions": to_jsonable(list(report.mapping)),
        "files": report.files,
        "bytes": report.bytes,
        "changed_nothing": report.changed_nothing,
    }
