"""``modelreg version ...``: create, list, show, find and move versions through their life."""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from registry_backends.cli.common import (
    CommandFailed,
    Context,
    Subparsers,
    UsageError,
    add_command,
    add_group,
    confirm,
    key_value,
    page_size,
    read_version,
    to_mapping,
)
from registry_backends.cli.output import format_size, format_time, listing, table, to_jsonable
from registry_backends.cli.render import version_lines
from registry_core import CIJob, Metric, ModelVersion, VersionState

__all__ = ["register"]

_STATES = [s.value for s in VersionState]
#: command -> (Registry method, past tense, summary)
_MOVES = {
    "publish": ("publish", "published", "seal a draft as ready: its manifest never changes again"),
    "fail": ("fail", "failed", "mark a draft that could not be finished as failed"),
    "deprecate": ("deprecate", "deprecated", "deprecate a ready version (out of latest/ranges)"),
    "undeprecate": ("undeprecate", "undeprecated", "return a deprecated version to ready"),
    "yank": ("yank", "yanked", "withdraw a version for good: pinnable by exact version only"),
}


def register(subparsers: Subparsers) -> None:
    """Add the ``version`` command group."""
    group = add_group(
        subparsers,
        "version",
        summary="create, list, show, resolve and publish model versions",
        examples=[
            "modelreg version create fraud --bump minor",
            "modelreg version publish fraud 1.3.0",
            "modelreg version resolve fraud '^1.2'",
        ],
    )
    _register_create(group)
    _register_reading(group)
    for command, (_, _, summary) in _MOVES.items():
        p = add_command(
            group,
            command,
            summary=summary,
            examples=[f"modelreg version {command} fraud 1.2.0"],
            func=version_move,
        )
        _model_version(p)
    p = add_command(
        group,
        "update",
        summary="change a version's description (allowed in every state)",
        examples=["modelreg version update fraud 1.2.0 --description 'retrained on March data'"],
        func=version_update,
    )
    _model_version(p)
    p.add_argument("--description", required=True, metavar="D")
    p = add_command(
        group,
        "link-ci",
        summary="record the CI job running now (GitLab CI or GitHub Actions) on a version",
        examples=["modelreg version link-ci fraud 1.2.0"],
        func=version_link_ci,
    )
    _model_version(p)
    p = add_command(
        group,
        "delete",
        summary="delete a version and its artifacts, in any state",
        examples=["modelreg version delete fraud 1.2.0 --yes"],
        func=version_delete,
        details="Asks first at a terminal; elsewhere pass --yes. Refused while an alias points\n"
        "at the version, unless --force (which deletes those aliases).",
    )
    _model_version(p)
    p.add_argument("--force", action="store_true", help="also delete aliases pointing at it")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")


def _model_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL")
    parser.add_argument("version", metavar="VERSION")


def _states(text: str) -> list[str]:
    states = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in states if s not in _STATES]
    if bad or not states:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a state; states are {', '.join(_STATES)}"
        )
    return states


