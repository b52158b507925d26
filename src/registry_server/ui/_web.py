"""What every page shares: who is signed in, CSRF, links, rendering and error pages.

Signing in stores the modelreg token itself in an HttpOnly, ``SameSite=Lax`` cookie
(``Secure`` over HTTPS); each request opens the registry for the token's user, so the
UI is held to the same permission rules as every other surface. CSRF uses a double submit:
a random value in a second HttpOnly cookie, repeated in every form (``csrf`` field) and
every script request (``X-CSRF-Token`` header); a state-changing request whose value
does not match, or whose ``Origin`` is another site, is refused before it is read.

A page handler is a plain function run in a worker thread (the registry's calls block)
with a `Visit`: the caller's registry, the parsed request and the page's links. What it
returns (a `Page`, a redirect, a stream) becomes the response; a `RegistryError` becomes
an error page with the rule's message, or, after a form, a notice on the page it came
back to.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlencode

import attrs
import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from registry_core import (
    Action,
    AlreadyExists,
    Conflict,
    IllegalTransition,
    IntegrityError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Registry,
    RegistryError,
)
from registry_server.errors import logger

__all__ = [
    "SUBJECT",
    "TARGET",
    "TOKEN_COOKIE",
    "Actions",
    "Handler",
    "Links",
    "Page",
    "UiConfig",
    "Visit",
    "page_endpoint",
    "redirect",
    "status_for",
    "streamed",
]

TOKEN_COOKIE = "modelreg_token"
CSRF_COOKIE = "modelreg_csrf"
NOTICE_COOKIE = "modelreg_notice"
#: Where the router leaves the (model, version) a ``/models/...`` URL names.
TARGET = "modelreg.ui.target"
#: Where the router leaves the experiment or run id an ``/experiments/...`` or
#: ``/runs/...`` URL names.
SUBJECT = "modelreg.ui.subject"
_SAFE_METHODS = frozenset({"GET", "HEAD"})

#: modelreg error -> HTTP status of the page that shows it (the first match wins).
_STATUS: tuple[tuple[type[RegistryError], int], ...] = (
    (NotFound, 404),
    (PermissionDenied, 403),
    (AlreadyExists, 409),
    (Conflict, 409),
    (InvalidInput, 400),
    (IllegalTransition, 400),
    (IntegrityError, 500),
)


@attrs.frozen
class UiConfig:
    """What the UI was given by `create_app`."""

    registry: Registry
    trust_anonymous: bool
    max_artifact_bytes: int | None


@attrs.frozen
class Links:
    """Every URL the pages use, below the app's ``root`` (where it is mounted).

    Model pages live at ``/models/<name>``, version pages at ``/models/<name>/<version>``
    (unambiguous: no model name segment after the first may be a SemVer version),
    experiments at ``/experiments/<id>``, runs at ``/runs/<run id>``, and actions at the
    page's URL plus ``:<action>`` (``:`` is in no name, version or id).
    """

    root: str

    def home(self) -> str:
        return self.root + "/"

    def static(self, name: str) -> str:
        return f"{self.root}/-/static/{name}"

    def models(self, **query: Any) -> str:
        return self.root + "/models" + _query(query)

    def new_model(self) -> str:
        return self.root + "/models:new"

    def model(self, name: object, action: str | None = None, **query: Any) -> str:
        return f"{self.root}/models/{quote(str(name))}{_action(action)}{_query(query)}"

    def version(
        self, name: object, version: object, action: str | None = None, **query: Any
    ) -> str:
        base = f"{self.root}/models/{quote(str(name))}/{quote(str(version))}"
        return f"{base}{_action(action)}{_query(query)}"

    def experiments(self, **query: Any) -> str:
        return self.root + "/experiments" + _query(query)

    def experiment(self, experiment_id: str, action: str | None = None, **query: Any) -> str:
        return f"{self.root}/experiments/{quote(experiment_id)}{_action(action)}{_query(query)}"

    def run(self, run_id: str, action: str | None = None, **query: Any) -> str:
        return f"{self.root}/runs/{quote(run_id)}{_action(action)}{_query(query)}"

    def settings(self, action: str | None = None) -> str:
        return f"{self.root}/settings{_action(action)}"

    def sign_in(self, back: str | None = None) -> str:
        return self.root + "/sign-in" + _query({"next": back})

    def sign_out(self) -> str:
        return self.root + "/sign-out"


def _action(action: str | None) -> str:
    return "" if action is None else f":{action}"


def _query(query: Mapping[str, Any]) -> str:
    kept = {k: v for k, v in query.items() if v is not None and v != ""}
    return "?" + urlencode(kept) if kept else ""


@attrs.define
class Visit:
    """One request as a page handler sees it."""

    registry: Registry
    request: Request
    links: Links
    form: FormData | None
    user: str | None
    may: Mapping[Action, bool]
    config: UiConfig
    model: str | None = None
    version: str | None = None
    #: The experiment or run id the URL names (`SUBJECT`).
    subject: str | None = None

    @property
    def query(self) -> Mapping[str, str]:
        return self.request.query_params

    def field(self, name: str, default: str = "") -> str:
        """A form field as text ('' when absent); a file field is refused."""
        value = self.form.get(name, default) if self.form is not None else default
        if not isinstance(value, str):
            raise InvalidInput(f"the field {name!r} must be text")
        return value


@attrs.frozen
class Page:
    """A template to render with its values; ``status`` for a form shown again."""

    template: str
    values: Mapping[str, Any] = attrs.field(factory=dict)
    status: int = 200


def status_for(error: RegistryError) -> int:
    """The HTTP status that answers ``error`` (503 for a storage failure)."""
    return next((code for kind, code in _STATUS if isinstance(error, kind)), 503)


def redirect(url: str, notice: str | None = None, *, error: bool = False) -> Response:
    """See-other to ``url`` (after a form), with a one-time ``notice`` shown there (as an
    alert when ``error``)."""
    response = RedirectResponse(url, status_code=303)
    if notice:
        value = quote(("!" if error else "") + notice[:1000])
        response.set_cookie(NOTICE_COOKIE, value, max_age=60, httponly=True, samesite="lax")
    return response


_environment: jinja2.Environment | None = None


def _templates() -> jinja2.Environment:
    global _environment
    if _environment is None:
        _environment = jinja2.Environment(
            loader=jinja2.PackageLoader("registry_server.ui", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    return _environment


def _links(request: Request) -> Links:
    return Links(request.scope.get("root_path", "").rstrip("/"))


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _csrf_value(request: Request) -> tuple[str, bool]:
    """The caller's CSRF value, and whether it is new (the response must set it)."""
    current = request.cookies.get(CSRF_COOKIE, "")
    if len(current) == 43:  # token_urlsafe(32)
        return current, False
    return secrets.token_urlsafe(32), True


