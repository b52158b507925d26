"""``/api/2.0/mlflow/registered-models/*`` and ``/model-versions/*`` over a `Registry`.

Each handler takes the caller's registry and the call's fields and returns the JSON
object to answer with 200; errors are raised (modelreg's or `ApiError`) and mapped in one
place. Reads take a version *spec* (``1.2.0``, an alias, or a range such as ``2`` for
the highest ready 2.x.x, so MLflow's integer versions keep working once versions are
``N.0.0``); changes need the exact version.

The version tag ``modelreg.alias`` points an alias instead of being stored, and deleting
it removes the aliases that point at the version (`registry_server.alias_tag`). Deleting
a model or a version follows MLflow: its aliases go with it (modelreg's ``force``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from registry_core import (
    AlreadyExists,
    InvalidVersion,
    ModelVersion,
    Registry,
    Version,
    VersionState,
)
from registry_server import alias_tag
from registry_server.calls import Call
from registry_server.errors import ApiError
from registry_server.logged_models_api import find_logged_model
from registry_server.mapping import (
    ALIAS_TAG,
    BUMP_TAG,
    STATE_TAG,
    VERSION_TAGS,
    aliases_of,
    artifact_uri,
    planned_version,
    registered_model_json,
    version_json,
)
from registry_server.run_mapping import parse_model_id, run_artifact_uri
from registry_server.searches import latest_of, model_json, search_models, search_versions
from registry_server.tracking_api import is_run_id

__all__ = ["QUICK_READS", "ROUTES"]

_RETRY_WINDOW = dt.timedelta(minutes=10)  # a create repeated within it may be a retry


def exact_version(text: str) -> Version:
    """The exact SemVer a change names; a 400 that says so for anything else."""
    try:
        return Version.parse(text)
    except InvalidVersion as error:
        raise ApiError.invalid(
            f"{error}; changes name a version by its full SemVer (e.g. '1.0.0')"
        ) from None


def _version_json(reg: Registry, entity: ModelVersion) -> dict[str, Any]:
    """``entity``, which ``reg`` has just let its caller read or change, with its aliases.

    Permissions are registry-wide, so whoever may read a version may read its model: the
    model is read unchecked, which spares a second read of the settings per call.
    """
    model = Registry(reg.repository).get_model(entity.model)
    return version_json(entity, aliases_of(model, entity.version))


def _refuse_reserved(key: str) -> None:
    if key == STATE_TAG:
        raise ApiError.invalid(
            f"tag {STATE_TAG} shows the version's state; end its run (runs/update) to publish "
            "or fail it"
        )


# -- registered models ----------------------------------------------------------------


def create_model(reg: Registry, call: Call) -> dict[str, Any]:
    model = reg.create_model(
        call.text("name"), call.optional_text("description", "") or "", tags=call.tags()
    )
    return {"registered_model": registered_model_json(model)}


def get_model(reg: Registry, call: Call) -> dict[str, Any]:
    return {"registered_model": model_json(reg, reg.get_model(call.text("name")))}


def update_model(reg: Registry, call: Call) -> dict[str, Any]:
    model = reg.update_model(call.text("name"), description=call.optional_text("description"))
    return {"registered_model": model_json(reg, model)}


def rename_model(reg: Registry, call: Call) -> dict[str, Any]:
    model = reg.rename_model(call.text("name"), call.text("new_name"))
    return {"registered_model": model_json(reg, model)}


def delete_model(reg: Registry, call: Call) -> dict[str, Any]:
    """The model goes with its versions and aliases, as in MLflow."""
    reg.delete_model(call.text("name"), force=True)
    return {}


def set_model_tag(reg: Registry, call: Call) -> dict[str, Any]:
    reg.set_model_tag(call.text("name"), call.text("key"), call.optional_text("value", "") or "")
    return {}


def delete_model_tag(reg: Registry, call: Call) -> dict[str, Any]:
    reg.delete_model_tag(call.text("name"), call.text("key"))
    return {}


def latest_versions(reg: Registry, call: Call) -> dict[str, Any]:
    """The modelreg latest (highest ready release), whatever stages were asked for."""
    model = reg.get_model(call.text("name"))
    call.texts("stages")  # stages do not exist in modelreg: aliases replace them
    return {
        "model_versions": [
            version_json(v, aliases_of(model, v.version)) for v in latest_of(reg, model)
        ]
    }


def set_alias(reg: Registry, call: Call) -> dict[str, Any]:
    """Point the alias at the version named, or at what a spec resolves to: the stock
    client insists on an integer here, so ``1`` means the highest ready 1.x.x, the same
    version ``models:/<name>/1`` loads."""
    name, spec = call.text("name"), call.text("version")
    try:
        target = Version.parse(spec)
    except InvalidVersion:
        target = reg.resolve(name, spec).version
    reg.set_alias(name, call.text("alias"), target)
    return {}


def get_alias(reg: Registry, call: Call) -> dict[str, Any]:
    entity = reg.get_alias(call.text("name"), call.text("alias"))
    return {"model_version": _version_json(reg, entity)}


def delete_alias(reg: Registry, call: Call) -> dict[str, Any]:
    reg.delete_alias(call.text("name"), call.text("alias"))
    return {}


# -- model versions -------------------------------------------------------------------


def _is_retry(
    entity: ModelVersion, reg: Registry, description: str, tags: dict[str, str], publish: bool
) -> bool:
    """Whether ``entity`` is what an identical create by this caller made moments ago."""
    user = None if reg.actor is None else reg.actor.user
    made = VersionState.READY if publish else VersionState.DRAFT
    return (
        entity.state is made
        and (not publish or entity.published_at == entity.created_at)
        and not entity.artifacts
        and not entity.params
        and entity.description == description
        and dict(entity.tags) == tags
        and entity.created_by == user
        and dt.datetime.now(dt.timezone.utc) - entity.created_at < _RETRY_WINDOW
    )


def _publish_at_create(tags: dict[str, str]) -> bool:
    """Whether the create's tag ``modelreg.state`` asks for a version ready at once (taken
    out of ``tags``: the state is not a tag)."""
    state = tags.pop(STATE_TAG, VersionState.DRAFT.value)
    if state not in (VersionState.DRAFT.value, VersionState.READY.value):
        raise ApiError.invalid(
            f"tag {STATE_TAG} at create is 'draft' (the default: log to its run, then end "
            f"the run to publish) or 'ready' (published at once, without files), not {state!r}"
        )
    return state == VersionState.READY.value


def _promoted(reg: Registry, call: Call) -> tuple[str, str | None] | None:
    """(run id, folder or None for all its files) when the create names one of modelreg's
    runs or a logged model to promote: ``source`` ``models:/m-...`` (or ``model_id``),
    ``runs:/<run id>/<folder>``, or ``run_id`` with ``source`` inside that run's files."""
    source = call.optional_text("source", "") or ""
    model_id = call.optional_text("model_id") or ""
    if source.startswith("models:/m-") and not model_id:
        model_id = source[len("models:/") :].split("/")[0]
    if model_id and parse_model_id(model_id) is not None:
        logged, run = find_logged_model(reg, model_id)
        return run.id, logged.path
    if source.startswith("runs:/"):
        named, _, folder = source[len("runs:/") :].partition("/")
        if is_run_id(named):
            return named, folder.strip("/") or None
    run_id = call.optional_text("run_id") or ""
    if not is_run_id(run_id):
        return None
    root = run_artifact_uri(reg.get_run(run_id))
    if source in ("", root):
        return run_id, None
    if source.startswith(root + "/"):
        return run_id, source[len(root) + 1 :].strip("/") or None
    raise ApiError.invalid(
        f"source {source[:200]!r} is not in run '{run_id}'; give {root}/<folder> or "
        f"runs:/{run_id}/<folder>"
    )


