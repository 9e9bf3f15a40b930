"""pytest configuration: the hypothesis profile "ci" (derandomised, no deadline), loaded by
default; HYPOTHESIS_PROFILE=thorough runs 400 random examples per test. Warnings are
errors (pyproject ``filterwarnings``); ``@pytest.mark.slow`` marks the statistical tests
at size (``python -m pytest -m slow``)."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,      # the same examples on every run and machine
    deadline=None,         # numba compiles on first call; timings are noisy on 2 cores
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", parent=settings.get_profile("ci"), derandomize=False,
                          max_examples=400)

settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
