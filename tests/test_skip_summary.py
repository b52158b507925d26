"""tests/conftest.py's summary of skipped tests, run on a small generated suite with the
project's ``addopts``."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")
NEEDS = Path(__file__).with_name("needs.py")  # conftest.py imports it
TIMES = "\N{MULTIPLICATION SIGN}"

SUITE = """
import pytest

@pytest.mark.parametrize("n", range(3))
def test_needs_a_server(n):
    pytest.skip("no server")

@pytest.mark.skip(reason="not today")
def test_marked():
    pass

@pytest.mark.skipif(True, reason="not today")
def test_conditional():
    pass

@pytest.fixture
def database():
    pytest.skip("set MODELREG_TEST_POSTGRES_URL to run them")

def test_with_a_fixture(database):
    pass

def test_runs():
    pass
"""

OFF = """
import pytest
pytest.skip("this whole module is off", allow_module_level=True)
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, pytestconfig: pytest.Config) -> pytest.Pytester:
    pytester.makeini("[pytest]\naddopts = " + " ".join(pytestconfig.getini("addopts")))
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makepyfile(needs=NEEDS.read_text(encoding="utf-8"))
    pytester.makepyfile(test_suite=SUITE, test_off=OFF)
    return pytester


def test_skips_are_counted_by_reason_instead_of_listed(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=7)
    result.stdout.fnmatch_lines(
        [
            "*= skipped tests =*",
            "skipped 7 tests (pytest -ra lists each one):",
            f"  3 {TIMES} no server",
            f"  2 {TIMES} not today",
            f"  1 {TIMES} set MODELREG_TEST_POSTGRES_URL to run them",
            f"  1 {TIMES} this whole module is off",
            'throwaway database servers for them: eval "$(scripts/test-servers start)"',
            "*= 1 passed, 7 skipped in *",
        ]
    )
    result.stdout.no_fnmatch_line("SKIPPED*")


@pytest.mark.parametrize("chars", ["-ra", "-rs", "-rA"])
def test_asking_for_the_list_shows_pytests_own_and_no_summary(
    suite: pytest.Pytester, chars: str
) -> None:
    result = suite.runpytest("-p", "no:cacheprovider", chars)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED [[]1[]] test_off.py:*: this whole module is off",
            "SKIPPED [[]3[]] test_suite.py:*",
        ]
    )
    result.stdout.no_fnmatch_line("*skipped tests*")


def test_no_skips_no_section(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makepyfile(needs=NEEDS.read_text(encoding="utf-8"))
    pytester.makepyfile("def test_runs():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-rfExX")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*skipped*")


def test_one_skip_is_one_test(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-p", "no:cacheprovider", "test_off.py")
    result.stdout.fnmatch_lines(["skipped 1 test (pytest -ra lists each one):"])
    result.stdout.no_fnmatch_line("throwaway database servers*")