def _promote(
    reg: Registry, call: Call, run_id: str, folder: str | None, tags: dict[str, str]
) -> dict[str, Any]:
    """Promote the run: a READY, sealed version when the call returns. Its SemVer comes
    from a version tag on the call, else on the run, else the next major."""
    run = reg.get_run(run_id)
    asked = any(key in tags for key in (*VERSION_TAGS, BUMP_TAG))
    exact, bump = planned_version(tags if asked else run.tags)
    kept = {k: v for k, v in tags.items() if k not in (*VERSION_TAGS, BUMP_TAG)}
    entity = reg.promote_run(
        run.id,
        call.text("name"),
        exact,
        bump=bump,
        path=folder,
        description=call.optional_text("description"),
        tags=kept,
    )
    return {"model_version": version_json(entity)}


def create_version(reg: Registry, call: Call) -> dict[str, Any]:
    """A new draft, or with the tag ``modelreg.state=ready`` a version published at once
    (one request, one commit); its version from the tags (`planned_version`). A retried
    create of an exact version answers with what the first attempt made.

    A create that names one of modelreg's runs or a logged model promotes it instead
    (`_promoted`)."""
    name = call.text("name")
    tags = call.tags()
    description = call.optional_text("description", "") or ""
    alias_tag.refuse_at_create(tags)
    promoted = _promoted(reg, call)
    if promoted is not None:
        tags.pop(STATE_TAG, None)
        return _promote(reg, call, *promoted, tags)
    publish = _publish_at_create(tags)
    exact, bump = planned_version(tags)
    try:
        entity = reg.create_version(
            name, exact, bump=bump, description=description, tags=tags, publish=publish
        )
    except AlreadyExists:
        if exact is None:
            raise
        entity = reg.get_version(name, exact)
        if not _is_retry(entity, reg, description, tags, publish):
            raise
    return {"model_version": version_json(entity)}


