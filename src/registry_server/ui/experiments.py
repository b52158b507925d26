"""The experiments list, an experiment's runs (newest first), and deleting an experiment.

The registry lists an experiment's runs in id order, which says nothing of when they ran,
so newest first means reading them all and sorting them by start, as MLflow's run search
does; a page is then the runs after the last one shown (``?page=`` is a keyset on start
and id, so a run logged meanwhile does not shift the pages). Only the shown runs' metrics
are read. The experiments list has no run counts: counting would read every run.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from starlette.responses import Response

from registry_core import DEFAULT_EXPERIMENT, Action, InvalidInput, Registry, Run
from registry_server.mapping import latest_metrics
from registry_server.ui._web import Actions, Page, Visit, redirect
from registry_server.ui.plots import format_value
from registry_server.ui.runs import duration, promoted_version

__all__ = ["EXPERIMENT_ACTIONS", "experiments_page"]

EXPERIMENTS_PER_PAGE = 20
RUNS_PER_PAGE = 50
#: How many parameter and metric columns the runs table has: the keys most runs share.
KEY_COLUMNS = 3
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MICROSECOND = dt.timedelta(microseconds=1)


def experiments_page(visit: Visit) -> Page:
    """One page of experiments (keyset pages of 20), oldest first, ``Default`` first."""
    page = visit.registry.list_experiments(
        page_size=EXPERIMENTS_PER_PAGE, page_token=visit.query.get("page") or None
    )
    values = {
        "experiments": page.items,
        "next_page": page.next_page_token,
        "first": "page" not in visit.query,
    }
    return Page("experiments.html", values)


# -- an experiment's runs -------------------------------------------------------------


def _all_runs(registry: Registry, experiment_id: str) -> list[Run]:
    runs: list[Run] = []
    token = None
    while True:
        page = registry.list_runs(experiment_id, page_size=1000, page_token=token)
        runs.extend(page)
        token = page.next_page_token
        if token is None:
            return runs


def _order(run: Run) -> tuple[int, str]:
    """A run's place, newest last: its start in whole microseconds, then its id."""
    return (run.started_at - _EPOCH) // _MICROSECOND, run.id


def _cursor(run: Run) -> str:
    started, run_id = _order(run)
    return f"{started}.{run_id}"


def _after(token: str) -> tuple[int, str]:
    started, _, run_id = token.partition(".")
    if not started.lstrip("-").isdigit() or not run_id:
        raise InvalidInput("this page link is not valid; start again from the first page")
    return int(started), run_id


def _newest_first(runs: Iterable[Run], token: str | None) -> tuple[list[Run], str | None]:
    """One page of ``runs``, newest first, after the cursor ``token``; and the next cursor."""
    ordered = sorted(runs, key=_order, reverse=True)
    if token is not None:
        after = _after(token)
        ordered = [run for run in ordered if _order(run) < after]
    shown = ordered[:RUNS_PER_PAGE]
    more = len(ordered) > RUNS_PER_PAGE
    return shown, _cursor(shown[-1]) if more else None


def _common_keys(maps: Sequence[Iterable[str]]) -> list[str]:
    """The `KEY_COLUMNS` keys most of ``maps`` have (ties by name), in name order."""
    counts = collections.Counter(key for keys in maps for key in keys)
    chosen = sorted(counts, key=lambda key: (-counts[key], key))[:KEY_COLUMNS]
    return sorted(chosen)


def _runs_table(registry: Registry, runs: Sequence[Run]) -> dict[str, Any]:
    metrics = {
        run.id: {m.key: m.value for m in latest_metrics(registry.get_run_metrics(run.id))}
        for run in runs
    }
    param_keys = _common_keys([run.params for run in runs])
    metric_keys = _common_keys(list(metrics.values()))
    rows = [
        {
            "run": run,
            "duration": duration(run),
            "params": [run.params.get(key, "") for key in param_keys],
            "metrics": [
                format_value(metrics[run.id][key]) if key in metrics[run.id] else ""
                for key in metric_keys
            ],
            "promoted": promoted_version(run),
        }
        for run in runs
    ]
    return {"rows": rows, "param_keys": param_keys, "metric_keys": metric_keys}


def experiment_page(visit: Visit) -> Page:
    """An experiment and a page of its runs as a table, newest first."""
    assert visit.subject is not None
    experiment = visit.registry.get_experiment(visit.subject)
    runs = _all_runs(visit.registry, experiment.id)
    token = visit.query.get("page") or None
    shown, next_page = _newest_first(runs, token)
    values = {
        "experiment": experiment,
        "count": len(runs),
        "next_page": next_page,
        "first": token is None,
        "can_delete": experiment.id != DEFAULT_EXPERIMENT,
        **_runs_table(visit.registry, shown),
    }
    return Page("experiment.html", values)


# -- deleting -------------------------------------------------------------------------


def delete_page(visit: Visit) -> Page:
    """The confirmation: how many runs and files go, and the runs that became versions
    (which the registry keeps the experiment for unless told to delete them too)."""
    assert visit.subject is not None
    experiment = visit.registry.get_experiment(visit.subject)
    runs = _all_runs(visit.registry, experiment.id)
    values = {
        "experiment": experiment,
        "runs": len(runs),
        "files": sum(len(run.artifacts) for run in runs),
        "size": sum(a.size for run in runs for a in run.artifacts),
        "promoted": [(run, promoted_version(run)) for run in runs if run.promoted_to],
    }
    return Page("experiment_delete.html", values)


def delete_experiment(visit: Visit) -> Response:
    """Delete it; without the box ticked, the registry refuses while a run became a
    version, and the confirmation page shows why."""
    assert visit.subject is not None
    experiment = visit.registry.get_experiment(visit.subject)
    force = visit.field("with_promoted") == "yes"
    visit.registry.delete_experiment(experiment.id, force=force)
    return redirect(visit.links.experiments(), f"Experiment {experiment.name} deleted.")


#: (method, action) -> (handler, the permission a user needs to be offered it)
EXPERIMENT_ACTIONS: Actions = {
    ("GET", None): (experiment_page, Action.READ),
    ("GET", "delete"): (delete_page, Action.DELETE),
    ("POST", "delete"): (delete_experiment, Action.DELETE),
}
