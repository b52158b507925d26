"""tests/conftest.py under ``CI``: a skip for something missing fails, a skip by design
stays a skip. Run on small generated suites with the project's conftest and ``needs.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent

MODULE_LEVEL = """
import pytest
pytest.importorskip("no_such_module")

def test_never_collected():
    pass
"""

PER_TEST = """
import pytest
from needs import need, need_module

@pytest.fixture
def server():
    need("the frobnicator server", "start it with frob --serve")

def test_importorskip_in_a_test():
    pytest.importorskip("no_such_module", reason="an optional extra")

def test_need_module():
    need_module("no_such_module", "pip install no-such-module")

def test_a_fixture_needs_a_server(server):
    pass

def test_by_design():
    pytest.skip("this file system normalises file names itself")

@pytest.mark.skip(reason="not today")
def test_marked():
    pass

@pytest.mark.skipif(True, reason="not on this platform")
def test_conditional():
    pass

@pytest.mark.xfail(reason="known bug", strict=True)
def test_expected_failure():
    assert False

def test_runs():
    pytest.importorskip("pytest")
"""

CONFTEST_LEVEL = """
import pytest
pytest.importorskip("no_such_module")
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, pytestconfig: pytest.Config) -> pytest.Pytester:
    pytester.makeini("[pytest]\naddopts = " + " ".join(pytestconfig.getini("addopts")))
    pytester.makeconftest((HERE / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(needs=(HERE / "needs.py").read_text(encoding="utf-8"))
    pytester.makepyfile(test_module_level=MODULE_LEVEL, test_per_test=PER_TEST)
    sub = pytester.mkpydir("sub")  # a folder whose conftest needs a package
    (sub / "__init__.py").unlink()
    (sub / "conftest.py").write_text(CONFTEST_LEVEL, encoding="utf-8")
    (sub / "test_in_sub.py").write_text("def test_in_sub():\n    pass\n", encoding="utf-8")
    return pytester


def _run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:xdist", *args)


@pytest.mark.parametrize("ci", ["true", "1"])
def test_under_ci_a_missing_dependency_fails(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    result = _run(suite, "-rfEs", "--continue-on-collection-errors")
    # 2 tests fail, a fixture's need is an error in setup, and the module-level and
    # conftest-level importorskips are errors in collection
    result.assert_outcomes(passed=1, failed=2, skipped=3, errors=3, xfailed=1)
    result.stdout.fnmatch_lines_random(
        [
            "FAILED test_per_test.py::test_importorskip_in_a_test*",
            "FAILED test_per_test.py::test_need_module*",
            "ERROR test_per_test.py::test_a_fixture_needs_a_server*",
            "ERROR test_module_level.py*",
            "ERROR sub*",
            "*pytest.importorskip: could not import 'no_such_module'*",
            "*pytest.importorskip: an optional extra*",
            "*the package no_such_module (pip install no-such-module; import said:*",
            "*the frobnicator server (start it with frob --serve)*",
            f"*CI='{ci}': in CI a test may not skip because something it needs is missing*",
            "SKIPPED*this file system normalises file names itself",
            "SKIPPED*not today",
            "SKIPPED*not on this platform",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_under_ci_a_missing_module_stops_the_run_at_collection(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    result = _run(suite)
    result.stdout.fnmatch_lines(["*Interrupted: 2 errors during collection*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_without_ci_they_skip_and_the_summary_counts_them(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    result = _run(suite)
    result.assert_outcomes(passed=1, skipped=8, xfailed=1)
    result.stdout.fnmatch_lines_random(
        [
            "skipped 8 tests (pytest -ra lists each one):",
            "*2 \N{MULTIPLICATION SIGN} could not import 'no_such_module'*",
            "*1 \N{MULTIPLICATION SIGN} an optional extra",
            "*1 \N{MULTIPLICATION SIGN} Missing: the frobnicator server (start it with *",
            "*1 \N{MULTIPLICATION SIGN} Missing: the package no_such_module (pip install *",
        ]
    )
    assert result.ret == 0
