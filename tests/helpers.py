"""Named tolerances and small test utilities (STYLE.md: say which tolerance a test uses)."""

from __future__ import annotations

import contextlib

import numba
import numpy as np

EPS = np.finfo(float).eps

#: rounding: two float64 computations of the same quantity by different but stable
#: algorithms (summation order, QR vs Gram-Schmidt, BLAS kernels) agree to this, relatively
RTOL_ROUNDING = 1e-12

#: Monte Carlo: a sample mean is accepted within this many standard errors of its
#: expectation (plus any finite-size bias the test states)
K_SE = 4.0


@contextlib.contextmanager
def num_threads(n):
    """Run the block with ``numba.set_num_threads(n)`` (restored afterwards).

    ``sample_spectrum``/``sample_lognorm`` pick the serial kernels when one thread is set,
    the parallel ones otherwise.
    """
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(old)


#: the parallel kernels can be run with this many threads on this machine
MAX_THREADS = numba.config.NUMBA_NUM_THREADS


def assert_mc_close(mean, stderr, expected, *, k=K_SE, bias=0.0, what=""):
    """|mean - expected| <= k * stderr + bias (Monte Carlo tolerance plus a stated bias)."""
    mean, stderr, expected = map(np.asarray, (mean, stderr, expected))
    tol = k * stderr + bias
    bad = np.abs(mean - expected) > tol
    assert not bad.any(), (
        f"{what}: sampled {mean} vs expected {expected}; |diff| {np.abs(mean - expected)} "
        f"> {k} SE + bias = {tol}")


def figure_module(stem):
    """A figure script (figures/<stem>.py) loaded as the CLI loads it."""
    from rmtchain.cli import _load_module, figures_dir

    return _load_module(figures_dir() / f"{stem}.py")


def quick_figure_data(stems):
    """{stem: (module, compute(quick=True) with the seed the CLI uses)}."""
    out = {}
    for stem in stems:
        mod = figure_module(stem)
        out[stem] = (mod, mod.compute(True, np.random.default_rng(mod.SEED)))
    return out
