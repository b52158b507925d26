"""`create_app`: the MLflow-compatible ASGI app over a `Registry`.

Every request is served by the registry opened for its caller (`registry_server.auth`),
in a worker thread (the registry's storage calls block), except the calls that make a
few point reads (`registry_api.QUICK_READS`) over a backend whose reads never wait
(`registry_core.protocol.reads_are_quick`: SQLite, a local folder): those run on the
event loop, as their reads take less time than the hop to a thread and back. Errors
leave MLflow-shaped (`registry_server.errors`); an unexpected exception is logged with
its traceback and answered 500 ``INTERNAL_ERROR`` without details.

Over a backend whose small writes are as quick as its reads unless another writer holds
the store (`registry_core.protocol.quick_writes`: SQLite), the small writes of a run or a
draft (`runs_api.QUICK_WRITES`: log a metric or a parameter, set or delete a tag) run on
the event loop too, where the hop to a thread and back took a third of a
``log-metric``; one that would wait for another writer hands itself to a worker thread
before it has written anything.

The REST calls are bare ASGI endpoints found by exact method and path (`_Exact`) ahead of
Starlette's router, which tries one regex per route in turn and wraps every request in a
``Request`` and two exception layers (about a sixth of the app's time on a
``get_model_version``). Everything else (artifacts, a wrong method, HEAD, unknown paths)
goes down Starlette's stack, where the REST routes are listed too, so its 404 and 405
answers stay as they were.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import quote

import attrs
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from registry_core import Registry, RegistryError
from registry_core.protocol import WouldWait, quick_writes, reads_are_quick
from registry_server import (
    artifacts_api,
    logged_models_api,
    registry_api,
    runs_api,
    tracking_api,
)
from registry_server.artifacts_api import ARTIFACTS
from registry_server.auth import registry_for
from registry_server.calls import Call, header, read_call, too_large
from registry_server.errors import ApiError, error_response, from_registry_error, logger
from registry_server.openapi import openapi_document
from registry_server.ui import UiConfig, ui_routes

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app"]

#: The largest JSON request body accepted (a full ``log-batch`` is well under 1 MiB).
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
_MLFLOW = "/api/2.0/mlflow"
_NO_MULTIPART = (
    "Multipart upload is not supported for the current artifact repository: "
    "modelreg streams single uploads of any size"
)

Handler = Callable[[Registry, Call], dict[str, Any]]


class _AnyPath(Convertor[str]):
    """Starlette's ``path`` convertor stops at a newline; artifact paths must reach the
    handler whatever they hold, so that it refuses them with a 400, not a 404."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("modelreg_any", _AnyPath())


@attrs.frozen
class _Config:
    registry: Registry
    max_body_bytes: int
    max_artifact_bytes: int | None
    trust_anonymous: bool


def _call_registry(config: _Config, caller: str | None, work: Callable[[Registry], Any]) -> Any:
    """Run ``work`` with the caller's registry, turning modelreg's errors into MLflow's."""
    reg: Registry | None = None
    try:
        reg = registry_for(config.registry, caller, trust_anonymous=config.trust_anonymous)
        return work(reg)
    except RegistryError as error:
        anonymous = reg is not None and reg.actor is not None and reg.actor.user is None
        raise from_registry_error(error, anonymous=anonymous) from error


async def _guarded(scope: Scope, serve: Callable[[], Awaitable[Response]]) -> Response:
    try:
        return await serve()
    except ApiError as error:
        return error_response(error)
    except Exception:
        logger.exception("%s %s failed", scope["method"], scope["path"])
        return error_response(ApiError(500, "INTERNAL_ERROR", "internal error; see the server log"))


@attrs.frozen
class _Rest:
    """One REST call as a bare ASGI app (an instance, so that Starlette's router, where
    it is listed too, also calls it as one): fields in, handler in a worker thread (on
    the event loop when ``inline``), JSON out."""

    config: _Config
    handler: Handler
    inline: bool = False
    #: the backend's ``writes_unless_busy``, and which calls are small enough to run on
    #: the loop under it (in a worker thread only if a write would wait)
    unless_busy: Callable[[], AbstractContextManager[object]] | None = None
    small: Callable[[Call], bool] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def serve() -> Response:
            call = await read_call(scope, receive, self.config.max_body_bytes)
            call = call.with_fields(scope.get("path_params") or {})
            caller = header(scope, b"authorization")

            def work() -> Any:
                return _call_registry(self.config, caller, lambda reg: self.handler(reg, call))

            if self.inline:
                result = work()
            elif self.unless_busy is not None and self.small is not None and self.small(call):
                try:
                    with self.unless_busy():
                        result = work()
                except WouldWait:  # nothing was written: run it where it may wait
                    result = await run_in_threadpool(work)
            else:
                result = await run_in_threadpool(work)
            return JSONResponse(result)

        response = await _guarded(scope, serve)
        await response(scope, receive, send)


class _Exact:
    """Middleware: a request whose method and path name a REST call goes straight to it;
    any other goes on to ``app``. Paths are taken below ``root_path``, as Starlette's
    router takes them, so the app still works mounted in a larger one."""

    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], ASGIApp]) -> None:
        self._app = app
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path, root = scope["path"], scope.get("root_path", "")
            if root and path.startswith(root + "/"):
                path = path[len(root) :]
            endpoint = self._routes.get((scope["method"], path))
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self._app(scope, receive, send)


