"""The web UI: GitLab's model registry pages over any registry, served by `create_app`.

Server-rendered HTML (Jinja2 templates shipped in the wheel) that works without
JavaScript for reading and the basic forms; a small script of our own adds drag and drop,
upload progress and inline checks. Every page calls the `Registry` opened for the
signed-in user, never storage, so the UI obeys the same permission rules and shows the
same error messages as the API and the CLI; what a user may not do is not offered.

URLs (below wherever the app is mounted):

- ``/`` and ``/models``: the models list (``?q=`` name prefix, ``?page=`` keyset token)
- ``/models:new``: the create-model form (posts to ``/models:create``)
- ``/models/<name>``: a model and its versions; ``/models/<name>/<version>``: a version.
  No segment of a model name after the first may be a SemVer version, so the split is
  never ambiguous.
- ``/experiments``: the experiments list (``?page=`` keyset token);
  ``/experiments/<id>``: an experiment's runs, newest first
- ``/runs/<run id>``: a run (its details, files, metrics, parameters, tags) with its
  promotion form; a model version's run id (as the MLflow API names versions) redirects
  to the version
- ``<page>:<action>``: a form's target or a confirmation page (``:delete``,
  ``:publish``, ``:promote``, ...); ``:`` appears in no model name, version or id
- ``/settings``, ``/sign-in``, ``/sign-out``, ``/-/static/<file>``
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from registry_core import InvalidVersion, Version
from registry_server.ui import experiments, models, runs, session, settings
from registry_server.ui._web import (
    STREAMED,
    SUBJECT,
    TARGET,
    Actions,
    Page,
    UiConfig,
    Visit,
    page_endpoint,
)

__all__ = ["UiConfig", "ui_routes"]

_ACTION = re.compile(r"[a-z][a-z-]*")
_STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
Endpoint = Callable[[Request], Awaitable[Response]]


def _split_action(rest: str) -> tuple[str, str | None] | None:
    """``<head>[:<action>]`` -> (head, action); None if the action is malformed."""
    head, sep, action = rest.rpartition(":")
    if not sep:
        return rest, None
    return (head, action) if _ACTION.fullmatch(action) else None


def _split(rest: str) -> tuple[str, str | None, str | None] | None:
    """``<name>[/<version>][:<action>]`` -> (name, version, action); None if malformed."""
    split = _split_action(rest)
    if split is None:
        return None
    head, action = split
    segments = head.split("/")
    version = None
    if len(segments) >= 2:
        try:
            version = str(Version.parse(segments[-1]))
        except InvalidVersion:
            version = None
        else:
            head = "/".join(segments[:-1])
    return head, version, action


#: Where a URL leads: the kind of page, its action, and what goes in the request's scope.
Located = tuple[str, str | None, dict[str, object]]
_Locate = Callable[[str], Located | None]


def _locate_model(rest: str) -> Located | None:
    parts = _split(rest)
    if parts is None:
        return None
    name, version, action = parts
    kind = "model" if version is None else "version"
    return kind, action, {TARGET: (name, version)}


def _locate_id(kind: str) -> _Locate:
    """For ``/experiments/<id>`` and ``/runs/<id>``: one segment, the id."""

    def locate(rest: str) -> Located | None:
        split = _split_action(rest)
        if split is None or not split[0] or "/" in split[0]:
            return None
        return kind, split[1], {SUBJECT: split[0]}

    return locate


def _dispatcher(config: UiConfig, tables: Mapping[str, Actions], locate: _Locate) -> Endpoint:
    """One endpoint for a URL tree: ``locate`` names the page, ``tables`` its handlers."""
    endpoints = {}
    for kind, table in tables.items():
        for (method, action), (handler, _) in table.items():
            endpoint = page_endpoint(config, handler, read_form=handler not in STREAMED)
            endpoints[(kind, method, action)] = endpoint
    missing = page_endpoint(config, _not_found)

    async def dispatch(request: Request) -> Response:
        found = locate(request.path_params["rest"])
        if found is None:
            return await missing(request)
        kind, action, scope = found
        method = "GET" if request.method == "HEAD" else request.method
        endpoint = endpoints.get((kind, method, action))
        if endpoint is None:
            return await missing(request)
        request.scope.update(scope)
        return await endpoint(request)

    return dispatch


def _not_found(visit: Visit) -> Page:
    message = f"There is no page at {visit.request.url.path}."
    return Page("error.html", {"status": 404, "message": message, "signed_in": False}, 404)


def _static(request: Request) -> Response:
    name = request.path_params["name"]
    kind = _STATIC_TYPES.get(name[name.rfind(".") :]) if "." in name else None
    folder = resources.files("registry_server.ui") / "static"
    if kind is None or "/" in name or not (folder / name).is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    body = (folder / name).read_bytes()
    return Response(body, media_type=kind, headers={"Cache-Control": "public, max-age=300"})


def ui_routes(config: UiConfig) -> list[Route]:
    """The UI's routes, to be served at the app's root."""
    from registry_server.ui import versions

    home = page_endpoint(config, models.models_page)
    model_tables = {"model": models.MODEL_ACTIONS, "version": versions.VERSION_ACTIONS}
    dispatch = _dispatcher(config, model_tables, _locate_model)
    experiment = _dispatcher(
        config, {"experiment": experiments.EXPERIMENT_ACTIONS}, _locate_id("experiment")
    )
    run = _dispatcher(config, {"run": runs.RUN_ACTIONS}, _locate_id("run"))
    return [
        Route("/", home, methods=["GET"]),
        Route("/models", home, methods=["GET"]),
        Route("/models:new", page_endpoint(config, models.new_model_page), methods=["GET"]),
        Route("/models:create", page_endpoint(config, models.create_model), methods=["POST"]),
        Route("/models/{rest:path}", dispatch, methods=["GET", "POST", "PUT"]),
        Route("/experiments", page_endpoint(config, experiments.experiments_page), methods=["GET"]),
        Route("/experiments/{rest:path}", experiment, methods=["GET", "POST"]),
        Route("/runs/{rest:path}", run, methods=["GET", "POST"]),
        Route("/sign-in", page_endpoint(config, session.sign_in_page), methods=["GET"]),
        Route("/sign-in", page_endpoint(config, session.sign_in), methods=["POST"]),
        Route("/sign-out", page_endpoint(config, session.sign_out), methods=["POST"]),
        Route("/settings", page_endpoint(config, settings.settings_page), methods=["GET"]),
        *(
            Route(f"/settings:{action}", page_endpoint(config, handler), methods=["POST"])
            for action, handler in (
                ("save", settings.save_settings),
                ("add-member", settings.add_member),
                ("set-role", settings.set_role),
                ("remove-member", settings.remove_member),
                ("create-token", settings.create_token),
                ("revoke-token", settings.revoke_token),
            )
        ),
        Route("/-/static/{name}", _static, methods=["GET"]),
    ]
