"""The core stays free of storage I/O, and every module's __all__ tells the truth."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import registry_core

DRIVERS = (
    "fsspec",
    "s3fs",
    "gcsfs",
    "sqlalchemy",
    "boto3",
    "botocore",
    "aiobotocore",
    "google.cloud",
)


def test_importing_registry_core_loads_no_storage_driver() -> None:
    code = (
        "import sys, registry_core, registry_core.registry, registry_core.memory\n"
        f"print(' '.join(m for m in {DRIVERS!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


MODULES = [m.name for m in pkgutil.walk_packages(registry_core.__path__, "registry_core.")]


@pytest.mark.parametrize("name", MODULES)
def test_every_name_in_all_exists(name: str) -> None:
    module = importlib.import_module(name)
    for public in getattr(module, "__all__", []):
        assert hasattr(module, public), f"{name}.__all__ lists {public!r}, which is missing"


def test_the_package_exports_every_public_name_of_its_modules() -> None:
    exported = set(registry_core.__all__)
    for name in ("errors", "entities", "lifecycle", "names", "paths", "versions"):
        module = importlib.import_module(f"registry_core.{name}")
        missing = set(module.__all__) - exported - {"BumpPart", "check_transition"}
        assert not missing, f"registry_core does not export {sorted(missing)} from {name}"
