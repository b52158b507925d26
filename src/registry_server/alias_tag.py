"""The model-version tag ``modelreg.alias``: how the stock MLflow client points an alias.

The stock client's ``set_registered_model_alias`` insists on an integer version, so it
cannot name ``1.0.0``. Instead, as with ``gitlab.version``, a tag carries the meaning:

* Setting ``modelreg.alias`` to an alias name on a version (``set_model_version_tag``, or
  runs/set-tag and log-batch on the version's run) points that alias at the version with
  `Registry.set_alias`, moving it if it pointed elsewhere. The registry keeps the alias,
  not a tag: the version's tags never show ``modelreg.alias``; its ``aliases`` do.
* Deleting the tag ``modelreg.alias`` on a version removes every alias that points at
  that version (404 if none does).
* The alias rules hold as for any alias: a bad name is a 400, and only a ready version
  can hold one, so the tag is refused when a version is created (it starts as a draft)
  and on a draft: set it once the version is published.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from registry_core import (
    IllegalTransition,
    ModelName,
    NotFound,
    Registry,
    Version,
    VersionState,
)
from registry_server.errors import ApiError
from registry_server.mapping import ALIAS_TAG, aliases_of

__all__ = [
    "delete_alias_tag",
    "delete_version_tag",
    "refuse_at_create",
    "set_alias_tag",
    "set_version_tag",
]

_PUBLISH_FIRST = (
    f"set tag {ALIAS_TAG} once the version is published (end its run with status FINISHED)"
)


def refuse_at_create(tags: Mapping[str, str]) -> None:
    """A 400 if a create's tags ask for an alias: the new version is a draft."""
    if ALIAS_TAG in tags:
        raise ApiError.invalid(
            f"tag {ALIAS_TAG} cannot be given when a version is created: the new version is "
            f"a draft, and an alias may point only at a ready version; {_PUBLISH_FIRST}"
        )


def set_alias_tag(reg: Registry, model: str | ModelName, version: Version, alias: str) -> None:
    """Point ``alias`` at the version; the domain's refusals pass through, a draft's with
    the hint to publish first."""
    try:
        reg.set_alias(model, alias, version)
    except IllegalTransition as error:
        if reg.get_version(model, version).state is VersionState.DRAFT:
            raise ApiError.invalid(f"{error}; {_PUBLISH_FIRST}") from error
        raise


def set_version_tag(
    reg: Registry, model: str | ModelName, version: Version, key: str, value: str
) -> None:
    """Set a version's tag; ``modelreg.alias`` points an alias instead."""
    if key == ALIAS_TAG:
        set_alias_tag(reg, model, version, value)
    else:
        reg.set_tag(model, version, key, value)


def delete_version_tag(reg: Registry, model: str | ModelName, version: Version, key: str) -> None:
    """Delete a version's tag; ``modelreg.alias`` removes the aliases on the version."""
    if key == ALIAS_TAG:
        delete_alias_tag(reg, model, version)
    else:
        reg.delete_tag(model, version, key)


def delete_alias_tag(reg: Registry, model: str | ModelName, version: Version) -> None:
    """Delete every alias that points at the version; `NotFound` if none does."""
    held = aliases_of(reg.get_model(model), version)
    if not held:
        entity = reg.get_version(model, version)  # NotFound for a missing version
        raise NotFound(
            f"tag {ALIAS_TAG} is not set on version '{entity.version}' of model "
            f"'{entity.model}': no alias points at it"
        )
    for alias in held:
        with contextlib.suppress(NotFound):  # gone meanwhile: the outcome stands
            reg.delete_alias(model, alias)