def _same_site(request: Request) -> bool:
    """A state-changing request must come from this site: the browser says so in
    ``Sec-Fetch-Site`` or ``Origin`` (one of them is sent by every current browser)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin == f"{request.url.scheme}://{request.url.netloc}"


def _open_registry(config: UiConfig, request: Request) -> tuple[Registry, str | None, bool]:
    """The caller's registry, user name, and whether a stale token cookie must go."""
    token = request.cookies.get(TOKEN_COOKIE)
    if token:
        try:
            actor = config.registry.authenticate(unquote(token))
        except PermissionDenied:
            return config.registry.as_actor(None), None, True
        return config.registry.as_actor(actor), actor.user, False
    if config.trust_anonymous:
        return config.registry, None, False
    return config.registry.as_actor(None), None, False


Handler = Callable[[Visit], "Page | Response"]
#: Handlers that read the request body themselves (an upload streamed from the browser):
#: their CSRF value must come in the ``X-CSRF-Token`` header. Add one with `streamed`.
STREAMED: set[Handler] = set()


def streamed(handler: Handler) -> Handler:
    """Mark ``handler`` as reading the body itself (see `STREAMED`)."""
    STREAMED.add(handler)
    return handler


#: (method, action) -> (handler, the permission the page needs to be offered)
Actions = Mapping[tuple[str, str | None], tuple[Handler, Action]]


