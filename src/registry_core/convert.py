"""The one converter between entities and JSON-ready documents.

Stored documents carry ``"schema": SCHEMA``; a document from a newer schema raises
`SchemaError` rather than being misread. Values that JSON cannot hold as themselves
(versions, names, paths, times, non-finite floats) become strings.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from registry_core.entities import RunStatus
from registry_core.errors import SchemaError
from registry_core.lifecycle import VersionState
from registry_core.names import ModelName
from registry_core.paths import ArtifactPath
from registry_core.permissions import Role, Visibility
from registry_core.versions import Version

if TYPE_CHECKING:
    import cattrs

__all__ = ["SCHEMA", "from_document", "to_document", "dump_time", "load_time"]

SCHEMA = 1
T = TypeVar("T")


def dump_time(value: dt.datetime) -> str:
    """UTC ISO-8601 with microseconds: sortable as text, exact on the way back."""
    return value.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def load_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def dump_float(value: float) -> float | str:
    """Finite floats stay numbers; NaN and the infinities become ``"nan"``/``"inf"``/``"-inf"``."""
    return value if math.isfinite(value) else str(value)


def load_float(value: float | str) -> float:
    return float(value)


@functools.cache
def _converter() -> cattrs.Converter:
    """Built on first use: importing cattrs costs ~50 ms that `import registry_core` skips."""
    import cattrs

    conv = cattrs.Converter(forbid_extra_keys=False)
    conv.register_unstructure_hook(Version, str)
    conv.register_structure_hook(Version, lambda v, _: Version.parse(v))
    conv.register_unstructure_hook(ModelName, str)
    conv.register_structure_hook(ModelName, lambda v, _: ModelName.parse(v))
    conv.register_unstructure_hook(ArtifactPath, str)
    conv.register_structure_hook(ArtifactPath, lambda v, _: ArtifactPath.parse(v))
    conv.register_unstructure_hook(dt.datetime, dump_time)
    conv.register_structure_hook(dt.datetime, lambda v, _: load_time(v))
    conv.register_unstructure_hook(float, dump_float)
    conv.register_structure_hook(float, lambda v, _: load_float(v))
    conv.register_unstructure_hook(Role, lambda r: r.name.lower())
    conv.register_structure_hook(Role, lambda v, _: Role.parse(v))
    conv.register_unstructure_hook(VersionState, lambda s: s.value)
    conv.register_structure_hook(VersionState, lambda v, _: VersionState(v))
    conv.register_unstructure_hook(RunStatus, lambda s: s.value)
    conv.register_structure_hook(RunStatus, lambda v, _: RunStatus(v))
    conv.register_unstructure_hook(Visibility, lambda s: s.value)
    conv.register_structure_hook(Visibility, lambda v, _: Visibility(v))
    return conv


def to_document(entity: Any, **extra: Any) -> dict[str, Any]:
    """``entity`` as a JSON-ready dict with the schema version and any ``extra`` fields."""
    data: dict[str, Any] = _converter().unstructure(entity)
    data["schema"] = SCHEMA
    data.update(extra)
    return data


def from_document(data: Mapping[str, Any], cls: type[T]) -> T:
    """The entity stored in ``data``; `SchemaError` if a newer modelreg wrote it."""
    schema = data.get("schema")
    if not isinstance(schema, int) or schema > SCHEMA:
        raise SchemaError(
            f"document has schema {schema!r}, this modelreg reads up to {SCHEMA}; upgrade modelreg"
        )
    return _converter().structure(dict(data), cls)


def unstructure(value: Any) -> Any:
    """Any value the converter knows, JSON-ready (used for metric points and settings)."""
    return _converter().unstructure(value)


def structure(value: Any, cls: type[T]) -> T:
    return _converter().structure(value, cls)
