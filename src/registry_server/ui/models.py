"""The models list, creating and deleting a model, and a model's page with its versions."""

from __future__ import annotations

from starlette.responses import Response

from registry_core import (
    Action,
    AlreadyExists,
    InvalidInput,
    ModelName,
    NotFound,
    Registry,
    VersionState,
)
from registry_server.ui import new_version
from registry_server.ui._web import Actions, Page, Visit, redirect

__all__ = ["MODEL_ACTIONS", "create_model", "models_page", "new_model_page"]

MODELS_PER_PAGE = 20
VERSIONS_PER_PAGE = 50


def _latest(registry: Registry, name: ModelName) -> str | None:
    try:
        return str(registry.latest(name).version)
    except NotFound:
        return None


def models_page(visit: Visit) -> Page:
    """One page of models (keyset pages of 20), by name prefix, with each one's latest
    ready version and how many versions it has."""
    prefix = visit.query.get("q", "").strip()
    page = visit.registry.list_models(
        prefix or None, page_size=MODELS_PER_PAGE, page_token=visit.query.get("page") or None
    )
    rows = [
        {
            "model": model,
            "latest": _latest(visit.registry, model.name),
            "count": visit.registry.count_versions(model.name),
        }
        for model in page
    ]
    first = "page" not in visit.query
    values = {"rows": rows, "q": prefix, "next_page": page.next_page_token, "first": first}
    return Page("models.html", values)


def new_model_page(visit: Visit) -> Page:
    return Page("new_model.html", {"name": "", "description": "", "error": None})


def create_model(visit: Visit) -> Page | Response:
    """Create the model; a refused name comes back in the form with the rule it broke."""
    name, description = visit.field("name").strip(), visit.field("description")
    try:
        model = visit.registry.create_model(name, description)
    except (AlreadyExists, InvalidInput) as error:  # InvalidName is an InvalidInput
        values = {"name": name, "description": description, "error": str(error)}
        return Page("new_model.html", values, status=400)
    return redirect(visit.links.model(model.name), f"Model {model.name} created.")


def model_page(visit: Visit) -> Page:
    """A model: description, aliases, and its versions in precedence order, highest first."""
    assert visit.model is not None
    registry = visit.registry
    model = registry.get_model(visit.model)
    page = registry.list_versions(
        model.name,
        order="-precedence",
        page_size=VERSIONS_PER_PAGE,
        page_token=visit.query.get("page") or None,
    )
    aliases_of: dict[str, list[str]] = {}
    for alias, version in sorted(model.aliases.items()):
        aliases_of.setdefault(str(version), []).append(alias)
    return Page(
        "model.html",
        {
            "model": model,
            "versions": page.items,
            "next_page": page.next_page_token,
            "aliases_of": aliases_of,
            "latest": _latest(registry, model.name),
            "count": registry.count_versions(model.name),
            "ready": VersionState.READY,
        },
    )


def update_model(visit: Visit) -> Response:
    assert visit.model is not None
    model = visit.registry.update_model(visit.model, description=visit.field("description"))
    return redirect(visit.links.model(model.name), "Description saved.")


def delete_model_page(visit: Visit) -> Page:
    """The confirmation: what goes with the model (its versions and their files)."""
    assert visit.model is not None
    registry = visit.registry
    model = registry.get_model(visit.model)
    versions = files = size = 0
    token = None
    while True:
        page = registry.list_versions(model.name, page_size=1000, page_token=token)
        for version in page:
            versions += 1
            files += len(version.artifacts)
            size += version.size
        token = page.next_page_token
        if token is None:
            break
    values = {"model": model, "versions": versions, "files": files, "size": size}
    return Page("delete_model.html", values)


def delete_model(visit: Visit) -> Response:
    assert visit.model is not None
    model = visit.registry.get_model(visit.model)
    if visit.field("confirm") != str(model.name):
        return redirect(
            visit.links.model(model.name, "delete"),
            f"Type the model's name, {model.name}, to delete it.",
            error=True,
        )
    visit.registry.delete_model(model.name, force=True)  # the confirmation named its aliases
    return redirect(visit.links.models(), f"Model {model.name} deleted.")


def set_alias(visit: Visit) -> Response:
    assert visit.model is not None
    alias, version = visit.field("alias").strip(), visit.field("version").strip()
    visit.registry.set_alias(visit.model, alias, version)
    return redirect(visit.links.model(visit.model), f"Alias {alias} now points at {version}.")


def delete_alias(visit: Visit) -> Response:
    assert visit.model is not None
    alias = visit.field("alias")
    visit.registry.delete_alias(visit.model, alias)
    return redirect(visit.links.model(visit.model), f"Alias {alias} deleted.")


#: (method, action) -> (handler, the permission a user needs to be offered it)
MODEL_ACTIONS: Actions = {
    ("GET", None): (model_page, Action.READ),
    ("POST", "update"): (update_model, Action.UPDATE),
    ("GET", "delete"): (delete_model_page, Action.DELETE),
    ("POST", "delete"): (delete_model, Action.DELETE),
    ("POST", "set-alias"): (set_alias, Action.UPDATE),
    ("POST", "delete-alias"): (delete_alias, Action.UPDATE),
    ("GET", "new-version"): (new_version.new_version_page, Action.CREATE),
    ("POST", "create-version"): (new_version.create_version, Action.CREATE),
}
