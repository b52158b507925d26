"""What a test needs that may be missing here: a package, a program, a server, a browser.

`need` (and `need_module`) skip the calling test, fixture or module with a `Missing` skip.
On a laptop that is a skip like any other. When ``CI`` is set, tests/conftest.py turns every
`Missing` skip, and every skip raised by ``pytest.importorskip``, into a failure: CI
installs and starts everything the suite needs, so a test that cannot run there is a fault
of CI, not a reason to pass quietly. Skips by design (``pytest.skip("...")`` for a case
that does not apply, ``skip``/``skipif`` marks) stay skips everywhere.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest

__all__ = ["Missing", "in_ci", "need", "need_module"]


class Missing(pytest.skip.Exception):
    """A skip because something the test needs is not there; a failure under ``CI``.

    Reported as ``Missing: <what> (<how>)``, as pytest's own skips are ``Skipped: ...``.
    """

    __module__ = "builtins"  # as pytest does for Skipped: "Missing: ...", not "needs.Missing"


def in_ci() -> bool:
    """``CI`` is set to anything but an empty string, ``0``, ``false`` or ``no``."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def need(what: str, how: str) -> NoReturn:
    """Skip (fail under ``CI``): ``what`` is missing, ``how`` says how to get it."""
    __tracebackhide__ = True
    raise Missing(f"{what} ({how})", allow_module_level=True)


def need_module(name: str, how: str) -> ModuleType:
    """``import name``, or skip (fail under ``CI``) when it cannot be imported."""
    __tracebackhide__ = True
    try:
        return importlib.import_module(name)
    except ImportError as error:
        need(f"the package {name}", f"{how}; import said: {error}")
