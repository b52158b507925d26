"""``modelreg model ...`` and ``modelreg alias ...``: models and their named pointers."""

from __future__ import annotations

from registry_backends.cli.common import (
    Context,
    Subparsers,
    UsageError,
    add_command,
    add_group,
    confirm,
    key_value,
    page_size,
    to_mapping,
)
from registry_backends.cli.output import (
    by_user,
    format_time,
    listing,
    mapping_lines,
    shorten,
    table,
    to_jsonable,
)
from registry_core import Model, ModelVersion, NotFound

__all__ = ["register", "register_alias"]


def register(subparsers: Subparsers) -> None:
    """Add the ``model`` command group."""
    group = add_group(
        subparsers,
        "model",
        summary="create, list, show, update, rename and delete models",
        examples=[
            "modelreg model create fraud --description 'Fraud detector'",
            "modelreg model list",
        ],
    )
    p = add_command(
        group,
        "create",
        summary="create a model",
        examples=["modelreg model create fraud/cards --description 'Card fraud' --tag team=risk"],
        func=model_create,
        details="Names are unique in a registry regardless of case.",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--description", default="", metavar="D")
    p.add_argument("--tag", type=key_value, action="append", default=[], metavar="K=V")

    p = add_command(
        group,
        "list",
        summary="list models, ordered by name",
        examples=["modelreg model list --prefix fraud/ --all"],
        func=model_list,
    )
    p.add_argument("--prefix", metavar="P", help="only names starting with P (any case)")
    p.add_argument("--page-size", type=page_size, default=100, metavar="N")
    p.add_argument("--page-token", metavar="TOKEN", help="continue a listing where it stopped")
    p.add_argument("--all", action="store_true", help="follow every page")

    p = add_command(
        group,
        "show",
        summary="show a model: description, tags, aliases and its latest version",
        examples=["modelreg model show fraud"],
        func=model_show,
        aliases=["get"],
    )
    p.add_argument("name", metavar="NAME")

    p = add_command(
        group,
        "update",
        summary="change a model's description or tags",
        examples=[
            "modelreg model update fraud --description 'Card fraud, v2 features'",
            "modelreg model update fraud --tag owner=ana --delete-tag team",
        ],
        func=model_update,
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--description", metavar="D")
    p.add_argument("--tag", type=key_value, action="append", default=[], metavar="K=V")
    p.add_argument("--delete-tag", action="append", default=[], metavar="KEY")

    p = add_command(
        group,
        "rename",
        summary="give a model a new name; its versions and artifacts move with it",
        examples=["modelreg model rename fraud risk/fraud"],
        func=model_rename,
        details="Artifacts are copied to the new package paths and verified, so this takes\n"
        "time in proportion to their size. If it is interrupted, run it again (or\n"
        "'modelreg fsck --repair') to finish; until then the model keeps its old name and\n"
        "refuses writes.",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("new_name", metavar="NEW_NAME")

    p = add_command(
        group,
        "delete",
        summary="delete a model with all its versions and artifacts",
        examples=["modelreg model delete fraud --yes", "modelreg model delete fraud --force --yes"],
        func=model_delete,
        details="Asks first at a terminal; elsewhere pass --yes. Refused while the model has\n"
        "aliases, unless --force.",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--force", action="store_true", help="delete even if aliases exist")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")


def model_create(ctx: Context) -> int:
    """Create a model."""
    a = ctx.args
    model = ctx.registry.create_model(a.name, a.description, tags=to_mapping(a.tag, "tag"))
    ctx.out.done(model, f"created model '{model.name}'", quiet_text=str(model.name))
    return 0


def model_list(ctx: Context) -> int:
    """List models, one page or (``--all``) every page."""
    a = ctx.args
    items: list[Model] = []
    token = a.page_token
    while True:
        page = ctx.registry.list_models(a.prefix, page_size=a.page_size, page_token=token)
        items.extend(page.items)
        token = page.next_page_token
        if token is None or not a.all:
            break
    rows = [
        (
            m.name,
            ", ".join(sorted(m.aliases)),
            format_time(m.updated_at),
            shorten(m.description),
        )
        for m in items
    ]
    ctx.out.result(
        listing(items, token), table(["NAME", "ALIASES", "UPDATED", "DESCRIPTION"], rows, fit=80)
    )
    if token is not None and not ctx.json:
        ctx.out.note(f"more models: pass --all, or --page-token {token}")
    return 0


def model_show(ctx: Context) -> int:
    """Show one model."""
    model = ctx.registry.get_model(ctx.args.name)
    try:
        latest: ModelVersion | None = ctx.registry.latest(model.name)
    except NotFound:
        latest = None
    lines = [
        str(model.name),
        f"  description:  {model.description or '-'}",
        f"  created:      {format_time(model.created_at)}{by_user(model.created_by)}",
        f"  updated:      {format_time(model.updated_at)}{by_user(model.updated_by)}",
        f"  latest:       {latest.version if latest else '- (no ready version)'}",
    ]
    lines += mapping_lines("tags", model.tags)
    lines += mapping_lines("aliases", model.aliases, " -> ")
    payload = {**to_jsonable(model), "latest": None if latest is None else str(latest.version)}
    ctx.out.result(payload, lines)
    return 0


def model_update(ctx: Context) -> int:
    """Change a model's description and tags."""
    a = ctx.args
    tags = to_mapping(a.tag, "tag")
    if a.description is None and not tags and not a.delete_tag:
        raise UsageError("nothing to change: give --description, --tag or --delete-tag")
    registry = ctx.registry
    model = registry.get_model(a.name)
    if a.description is not None:
        model = registry.update_model(a.name, description=a.description)
    for key, value in tags.items():
        model = registry.set_model_tag(a.name, key, value)
    for key in a.delete_tag:
        model = registry.delete_model_tag(a.name, key)
    ctx.out.done(model, f"updated model '{model.name}'")
    return 0


def model_rename(ctx: Context) -> int:
    """Rename a model."""
    a = ctx.args
    model = ctx.registry.rename_model(a.name, a.new_name)
    ctx.out.done(model, f"renamed model '{a.name}' to '{model.name}'", quiet_text=str(model.name))
    return 0


def model_delete(ctx: Context) -> int:
    """Delete a model after confirmation."""
    a = ctx.args
    model = ctx.registry.get_model(a.name)
    confirm(ctx, f"delete model '{model.name}' with all its versions and artifacts")
    ctx.registry.delete_model(model.name, force=a.force)
    ctx.out.done({"deleted": {"model": model.name}}, f"deleted model '{model.name}'")
    return 0


# -- alias ------------------------------------------------------------------------------


def register_alias(subparsers: Subparsers) -> None:
    """Add the ``alias`` command group."""
    group = add_group(
        subparsers,
        "alias",
        summary="point named aliases (production, champion...) at ready versions",
        examples=[
            "modelreg alias set fraud production 1.2.0",
            "modelreg alias show fraud production",
        ],
    )
    p = add_command(
        group,
        "set",
        summary="point an alias at a ready version, moving it if it exists",
        examples=["modelreg alias set fraud production 1.2.0"],
        func=alias_set,
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument("alias", metavar="ALIAS")
    p.add_argument("version", metavar="VERSION")

    p = add_command(
        group,
        "delete",
        summary="delete an alias (the version stays)",
        examples=["modelreg alias delete fraud production"],
        func=alias_delete,
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument("alias", metavar="ALIAS")

    p = add_command(
        group,
        "show",
        summary="print the version an alias points at",
        examples=[
            "modelreg alias show fraud production",
            "modelreg --json alias show fraud champion",
        ],
        func=alias_show,
        aliases=["get"],
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument("alias", metavar="ALIAS")


def alias_set(ctx: Context) -> int:
    """Point an alias at a version."""
    a = ctx.args
    model = ctx.registry.set_alias(a.model, a.alias, a.version)
    target = model.aliases[a.alias]
    ctx.out.done(model, f"alias '{a.alias}' of model '{model.name}' -> {target}")
    return 0


def alias_delete(ctx: Context) -> int:
    """Delete an alias."""
    a = ctx.args
    model = ctx.registry.delete_alias(a.model, a.alias)
    ctx.out.done(model, f"deleted alias '{a.alias}' of model '{model.name}'")
    return 0


def alias_show(ctx: Context) -> int:
    """Print the alias's target version."""
    a = ctx.args
    version = ctx.registry.get_alias(a.model, a.alias)
    ctx.out.result(version, str(version.version))
    return 0
