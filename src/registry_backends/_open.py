"""``open_registry(url)``: the URL's scheme picks a backend, imported only when used.

The table maps a scheme to ``"module:factory"`` and the extra that installs its driver,
the way fsspec's ``known_implementations`` does. Third parties add schemes through the
entry-point group ``modelreg.backends`` (``scheme = "package.module:factory"``); a factory
takes ``(url, **options)`` and returns a `Repository`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import attrs

from registry_backends._install import install_command
from registry_core import Actor, Registry, Repository
from registry_core.errors import BackendError, BackendNotInstalled, InvalidInput

__all__ = ["DEFAULT_URL", "known_schemes", "open_registry", "register_backend"]

DEFAULT_URL = "./modelreg-registry"
ENTRY_POINT_GROUP = "modelreg.backends"


@attrs.frozen
class _Backend:
    target: str  # "module:factory"
    extra: str | None  # pip extra that installs the driver


_BUILTIN: dict[str, _Backend] = {
    "memory": _Backend("registry_backends.memory:open_memory", None),
    "file": _Backend("registry_backends.files:open_files", None),
    "s3": _Backend("registry_backends.files.s3:open_s3", "s3"),
    "gs": _Backend("registry_backends.files.gcs:open_gcs", "gcs"),
    "gcs": _Backend("registry_backends.files.gcs:open_gcs", "gcs"),
    "sqlite": _Backend("registry_backends.sql:open_sql", "sql"),
    "postgresql": _Backend("registry_backends.sql:open_sql", "postgres"),
    "postgresql+psycopg": _Backend("registry_backends.sql:open_sql", "postgres"),
    "mysql": _Backend("registry_backends.sql:open_sql", "mysql"),
    "mysql+pymysql": _Backend("registry_backends.sql:open_sql", "mysql"),
    "mariadb": _Backend("registry_backends.sql:open_sql", "mysql"),
    "mariadb+pymysql": _Backend("registry_backends.sql:open_sql", "mysql"),
}
_REGISTERED: dict[str, _Backend] = {}


def register_backend(scheme: str, target: str, extra: str | None = None) -> None:
    """Map ``scheme`` to ``"module:factory"`` for this process (tests, plugins)."""
    _REGISTERED[scheme.lower()] = _Backend(target, extra)


def _from_entry_points() -> dict[str, _Backend]:
    return {
        ep.name.lower(): _Backend(ep.value, None) for ep in entry_points(group=ENTRY_POINT_GROUP)
    }


def known_schemes() -> list[str]:
    """Every scheme open_registry understands now, sorted."""
    return sorted({*_BUILTIN, *_REGISTERED, *_from_entry_points()})


def _scheme(url: str) -> str:
    head, sep, _ = url.partition("://")
    if not sep:
        return "file"
    return head.lower()


def is_sql_url(url: str) -> bool:
    """Whether ``url`` names a built-in SQL registry (any driver of its database)."""
    database = _scheme(url).partition("+")[0]
    backend = _BUILTIN.get(database)
    return backend is not None and backend.target == _BUILTIN["sqlite"].target


def _load(scheme: str) -> Callable[..., Repository]:
    backend = _REGISTERED.get(scheme) or _BUILTIN.get(scheme) or _from_entry_points().get(scheme)
    if backend is None:
        raise InvalidInput(
            f"unknown registry URL scheme {scheme!r}; known schemes: {', '.join(known_schemes())}"
        )
    module_name, _, attr = backend.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        hint = install_command(backend.extra) if backend.extra else "its package"
        raise BackendNotInstalled(
            f"the {scheme!r} backend needs {error.name or module_name}; install it with {hint}"
        ) from error
    factory: Callable[..., Repository] = getattr(module, attr)
    return factory


def registry_url(url: str | None = None) -> str:
    """``url``, or the default registry's: ``$MODELREG_URL``, else ``./modelreg-registry``."""
    return (os.environ.get("MODELREG_URL") or DEFAULT_URL) if url is None else url


def local_path(url: str) -> str | None:
    """The file or folder a local registry URL names (a folder, ``file://``,
    ``sqlite:///``), or None for other stores."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if scheme.lower() == "file":
        return rest
    if scheme.lower() == "sqlite" and rest.startswith("/"):
        path = rest[1:].split("?", 1)[0]
        return path if path and path != ":memory:" else None
    return None


def is_missing_local(url: str) -> bool:
    """Whether ``url`` names a local registry (folder or SQLite file) not made yet: opening
    it would make it."""
    path = local_path(url)
    return path is not None and not os.path.exists(path)


def open_registry(
    url: str | None = None, *, actor: Actor | str | None = None, **options: Any
) -> Registry:
    """Open the registry at ``url`` (default: ``$MODELREG_URL``, else ``./modelreg-registry``).

    With ``actor`` the registry checks every call against that user's role.
    """
    url = registry_url(url)
    if not isinstance(url, str) or not url:
        raise InvalidInput(f"registry URL must be a non-empty string, not {url!r}")
    scheme = _scheme(url)
    repository = _load(scheme)(url, **options)
    if not isinstance(repository, Repository):
        raise BackendError(
            f"the {scheme!r} backend returned {type(repository).__name__}, not a Repository; "
            "an entry point returns the storage, and open_registry wraps it in a Registry"
        )
    registry = Registry(repository)
    return registry if actor is None else registry.as_actor(actor)
