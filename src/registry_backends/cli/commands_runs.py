"""``modelreg experiment ...`` and ``modelreg run ...``: what training jobs logged, and
promoting a run to a model version.

An experiment is named by its id or its name: text of digits that is the id of an
existing experiment means that one; anything else is looked up by name, in any case.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from registry_backends.cli.common import (
    Context,
    Subparsers,
    UsageError,
    add_command,
    add_group,
    confirm,
    key_value,
    local_files,
    page_size,
    to_mapping,
)
from registry_backends.cli.output import (
    by_user,
    format_size,
    format_time,
    listing,
    mapping_lines,
    table,
    to_jsonable,
)
from registry_backends.cli.progress import bars_wanted, progress_bar
from registry_backends.cli.render import ci_lines
from registry_core import (
    Artifact,
    ArtifactPath,
    Experiment,
    Metric,
    NotFound,
    Registry,
    Run,
)

__all__ = ["find_experiment", "register"]

_NAME_OR_ID = "an experiment's id, or its name (any case); digits that are an id mean that id"
_RUN_COLUMNS = ["RUN ID", "NAME", "STATUS", "STARTED", "PROMOTED TO"]


def find_experiment(registry: Registry, name_or_id: str) -> Experiment:
    """The experiment ``name_or_id`` names: by id when it is the id of one, else by name."""
    if name_or_id.isascii() and name_or_id.isdigit():
        try:
            return registry.get_experiment(name_or_id)
        except NotFound:
            pass
    return registry.get_experiment_by_name(name_or_id)


def register(subparsers: Subparsers) -> None:
    """Add the ``experiment`` and ``run`` command groups."""
    _register_experiment(subparsers)
    _register_run(subparsers)


# -- experiment -------------------------------------------------------------------------


def _register_experiment(subparsers: Subparsers) -> None:
    group = add_group(
        subparsers,
        "experiment",
        summary="create, list, show, rename and delete experiments (groups of runs)",
        examples=["modelreg experiment create churn --tag team=risk", "modelreg experiment list"],
    )
    p = add_command(
        group,
        "list",
        summary="list every experiment ('Default', id 0, first of all)",
        examples=["modelreg experiment list"],
        func=experiment_list,
    )
    p = add_command(
        group,
        "show",
        summary="show an experiment and its runs",
        examples=["modelreg experiment show churn", "modelreg --json experiment show 0"],
        func=experiment_show,
        aliases=["get"],
    )
    p.add_argument("experiment", metavar="NAME_OR_ID", help=_NAME_OR_ID)

    p = add_command(
        group,
        "create",
        summary="create an experiment",
        examples=["modelreg experiment create churn --tag team=risk"],
        func=experiment_create,
        details="Names are unique in a registry regardless of case. With --quiet, prints only "
        "the new experiment's id.",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--tag", type=key_value, action="append", default=[], metavar="K=V")

    p = add_command(
        group,
        "rename",
        summary="give an experiment a new name (its id and runs stay)",
        examples=["modelreg experiment rename churn churn-2025"],
        func=experiment_rename,
    )
    p.add_argument("experiment", metavar="NAME_OR_ID", help=_NAME_OR_ID)
    p.add_argument("new_name", metavar="NEW_NAME")

    p = add_command(
        group,
        "delete",
        summary="delete an experiment with all its runs, their metrics and files",
        examples=["modelreg experiment delete churn --yes"],
        func=experiment_delete,
        details="Asks first at a terminal; elsewhere pass --yes. Refused while one of its runs "
        "became a model version, unless --force; the versions keep their files either way.",
    )
    p.add_argument("experiment", metavar="NAME_OR_ID", help=_NAME_OR_ID)
    p.add_argument("--force", action="store_true", help="delete even if runs became versions")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")


def experiment_list(ctx: Context) -> int:
    """List every experiment (all pages)."""
    items: list[Experiment] = []
    token = None
    while True:
        page = ctx.registry.list_experiments(page_size=1000, page_token=token)
        items.extend(page.items)
        token = page.next_page_token
        if token is None:
            break
    rows = [(e.id, e.name, format_time(e.created_at)) for e in items]
    ctx.out.result(listing(items), table(["ID", "NAME", "CREATED"], rows))
    return 0


def experiment_show(ctx: Context) -> int:
    """Show an experiment's fields and a table of all its runs."""
    experiment = find_experiment(ctx.registry, ctx.args.experiment)
    runs: list[Run] = []
    token = None
    while True:
        page = ctx.registry.list_runs(experiment.id, page_size=1000, page_token=token)
        runs.extend(page.items)
        token = page.next_page_token
        if token is None:
            break
    lines = [
        f"{experiment.name} (id {experiment.id})",
        f"  created:      {format_time(experiment.created_at)}{by_user(experiment.created_by)}",
        f"  updated:      {format_time(experiment.updated_at)}{by_user(experiment.updated_by)}",
    ]
    lines += mapping_lines("tags", experiment.tags)
    lines.append(f"  runs:         {len(runs)}")
    if runs:
        lines += ["    " + line for line in _runs_table(runs)]
    ctx.out.result({**to_jsonable(experiment), "runs": to_jsonable(runs)}, lines)
    return 0


