"""The curvature figures (theory/hessian.md (H.13)-(H.18)) and the functions they check.

* Every figure's quick ``compute`` + ``agreement`` (``passed``) + ``plot``.
* The Sokol-Park sandwich (H.14)-(H.16): the kernel-matrix eigenvalue lambda_max(K)/B equals
  the top eigenvalue of rmtchain's dense Fisher (rounding, 1e-10 relative: two eigensolvers
  on matrices built by different summation orders), and the bounds hold, on random small
  networks (hypothesis); the one-layer closed form; v = J^T u against rmtchain's gradient.
* The vanishing-curvature law (H.18): the per-layer masses against a NumPy Jacobian twin
  (rounding), tr H = tr G against rmtchain's dense Hessian (H.13) (rounding), and the exact
  E log(chi^2_n / n) against scipy quadrature (quadrature, 1e-10).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
import mpmath as mp

from helpers import figure_module
from rmtchain.chain import Chain
from rmtchain.network import Network, sample_network

#: rounding: the same matrix quantity by two float64 routes (different summation order)
RTOL_ROUNDING = 1e-10


load = figure_module


SP = load("fig_sokol_park")
VC = load("fig_vanishing_curvature")
NAMES = ["fig_sokol_park", "fig_vanishing_curvature", "fig_trace_identity"]


# ----------------------------------------------------------------------------- figures


@pytest.mark.parametrize("stem", NAMES)
def test_quick_figure_passes_and_plots(stem):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mod = load(stem)
    for attr in ("SEED", "TITLE", "EQUATION", "parameters", "compute", "agreement", "plot"):
        assert hasattr(mod, attr)
    data = mod.compute(True, np.random.default_rng(mod.SEED))
    met = mod.agreement(data)
    assert met["passed"], met["summary"]
    assert isinstance(met["summary"], str) and met["summary"]
    fig = mod.plot(data)
    assert isinstance(fig, matplotlib.figure.Figure)
    plt.close(fig)


def test_figure_equations_exist_in_theory_page():
    text = (Path(__file__).resolve().parents[1] / "theory" / "hessian.md").read_text()
    for label in ("(H.14)", "(H.15)", "(H.16)", "(H.17)", "(H.18)"):
        assert f"## {label}" in text, label


# ----------------------------------------------------------------------------- Sokol-Park


@st.composite
def small_problems(draw):
    depth = draw(st.integers(1, 4))
    widths = tuple(draw(st.lists(st.integers(1, 5), min_size=depth + 1, max_size=depth + 1)))
    phi = draw(st.sampled_from(["linear", "relu", "tanh"]))
    weights = draw(st.sampled_from(["gaussian", "orthogonal"]))
    sigma_b = draw(st.sampled_from([0.0, 0.3]))
    batch = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    return Chain(depth, widths, phi=phi, weights=weights, sigma_w=1.3, sigma_b=sigma_b), batch, seed


def _dense_fisher(net, X):
    B, nL = X.shape[0], net.widths[-1]
    return net.hessian(X, np.zeros((B, nL)), loss="mse", matrix="fisher")


@given(small_problems())
def test_property_sandwich_and_gram_match_dense_fisher(problem):
    chain, batch, seed = problem
    rng = np.random.default_rng(seed)
    net = sample_network(chain, rng=rng)
    X = rng.standard_normal((batch, chain.n_in))
    s = SP.fisher_sandwich(net, X)
    ev = np.linalg.eigvalsh(_dense_fisher(net, X))
    top = ev[-1]
    scale = max(top, 1e-300)
    # rounding: dense F (rmtchain R-operator, column by column) vs the NumPy kernel matrix
    assert abs(s["lam"] - top) <= RTOL_ROUNDING * scale
    assert s["lower"] <= top * (1 + RTOL_ROUNDING) + 1e-300
    assert top <= s["upper"] * (1 + RTOL_ROUNDING)
    # the whole nonzero spectrum: K / B and F = J^T J / B share their nonzero eigenvalues
    B, nL = X.shape[0], chain.n_out
    xs, Js = s["xs"], s["Js"]
    Jt = np.concatenate([np.concatenate([np.einsum("iac,id->iacd", J, x).reshape(B * nL, -1),
                                         J.reshape(B * nL, -1)], axis=1)
                         for x, J in zip(xs, Js)], axis=1)
    k = np.sort(np.linalg.eigvalsh(Jt @ Jt.T / B))
    m = min(k.size, ev.size)
    np.testing.assert_allclose(k[-m:], ev[-m:], rtol=0, atol=RTOL_ROUNDING * scale)


def test_sandwich_closes_for_one_layer_one_input():
    # L = 1, B = 1: F = x~ x~^T (x) I, lambda_max = ||x||^2 + 1 and both bounds equal it
    rng = np.random.default_rng(3)
    net = Network.from_arrays([rng.standard_normal((3, 5))], None, "linear")
    x = rng.standard_normal((1, 5))
    s = SP.fisher_sandwich(net, x)
    exact = float((x @ x.T)[0, 0]) + 1.0
    for key in ("lam", "upper", "lower"):
        assert abs(s[key] - exact) <= 1e-13 * exact, key  # rounding
    # with B inputs: lambda_max = lambda_max(X~ X~^T) / B (closed form), bounds bracket it
    X = rng.standard_normal((4, 5))
    Xt = np.hstack([X, np.ones((4, 1))])
    s = SP.fisher_sandwich(net, X)
    exact = np.linalg.eigvalsh(Xt @ Xt.T)[-1] / 4
    assert abs(s["lam"] - exact) <= 1e-13 * exact
    assert s["lower"] < exact < s["upper"]


def test_jtu_is_the_gradient_with_shifted_targets():
    # mse gradient = J^T (f - Y) / B, so Y = f - B u gives J^T u (rmtchain's backprop (H.3))
    rng = np.random.default_rng(5)
    net = sample_network(Chain(3, (4, 6, 5, 3), phi="tanh", sigma_w=1.2, sigma_b=0.2), rng=rng)
    X = rng.standard_normal((3, 4))
    u = rng.standard_normal((3, 3))
    xs, Js = SP.layer_jacobians(net, X)
    v = SP.jtu(net, xs, Js, u)
    g = net.gradient(X, net.forward(X) - 3 * u, loss="mse")
    np.testing.assert_allclose(v, g, rtol=0, atol=RTOL_ROUNDING * np.abs(g).max())


def test_layer_jacobians_match_finite_differences():
    # J_{L<-1} = df/dh_1 by central differences of the NumPy forward from h_1 (truncation
    # O(eps^2 f''') ~ 1e-9 at eps = 1e-5 plus rounding 1e-11 / eps)
    rng = np.random.default_rng(7)
    net = sample_network(Chain(3, (3, 4, 4, 2), phi="tanh", sigma_w=1.1, sigma_b=0.1), rng=rng)
    x = rng.standard_normal((1, 3))
    xs, Js = SP.layer_jacobians(net, x)
    h1 = x @ net.weights[0].T + net.biases[0]

    def f_from_h1(h):
        a = np.tanh(h)
        a = np.tanh(a @ net.weights[1].T + net.biases[1])
        return a @ net.weights[2].T + net.biases[2]

    eps = 1e-5
    num = np.empty((2, 4))
    for j in range(4):
        e = np.zeros((1, 4))
        e[0, j] = eps
        num[:, j] = ((f_from_h1(h1 + e) - f_from_h1(h1 - e)) / (2 * eps))[0]
    np.testing.assert_allclose(Js[0][0], num, atol=1e-8)


def test_chain_inputs_have_the_chain_length():
    chain = Chain.critical(3, 16, phi="tanh", weights="orthogonal", q_star=0.5)
    X = SP.chain_inputs(chain, 5, np.random.default_rng(0))
    h0 = np.arctanh(X)
    np.testing.assert_allclose(np.sum(h0 * h0, axis=1) / 16, 0.5, rtol=1e-12)  # rounding


# ----------------------------------------------------------------------------- vanishing


def test_layer_masses_match_numpy_twin_and_trace_identity():
    rng = np.random.default_rng(11)
    L, n = 4, 5
    net = sample_network(Chain(L, (n,) * L + (1,), phi="linear"), rng=rng)
    x0 = rng.standard_normal(n)
    m, trG = VC.layer_masses(net, x0)
    xs, Js = SP.layer_jacobians(net, x0[None, :])
    twin = np.array([np.sum(J * J) * np.sum(x * x) for x, J in zip(xs, Js)])
    np.testing.assert_allclose(m, twin, rtol=RTOL_ROUNDING)
    twin_tr = sum(np.sum(J * J) * (np.sum(x * x) + 1) for x, J in zip(xs, Js))
    assert abs(trG - twin_tr) <= RTOL_ROUNDING * twin_tr
    # (H.13): for a linear network tr H = tr G; rmtchain's dense Hessian
    H = net.hessian(x0[None, :], np.zeros((1, 1)), loss="mse")
    assert abs(np.trace(H) - trG) <= RTOL_ROUNDING * trG


@pytest.mark.parametrize("n", [1, 4, 9])
def test_exact_log_mass_against_mpmath(n):
    # E log(chi^2_n / n) and its variance by 30-digit mpmath quadrature of the chi^2 density
    # (tolerance 1e-12: the float64 digamma/trigamma values, rounding)
    with mp.workdps(30):
        c = 1 / (mp.mpf(2) ** (mp.mpf(n) / 2) * mp.gamma(mp.mpf(n) / 2))

        def moment(k):
            def f(t):
                return mp.log(t / n) ** k * c * t ** (mp.mpf(n) / 2 - 1) * mp.exp(-t / 2)

            return mp.quad(f, [0, 1, n, mp.inf])

        m1, m2 = moment(1), moment(2)
        m1, var_ref = float(m1), float(m2 - m1 ** 2)
    mean, var = VC.exact_log_mass(2, n)        # L - 1 = 1 factor
    assert abs(mean - m1) <= 1e-12
    assert abs(var - var_ref) <= 1e-12
    assert VC.exact_log_mass(1, n) == (0.0, 0.0)
