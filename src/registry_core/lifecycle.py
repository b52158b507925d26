"""Version states and the table of allowed transitions.

A version is born a ``draft``: it takes artifacts, parameters, metrics and logs. Publishing
seals it as ``ready``; a draft that cannot be finished becomes ``failed``. A ready version
can be deprecated and undeprecated, and a ready or deprecated one yanked: kept and
pinnable by its exact version, never chosen by ``latest`` or a range.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from registry_core.errors import IllegalTransition

__all__ = ["TRANSITIONS", "VersionState", "check_transition"]


class VersionState(str, enum.Enum):
    """Where a version is in its life."""

    DRAFT = "draft"
    READY = "ready"
    FAILED = "failed"
    DEPRECATED = "deprecated"
    YANKED = "yanked"

    @property
    def is_mutable(self) -> bool:
        """Only a draft's artifacts and parameters may change."""
        return self is VersionState.DRAFT

    @property
    def is_sealed(self) -> bool:
        """Published at some point: the manifest is frozen."""
        return self in _SEALED


_SEALED = frozenset({VersionState.READY, VersionState.DEPRECATED, VersionState.YANKED})

#: (from, to) -> the Registry method that makes the move. Anything absent is refused.
TRANSITIONS: Mapping[tuple[VersionState, VersionState], str] = {
    (VersionState.DRAFT, VersionState.READY): "publish",
    (VersionState.DRAFT, VersionState.FAILED): "fail",
    (VersionState.READY, VersionState.DEPRECATED): "deprecate",
    (VersionState.DEPRECATED, VersionState.READY): "undeprecate",
    (VersionState.READY, VersionState.YANKED): "yank",
    (VersionState.DEPRECATED, VersionState.YANKED): "yank",
}


def check_transition(
    what: str, current: VersionState, target: VersionState, via: str | None = None
) -> None:
    """Raise `IllegalTransition` unless the table allows ``current -> target`` (by ``via``).

    ``what`` names the version in the message, e.g. ``"version '1.2.0' of model 'fraud'"``;
    ``via`` is the Registry method making the move, so ``undeprecate`` cannot publish a draft.
    """
    method = TRANSITIONS.get((current, target))
    if method is not None and via in (None, method):
        return
    allowed = sorted(to.value for (frm, to) in TRANSITIONS if frm is current)
    hint = (
        f"from {current.value} it may become: {', '.join(allowed)}"
        if allowed
        else (f"{current.value} is final; delete it or create a new version")
    )
    raise IllegalTransition(f"{what} is {current.value} and cannot become {target.value}; {hint}")