def _runs_table(runs: Iterable[Run]) -> list[str]:
    rows = [
        (r.id, r.name, r.status.value, format_time(r.started_at), r.promoted_to or "") for r in runs
    ]
    return table(_RUN_COLUMNS, rows)


def experiment_create(ctx: Context) -> int:
    """Create an experiment."""
    a = ctx.args
    made = ctx.registry.create_experiment(a.name, tags=to_mapping(a.tag, "tag"))
    ctx.out.done(made, f"created experiment '{made.name}' (id {made.id})", quiet_text=made.id)
    return 0


def experiment_rename(ctx: Context) -> int:
    """Rename an experiment."""
    a = ctx.args
    old = find_experiment(ctx.registry, a.experiment)
    renamed = ctx.registry.rename_experiment(old.id, a.new_name)
    ctx.out.done(
        renamed, f"renamed experiment '{old.name}' to '{renamed.name}'", quiet_text=renamed.id
    )
    return 0


def experiment_delete(ctx: Context) -> int:
    """Delete an experiment after confirmation."""
    a = ctx.args
    found = find_experiment(ctx.registry, a.experiment)
    confirm(ctx, f"delete experiment '{found.name}' with all its runs, their metrics and files")
    ctx.registry.delete_experiment(found.id, force=a.force)
    ctx.out.done(
        {"deleted": {"experiment": found.id, "name": found.name}},
        f"deleted experiment '{found.name}'",
    )
    return 0


# -- run --------------------------------------------------------------------------------


def _register_run(subparsers: Subparsers) -> None:
    group = add_group(
        subparsers,
        "run",
        summary="list, show, download, delete runs and promote them to model versions",
        examples=["modelreg run list churn", 'modelreg run promote "$RUN" churn --bump minor'],
    )
    p = add_command(
        group,
        "list",
        summary="list an experiment's runs",
        examples=["modelreg run list churn", "modelreg run list 0 --all --json"],
        func=run_list,
    )
    p.add_argument("experiment", metavar="EXPERIMENT", help=_NAME_OR_ID)
    p.add_argument("--page-size", type=page_size, default=100, metavar="N")
    p.add_argument("--page-token", metavar="TOKEN", help="continue a listing where it stopped")
    p.add_argument("--all", action="store_true", help="follow every page")

    p = add_command(
        group,
        "show",
        summary="show a run: status, params, latest metrics, tags, files and its version",
        examples=["modelreg run show 0-5c2e9a1b7d3f4e6a8b0c1d2e"],
        func=run_show,
        aliases=["get"],
    )
    p.add_argument("run", metavar="RUN_ID")

    p = add_command(
        group,
        "download",
        summary="download a run's files under DEST, each checked against its SHA-256",
        examples=[
            "modelreg run download 0-5c2e9a1b7d3f4e6a8b0c1d2e ./out",
            "modelreg run download 0-5c2e9a1b7d3f4e6a8b0c1d2e ./out --path model",
        ],
        func=run_download,
        details="Files keep their paths in the run. Each is written to a temporary file "
        "beside its target and renamed into place once its bytes are verified.",
    )
    p.add_argument("run", metavar="RUN_ID")
    p.add_argument("dest", metavar="DEST")
    p.add_argument("--path", action="append", metavar="P", help="only files at or under P (repeat)")

    p = add_command(
        group,
        "delete",
        summary="delete a run with its metrics and files (not a promoted run)",
        examples=["modelreg run delete 0-5c2e9a1b7d3f4e6a8b0c1d2e --yes"],
        func=run_delete,
        details="Asks first at a terminal; elsewhere pass --yes.",
    )
    p.add_argument("run", metavar="RUN_ID")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    _register_promote(group)


def _register_promote(group: Subparsers) -> None:
    p = add_command(
        group,
        "promote",
        summary="make a run a ready, sealed version of a model: its files, params, metrics",
        examples=[
            "modelreg run promote 0-5c2e9a1b7d3f4e6a8b0c1d2e churn",
            "modelreg run promote 0-5c2e9a1b7d3f4e6a8b0c1d2e churn 2.1.0 --path model",
            'VERSION=$(modelreg -q run promote "$RUN" churn --bump minor)',
        ],
        func=run_promote,
        details="Without VERSION the version is a --bump from the highest (default major; "
        "a bump starts at 1.0.0). --path takes only the files under that folder, re-rooted "
        "at the version's top. A run is promoted once.",
    )
    p.add_argument("run", metavar="RUN_ID")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("version", metavar="VERSION", nargs="?", help="a SemVer 2.0.0 version")
    p.add_argument("--bump", choices=["major", "minor", "patch"])
    p.add_argument(
        "--prerelease", metavar="LABEL", help="with a bump: rc makes 2.0.0-rc.0, then 2.0.0-rc.1"
    )
    p.add_argument("--path", metavar="FOLDER", help="only the run's files under FOLDER")
    p.add_argument("--description", metavar="D", help="default: the run's description")
    p.add_argument("--tag", type=key_value, action="append", default=[], metavar="K=V")


