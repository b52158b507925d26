"""The suite's own hypothesis profiles, so that a backend's project needs none of its own.

Two profiles are registered when `registry_core.testing` is imported: ``modelreg-quick``
(a few seconds per backend) and ``modelreg-thorough`` (minutes: for CI or a nightly run).
The environment variable ``MODELREG_CONFORMANCE_PROFILE`` chooses one (``quick`` or
``thorough``). Without it the suite follows the profile the project loaded itself
(``settings.load_profile("ci")`` in its conftest), and hypothesis's untouched
``default`` counts as none loaded, so the suite runs quick. The suite never loads a
profile: the project's own property tests keep theirs either way. A test class's
``state_machine_settings`` overrides all of this.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["ENVIRONMENT_VARIABLE", "QUICK", "THOROUGH", "suite_settings"]

ENVIRONMENT_VARIABLE = "MODELREG_CONFORMANCE_PROFILE"
QUICK = "modelreg-quick"
THOROUGH = "modelreg-thorough"


def _register(name: str, examples: int, steps: int) -> None:
    """Storage is slow and uneven next to pure code: no deadline, no too-slow check."""
    settings.register_profile(
        name,
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


_register(QUICK, examples=40, steps=50)
_register(THOROUGH, examples=300, steps=100)


def _active_profile() -> str | None:
    """The name of the profile hypothesis has loaded (``default`` until one is)."""
    current = getattr(settings, "get_current_profile_name", None)  # hypothesis >= 6.131
    name = current() if current is not None else getattr(settings, "_current_profile", None)
    return name if isinstance(name, str) else None


def suite_settings() -> settings:
    """The settings for the suite's hypothesis tests, as the module docstring chooses them.

    Raises `ValueError` naming the choices when the environment variable holds another.
    """
    chosen = os.environ.get(ENVIRONMENT_VARIABLE, "").strip().lower()
    if chosen:
        name = chosen if chosen.startswith("modelreg-") else f"modelreg-{chosen}"
        if name not in (QUICK, THOROUGH):
            raise ValueError(f"{ENVIRONMENT_VARIABLE}={chosen!r}: choose quick or thorough")
        return settings.get_profile(name)
    if _active_profile() in (None, "default"):
        return settings.get_profile(QUICK)
    active = settings()
    checks = {*active.suppress_health_check, HealthCheck.too_slow}
    return settings(active, deadline=None, suppress_health_check=sorted(checks, key=str))
