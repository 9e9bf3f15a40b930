"""Figures of issue 4 (finite width): fig_norm_decay, fig_width_depth_phase,
fig_lyapunov_crossover.

Each figure's quick compute must pass its own agreement checks (samples against independent
theory: see each module's docstring), ``plot`` must return a Figure from the data alone (also
after the CLI's npz round trip), and each agreement must fail on a wrong prediction (a wrong
c, a wrong atom, a wrong law or a wrong Lyapunov exponent): a check that cannot fail is a
defect. Helpers are checked against independent closed forms (scipy).
"""

from __future__ import annotations

import copy
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.figure  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import integrate, special, stats  # noqa: E402

import rmtchain  # noqa: E402
from helpers import figure_module, quick_figure_data  # noqa: E402
from rmtchain.cli import _flatten, _unflatten  # noqa: E402
from rmtchain.laws import FussCatalan  # noqa: E402

NAMES = ("fig_norm_decay", "fig_width_depth_phase", "fig_lyapunov_crossover")


_module = figure_module


@pytest.fixture(scope="module")
def quick_data():
    """compute(quick=True) once per figure, with the seed the CLI uses."""
    return quick_figure_data(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_module_protocol(name):
    mod = _module(name)
    for attr in ("SEED", "TITLE", "EQUATION", "parameters", "compute", "agreement", "plot"):
        assert hasattr(mod, attr), attr
    assert mod.parameters(True) != mod.parameters(False)


@pytest.mark.parametrize("name", NAMES)
def test_quick_agreement_passes(quick_data, name):
    mod, data = quick_data[name]
    met = mod.agreement(data)
    assert met["passed"], met.get("summary")
    assert isinstance(met["summary"], str) and met["summary"]


@pytest.mark.parametrize("name", NAMES)
def test_plot_returns_figure_from_reloaded_data(quick_data, name):
    """plot uses only data: it works on the dict the CLI reloads from the npz (0-d arrays,
    string arrays), and agreement gives the same verdict there."""
    mod, data = quick_data[name]
    reloaded = _unflatten(_flatten(copy.deepcopy(data)))
    assert mod.agreement(reloaded)["passed"] == mod.agreement(data)["passed"]
    fig = mod.plot(reloaded)
    try:
        assert isinstance(fig, matplotlib.figure.Figure)
        assert fig.axes
    finally:
        plt.close(fig)


# ----------------------------------------------------------------------------- (a) norm decay


def test_norm_decay_fails_against_a_wrong_c(quick_data):
    """He medians predicted with the linear c = 1 (median log R = -L/n) instead of the exact
    relu law (c = 5/2) are rejected; so is the exact Xavier median shifted by 8 of its
    standard errors at every depth (beyond Z_MAX = 4 plus the sampling noise)."""
    mod, data = quick_data["fig_norm_decay"]
    bad = copy.deepcopy(data)
    for r in mod.REGIMES:
        rec = bad[f"he_{r}"]
        beta = np.asarray(rec["beta"], float)
        for q in mod.QUANTITIES:
            rec[f"{q}_pred_median"] = -1.0 * beta
    assert not mod.agreement(bad)["passed"]
    bad = copy.deepcopy(data)
    rec = bad["xavier_fixed"]
    N = int(bad["samples"])
    se = math.sqrt(0.25 / N) / np.asarray(rec["gradient_pred_pdf_at_median"], float)
    rec["gradient_pred_median"] = np.asarray(rec["gradient_pred_median"], float) + 8.0 * se
    assert not mod.agreement(bad)["passed"]


def test_norm_decay_exact_median_against_scipy_chi2():
    """One linear Gaussian layer: log R = log(chi^2_n / n); its median from scipy's chi2
    against the figure's prediction path (predict_lognorm), inversion error 1e-10."""
    from rmtchain.finitewidth import predict_lognorm

    for n in (4, 32):
        pred = predict_lognorm(rmtchain.Chain(1, n, phi="linear"))
        assert abs(pred.median - math.log(stats.chi2.ppf(0.5, n) / n)) < 1e-10
        # density at the median: change of variables y = n e^x
        x = pred.median
        f = stats.chi2.pdf(n * math.exp(x), n) * n * math.exp(x)
        assert abs(float(pred.pdf(x)) / f - 1.0) < 1e-8


# ----------------------------------------------------------------------------- (b) phase


def test_phase_fails_against_wrong_predictions(quick_data):
    """relu-He against the c = 1 law, linear-orthogonal against R = e^{0.01}, relu-He with
    the atom at zero doubled: each is rejected."""
    mod, data = quick_data["fig_width_depth_phase"]
    depths = np.asarray(data["depths"], float)[:, None]
    widths = np.asarray(data["widths"], float)[None, :]
    bad = copy.deepcopy(data)
    bad["relu_he"]["pred_median"] = -1.0 * depths / widths
    met = mod.agreement(bad)
    assert not met["passed"] and not met["relu_he_passed"]
    bad = copy.deepcopy(data)
    bad["linear_orthogonal"]["pred_median"] = np.asarray(
        bad["linear_orthogonal"]["pred_median"], float) + 0.01
    met = mod.agreement(bad)
    assert not met["passed"] and not met["linear_orthogonal_passed"]
    bad = copy.deepcopy(data)
    a = np.asarray(bad["relu_he"]["pred_atom"], float)
    assert a.max() > 0.1  # the quick grid has cells with a sizeable atom (n = 8, L = 128)
    bad["relu_he"]["pred_atom"] = np.minimum(2.0 * a, 1.0)
    assert not mod.agreement(bad)["relu_he_passed"]


def test_phase_tanh_tolerance_rejects_a_wrong_rate(quick_data):
    """tanh-Xavier with the finite-width part of the median doubled (twice c, i.e. the
    relu-like rate): the looser TANH_REL tolerance still rejects it."""
    mod, data = quick_data["fig_width_depth_phase"]
    bad = copy.deepcopy(data)
    d = bad["tanh_xavier"]
    lmr = np.asarray(d["pred_log_mean_ratio"], float)
    d["pred_median"] = lmr + 2.0 * (np.asarray(d["pred_median"], float) - lmr)
    assert not mod.agreement(bad)["tanh_xavier_passed"]


def test_phase_boundary_check_detects_misclassification(quick_data):
    """A cell whose sampled median is moved across |gap| = tau, far from the predicted one,
    fails; cell_checks marks the boundary flag itself (not only the median)."""
    mod, data = quick_data["fig_width_depth_phase"]
    bad = copy.deepcopy(data)
    d = bad["relu_he"]
    med = np.asarray(d["median"], float).copy()
    lmr = np.asarray(d["pred_log_mean_ratio"], float)
    i, j = len(med) - 1, 0  # deepest, narrowest: far outside
    assert abs(med[i, j] - lmr[i, j]) > 3 * mod.TAU
    med[i, j] = lmr[i, j]
    d["median"] = med
    chk = mod.cell_checks(d, bad["samples"])
    assert not chk["ok_boundary"][i, j] and not chk["ok"][i, j]


# ----------------------------------------------------------------------------- (c) Lyapunov


def _wrong_lyapunov(n):
    """lambda_i with the digamma argument shifted by one half (psi((n - i + 2)/2))."""
    i = np.arange(1, n + 1)
    return 0.5 * (math.log(2.0 / n) + special.digamma((n - i + 2) / 2.0))


def test_lyapunov_fails_against_a_wrong_exponent(quick_data):
    mod, data = quick_data["fig_lyapunov_crossover"]
    bad = copy.deepcopy(data)
    k = next(f"panel{i}" for i in range(len(data["panels"]))
             if data[f"panel{i}"]["depth"] / data[f"panel{i}"]["width"] >= mod.LYAP_GATED)
    bad[k]["lyapunov"] = _wrong_lyapunov(int(bad[k]["width"]))
    assert not mod.agreement(bad)["passed"]


def test_lyapunov_fails_against_a_wrong_free_law(quick_data):
    """At the gated small L/n panels, the cdf of the Fuss-Catalan law of twice the depth at
    the sampled quantiles is rejected."""
    mod, data = quick_data["fig_lyapunov_crossover"]
    bad = copy.deepcopy(data)
    d = bad["panel1"]
    L = int(d["depth"])
    assert L / int(d["width"]) <= mod.FREE_GATED
    x = np.asarray(d["x"], float)
    d["free_cdf_at_sample_quantiles"] = FussCatalan(2 * L).cdf(
        np.exp(2.0 * L * np.quantile(x, mod.LEVELS)))
    assert not mod.agreement(bad)["passed"]


def test_lyapunov_crossover_order_is_checked(quick_data):
    mod, data = quick_data["fig_lyapunov_crossover"]
    bad = copy.deepcopy(data)
    last = f"panel{len(data['panels']) - 1}"
    bad[last]["w1_free"] = 0.0
    met = mod.agreement(bad)
    assert not met["crossover_ok"] and not met["passed"]


def test_lyapunov_exponents_closed_form():
    """The prediction the figure uses against the THEORY.md formula, summed independently."""
    from rmtchain.lyapunov import lyapunov_exponents

    n = 5

    lam = lyapunov_exponents(rmtchain.Chain(3, n, phi="linear")).exponents
    i = np.arange(1, n + 1)
    ref = 0.5 * (math.log(2.0 / n) + special.digamma((n - i + 1) / 2.0))
    np.testing.assert_allclose(lam, ref, rtol=1e-12)   # rounding


def test_bias_allowance_is_the_overlap_expectation():
    """E[-log Beta(1/2, (n-1)/2)] = psi(n/2) - psi(1/2) (the allowance's basis) by quadrature
    (quadrature tolerance 1e-8 relative)."""
    for n in (4, 10, 40):
        a, b = 0.5, (n - 1) / 2.0
        val = integrate.quad(lambda t: -math.log(t) * stats.beta.pdf(t, a, b), 0, 1,
                             limit=200)[0]
        ref = special.digamma(n / 2.0) - special.digamma(0.5)
        assert abs(val / ref - 1.0) < 1e-8


def test_free_cdf_closed_form_equals_predict_spectrum():
    """The figure's quantiles use FussCatalan (LAW.12); the gated values use
    predict_spectrum: both agree (rounding/solver, 1e-12) on the quick panels' depths."""
    for L, n in ((2, 200), (8, 80)):
        sp = rmtchain.predict_spectrum(rmtchain.Chain(L, n, phi="linear"))
        lam = np.geomspace(1e-6, 0.999 * sp.support[1], 9)
        np.testing.assert_allclose(sp.cdf(lam), FussCatalan(L).cdf(lam), atol=1e-12)


def test_free_quantile_inverts_the_cdf():
    mod = _module("fig_lyapunov_crossover")
    law = FussCatalan(3)
    for p in (0.05, 0.5, 0.95):
        x = mod.free_quantile(law, 3, p)
        assert abs(float(law.cdf(math.exp(6.0 * x))) - p) < 1e-10   # brentq xtol 1e-12
