"""Storage backends for modelreg, chosen by URL: ``open_registry("memory://")``; and
``copy(src, dst)``, a whole registry from one backend to another; ``export_version`` and
``import_package``, one version as a package file; ``import_mlflow(uri, registry)``, an
MLflow model registry brought in."""

from registry_backends._open import known_schemes, open_registry, register_backend
from registry_backends.copy import CopyProgress, CopyReport, copy
from registry_backends.mlflow_import import ImportProgress, ImportReport, import_mlflow
from registry_backends.package import Package, export_version, import_package, verify_package

__all__ = [
    "CopyProgress",
    "CopyReport",
    "ImportProgress",
    "ImportReport",
    "Package",
    "copy",
    "export_version",
    "import_mlflow",
    "import_package",
    "known_schemes",
    "open_registry",
    "register_backend",
    "verify_package",
]
