"""The frozen values a registry hands out: models, versions, artifacts, metrics, pages,
and the experiments and runs that training jobs log to.

Entities are snapshots: changing a model means asking the `Registry`, which stores a new
document and returns a new entity. Mapping fields are plain dicts; treat them as read-only.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

import attrs

from registry_core.ci import CIJob
from registry_core.errors import InvalidInput
from registry_core.lifecycle import VersionState
from registry_core.names import ModelName
from registry_core.paths import ArtifactPath
from registry_core.versions import Version

__all__ = [
    "Artifact",
    "Experiment",
    "Metric",
    "Model",
    "ModelVersion",
    "Page",
    "Promotion",
    "Run",
    "RunStatus",
    "Upload",
]

T = TypeVar("T")

_SHA256_HEX = frozenset("0123456789abcdef")


@attrs.frozen
class Artifact:
    """One file of a version: its path, size in bytes and SHA-256 (lowercase hex)."""

    path: ArtifactPath
    size: int
    sha256: str

    def __attrs_post_init__(self) -> None:
        if self.size < 0:
            raise InvalidInput(f"artifact size must be >= 0, got {self.size}")
        if len(self.sha256) != 64 or not set(self.sha256) <= _SHA256_HEX:
            raise InvalidInput(f"artifact sha256 {self.sha256!r} is not 64 lowercase hex digits")


def _entry(artifacts: tuple[Artifact, ...], path: ArtifactPath) -> Artifact | None:
    return next((a for a in artifacts if a.path.key == path.key), None)


@attrs.frozen
class Upload:
    """An upload in progress into a draft: it holds ``path`` until ``expires``.

    While it holds the path no other upload may write there, so the blob at the package
    path is always the one the manifest names. A running upload renews its hold; one that
    died lets go when ``expires`` passes (or when ``fsck(repair=True)`` finds it).
    """

    path: ArtifactPath
    token: str
    expires: dt.datetime


@attrs.frozen
class Metric:
    """One point of a metric's history. ``value`` may be NaN or infinite."""

    key: str
    value: float
    step: int
    timestamp: dt.datetime

    @property
    def is_finite(self) -> bool:
        return math.isfinite(self.value)


@attrs.frozen(kw_only=True)
class Model:
    """A named model: its description, tags and aliases (alias -> version)."""

    name: ModelName
    description: str = ""
    tags: Mapping[str, str] = attrs.field(factory=dict)
    aliases: Mapping[str, Version] = attrs.field(factory=dict)
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str | None = None
    updated_by: str | None = None


@attrs.frozen(kw_only=True)
class ModelVersion:
    """One semantic version of a model, with its state, metadata and artifact manifest.

    ``artifacts`` is sorted by path key. Once published, ``artifacts`` and ``params`` never
    change and ``manifest_sha256`` fingerprints the manifest. ``uploads`` are the uploads
    still in progress into a draft (empty once it is published). ``source_run`` is the id
    of the run the version was promoted from, if it was.
    """

    model: ModelName
    version: Version
    state: VersionState = VersionState.DRAFT
    description: str = ""
    tags: Mapping[str, str] = attrs.field(factory=dict)
    params: Mapping[str, str] = attrs.field(factory=dict)
    artifacts: tuple[Artifact, ...] = ()
    uploads: tuple[Upload, ...] = ()
    ci_job: CIJob | None = None
    source_run: str | None = None
    manifest_sha256: str | None = None
    published_at: dt.datetime | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str | None = None
    updated_by: str | None = None

    @property
    def package(self) -> str:
        """The package name ``<model>/<version>``, where the artifacts live in the store."""
        return f"{self.model}/{self.version}"

    @property
    def size(self) -> int:
        """Total bytes of all artifacts."""
        return sum(a.size for a in self.artifacts)

    def artifact(self, path: ArtifactPath) -> Artifact | None:
        """The manifest entry for ``path`` (compared case-insensitively), or None."""
        return _entry(self.artifacts, path)


class RunStatus(str, enum.Enum):
    """Where a run is: running, or ended one of three ways."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    KILLED = "killed"

    @property
    def is_ended(self) -> bool:
        return self is not RunStatus.RUNNING


@attrs.frozen(kw_only=True)
class Promotion:
    """A promotion of a run that has begun and not ended: to which model and version (None
    until the version is made), which folder of the run's files (None: all), and the
    promoter's hold on it, which lapses at ``expires`` if the promoter died."""

    model: ModelName
    version: Version | None = None
    path: ArtifactPath | None = None
    token: str
    expires: dt.datetime


@attrs.frozen(kw_only=True)
class Experiment:
    """A named group of runs. Names are unique, compared case-insensitively."""

    id: str
    name: str
    tags: Mapping[str, str] = attrs.field(factory=dict)
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str | None = None
    updated_by: str | None = None


@attrs.frozen(kw_only=True)
class Run:
    """One training run of an experiment: what it logged, and what became of it.

    ``params`` are written once; metrics are read with `Registry.get_run_metrics`.
    ``artifacts`` are the run's own files, sorted by path key. A run promoted to a version
    names it in ``promoted_to`` (``<model>/<version>``); the files it gave the version
    (those under ``promoted_path``, or all when that is None) moved there and are read
    through the version from then on.
    """

    id: str
    experiment_id: str
    name: str
    status: RunStatus = RunStatus.RUNNING
    description: str = ""
    tags: Mapping[str, str] = attrs.field(factory=dict)
    params: Mapping[str, str] = attrs.field(factory=dict)
    artifacts: tuple[Artifact, ...] = ()
    uploads: tuple[Upload, ...] = ()
    ci_job: CIJob | None = None
    promoted_to: str | None = None
    promoted_path: ArtifactPath | None = None
    promoting: Promotion | None = None
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str | None = None
    updated_by: str | None = None

    @property
    def package(self) -> str:
        """Where the run's files live in the store: a name no model's package can take
        (``.modelreg`` is not a model name)."""
        return f".modelreg/runs/{self.experiment_id}/{self.id}"

    def artifact(self, path: ArtifactPath) -> Artifact | None:
        """The run's own file at ``path`` (compared case-insensitively), or None."""
        return _entry(self.artifacts, path)


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing. Pass ``next_page_token`` back for the next; None at the end."""

    items: tuple[T, ...]
    next_page_token: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
