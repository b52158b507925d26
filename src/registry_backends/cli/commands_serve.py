"""``modelreg serve``: the MLflow-compatible HTTP service over a registry, with uvicorn.

The server lives in the optional ``registry_server`` package (extra ``server``); it is
imported only when this command runs, so the rest of the CLI works without it.
"""

from __future__ import annotations

import errno
import socket

from registry_backends._install import install_command
from registry_backends.cli.common import (
    CommandFailed,
    Context,
    Subparsers,
    UsageError,
    add_command,
)

__all__ = ["register"]


def register(subparsers: Subparsers) -> None:
    """Add the ``serve`` command."""
    p = add_command(
        subparsers,
        "serve",
        summary="serve the registry over MLflow's REST API (the stock mlflow client works)",
        examples=[
            "modelreg serve --registry ./registry --port 5000",
            "modelreg serve --registry sqlite:///reg.db --prefix /api/v4/projects/42/ml",
        ],
        func=serve,
        details="Point MLflow at it: MLFLOW_TRACKING_URI=http://HOST:PORT[PREFIX] and "
        "MLFLOW_TRACKING_TOKEN=<a token from 'modelreg token create'>. Callers without a "
        "token are anonymous. Needs the server extra (pip install 'modelreg[server]', or\n"
        "pip install -e '.[server]' in a checkout).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5000, help="port to listen on (default 5000)")
    p.add_argument("--prefix", default="", help="URL path the API lives under, e.g. /mlflow")
    p.add_argument(
        "--max-body-bytes",
        type=int,
        default=None,
        metavar="N",
        help="largest JSON request body accepted (default 16 MiB)",
    )
    p.add_argument(
        "--max-artifact-bytes",
        type=int,
        default=None,
        metavar="N",
        help="largest artifact upload accepted (default: no limit)",
    )
    p.add_argument(
        "--trust-anonymous",
        action="store_true",
        help="serve callers without a token unchecked (only where nobody else can connect)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def serve(ctx: Context) -> int:
    """Run the server until interrupted."""
    a = ctx.args
    if a.prefix and (not a.prefix.startswith("/") or a.prefix.endswith("/")):
        raise UsageError(f"--prefix must start with '/' and not end with one, got {a.prefix!r}")
    if getattr(a, "as_user", None):
        raise UsageError("serve takes no --as: each request acts as its token's user")
    try:
        import uvicorn

        from registry_server import DEFAULT_MAX_BODY_BYTES, create_app
    except ImportError as error:
        raise CommandFailed(
            f"serve needs the server extra ({error.name}): {install_command('server')}"
        ) from None
    app = create_app(
        ctx.registry,
        prefix=a.prefix,
        max_body_bytes=a.max_body_bytes or DEFAULT_MAX_BODY_BYTES,
        max_artifact_bytes=a.max_artifact_bytes,
        trust_anonymous=a.trust_anonymous,
    )
    listening = _listen(a.host, a.port)
    host, port = listening.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    root = f"http://{shown}:{port}"
    ctx.out.note(f"serving on {root}{a.prefix} (web UI at {root}/; press Ctrl+C to stop)")
    config = uvicorn.Config(app, log_level=a.log_level, lifespan="off")
    uvicorn.Server(config).run(sockets=[listening])
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, so that a port in use is one clear error (exit 1)
    before the server starts, rather than uvicorn's startup failure (exit 3)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listening = socket.socket(family, kind, proto)
    except OSError as error:  # socket.gaierror included
        raise CommandFailed(f"cannot listen on {host}:{port}: {error}") from None
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(address)
    except OSError as error:
        listening.close()
        reason = error.strerror or str(error)
        hint = "; pick another with --port" if error.errno == errno.EADDRINUSE else ""
        raise CommandFailed(f"cannot listen on {host}:{port}: {reason}{hint}") from None
    return listening
