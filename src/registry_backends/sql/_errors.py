"""The one place where database driver errors become registry errors.

`translate` turns SQLAlchemy's and the drivers' exceptions into the `RegistryError`
tree: a constraint the code did not expect (an integrity error) is a `Conflict` (another
writer got there), everything else a `BackendError`. `db_errors` applies it to a block;
callers chain the original with ``from``. Messages name the operation and the driver's
reason, never the URL, and any password the caller gave is scrubbed from the reason.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import exc

from registry_core.errors import BackendError, Conflict, RegistryError

__all__ = ["db_errors", "reason", "translate"]

_MAX_REASON = 300


def reason(error: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """The driver's own message, first line, shortened, with ``secrets`` masked."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines() or [type(cause).__name__]
    text = f"{type(cause).__name__}: {lines[0]}"
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def _is_integrity(error: BaseException) -> bool:
    """SQLAlchemy's IntegrityError, or a driver's (PEP 249 names the class so)."""
    cause = getattr(error, "orig", None) or error
    return isinstance(error, exc.IntegrityError) or any(
        cls.__name__ == "IntegrityError" for cls in type(cause).__mro__
    )


def translate(error: BaseException, doing: str, secrets: tuple[str, ...] = ()) -> RegistryError:
    """The registry error for a database error raised while ``doing``."""
    if _is_integrity(error):
        return Conflict(
            f"{doing}: the database refused the write ({reason(error, secrets)}); "
            "another writer probably got there first"
        )
    return BackendError(f"{doing} failed: {reason(error, secrets)}")


@contextlib.contextmanager
def db_errors(doing: str, secrets: tuple[str, ...] = ()) -> Iterator[None]:
    """Map database errors raised inside the block; ``doing`` says what was attempted."""
    try:
        yield
    except RegistryError:
        raise
    except exc.SQLAlchemyError as error:
        raise translate(error, doing, secrets) from error