def _artifact_routes(config: _Config) -> list[Route]:
    async def files(request: Request) -> Response:
        async def serve() -> Response:
            raw = request.scope.get("raw_path") or quote(request.scope["path"]).encode()
            target = artifacts_api.parse_raw_path(raw)
            caller = request.headers.get("authorization")
            if request.method in ("GET", "HEAD"):
                stream, size = await run_in_threadpool(
                    _call_registry, config, caller, lambda r: artifacts_api.open_download(r, target)
                )
                if request.method == "HEAD":
                    stream.close()
                    return Response(headers={"Content-Length": str(size)})
                return StreamingResponse(
                    artifacts_api.verified_chunks(stream, target.label),
                    media_type="application/octet-stream",
                    headers={"Content-Length": str(size)},
                )
            if request.method == "DELETE":
                await run_in_threadpool(
                    _call_registry,
                    config,
                    caller,
                    lambda r: artifacts_api.delete_artifact(r, target),
                )
                return JSONResponse({})
            if request.method != "PUT":
                raise ApiError(405, "ENDPOINT_NOT_FOUND", f"{request.method} is not allowed here")
            declared = request.headers.get("content-length", "")
            limit = config.max_artifact_bytes
            if limit is not None and declared.isdigit() and int(declared) > limit:
                raise too_large(int(declared), limit)
            body = artifacts_api.BodyReader(request.receive, limit)
            await run_in_threadpool(
                _call_registry,
                config,
                caller,
                lambda r: artifacts_api.store_upload(r, target, body),
            )
            return JSONResponse({})

        return await _guarded(request.scope, serve)

    async def listing(request: Request) -> Response:
        async def serve() -> Response:
            target = artifacts_api.parse_query_path(request.query_params.get("path", ""))
            caller = request.headers.get("authorization")
            result = await run_in_threadpool(
                _call_registry, config, caller, lambda r: artifacts_api.list_artifacts(r, target)
            )
            return JSONResponse(result)

        return await _guarded(request.scope, serve)

    async def no_multipart(request: Request) -> Response:
        return error_response(ApiError(501, "NOT_IMPLEMENTED", _NO_MULTIPART))

    return [
        Route(ARTIFACTS, listing, methods=["GET"]),
        Route(ARTIFACTS + "/{path:modelreg_any}", files, methods=["GET", "PUT", "DELETE"]),
        Route("/api/2.0/mlflow-artifacts/mpu/{path:path}", no_multipart, methods=["POST"]),
    ]


async def _server_info(request: Request) -> Response:
    return JSONResponse({"multipart_uploads_enabled": False, "multipart_downloads_enabled": False})


async def _health(request: Request) -> Response:
    return PlainTextResponse("OK")


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
        return error_response(ApiError(405, "ENDPOINT_NOT_FOUND", message), error.headers)
    if error.status_code == 404:
        message = f"no endpoint {request.method} {request.url.path}"
        return error_response(ApiError(404, "ENDPOINT_NOT_FOUND", message))
    return error_response(ApiError(error.status_code, "BAD_REQUEST", str(error.detail)))


def create_app(
    registry: Registry,
    *,
    prefix: str = "",
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_artifact_bytes: int | None = None,
    trust_anonymous: bool = False,
) -> Starlette:
    """An ASGI app speaking MLflow's REST API over ``registry``, with the web UI at ``/``
    (`registry_server.ui`).

    ``prefix`` (e.g. ``/api/v4/projects/42/ml/mlflow``) is where the MLflow tracking URI
    points; the OpenAPI document is at ``<prefix>/openapi.json``. JSON bodies above
    ``max_body_bytes`` and artifacts above ``max_artifact_bytes`` (no limit by default)
    are refused with 413. Callers without a token are anonymous, unless
    ``trust_anonymous``, which serves them with ``registry`` unchecked (a local,
    single-user server only). Mount the app in a larger service with Starlette's
    ``Mount`` (or ``app.mount`` in FastAPI).
    """
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise ValueError(f"prefix must start with '/' and not end with one, got {prefix!r}")
    config = _Config(registry, max_body_bytes, max_artifact_bytes, trust_anonymous)
    quick = reads_are_quick(registry.repository)
    unless_busy = quick_writes(registry.repository)
    routes: list[Route] = []
    exact: dict[tuple[str, str], ASGIApp] = {}
    for module in (registry_api, runs_api, tracking_api, logged_models_api):
        for methods, path, handler in module.ROUTES:
            endpoint = _Rest(
                config,
                handler,
                inline=quick and handler in registry_api.QUICK_READS,
                unless_busy=unless_busy,
                small=runs_api.QUICK_WRITES.get(path),
            )
            routes.append(Route(_MLFLOW + path, endpoint, methods=list(methods)))
            if "{" not in path:  # a path with parameters goes through the router
                exact.update({(method, prefix + _MLFLOW + path): endpoint for method in methods})
    routes += _artifact_routes(config)
    routes.append(Route("/api/3.0/mlflow/server-info", _server_info, methods=["GET"]))
    routes.append(Route("/health", _health, methods=["GET"]))
    document = openapi_document(prefix)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    routes.append(Route("/openapi.json", openapi, methods=["GET"]))
    # Each route carries the prefix itself: a Mount's pattern cannot match a newline, and
    # artifact paths holding one must reach their handler to be refused with a 400.
    routes = [Route(prefix + r.path, r.endpoint, methods=r.methods) for r in routes]
    routes += ui_routes(UiConfig(registry, trust_anonymous, max_artifact_bytes))
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error},
        middleware=[Middleware(_Exact, routes=exact)],
    )