def page_endpoint(
    config: UiConfig, handler: Handler, *, read_form: bool = True
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint running ``handler`` for the caller (see the module doc).

    ``read_form=False`` leaves the body unread for a handler that streams it.
    """

    async def endpoint(request: Request) -> Response:
        csrf, new_csrf = _csrf_value(request)
        links = _links(request)
        form: FormData | None = None
        if request.method not in _SAFE_METHODS:
            sent = request.headers.get("x-csrf-token")
            if read_form and sent is None:
                form = await request.form(max_files=1000, max_fields=10000)
                field = form.get("csrf")
                sent = field if isinstance(field, str) else None
            if new_csrf or not _same_site(request) or not hmac.compare_digest(sent or "", csrf):
                return _plain_error(
                    request,
                    links,
                    403,
                    "This form has expired or came from another site. "
                    "Go back, reload the page and try again.",
                    csrf,
                    new_csrf,
                )

        def run() -> Response:
            registry, user, stale = _open_registry(config, request)
            may: Mapping[Action, bool] = {}
            try:
                may = registry.may()
                model, version = request.scope.get(TARGET, (None, None))
                subject = request.scope.get(SUBJECT)
                visit = Visit(
                    registry, request, links, form, user, may, config, model, version, subject
                )
                result = handler(visit)
            except RegistryError as error:
                result = _error_page(request, error, user)
            shown = {a.value: allowed for a, allowed in may.items()}
            values = {"csrf": csrf, "user": user, "may": shown}
            return _finish(request, result, values, csrf, new_csrf, stale)

        try:
            return await run_in_threadpool(run)
        except Exception:
            logger.exception("%s %s failed", request.method, request.url.path)
            return _plain_error(
                request,
                links,
                500,
                "Something went wrong; the server log has the details.",
                csrf,
                new_csrf,
            )
        finally:
            if form is not None:
                await form.close()

    return endpoint


def _error_page(request: Request, error: RegistryError, user: str | None) -> Page | Response:
    """The page for a refused call: after a form, the page the form was on, with the
    rule's message; otherwise an error page with the matching status."""
    status = status_for(error)
    back = request.headers.get("referer", "")
    here = f"{request.url.scheme}://{request.url.netloc}/"
    if request.method not in _SAFE_METHODS and status < 500 and back.startswith(here):
        return redirect(back, str(error), error=True)
    return Page(
        "error.html",
        {"status": status, "message": str(error), "signed_in": user is not None},
        status=status,
    )


def _finish(
    request: Request,
    result: Page | Response,
    shared: Mapping[str, Any],
    csrf: str,
    new_csrf: bool,
    stale_token: bool,
) -> Response:
    if isinstance(result, Page):
        notice = unquote(request.cookies.get(NOTICE_COOKIE, ""))
        values = {
            **shared,
            "links": _links(request),
            "notice": notice.removeprefix("!") or None,
            "notice_is_error": notice.startswith("!"),
            "request_path": request.url.path,
            **result.values,
        }
        html = _templates().get_template(result.template).render(values)
        response: Response = HTMLResponse(html, status_code=result.status)
        if notice:
            response.delete_cookie(NOTICE_COOKIE)
    else:
        response = result
    if new_csrf:
        response.set_cookie(
            CSRF_COOKIE, csrf, httponly=True, samesite="lax", secure=_secure(request)
        )
    if stale_token:
        response.delete_cookie(TOKEN_COOKIE, path=_links(request).root or "/")
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def _plain_error(
    request: Request, links: Links, status: int, message: str, csrf: str, new_csrf: bool
) -> Response:
    page = Page("error.html", {"status": status, "message": message, "signed_in": False}, status)
    return _finish(request, page, {"csrf": csrf, "user": None, "may": {}}, csrf, new_csrf, False)
