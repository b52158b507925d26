"""The tags that name a version's SemVer where another tool numbers versions itself.

MLflow numbers a model's versions 1, 2, 3; a version's SemVer then travels in a tag. The
MLflow-compatible server reads it from a create's tags, and ``import-mlflow`` from the
tags of the version it imports: one rule, here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from registry_core.errors import InvalidInput

__all__ = ["VERSION_TAGS", "tagged_version"]

#: modelreg's own tag and GitLab's (GitLab's model registry reads ``gitlab.version``).
VERSION_TAGS = ("modelreg.version", "gitlab.version")


def tagged_version(tags: Mapping[str, str], keys: Iterable[str] = VERSION_TAGS) -> str | None:
    """The version text the tags ``keys`` give, or None when none is set.

    Several of them may be set if they agree; naming different versions is `InvalidInput`.
    The text is not parsed here: the caller parses it with `Version.parse`.
    """
    present = [key for key in keys if key in tags]
    given = {tags[key] for key in present}
    if len(given) > 1:
        raise InvalidInput(f"tags {' and '.join(present)} name different versions")
    return given.pop() if given else None
