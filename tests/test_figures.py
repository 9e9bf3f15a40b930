"""Figures of issue 3: psg_densities, depth_moments, fuss_catalan, order_chaos.

Each figure's quick compute must pass its own agreement checks (which compare samples with
independent theory: see each module's docstring), ``plot`` must return a Figure from the
data alone, and each agreement must fail on data that contradicts the theory (a check that
cannot fail is a defect). The figures' KS distances come from ``rmtchain.ks_distance``
(tested in tests/test_compare.py against scipy.stats.kstest, a brute-force supremum and
hand-computed cases); the exact zero-fraction law is checked here against a NumPy Monte Carlo.
"""

from __future__ import annotations

import copy
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.figure  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import rmtchain  # noqa: E402
from helpers import figure_module, quick_figure_data  # noqa: E402
from rmtchain.laws import FussCatalan  # noqa: E402

NAMES = ("fig_psg_densities", "fig_depth_moments", "fig_fuss_catalan", "fig_order_chaos")


_module = figure_module


@pytest.fixture(scope="module")
def quick_data():
    """compute(quick=True) once per figure, with the seed the CLI uses."""
    return quick_figure_data(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_quick_agreement_passes(quick_data, name):
    mod, data = quick_data[name]
    met = mod.agreement(data)
    assert met["passed"], met.get("summary")
    assert isinstance(met["summary"], str) and met["summary"]


@pytest.mark.parametrize("name", NAMES)
def test_plot_returns_figure_from_data(quick_data, name):
    mod, data = quick_data[name]
    fig = mod.plot(copy.deepcopy(data))
    try:
        assert isinstance(fig, matplotlib.figure.Figure)
        assert fig.axes
    finally:
        plt.close(fig)


# ----------------------------------------------------------------------------- can fail


def test_psg_agreement_fails_against_a_wrong_prediction(quick_data):
    """KS of sampled tanh spectra against the prediction for the *other* weight ensemble
    (same phi, q*, depth) exceeds the threshold: the check resolves orthogonal vs Gaussian."""
    mod, data = quick_data["fig_psg_densities"]
    d = data["settings"]["tanh_q0p5_orthogonal_L8"]
    wrong = rmtchain.Chain.critical(8, int(d["width"]), phi="tanh", weights="gaussian",
                                    q_star=0.5)
    lam = np.asarray(d["eigenvalues"])
    pcdf = mod.PredictedCdf(rmtchain.predict_spectrum(wrong), float(lam[lam > 0].min()))
    ks = rmtchain.ks_distance(lam, pcdf.cdf, atoms=pcdf.atoms)
    assert ks > float(d["ks_threshold"])
    bad = copy.deepcopy(data)
    bad["settings"]["tanh_q0p5_orthogonal_L8"]["ks"] = ks
    assert not mod.agreement(bad)["passed"]


def test_psg_agreement_fails_on_wrong_zero_fraction(quick_data):
    mod, data = quick_data["fig_psg_densities"]
    bad = copy.deepcopy(data)
    d = bad["settings"]["relu_q0p5_gaussian_L8"]
    d["zero_fraction"] = np.asarray(d["zero_fraction"]) * 0.0 + 0.5 - 0.1  # too few zeros
    assert not mod.agreement(bad)["passed"]


def test_depth_moments_agreement_fails_on_wrong_theory(quick_data):
    """Doubling the variance line, or dropping s_1 (orthogonal formula for Gaussian weights),
    is detected."""
    mod, data = quick_data["fig_depth_moments"]
    bad = copy.deepcopy(data)
    d = bad["settings"]["tanh_q0p5_gaussian"]
    d["var_theory"] = np.asarray(d["var_theory"]) * 2.0
    assert not mod.agreement(bad)["passed"]
    bad = copy.deepcopy(data)
    d = bad["settings"]["relu_q0p5_gaussian"]
    L = np.asarray(bad["depths"], dtype=float)
    d["var_theory"] = np.asarray(d["var_theory"]) - L   # s_1 = 0 instead of 1
    d["var_closed_form"] = d["var_theory"]
    assert not mod.agreement(bad)["passed"]


def test_depth_moments_closed_form_is_independent_of_the_series():
    """L (mu_2/mu_1^2 - 1 + s_1) with mu_k from mean_field equals the S-transform series
    (quadrature tolerance 1e-8 relative) for hardtanh, a phi not in the figure."""
    mod = _module("fig_depth_moments")
    chain = rmtchain.Chain.critical(5, 50, phi="hardtanh", weights="gaussian", q_star=0.5)
    m = rmtchain.predict_spectrum(chain).moments(2)
    vc = mod.closed_form_var("hardtanh", chain.sigma_w, chain.sigma_b, chain.q_input,
                             "gaussian", 5)
    assert abs(vc / (m[1] / m[0] ** 2 - 1.0) - 1.0) < 1e-8


def test_fuss_catalan_agreement_fails_on_wrong_law(quick_data):
    """Samples of depth 2 against the depth-1 law (Marchenko-Pastur), and a 50% scale error
    (the quick size resolves KS to ~0.08: a 10% scale error moves KS by only ~0.03)."""
    mod, data = quick_data["fig_fuss_catalan"]
    d = data["L2"]
    assert rmtchain.ks_distance(d["eigenvalues"], FussCatalan(1).cdf) > float(d["ks_threshold"])
    bad = copy.deepcopy(data)
    bad["L2"]["ks"] = rmtchain.ks_distance(1.5 * np.asarray(d["eigenvalues"]), FussCatalan(2).cdf)
    assert not mod.agreement(bad)["passed"]
    bad = copy.deepcopy(data)
    bad["L2"]["edge"] = 4.0                    # the Marchenko-Pastur edge instead of 27/4
    assert not mod.agreement(bad)["passed"]


def test_order_chaos_agreement_fails_on_shifted_line(quick_data):
    mod, data = quick_data["fig_order_chaos"]
    bad = copy.deepcopy(data)
    bad["line_sigma_w2"] = np.asarray(bad["line_sigma_w2"]) * 1.02
    assert not mod.agreement(bad)["passed"]
    bad = copy.deepcopy(data)
    bad["published_sigma_w"] = float(bad["published_sigma_w"]) + 2e-4
    assert not mod.agreement(bad)["passed"]


# ----------------------------------------------------------------------------- helpers


@pytest.mark.parametrize("name", ["fig_psg_densities", "fig_fuss_catalan", "fig_saxe_products"])
def test_figures_use_the_library_ks_distance(name):
    """One KS implementation (rmtchain.ks_distance): no figure carries its own copy."""
    mod = _module(name)
    assert not hasattr(mod, "ks_distance")
    assert "rmtchain.ks_distance(" in Path(mod.__file__).read_text(encoding="utf-8")


def test_zero_fraction_against_numpy_monte_carlo():
    """Exact law of 1 - min_l K_l / n against 200000 NumPy draws (Monte Carlo: 5 s.e.)."""
    mod = _module("fig_psg_densities")
    n, L, p = 40, 7, 0.5
    mean, sd = mod.zero_fraction(n, L, p)
    rng = np.random.default_rng(3)
    K = rng.binomial(n, p, size=(200_000, L)).min(axis=1)
    mc = 1.0 - K / n
    assert abs(mc.mean() - mean) <= 5 * mc.std() / np.sqrt(mc.size)
    assert abs(mc.std() - sd) <= 0.01 * sd
