"""``modelreg settings ...``, ``modelreg verify`` and ``modelreg fsck``: the registry itself."""

from __future__ import annotations

from typing import Any

from registry_backends.cli.common import (
    CommandFailed,
    Context,
    Subparsers,
    UsageError,
    add_command,
    add_group,
    read_version,
)
from registry_backends.cli.output import plural, table
from registry_core import Role, Settings

__all__ = ["register"]

_ROLES = [r.name.lower() for r in Role]


def register(subparsers: Subparsers) -> None:
    """Add the ``settings`` group and the ``verify`` and ``fsck`` commands."""
    _register_settings(subparsers)
    p = add_command(
        subparsers,
        "verify",
        summary="re-hash a version's artifacts against its manifest; exit 1 on a problem",
        examples=["modelreg verify fraud 1.2.0"],
        func=verify,
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument("version", metavar="VERSION")
    p = add_command(
        subparsers,
        "fsck",
        summary="check the registry's structure for what a crash left; exit 1 on a problem",
        examples=["modelreg fsck", "modelreg fsck --repair"],
        func=fsck,
        details="Finds half-finished deletes and renames, orphan files and temp files (and on\n"
        "S3/GCS documents missing from the listing index); --repair finishes or removes\n"
        "them. It does not read the files' bytes: 'modelreg verify MODEL VERSION' re-hashes\n"
        "a version's files against its manifest.",
    )
    p.add_argument("--repair", action="store_true", help="fix what can be fixed")


def _register_settings(subparsers: Subparsers) -> None:
    group = add_group(
        subparsers,
        "settings",
        summary="show and change the registry's settings and members",
        examples=["modelreg settings show", "modelreg settings grant ana maintainer"],
    )
    add_command(
        group,
        "show",
        summary="show whether the registry is enabled, its visibility and its members",
        examples=["modelreg settings show"],
        func=settings_show,
        aliases=["get"],
    )
    p = add_command(
        group,
        "set",
        summary="turn the registry on or off, or change who may read it",
        examples=[
            "modelreg settings set --visibility public",
            "modelreg settings set --enabled false",
        ],
        func=settings_set,
    )
    p.add_argument("--enabled", choices=["true", "false"])
    p.add_argument("--visibility", choices=["public", "private"])
    p = add_command(
        group,
        "grant",
        summary="give a user a role (replacing any role they had)",
        examples=["modelreg settings grant ana developer"],
        func=settings_grant,
        details=f"Roles, lowest first: {', '.join(_ROLES)}.",
    )
    p.add_argument("user", metavar="USER")
    p.add_argument("role", metavar="ROLE", type=str.lower, choices=_ROLES)
    p = add_command(
        group,
        "revoke",
        summary="take away a user's membership",
        examples=["modelreg settings revoke ana"],
        func=settings_revoke,
    )
    p.add_argument("user", metavar="USER")


def _settings_lines(settings: Settings) -> list[str]:
    rows = [(user, settings.members[user].name.lower()) for user in sorted(settings.members)]
    lines = [
        f"enabled:     {'yes' if settings.enabled else 'no'}",
        f"visibility:  {settings.visibility.value}",
    ]
    if not rows:
        return [*lines, "members:     -"]
    return [*lines, "members:", *("  " + line for line in table(["USER", "ROLE"], rows))]


def settings_show(ctx: Context) -> int:
    """Show the settings."""
    settings = ctx.registry.get_settings()
    ctx.out.result(settings, _settings_lines(settings))
    return 0


def settings_set(ctx: Context) -> int:
    """Change enabled and visibility."""
    a = ctx.args
    if a.enabled is None and a.visibility is None:
        raise UsageError("nothing to change: give --enabled or --visibility")
    enabled = None if a.enabled is None else a.enabled == "true"
    settings = ctx.registry.update_settings(enabled=enabled, visibility=a.visibility)
    ctx.out.done(settings, "\n".join(_settings_lines(settings)))
    return 0


def settings_grant(ctx: Context) -> int:
    """Give a user a role."""
    a = ctx.args
    settings = ctx.registry.grant(a.user, a.role)
    ctx.out.done(settings, f"{a.user} is now {a.role}")
    return 0


def settings_revoke(ctx: Context) -> int:
    """Remove a user's membership."""
    a = ctx.args
    settings = ctx.registry.revoke(a.user)
    ctx.out.done(settings, f"{a.user} is no longer a member")
    return 0


def verify(ctx: Context) -> int:
    """Check a version's bytes; exit 1 listing the problems."""
    a = ctx.args
    result = ctx.registry.verify(a.model, read_version(ctx, a.model, a.version))
    payload = {
        "package": result.package,
        "checked": result.checked,
        "ok": result.ok,
        "problems": [{"path": path, "problem": what} for path, what in result.problems],
    }
    checked = plural(result.checked, "artifact")
    if result.ok:
        ctx.out.done(payload, f"ok: {result.package}: {checked} checked, every SHA-256 matches")
        return 0
    lines = [f"{result.package}: {len(result.problems)} of {checked} failed:"]
    lines += [f"  {path}: {what}" for path, what in result.problems]
    ctx.out.result(payload, lines)
    return 1


def fsck(ctx: Context) -> int:
    """Check (and with --repair fix) the registry; exit 1 while problems remain."""
    check: Any = getattr(ctx.registry, "fsck", None)
    if check is None:
        raise CommandFailed("this version of modelreg's Registry has no fsck")
    report = check(repair=ctx.args.repair)
    problems = tuple(report.problems)
    repaired = tuple(report.repaired)
    payload = {"ok": bool(report.ok), "problems": list(problems), "repaired": list(repaired)}
    lines = [f"problem: {p}" for p in problems] + [f"repaired: {r}" for r in repaired]
    if report.ok:
        ctx.out.done(payload, "\n".join([*lines, "ok: no problems found"]))
        return 0
    ctx.out.result(payload, lines)
    return 1
