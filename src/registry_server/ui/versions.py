"""A version's page: its header, the sections as tabs, and every action on it.

The sections (``?tab=artifacts|metrics|parameters|tags|log``) are plain links, so the page
works without a script; only the open section's data is read. The lifecycle actions
offered follow the transition table (`registry_core.TRANSITIONS`): a button for each move
out of the version's state, each a form posting to ``:<registry method>``. The rules
themselves stay in the `Registry`: a refused action comes back on the page with its
message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.responses import Response

from registry_core import (
    TRANSITIONS,
    Action,
    InvalidInput,
    ModelVersion,
    NotFound,
    Registry,
    VersionState,
)
from registry_server.ui import artifacts
from registry_server.ui._web import Actions, Handler, Page, Visit, redirect
from registry_server.ui.plots import metric_views

__all__ = ["PANELS", "TABS", "VERSION_ACTIONS", "version_page"]

#: The sections, in tab order, each with its template (the metrics one is shared with
#: the run page).
PANELS: Mapping[str, str] = {
    "artifacts": "version_artifacts.html",
    "metrics": "_metrics.html",
    "parameters": "version_parameters.html",
    "tags": "version_tags.html",
    "log": "version_log.html",
}
TABS = tuple(PANELS)
#: A lifecycle move -> (button label, what the notice says happened).
_MOVES: Mapping[str, tuple[str, str]] = {
    "publish": ("Publish", "published"),
    "fail": ("Mark as failed", "marked as failed"),
    "deprecate": ("Deprecate", "deprecated"),
    "undeprecate": ("Undeprecate", "undeprecated"),
    "yank": ("Yank", "yanked"),
}


def _entity(visit: Visit) -> ModelVersion:
    assert visit.model is not None and visit.version is not None
    return visit.registry.get_version(visit.model, visit.version)


def _here(visit: Visit, entity: ModelVersion, tab: str | None = None) -> str:
    return visit.links.version(entity.model, entity.version, tab=tab)


def _latest(registry: Registry, entity: ModelVersion) -> bool:
    """Whether the version is its model's latest (as the model page marks it)."""
    try:
        found = registry.latest(entity.model)
    except NotFound:
        return False
    return found.version == entity.version


def moves(state: VersionState) -> list[tuple[str, str]]:
    """The lifecycle actions out of ``state``: (action, button label), in table order."""
    return [(method, _MOVES[method][0]) for (frm, _), method in TRANSITIONS.items() if frm is state]


# -- the page -------------------------------------------------------------------------


def _artifacts_tab(visit: Visit, entity: ModelVersion) -> dict[str, Any]:
    draft = entity.state.is_mutable
    return {
        "root": artifacts.tree(entity.artifacts),
        "can_upload": draft and visit.may.get(Action.CREATE, False),
        "can_delete": draft and visit.may.get(Action.DELETE, False),
        "uploading": [u.path.value for u in entity.uploads],
    }


def _metrics_tab(visit: Visit, entity: ModelVersion) -> dict[str, Any]:
    return {"metrics": metric_views(visit.registry.get_metrics(entity.model, entity.version))}


def _parameters_tab(visit: Visit, entity: ModelVersion) -> dict[str, Any]:
    can_add = entity.state.is_mutable and visit.may.get(Action.UPDATE, False)
    return {"params": sorted(entity.params.items()), "can_add": can_add}


def _tags_tab(visit: Visit, entity: ModelVersion) -> dict[str, Any]:
    return {"tags": sorted(entity.tags.items()), "can_tag": visit.may.get(Action.UPDATE, False)}


def _log_tab(visit: Visit, entity: ModelVersion) -> dict[str, Any]:
    can_append = entity.state.is_mutable and visit.may.get(Action.UPDATE, False)
    return {"logs": artifacts.read_logs(visit.registry, entity), "can_append": can_append}


_TAB_VALUES: Mapping[str, Callable[[Visit, ModelVersion], dict[str, Any]]] = {
    "artifacts": _artifacts_tab,
    "metrics": _metrics_tab,
    "parameters": _parameters_tab,
    "tags": _tags_tab,
    "log": _log_tab,
}


def version_page(visit: Visit) -> Page:
    """The header, the tabs, the open section and the actions the user may take."""
    entity = _entity(visit)
    tab = visit.query.get("tab", "artifacts")
    if tab not in TABS:
        tab = "artifacts"
    model = visit.registry.get_model(entity.model)
    values = {
        "v": entity,
        "name": str(entity.version),
        "tab": tab,
        "tabs": TABS,
        "panel": PANELS[tab],
        "aliases": sorted(a for a, v in model.aliases.items() if v == entity.version),
        "is_latest": _latest(visit.registry, entity),
        "moves": moves(entity.state),
        "can_alias": entity.state is VersionState.READY,
        **_TAB_VALUES[tab](visit, entity),
    }
    return Page("version.html", values)


