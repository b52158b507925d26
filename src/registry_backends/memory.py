"""``memory://``: the in-memory reference repository, one per ``memory://name``.

Opening the same ``memory://name`` twice in one process gives the same storage, so a
test can open a registry by URL and look at it again; plain ``memory://`` is always new.
"""

from __future__ import annotations

import threading
from typing import Any

from registry_core import MemoryRepository
from registry_core.errors import InvalidInput

__all__ = ["open_memory"]

_named: dict[str, MemoryRepository] = {}
_lock = threading.Lock()


def open_memory(url: str, **options: Any) -> MemoryRepository:
    if options:
        raise InvalidInput(f"memory:// takes no options, got {', '.join(sorted(options))}")
    name = url.partition("://")[2]
    if not name:
        return MemoryRepository()
    with _lock:
        return _named.setdefault(name, MemoryRepository())
