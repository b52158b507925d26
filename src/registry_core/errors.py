"""The one error tree of modelreg.

Every error a registry raises derives from `RegistryError`, and each also derives from
the builtin that fits it, so callers can catch either::

    RegistryError
    ├── NotFound (LookupError)               a model, version, artifact... does not exist
    ├── AlreadyExists                        create-if-absent lost: the thing is there
    ├── Conflict                             a compare-and-swap lost to another writer
    ├── InvalidInput (ValueError)            input that no call could accept
    │   ├── InvalidName                      a model or alias name breaks the name rules
    │   ├── InvalidVersion                   not a SemVer 2.0.0 version, range or bump
    │   └── InvalidPath                      an artifact path breaks the path rules
    ├── PermissionDenied (PermissionError)   the actor's role does not allow the action
    ├── IllegalTransition                    the version's state does not allow the call
    ├── IntegrityError                       stored bytes do not match their SHA-256
    ├── BackendError (OSError)               the storage failed in a way no rule explains
    │   └── BackendNotInstalled (ImportError-like hint: which extra to install)
    └── SchemaError                          stored data written by a newer modelreg

Messages name the thing and the rule that refused it.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "BackendError",
    "BackendNotInstalled",
    "Conflict",
    "IllegalTransition",
    "IntegrityError",
    "InvalidInput",
    "InvalidName",
    "InvalidPath",
    "InvalidVersion",
    "NotFound",
    "PermissionDenied",
    "RegistryError",
    "SchemaError",
]


class RegistryError(Exception):
    """Root of every error modelreg raises on purpose."""


class NotFound(RegistryError, LookupError):
    """The named model, version, alias, artifact or document does not exist."""


class AlreadyExists(RegistryError):
    """A create-if-absent found the thing already there (one winner, the rest get this)."""


class Conflict(RegistryError):
    """Another writer changed the document between our read and our write."""


class InvalidInput(RegistryError, ValueError):
    """Input that breaks a rule of the domain (a size, a key, a value, a token)."""


class InvalidName(InvalidInput):
    """A model name or alias name breaks the name rules."""


class InvalidVersion(InvalidInput):
    """Not a strict SemVer 2.0.0 version, or not a valid range or bump."""


class InvalidPath(InvalidInput):
    """An artifact path or subfolder breaks the path rules."""


class PermissionDenied(RegistryError, PermissionError):
    """The actor's role, the visibility or the enabled flag forbids the action."""


class IllegalTransition(RegistryError):
    """The version's lifecycle state does not allow the requested change."""


class IntegrityError(RegistryError):
    """Bytes read back do not match the size or SHA-256 recorded for them."""


class BackendError(RegistryError, OSError):
    """The storage failed in a way the domain rules do not explain."""


class BackendNotInstalled(BackendError):
    """The driver for a backend is not installed; the message names the extra."""


class SchemaError(RegistryError):
    """Stored data uses a schema this version of modelreg does not know."""
