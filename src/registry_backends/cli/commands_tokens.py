"""``modelreg token create|list|revoke``: API tokens for the HTTP service.

A token stands for a user; the user's membership (``modelreg settings grant``) decides
what it may do. The registry keeps only a hash, so ``create`` shows the token once.
"""

from __future__ import annotations

from registry_backends.cli.common import Context, Subparsers, add_command, add_group
from registry_backends.cli.output import format_time, listing, shorten, table

__all__ = ["register"]


def register(subparsers: Subparsers) -> None:
    """Add the ``token`` group."""
    group = add_group(
        subparsers,
        "token",
        summary="issue, list and revoke API tokens for 'modelreg serve'",
        examples=["modelreg token create --user ana", "modelreg token list"],
    )
    p = add_command(
        group,
        "create",
        summary="issue a token for a user and print it (it is shown only once)",
        examples=["modelreg token create --user ana --description 'CI pipeline'"],
        func=token_create,
        details="The user's role comes from the registry's members: "
        "modelreg settings grant ana reporter.",
    )
    p.add_argument("--user", required=True, metavar="USER", help="whom the token stands for")
    p.add_argument("--description", default="", metavar="TEXT", help="what the token is for")
    p = add_command(
        group,
        "list",
        summary="list tokens by id and user (never the tokens themselves)",
        examples=["modelreg token list", "modelreg token list --user ana"],
        func=token_list,
    )
    p.add_argument("--user", metavar="USER", help="only this user's tokens")
    p = add_command(
        group,
        "revoke",
        summary="revoke a token by its id",
        examples=["modelreg token revoke 3f2a9c0d1e4b5a6f"],
        func=token_revoke,
    )
    p.add_argument("token_id", metavar="ID", help="the id 'modelreg token list' shows")


def token_create(ctx: Context) -> int:
    """Print the new token alone on stdout, so a script can capture it."""
    token = ctx.registry.create_token(ctx.args.user, description=ctx.args.description)
    ctx.out.result({"user": ctx.args.user, "token": token}, token)
    return 0


def token_list(ctx: Context) -> int:
    tokens = ctx.registry.list_tokens(ctx.args.user)
    rows = [(t.id, t.user, format_time(t.created_at), shorten(t.description, 40)) for t in tokens]
    ctx.out.result(listing(tokens), table(["ID", "USER", "CREATED", "DESCRIPTION"], rows, fit=80))
    return 0


def token_revoke(ctx: Context) -> int:
    info = ctx.registry.revoke_token(ctx.args.token_id)
    ctx.out.done(info, f"revoked token {info.id} of {info.user}")
    return 0