def _register_create(group: Subparsers) -> None:
    p = add_command(
        group,
        "create",
        summary="create a draft version: an exact VERSION, or a --bump from the highest",
        examples=[
            "modelreg version create fraud 1.0.0 --description 'first cut'",
            "modelreg version create fraud --bump minor --prerelease rc --ci",
            "modelreg version create fraud 0.1.0 --tag source=baseline --publish",
            "VERSION=$(modelreg -q version create fraud --bump patch)",
        ],
        func=version_create,
        details="A bump starts at 1.0.0. --ci records the GitLab CI / GitHub Actions job that\n"
        "is running (read from its environment variables).",
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument("version", metavar="VERSION", nargs="?", help="a SemVer 2.0.0 version")
    p.add_argument("--bump", choices=["major", "minor", "patch"])
    p.add_argument(
        "--prerelease", metavar="LABEL", help="with --bump: rc makes 1.3.0-rc.0, then 1.3.0-rc.1"
    )
    p.add_argument("--description", default="", metavar="D")
    p.add_argument("--tag", type=key_value, action="append", default=[], metavar="K=V")
    p.add_argument("--ci", action="store_true", help="link the CI job running now")
    p.add_argument(
        "--publish", action="store_true", help="create it ready at once (a version without files)"
    )


def _register_reading(group: Subparsers) -> None:
    p = add_command(
        group,
        "list",
        summary="list a model's versions in precedence order",
        examples=[
            "modelreg version list fraud",
            "modelreg version list fraud --state ready --no-prereleases --order=-precedence",
        ],
        func=version_list,
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument(
        "--state",
        type=_states,
        action="extend",
        metavar="S",
        help=f"only these states (repeat or comma-separate): {', '.join(_STATES)}",
    )
    p.add_argument("--no-prereleases", action="store_true", help="leave out prereleases")
    p.add_argument(
        "--order",
        choices=["precedence", "-precedence"],
        default="precedence",
        help="-precedence lists the highest first (write --order=-precedence)",
    )
    p.add_argument("--page-size", type=page_size, default=100, metavar="N")
    p.add_argument("--page-token", metavar="TOKEN", help="continue a listing where it stopped")
    p.add_argument("--all", action="store_true", help="follow every page")

    p = add_command(
        group,
        "show",
        summary="show a version: state, metadata, CI links, manifest and aliases",
        examples=["modelreg version show fraud 1.2.0", "modelreg --json version show fraud 1.2.0"],
        func=version_show,
        aliases=["get"],
    )
    _model_version(p)

    p = add_command(
        group,
        "latest",
        summary="print the highest ready version (prereleases only when asked)",
        examples=["modelreg version latest fraud", "modelreg version latest fraud --prereleases"],
        func=version_latest,
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--prereleases", action="store_true", help="a prerelease may be the latest")

    p = add_command(
        group,
        "resolve",
        summary="print the version SPEC means: exact version, latest, alias, or npm range",
        examples=[
            "modelreg version resolve fraud '^1.2'",
            "modelreg version resolve fraud production",
            "modelreg version resolve fraud '>=1.2.0 <2.0.0' --prereleases",
        ],
        func=version_resolve,
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--prereleases", action="store_true", help="a range may match prereleases")


# -- handlers ---------------------------------------------------------------------------


def _ci_job_from_env() -> CIJob:
    job = CIJob.from_env()
    if job is None:
        raise CommandFailed(
            "--ci: not running in CI: neither GitLab CI (GITLAB_CI=true, CI_JOB_ID) nor "
            "GitHub Actions (GITHUB_ACTIONS=true, GITHUB_RUN_ID) is set"
        )
    return job


def version_create(ctx: Context) -> int:
    """Create a draft version."""
    a = ctx.args
    if (a.version is None) == (a.bump is None):
        raise UsageError("give either VERSION or --bump major|minor|patch")
    if a.prerelease is not None and a.bump is None:
        raise UsageError("--prerelease goes with --bump; put it in VERSION itself (1.0.0-rc.1)")
    tags = to_mapping(a.tag, "tag")
    ci_job = _ci_job_from_env() if a.ci else None
    created = ctx.registry.create_version(
        a.model,
        a.version,
        bump=a.bump,
        prerelease=a.prerelease,
        description=a.description,
        tags=tags,
        ci_job=ci_job,
        publish=a.publish,
    )
    ctx.out.done(
        created,
        f"created version {created.version} of model '{created.model}' ({created.state.value})",
        quiet_text=str(created.version),
    )
    return 0


def version_list(ctx: Context) -> int:
    """List versions, one page or (``--all``) every page."""
    a = ctx.args
    items: list[ModelVersion] = []
    token = a.page_token
    while True:
        page = ctx.registry.list_versions(
            a.model,
            states=a.state,
            include_prereleases=not a.no_prereleases,
            order=a.order,
            page_size=a.page_size,
            page_token=token,
        )
        items.extend(page.items)
        token = page.next_page_token
        if token is None or not a.all:
            break
    rows = [
        (v.version, v.state.value, format_time(v.created_at), len(v.artifacts), format_size(v.size))
        for v in items
    ]
    ctx.out.result(
        listing(items, token),
        table(["VERSION", "STATE", "CREATED", "ARTIFACTS", "SIZE"], rows, right="ARTIFACTS,SIZE"),
    )
    if token is not None and not ctx.json:
        ctx.out.note(f"more versions: pass --all, or --page-token {token}")
    return 0


def version_show(ctx: Context) -> int:
    """Show everything about one version."""
    a = ctx.args
    version = ctx.registry.get_version(a.model, read_version(ctx, a.model, a.version))
    model = ctx.registry.get_model(version.model)
    aliases = sorted(name for name, target in model.aliases.items() if target == version.version)
    metrics = _last_points(ctx.registry.get_metrics(version.model, version.version))
    payload = {
        **to_jsonable(version),
        "aliases": aliases,
        "metrics": to_jsonable(metrics),
    }
    ctx.out.result(payload, version_lines(version, aliases, metrics))
    return 0


def _last_points(points: Iterable[Metric]) -> dict[str, Metric]:
    last: dict[str, Metric] = {}
    for point in points:
        last[point.key] = point
    return last


def version_move(ctx: Context) -> int:
    """publish, fail, deprecate, undeprecate or yank: one lifecycle move."""
    a = ctx.args
    command = a.version_command
    method, past, _ = _MOVES[command]
    moved: ModelVersion = getattr(ctx.registry, method)(a.model, a.version)
    ctx.out.done(
        moved, f"{past} version {moved.version} of model '{moved.model}': {moved.state.value}"
    )
    return 0


def version_update(ctx: Context) -> int:
    """Change a version's description."""
    a = ctx.args
    updated = ctx.registry.update_version(a.model, a.version, description=a.description)
    ctx.out.done(updated, f"updated version {updated.version} of model '{updated.model}'")
    return 0


def version_link_ci(ctx: Context) -> int:
    """Record the running CI job on a version."""
    a = ctx.args
    job = _ci_job_from_env()
    linked = ctx.registry.link_ci_job(a.model, a.version, job)
    ctx.out.done(
        linked,
        f"linked {job.provider} job {job.job_id} to version {linked.version} "
        f"of model '{linked.model}'",
    )
    return 0


def version_delete(ctx: Context) -> int:
    """Delete a version after confirmation."""
    a = ctx.args
    found = ctx.registry.get_version(a.model, a.version)
    confirm(ctx, f"delete version {found.version} of model '{found.model}' and its artifacts")
    ctx.registry.delete_version(found.model, found.version, force=a.force)
    ctx.out.done(
        {"deleted": {"model": found.model, "version": found.version}},
        f"deleted version {found.version} of model '{found.model}'",
    )
    return 0


def version_latest(ctx: Context) -> int:
    """Print the latest ready version."""
    a = ctx.args
    found = ctx.registry.latest(a.model, include_prereleases=a.prereleases)
    ctx.out.result(found, str(found.version))
    return 0


def version_resolve(ctx: Context) -> int:
    """Print the version a spec resolves to."""
    a = ctx.args
    found = ctx.registry.resolve(a.model, a.spec, include_prereleases=a.prereleases)
    ctx.out.result(found, str(found.version))
    return 0
