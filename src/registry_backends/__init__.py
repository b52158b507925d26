"""Storage backends for modelreg, chosen by URL: ``open_registry("memory://")``."""

from registry_backends._open import known_schemes, open_registry, register_backend

__all__ = ["known_schemes", "open_registry", "register_backend"]
