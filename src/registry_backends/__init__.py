"""Storage backends for modelreg, chosen by URL: ``open_registry("memory://")``; and
``copy(src, dst)``, a whole registry from one backend to another."""

from registry_backends._open import known_schemes, open_registry, register_backend
from registry_backends.copy import CopyProgress, CopyReport, copy

__all__ = [
    "CopyProgress",
    "CopyReport",
    "copy",
    "known_schemes",
    "open_registry",
    "register_backend",
]
