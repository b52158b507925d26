"""`ACCESS_SAMPLE` stands for the whole permission matrix, and a backend's class picks
the cells its walk runs."""

from __future__ import annotations

import pytest

from registry_core.permissions import Visibility
from registry_core.testing.access_tests import (
    ACCESS_SAMPLE,
    CALLERS,
    MATRIX,
    Access,
    expected,
)


def _answers(who: str, visibility: Visibility) -> tuple[bool, ...]:
    role = CALLERS[who][1]
    return tuple(expected(access, role, visibility, True) for access in Access)


def test_the_sample_gives_every_kind_of_answer_the_matrix_gives() -> None:
    assert {_answers(*cell) for cell in ACCESS_SAMPLE} == {_answers(*cell) for cell in MATRIX}
    assert len(set(ACCESS_SAMPLE)) == len(ACCESS_SAMPLE)


_BACKEND = """
from registry_core import MemoryRepository
from registry_core.testing import ACCESS_SAMPLE, AccessContractTests
from registry_core.permissions import Visibility

class TestAll(AccessContractTests):
    def make_repository(self):
        return MemoryRepository()

class TestSample(TestAll):
    access_cells = ACCESS_SAMPLE

class TestBad(TestAll):
    access_cells = CELLS
"""


@pytest.mark.parametrize(
    ("cells", "error"),
    [('[("root", Visibility.PUBLIC)]', "root"), ("[]", "must be cells of MATRIX")],
)
def test_the_walk_runs_the_cells_a_class_names(
    pytester: pytest.Pytester, cells: str, error: str
) -> None:
    pytester.makepyfile(test_backend=_BACKEND.replace("CELLS", cells))
    result = pytester.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider")
    walked = [line for line in result.outlines if "every_call_is_allowed" in line]
    assert sum("TestAll::" in line for line in walked) == len(MATRIX) == 14
    sample = [line.split("[")[1].rstrip("]") for line in walked if "TestSample::" in line]
    assert sample == [f"{who}-{visibility.value}" for who, visibility in ACCESS_SAMPLE]
    assert not [line for line in walked if "TestBad::" in line]
    result.stdout.fnmatch_lines([f"*{error}*"])
