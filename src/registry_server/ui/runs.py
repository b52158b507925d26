"""A run's page (GitLab's "candidate"): its details, its sections as tabs, downloads of
its files, promoting it to a model version, and deleting it.

The sections (``?tab=artifacts|metrics|parameters|tags``) are plain links, as on the
version page, whose pieces they reuse: the file tree, the metric plots, the key/value
tables. A run's files are read-only here; the training job writes them. The promotion form
calls `Registry.promote_run`, so its rules (a run is promoted once, the model must exist)
stay there and a refusal comes back on the page with its message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.responses import Response

from registry_core import Action, ArtifactPath, InvalidInput, NotFound, Run
from registry_core.versions import BumpPart
from registry_server.mapping import parse_run_id
from registry_server.ui import artifacts
from registry_server.ui._web import Actions, Page, Visit, redirect
from registry_server.ui.plots import metric_views

__all__ = ["RUN_ACTIONS", "TABS", "duration", "promoted_version", "run_page"]

TABS = ("artifacts", "metrics", "parameters", "tags")
#: How many model names the promotion form offers to pick from (any name may be typed).
MODELS_OFFERED = 100
_BUMPS: Mapping[str, BumpPart] = {"patch": "patch", "minor": "minor", "major": "major"}


def duration(run: Run) -> str | None:
    """How long an ended run ran, as people say it (``2 h 5 min``, ``3 min 4 s``)."""
    if run.ended_at is None:
        return None
    seconds = max(0, int((run.ended_at - run.started_at).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"


def promoted_version(run: Run) -> tuple[str, str] | None:
    """(model, version) of the version the run became, if it did."""
    if run.promoted_to is None:
        return None
    model, _, version = run.promoted_to.rpartition("/")
    return model, version


def _run(visit: Visit) -> Run:
    assert visit.subject is not None
    return visit.registry.get_run(visit.subject)


# -- the page -------------------------------------------------------------------------


def _artifacts_tab(visit: Visit, run: Run) -> dict[str, Any]:
    files = visit.registry.list_run_artifacts(run.id)
    return {"root": artifacts.tree(files), "files": files, "size": sum(a.size for a in files)}


def _metrics_tab(visit: Visit, run: Run) -> dict[str, Any]:
    return {"metrics": metric_views(visit.registry.get_run_metrics(run.id))}


def _parameters_tab(visit: Visit, run: Run) -> dict[str, Any]:
    return {"params": sorted(run.params.items())}


def _tags_tab(visit: Visit, run: Run) -> dict[str, Any]:
    return {"tags": sorted(run.tags.items())}


_TAB_VALUES: Mapping[str, Callable[[Visit, Run], dict[str, Any]]] = {
    "artifacts": _artifacts_tab,
    "metrics": _metrics_tab,
    "parameters": _parameters_tab,
    "tags": _tags_tab,
}


def _can_promote(visit: Visit, run: Run) -> bool:
    """Whether to offer the promotion form: the user may create versions and the run has
    not become one (nor is becoming one)."""
    return visit.may.get(Action.CREATE, False) and run.promoted_to is None and run.promoting is None


def run_page(visit: Visit) -> Page | Response:
    """A run: header, facts, the open section and the actions the user may take. A model
    version's run id (the MLflow client's "View run" link) leads to the version."""
    assert visit.subject is not None
    named = parse_run_id(visit.subject)
    if named is not None:
        entity = visit.registry.get_version(*named)
        return redirect(visit.links.version(entity.model, entity.version))
    run = _run(visit)
    tab = visit.query.get("tab", "artifacts")
    if tab not in TABS:
        tab = "artifacts"
    can_promote = _can_promote(visit, run)
    models = []
    if can_promote:
        offered = visit.registry.list_models(page_size=MODELS_OFFERED)
        models = [str(m.name) for m in offered]
    values = {
        "run": run,
        "experiment": visit.registry.get_experiment(run.experiment_id),
        "duration": duration(run),
        "promoted": promoted_version(run),
        "tab": tab,
        "tabs": TABS,
        "can_promote": can_promote,
        "can_delete": visit.may.get(Action.DELETE, False) and run.promoted_to is None,
        "models": models,
        **_TAB_VALUES[tab](visit, run),
    }
    return Page("run.html", values)


def download(visit: Visit) -> Response:
    """One of the run's files (or of those it gave its version), streamed and verified."""
    assert visit.subject is not None
    path = ArtifactPath.parse(visit.query.get("path", ""))
    found = [a for a in visit.registry.list_run_artifacts(visit.subject) if a.path.key == path.key]
    if not found:
        raise NotFound(f"artifact '{path}' does not exist in run '{visit.subject}'")
    stream = visit.registry.open_run_artifact(visit.subject, found[0].path)
    return artifacts.file_response(stream, found[0], f"run {visit.subject}")


# -- changes --------------------------------------------------------------------------


def promote(visit: Visit) -> Response:
    """Promote the run to an exact version, or to the bump of the model's highest one."""
    run = _run(visit)
    version = visit.field("version").strip() or None
    bump = None
    if version is None:
        bump = _BUMPS.get(visit.field("bump"))
        if bump is None:
            raise InvalidInput("choose which part of the version to bump: patch, minor or major")
    entity = visit.registry.promote_run(
        run.id,
        visit.field("model").strip(),
        version,
        bump=bump,
        path=visit.field("path").strip().strip("/") or None,
        description=visit.field("description").strip() or None,
    )
    return redirect(
        visit.links.version(entity.model, entity.version),
        f"Run {run.name} promoted to version {entity.version} of {entity.model}.",
    )


def delete_page(visit: Visit) -> Page:
    """The confirmation: the run's own files go with it (none a version holds)."""
    run = _run(visit)
    experiment = visit.registry.get_experiment(run.experiment_id)
    size = sum(a.size for a in run.artifacts)
    return Page("run_delete.html", {"run": run, "experiment": experiment, "size": size})


def delete_run(visit: Visit) -> Response:
    run = _run(visit)
    visit.registry.delete_run(run.id)
    return redirect(visit.links.experiment(run.experiment_id), f"Run {run.name} deleted.")


#: (method, action) -> (handler, the permission a user needs to be offered it)
RUN_ACTIONS: Actions = {
    ("GET", None): (run_page, Action.READ),
    ("GET", "download"): (download, Action.READ),
    ("POST", "promote"): (promote, Action.CREATE),
    ("GET", "delete"): (delete_page, Action.DELETE),
    ("POST", "delete"): (delete_run, Action.DELETE),
}