def get_version(reg: Registry, call: Call) -> dict[str, Any]:
    entity = reg.resolve(call.text("name"), call.text("version"))
    return {"model_version": _version_json(reg, entity)}


def update_version(reg: Registry, call: Call) -> dict[str, Any]:
    name, version = call.text("name"), exact_version(call.text("version"))
    description = call.optional_text("description")
    entity = (
        reg.get_version(name, version)
        if description is None
        else reg.update_version(name, version, description=description)
    )
    return {"model_version": _version_json(reg, entity)}


def delete_version(reg: Registry, call: Call) -> dict[str, Any]:
    """The version goes with the aliases that point at it, as in MLflow."""
    reg.delete_version(call.text("name"), exact_version(call.text("version")), force=True)
    return {}


def set_version_tag(reg: Registry, call: Call) -> dict[str, Any]:
    name, key = call.text("name"), call.text("key")
    _refuse_reserved(key)
    version = exact_version(call.text("version"))
    alias_tag.set_version_tag(reg, name, version, key, call.optional_text("value", "") or "")
    return {}


def delete_version_tag(reg: Registry, call: Call) -> dict[str, Any]:
    name, key = call.text("name"), call.text("key")
    _refuse_reserved(key)
    alias_tag.delete_version_tag(reg, name, exact_version(call.text("version")), key)
    return {}


def download_uri(reg: Registry, call: Call) -> dict[str, Any]:
    entity = reg.resolve(call.text("name"), call.text("version"))
    return {"artifact_uri": artifact_uri(entity)}


def transition_stage(reg: Registry, call: Call) -> dict[str, Any]:
    raise ApiError.invalid(
        "modelreg has no stages: point an alias at the version instead, e.g. "
        f"client.set_model_version_tag(name, '1.2.0', '{ALIAS_TAG}', 'production'), and load "
        "it as models:/<name>@production"
    )


#: (methods, path under /api/2.0/mlflow, handler)
ROUTES = [
    (("POST",), "/registered-models/create", create_model),
    (("GET",), "/registered-models/get", get_model),
    (("PATCH",), "/registered-models/update", update_model),
    (("POST",), "/registered-models/rename", rename_model),
    (("DELETE",), "/registered-models/delete", delete_model),
    (("GET",), "/registered-models/search", search_models),
    (("POST",), "/registered-models/set-tag", set_model_tag),
    (("DELETE",), "/registered-models/delete-tag", delete_model_tag),
    (("POST", "GET"), "/registered-models/get-latest-versions", latest_versions),
    (("POST",), "/registered-models/alias", set_alias),
    (("GET",), "/registered-models/alias", get_alias),
    (("DELETE",), "/registered-models/alias", delete_alias),
    (("POST",), "/model-versions/create", create_version),
    (("GET",), "/model-versions/get", get_version),
    (("PATCH",), "/model-versions/update", update_version),
    (("DELETE",), "/model-versions/delete", delete_version),
    (("GET",), "/model-versions/search", search_versions),
    (("POST",), "/model-versions/set-tag", set_version_tag),
    (("DELETE",), "/model-versions/delete-tag", delete_version_tag),
    (("GET",), "/model-versions/get-download-uri", download_uri),
    (("POST",), "/model-versions/transition-stage", transition_stage),
]

#: The calls that make a few point reads and nothing else: over a backend whose reads are
#: quick (`registry_core.protocol.reads_are_quick`) the server runs them on its event loop,
#: which spares a hop to a worker thread and back (a tenth of a ``get_model_version``).
QUICK_READS = frozenset({get_model, latest_versions, get_alias, get_version, download_uri})
