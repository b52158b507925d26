"""modelreg's domain core: the rules of a model registry, with no storage I/O.

Start with `Registry` over a repository (`MemoryRepository` here; files, S3, GCS and SQL in
`registry_backends`), and the value objects that parse and check every input:
`ModelName`, `Version`, `Range`, `ArtifactPath`, `AliasName`.
"""

from registry_core._artifacts import Verification
from registry_core._experiments import DEFAULT_EXPERIMENT
from registry_core._maintenance import FsckReport
from registry_core._tokens import TokenInfo
from registry_core.ci import CIJob
from registry_core.entities import (
    Artifact,
    Experiment,
    Metric,
    Model,
    ModelVersion,
    Page,
    Promotion,
    Run,
    RunStatus,
    Upload,
)
from registry_core.errors import (
    AlreadyExists,
    BackendError,
    BackendNotInstalled,
    Conflict,
    IllegalTransition,
    IntegrityError,
    InvalidInput,
    InvalidName,
    InvalidPath,
    InvalidVersion,
    NotFound,
    PermissionDenied,
    RegistryError,
    SchemaError,
)
from registry_core.lifecycle import TRANSITIONS, VersionState
from registry_core.memory import MemoryRepository
from registry_core.names import AliasName, ModelName
from registry_core.paths import ArtifactPath
from registry_core.permissions import Action, Actor, Role, Settings, Visibility, authorize
from registry_core.protocol import BlobWriter, Document, Key, Repository, TransactionalRepository
from registry_core.registry import Draft, Registry
from registry_core.versions import Range, Version

__all__ = [
    "DEFAULT_EXPERIMENT",
    "TRANSITIONS",
    "Action",
    "Actor",
    "AliasName",
    "AlreadyExists",
    "Artifact",
    "ArtifactPath",
    "BackendError",
    "BackendNotInstalled",
    "BlobWriter",
    "CIJob",
    "Conflict",
    "Document",
    "Draft",
    "Experiment",
    "FsckReport",
    "IllegalTransition",
    "IntegrityError",
    "InvalidInput",
    "InvalidName",
    "InvalidPath",
    "InvalidVersion",
    "Key",
    "MemoryRepository",
    "Metric",
    "Model",
    "ModelName",
    "ModelVersion",
    "NotFound",
    "Page",
    "PermissionDenied",
    "Promotion",
    "Range",
    "Registry",
    "RegistryError",
    "Run",
    "RunStatus",
    "Repository",
    "Role",
    "SchemaError",
    "TokenInfo",
    "TransactionalRepository",
    "Upload",
    "Settings",
    "Verification",
    "Version",
    "VersionState",
    "Visibility",
    "authorize",
]

__version__ = "0.1.0"
