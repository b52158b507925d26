"""Hypothesis profiles: a quick default for developers, a longer ``ci`` profile.

Pick one with ``HYPOTHESIS_PROFILE=ci`` (``.ci/run`` does).

Also a short summary of the skipped tests, counted by reason, in place of pytest's list of
each one (``addopts`` leaves ``s`` out of ``-r``; ``pytest -ra`` or ``-rs`` lists them again).
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, settings

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
    max_examples=150,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


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