def run_list(ctx: Context) -> int:
    """List an experiment's runs, one page or (``--all``) every page."""
    a = ctx.args
    experiment = find_experiment(ctx.registry, a.experiment)
    items: list[Run] = []
    token = a.page_token
    while True:
        page = ctx.registry.list_runs(experiment.id, page_size=a.page_size, page_token=token)
        items.extend(page.items)
        token = page.next_page_token
        if token is None or not a.all:
            break
    ctx.out.result(listing(items, token), _runs_table(items))
    if token is not None and not ctx.json:
        ctx.out.note(f"more runs: pass --all, or --page-token {token}")
    return 0


def run_show(ctx: Context) -> int:
    """Show a run; its files include those it gave its version when it was promoted."""
    registry = ctx.registry
    run = registry.get_run(ctx.args.run)
    experiment = registry.get_experiment(run.experiment_id)
    metrics = {p.key: p for p in registry.get_run_metrics(run.id)}  # the last point of each
    files = registry.list_run_artifacts(run.id)
    payload = {
        **to_jsonable(run),
        "artifacts": to_jsonable(files),
        "experiment_name": experiment.name,
        "metrics": to_jsonable(metrics),
    }
    ctx.out.result(payload, _run_lines(run, experiment, metrics, files))
    return 0


def _run_lines(
    run: Run, experiment: Experiment, metrics: dict[str, Metric], files: Iterable[Artifact]
) -> list[str]:
    promoted = run.promoted_to or "-"
    if run.promoted_to and run.promoted_path is not None:
        promoted += f" (files under {run.promoted_path})"
    lines = [
        f"run {run.id}",
        f"  name:         {run.name}",
        f"  experiment:   {experiment.name} (id {experiment.id})",
        f"  status:       {run.status.value}",
        f"  description:  {run.description or '-'}",
        f"  started:      {format_time(run.started_at)}{by_user(run.created_by)}",
        f"  ended:        {format_time(run.ended_at)}",
        f"  promoted to:  {promoted}",
    ]
    lines += mapping_lines("params", run.params)
    lines += mapping_lines(
        "metrics", {k: f"{p.value!r} (step {p.step})" for k, p in metrics.items()}
    )
    lines += mapping_lines("tags", run.tags)
    lines += ci_lines(run.ci_job)
    files = list(files)
    lines.append(f"  files:        {len(files)} ({format_size(sum(f.size for f in files))})")
    if files:
        rows = [(f.path, format_size(f.size), f.sha256) for f in files]
        lines += ["    " + line for line in table(["PATH", "SIZE", "SHA256"], rows, "SIZE")]
    return lines


def run_delete(ctx: Context) -> int:
    """Delete a run after confirmation."""
    run = ctx.registry.get_run(ctx.args.run)
    confirm(ctx, f"delete run '{run.id}' with its metrics and files")
    ctx.registry.delete_run(run.id)
    ctx.out.done({"deleted": {"run": run.id}}, f"deleted run '{run.id}'")
    return 0


def run_promote(ctx: Context) -> int:
    """Promote a run to a new ready version."""
    a = ctx.args
    if a.version is not None and a.bump is not None:
        raise UsageError("give either VERSION or --bump major|minor|patch, not both")
    if a.version is not None and a.prerelease is not None:
        raise UsageError("--prerelease goes with a bump; put it in VERSION itself (2.0.0-rc.1)")
    made = ctx.registry.promote_run(
        a.run,
        a.model,
        a.version,
        bump=None if a.version is not None else (a.bump or "major"),
        prerelease=a.prerelease,
        path=a.path,
        description=a.description,
        tags=to_mapping(a.tag, "tag"),
    )
    ctx.out.done(
        made,
        f"promoted run '{a.run}' to version {made.version} of model '{made.model}' "
        f"({made.state.value})",
        quiet_text=str(made.version),
    )
    return 0


def run_download(ctx: Context) -> int:
    """Write the run's files (or those under each --path) under DEST."""
    a = ctx.args
    files = _chosen_files(ctx.registry, a.run, a.path)
    with (
        local_files([Path(a.dest)], "write"),
        progress_bar(
            sum(f.size for f in files), "download", enabled=bars_wanted(ctx.quiet)
        ) as progress,
    ):
        written = ctx.registry.download_run(
            a.run, a.dest, paths=[f.path.value for f in files], progress=progress
        )
    ctx.out.done(
        {"dest": str(a.dest), "files": [str(w) for w in written]},
        "\n".join(str(w) for w in written),
    )
    return 0


def _chosen_files(registry: Registry, run_id: str, paths: list[str] | None) -> list[Artifact]:
    """The run's files, or those at or under any of ``paths`` (each must match one)."""
    files = registry.list_run_artifacts(run_id)
    if not paths:
        return list(files)
    folders = [ArtifactPath.parse(p) for p in paths]
    for folder in folders:
        if not any(f.path.is_within(folder) for f in files):
            raise NotFound(f"run '{run_id}' has no files at or under '{folder}'")
    return [f for f in files if any(f.path.is_within(folder) for folder in folders)]
