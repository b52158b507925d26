"""Hypothesis profiles: a quick default for developers, a longer ``ci`` profile.

Pick one with ``HYPOTHESIS_PROFILE=ci`` (``.ci/run`` does).

Also a short summary of the skipped tests, counted by reason, in place of pytest's list of
each one (``addopts`` leaves ``s`` out of ``-r``; ``pytest -ra`` or ``-rs`` lists them again).

And CI honesty: when ``CI`` is set, a test, fixture, module or conftest that skips because
something it needs is missing fails instead. Such a skip is one raised by
``pytest.importorskip`` or by ``needs.need``/``needs.need_module`` (a `needs.Missing`);
both are caught as tests run and as modules are collected. Other skips (``pytest.skip``
for a case that does not apply, ``skip``/``skipif`` marks) stay skips.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Generator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from needs import Missing, in_ci

pytest_plugins = ["pytester"]  # for tests/test_skip_summary.py

settings.register_profile(
    "default",
    max_examples=40,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=75,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


_IMPORTORSKIP = pytest.importorskip.__code__


def _missing(excinfo: pytest.ExceptionInfo[BaseException] | None) -> str | None:
    """The reason of a skip for something missing (see the module's doc), else None."""
    if excinfo is None or not isinstance(excinfo.value, pytest.skip.Exception):
        return None
    if isinstance(excinfo.value, Missing):
        return excinfo.value.msg
    if any(entry.frame.code.raw is _IMPORTORSKIP for entry in excinfo.traceback):
        return f"pytest.importorskip: {excinfo.value.msg}"
    return None


def _ci_failure(reason: str) -> str:
    return (
        f"{reason}\nCI={os.environ.get('CI')!r}: in CI a test may not skip because something "
        "it needs is missing; .ci/run must install or start it (without CI it is a skip)"
    )


class _MissingFailsInCI:
    """The hooks that judge skips. A plugin, not conftest hooks: pytest asks a folder's
    conftest hooks for its collect report before it has loaded them, and forgets every
    conftest for a folder whose conftest.py did not load, so conftest hooks never see a
    folder whose conftest.py skips as it is imported. A plugin sees every report."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        reason = _missing(call.excinfo) if report.skipped else None
        if reason is not None:
            report.outcome = "failed"
            report.longrepr = _ci_failure(reason)
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        """A module or a folder's conftest.py that skips as it is imported."""
        report = yield
        call: pytest.CallInfo[object] | None = getattr(report, "call", None)
        reason = _missing(call.excinfo) if call and report.skipped else None
        if reason is not None:
            report.outcome = "failed"
            report.longrepr = _ci_failure(reason)
        return report


def pytest_configure(config: pytest.Config) -> None:
    if in_ci():
        config.pluginmanager.register(_MissingFailsInCI(), "modelreg-missing-fails-in-ci")


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # (path, line, "Skipped: reason")
        return longrepr[2].removeprefix("Skipped: ")
    return str(longrepr)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """``skipped N tests`` and one line per distinct reason with its count, unless pytest
    lists the skips itself (``-rs``/``-ra``) or prints no summary (``--no-summary``)."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped or terminalreporter.hasopt("skipped") or config.option.no_summary:
        return
    reasons = Counter(_skip_reason(report) for report in skipped)
    noun = "test" if len(skipped) == 1 else "tests"
    terminalreporter.ensure_newline()
    terminalreporter.section("skipped tests", sep="=")
    terminalreporter.write_line(f"skipped {len(skipped)} {noun} (pytest -ra lists each one):")
    width = len(str(max(reasons.values())))
    for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0])):
        terminalreporter.write_line(f"  {count:>{width}} \N{MULTIPLICATION SIGN} {reason}")
    if any("MODELREG_TEST_" in reason for reason in reasons):
        terminalreporter.write_line(
            'throwaway database servers for them: eval "$(scripts/test-servers start)"'
        )


# -- an MLflow store to import from (tests/mlflow_source.py) -----------------------------


@pytest.fixture(scope="module")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store `mlflow_source.build_store` makes, once per test module that uses it."""
    from mlflow_source import build_store

    folder = tmp_path_factory.mktemp("mlflow")
    build_store(folder)
    return folder


@pytest.fixture
def mlflow_store(mlflow_template: Path, tmp_path: Path) -> str:
    """The URI of a test's own copy of that store (a test may add versions to it)."""
    from mlflow_source import copy_store

    return copy_store(mlflow_template, tmp_path / "mlflow")
