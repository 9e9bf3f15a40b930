"""pytest configuration: the hypothesis profile "ci" (derandomised, no deadline), loaded by
default. Warnings are errors (pyproject ``filterwarnings``); ``@pytest.mark.slow`` marks the
statistical tests at size (``python -m pytest -m slow``)."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,      # the same examples on every run and machine
    deadline=None,         # numba compiles on first call; timings are noisy on 2 cores
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci")
