"""`kill_points`: which kills the crash tests try, at a stride of 1 and of 2."""

from __future__ import annotations

import pytest

from registry_core.testing.crash_tests import kill_points


def tried(stride: int, writes: int) -> list[int]:
    """The ks tried for an operation of ``writes`` storage writes."""
    seen: list[int] = []

    def attempt(k: int) -> bool:
        seen.append(k)
        return k >= writes  # past its last write: it finished

    kill_points(stride, attempt)
    return seen


@pytest.mark.parametrize("writes", [1, 2, 5, 6])
def test_stride_one_tries_every_kill_and_then_the_finished_run(writes: int) -> None:
    assert tried(1, writes) == list(range(writes + 1))


@pytest.mark.parametrize(
    ("writes", "expected"),
    [
        (5, [0, 2, 4, 6, 5]),  # 6 finishes; 5 (also finished) is not skipped silently
        (6, [0, 2, 4, 6, 5]),  # 5: the kill before the last write
        (7, [0, 2, 4, 6, 8, 7]),
        (1, [0, 2, 1]),
    ],
)
def test_stride_two_tries_every_other_kill_and_always_the_one_before_the_last_write(
    writes: int, expected: list[int]
) -> None:
    assert tried(2, writes) == expected
    assert writes - 1 in expected  # the kill before the last write is always tried


def test_a_stride_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="kill_stride"):
        kill_points(0, lambda k: True)


def test_an_operation_that_never_finishes_fails_the_test() -> None:
    with pytest.raises(AssertionError, match="more than 200 storage writes"):
        kill_points(1, lambda k: False)