# -- changes --------------------------------------------------------------------------


def update_version(visit: Visit) -> Response:
    entity = _entity(visit)
    visit.registry.update_version(
        entity.model, entity.version, description=visit.field("description")
    )
    return redirect(_here(visit, entity), "Description saved.")


def _move(method: str) -> Handler:
    """The handler of one lifecycle action: the `Registry` method of that name."""
    done = _MOVES[method][1]

    def handler(visit: Visit) -> Response:
        entity = _entity(visit)
        getattr(visit.registry, method)(entity.model, entity.version)
        return redirect(_here(visit, entity), f"Version {entity.version} {done}.")

    handler.__name__ = handler.__qualname__ = method
    return handler


def delete_page(visit: Visit) -> Page:
    """The confirmation: the files that go, and the aliases that point at the version."""
    entity = _entity(visit)
    model = visit.registry.get_model(entity.model)
    aliases = sorted(a for a, v in model.aliases.items() if v == entity.version)
    return Page("version_delete.html", {"v": entity, "aliases": aliases})


def delete_version(visit: Visit) -> Response:
    entity = _entity(visit)
    force = visit.field("with_aliases") == "yes"
    visit.registry.delete_version(entity.model, entity.version, force=force)
    return redirect(visit.links.model(entity.model), f"Version {entity.version} deleted.")


def set_alias(visit: Visit) -> Response:
    entity = _entity(visit)
    alias = visit.field("alias").strip()
    visit.registry.set_alias(entity.model, alias, entity.version)
    return redirect(_here(visit, entity), f"Alias {alias} now points at {entity.version}.")


def add_parameter(visit: Visit) -> Response:
    entity = _entity(visit)
    key = visit.field("key").strip()
    if not key:
        raise InvalidInput("a parameter needs a key")
    visit.registry.log_param(entity.model, entity.version, key, visit.field("value"))
    return redirect(_here(visit, entity, "parameters"), f"Parameter {key} added.")


def set_tag(visit: Visit) -> Response:
    entity = _entity(visit)
    key = visit.field("key").strip()
    visit.registry.set_tag(entity.model, entity.version, key, visit.field("value"))
    return redirect(_here(visit, entity, "tags"), f"Tag {key} set.")


def delete_tag(visit: Visit) -> Response:
    entity = _entity(visit)
    key = visit.field("key")
    visit.registry.delete_tag(entity.model, entity.version, key)
    return redirect(_here(visit, entity, "tags"), f"Tag {key} deleted.")


def append_log(visit: Visit) -> Response:
    entity = _entity(visit)
    text = visit.field("text").replace("\r\n", "\n")
    if not text:
        raise InvalidInput("type the text to append to the log")
    if not text.endswith("\n"):
        text += "\n"
    visit.registry.append_log(entity.model, entity.version, text)
    return redirect(_here(visit, entity, "log"), "Appended to the log.")


#: (method, action) -> (handler, the permission a user needs to be offered it)
VERSION_ACTIONS: Actions = {
    ("GET", None): (version_page, Action.READ),
    ("POST", "update"): (update_version, Action.UPDATE),
    **{("POST", method): (_move(method), Action.UPDATE) for method in _MOVES},
    ("GET", "delete"): (delete_page, Action.DELETE),
    ("POST", "delete"): (delete_version, Action.DELETE),
    ("POST", "set-alias"): (set_alias, Action.UPDATE),
    ("POST", "add-parameter"): (add_parameter, Action.UPDATE),
    ("POST", "set-tag"): (set_tag, Action.UPDATE),
    ("POST", "delete-tag"): (delete_tag, Action.UPDATE),
    ("POST", "append-log"): (append_log, Action.UPDATE),
    ("GET", "download"): (artifacts.download, Action.READ),
    ("GET", "download-all"): (artifacts.download_all, Action.READ),
    ("GET", "delete-files"): (artifacts.delete_files_page, Action.DELETE),
    ("POST", "delete-files"): (artifacts.delete_files, Action.DELETE),
    ("POST", "upload"): (artifacts.upload, Action.CREATE),
    ("PUT", "upload-file"): (artifacts.upload_file, Action.CREATE),
}
