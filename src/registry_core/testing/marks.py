"""Re-binding an inherited test with a mark, without touching the base class.

``pytest.mark.xfail(...)(Base.test_x)`` stores the mark on the function object itself,
which every other subclass shares, so one backend's opt-out would silently apply to all.
`rebind` marks a thin copy instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

__all__ = ["rebind"]


def rebind(test: Callable[..., Any], *marks: pytest.MarkDecorator) -> Callable[..., Any]:
    """A copy of the inherited ``test`` carrying ``marks``; the original stays unmarked."""

    @functools.wraps(test)
    def copy(*args: Any, **kwargs: Any) -> Any:
        return test(*args, **kwargs)

    marked: Callable[..., Any] = copy
    for mark in marks:
        marked = mark(marked)
    return marked
