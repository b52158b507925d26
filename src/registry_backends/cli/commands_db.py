"""``modelreg db upgrade URL`` and ``modelreg db current URL``: a SQL registry's schema.

Wired into the parser by `registry_backends.cli.app` (``commands_db.register``); the SQL
backend is imported only when one of these commands runs.
"""

from __future__ import annotations

import os
from types import ModuleType

from registry_backends._install import install_command
from registry_backends._open import is_sql_url
from registry_backends.cli.common import Context, Subparsers, UsageError, add_command, add_group
from registry_core import BackendNotInstalled

__all__ = ["register"]


def register(subparsers: Subparsers) -> None:
    """Add the ``db`` group: ``upgrade`` and ``current``."""
    group = add_group(
        subparsers,
        "db",
        summary="upgrade or inspect the schema of a SQL registry",
        examples=[
            "modelreg db upgrade sqlite:///registry.db",
            "modelreg db current 'postgresql+psycopg://ci@db.example/registry'",
        ],
    )
    p = add_command(
        group,
        "upgrade",
        summary="migrate a SQL registry's tables to this modelreg's schema revision",
        examples=[
            "modelreg db upgrade sqlite:///registry.db",
            "modelreg db upgrade 'postgresql+psycopg://ci@db.example/registry'",
        ],
        func=upgrade,
        details="Run it once after installing a newer modelreg; an empty database gets every "
        "table. Opening a registry at an older revision is refused until this has run.",
    )
    p.add_argument("url", metavar="URL", nargs="?", help=_URL_HELP + " (no ?artifacts= needed)")
    p = add_command(
        group,
        "current",
        summary="show the schema revision a SQL registry is at",
        examples=["modelreg db current sqlite:///registry.db"],
        func=current,
    )
    p.add_argument("url", metavar="URL", nargs="?", help=_URL_HELP)


_URL_HELP = "the database URL (default: --registry, else $MODELREG_URL)"


def _url(ctx: Context) -> str:
    """URL, else the registry the other commands would open; it must be a SQL one."""
    url: str | None = ctx.args.url or getattr(ctx.args, "registry", None)
    url = url or os.environ.get("MODELREG_URL")
    if not url:
        raise UsageError("give the database URL, e.g. modelreg db current sqlite:///reg.db")
    if not is_sql_url(url):
        raise UsageError(
            f"{url!r} is not a SQL registry: 'db' upgrades the tables of sqlite:///, "
            "postgresql:// and mysql:// registries; other registries have no schema to upgrade"
        )
    return url


def _sql() -> ModuleType:
    try:
        import registry_backends.sql as sql
    except ImportError as error:
        raise BackendNotInstalled(
            f"SQL registries need {error.name or 'SQLAlchemy'}; install it with "
            f"{install_command('sql')}"
        ) from error
    return sql


def _shown(url: str) -> str:
    from registry_backends.sql._engine import parse_url

    return parse_url(url, need_artifacts=False).display


def upgrade(ctx: Context) -> int:
    """Run the migrations up to the newest revision."""
    url = _url(ctx)
    sql = _sql()
    before = sql.current_revision(url)
    after = sql.upgrade(url)
    payload = {"url": _shown(url), "from": before, "to": after, "head": sql.HEAD}
    if before == after:
        text = f"{_shown(url)} is already at schema revision {after}"
    else:
        text = f"{_shown(url)}: schema revision {before or '(empty)'} -> {after}"
    ctx.out.done(payload, text, quiet_text=str(after))
    return 0


def current(ctx: Context) -> int:
    """Print the stamped revision and whether this modelreg can open it."""
    url = _url(ctx)
    sql = _sql()
    found = sql.current_revision(url)
    if found is None:
        state = "not a registry yet"
    elif found == sql.HEAD:
        state = "up to date"
    elif found in sql.REVISIONS:
        state = "older: run modelreg db upgrade URL"
    else:
        state = "newer than this modelreg"
    payload = {"url": _shown(url), "revision": found, "head": sql.HEAD, "state": state}
    ctx.out.result(payload, f"{found or '-'} ({state}; this modelreg: {sql.HEAD})")
    return 0
