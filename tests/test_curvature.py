"""Tests for rmtchain.curvature: Lanczos, Gauss quadrature, SLQ spectra, top eigenvalues and
the Hutchinson trace.

References: dense matrices and ``np.linalg.eigvalsh`` (the network's dense Hessian is itself
checked against a complex-step naive twin in tests/test_network.py), explicit matrix powers
for q^T A^k q, and the Gauss-quadrature exactness theorem (theory/hessian.md (H.10)).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate
from scipy.stats import wasserstein_distance

from helpers import K_SE, RTOL_ROUNDING
from rmtchain.chain import Chain
from rmtchain.curvature import (SMOOTHING, gauss_quadrature, hessian_spectrum, hutchinson_trace,
                                lanczos, rademacher_probes, top_eigenvalues)
from rmtchain.network import sample_network
from strategies import seeds

#: quadrature moments vs explicit powers q^T A^k q: both are rounding-level computations of
#: the same number, but A^k amplifies relative error by ~k and the Lanczos basis is
#: orthogonal only to ~1e-15 * cond; measured <= 1e-12
RTOL_MOMENT = 1e-9


def problem(seed=0, widths=(4, 6, 6, 3), phi="tanh", samples=6, loss="mse"):
    rng = np.random.default_rng(seed)
    net = sample_network(Chain(len(widths) - 1, list(widths), phi=phi, sigma_w=1.5,
                               sigma_b=0.3), rng=rng)
    X = rng.standard_normal((samples, widths[0]))
    Y = (rng.standard_normal((samples, widths[-1])) if loss == "mse"
         else rng.integers(0, widths[-1], size=samples))
    return net, X, Y


def random_symmetric(rng, n):
    A = rng.standard_normal((n, n))
    return (A + A.T) / 2


def quad_moment(nodes, weights, k):
    return np.sum(weights * nodes**k)


# --------------------------------------------------------------------------------------
# Lanczos and Gauss quadrature on explicit matrices
# --------------------------------------------------------------------------------------

@given(seeds, st.integers(2, 30), st.integers(1, 12))
def test_property_quadrature_exact_to_degree_2m_minus_1(seed, n, m):
    """sum_i tau_i^2 theta_i^k = q^T A^k q for k <= 2m - 1 (H.10); weights sum to 1 and the
    nodes lie in [lambda_min, lambda_max] (Cauchy interlacing)."""
    rng = np.random.default_rng(seed)
    A = random_symmetric(rng, n)
    q = rng.standard_normal(n)
    q /= np.linalg.norm(q)
    alpha, beta = lanczos(lambda v: A @ v, q, m)
    nodes, weights = gauss_quadrature(alpha, beta)
    j = alpha.size
    assert j <= min(m, n)
    assert abs(weights.sum() - 1.0) <= 1e-13  # rounding
    lam = np.linalg.eigvalsh(A)
    tol = 1e-12 * np.abs(lam).max()  # rounding
    assert nodes.min() >= lam[0] - tol and nodes.max() <= lam[-1] + tol
    norm = np.abs(lam).max()
    for k in range(1, 2 * j):
        exact = q @ np.linalg.matrix_power(A, k) @ q
        assert abs(quad_moment(nodes, weights, k) - exact) <= RTOL_MOMENT * norm**k


def test_quadrature_not_exact_at_degree_2m():
    """The exactness stops at 2m - 1 (so the test above can fail): at k = 2m the rule
    misses q^T A^k q by a relative O(1) amount on a generic matrix."""
    rng = np.random.default_rng(1)
    A = random_symmetric(rng, 40)
    q = rng.standard_normal(40)
    q /= np.linalg.norm(q)
    nodes, weights = gauss_quadrature(*lanczos(lambda v: A @ v, q, 5))
    exact = q @ np.linalg.matrix_power(A, 10) @ q
    assert abs(quad_moment(nodes, weights, 10) - exact) > 1e-3 * abs(exact)


def test_lanczos_stops_on_invariant_subspace():
    """A with 3 distinct eigenvalues: the Krylov space has dimension 3, Lanczos stops there
    and its nodes are those eigenvalues."""
    rng = np.random.default_rng(2)
    Q = np.linalg.qr(rng.standard_normal((20, 20)))[0]
    lam = np.repeat([-1.0, 0.5, 2.0], [5, 7, 8])
    A = (Q * lam) @ Q.T
    alpha, beta = lanczos(lambda v: A @ v, rng.standard_normal(20), 15)
    assert alpha.size == 3
    nodes, _ = gauss_quadrature(alpha, beta)
    np.testing.assert_allclose(nodes, [-1.0, 0.5, 2.0], atol=1e-12)  # rounding


def test_lanczos_validates():
    with pytest.raises(ValueError, match="start must be a nonzero"):
        lanczos(lambda v: v, np.zeros(3), 2)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        lanczos(lambda v: v, np.ones(3), 0)
    with pytest.raises(ValueError, match="matvec must return a finite vector"):
        lanczos(lambda v: np.full(3, np.nan), np.ones(3), 2)
    with pytest.raises(ValueError, match="beta of length m - 1"):
        gauss_quadrature(np.ones(3), np.ones(3))


# --------------------------------------------------------------------------------------
# hessian_spectrum
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("matrix", ["hessian", "gauss_newton"])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_slq_moments_equal_probe_quadratic_forms(matrix, loss):
    """Each probe's SLQ moment k equals z^T A^k z / P for k <= 2m - 1 (H.10), with the probes
    re-drawn from the documented stream and A the dense matrix."""
    net, X, Y = problem(loss=loss)
    steps, probes = 6, 4
    spec = hessian_spectrum(net, X, Y, loss=loss, matrix=matrix, steps=steps, probes=probes,
                            rng=5)
    A = net.hessian(X, Y, loss=loss, matrix=matrix)
    P = A.shape[0]
    Z = rademacher_probes(np.random.default_rng(5), probes, P)
    kmax = 2 * steps - 1
    per = spec.moments(kmax).per_sample
    norm = np.abs(np.linalg.eigvalsh(A)).max()
    for i, z in enumerate(Z):
        Ak = np.eye(P)
        for k in range(1, kmax + 1):
            Ak = Ak @ A
            assert abs(per[i, k - 1] - z @ Ak @ z / P) <= RTOL_MOMENT * norm**k


def test_slq_moment_means_estimate_normalised_traces():
    """The probe average estimates tr(A^k)/P: within K_SE standard errors (Monte Carlo)."""
    net, X, Y = problem(seed=3)
    spec = hessian_spectrum(net, X, Y, steps=10, probes=40, rng=1)
    A = net.hessian(X, Y)
    m = spec.moments(4)
    exact = [np.trace(np.linalg.matrix_power(A, k)) / A.shape[0] for k in range(1, 5)]
    assert np.all(np.abs(m.mean - exact) <= K_SE * m.stderr)


@pytest.mark.parametrize("matrix", ["hessian", "fisher"])
def test_exact_method_is_the_dense_eigendecomposition(matrix):
    net, X, Y = problem(seed=4)
    spec = hessian_spectrum(net, X, Y, matrix=matrix, method="exact")
    lam = np.linalg.eigvalsh(net.hessian(X, Y, matrix=matrix))
    np.testing.assert_allclose(spec.eigenvalues, lam, rtol=0, atol=1e-13 * np.abs(lam).max())
    m = spec.moments(3)
    np.testing.assert_allclose(m.mean, [np.mean(lam**k) for k in (1, 2, 3)], rtol=RTOL_ROUNDING)
    assert spec.width == pytest.approx(SMOOTHING * (lam[-1] - lam[0]))


def test_slq_density_close_to_exact():
    """W1(SLQ measure, eigenvalue measure) is small. The worst-case bound of Chen, Trogdon
    and Ubaru ("Analysis of stochastic Lanczos quadrature for spectrum approximation", ICML
    2021: W1 <= t span after ceil(12/t + 1/2) steps) only gives 0.4 span at m = 30, so the
    tolerance is empirical: with m = 30, 10 probes, P = 203 we accept 0.03 span, ~5x the
    measured 0.0053 span. Uniform weights on the same nodes miss by 0.14 span."""
    net, X, Y = problem(seed=2, widths=(6, 10, 8, 5), samples=8)
    exact = hessian_spectrum(net, X, Y, method="exact")
    slq = hessian_spectrum(net, X, Y, steps=30, probes=10, rng=0)
    lam = exact.eigenvalues
    span = lam[-1] - lam[0]
    d = wasserstein_distance(slq.nodes, lam, slq.weights)
    assert d < 0.03 * span
    # a wrong rule would fail: the same nodes with uniform weights
    assert wasserstein_distance(slq.nodes, lam) > 0.03 * span
    # smoothed cdfs: |F_slq - F_exact| <= W1 / width-ish; measured 0.0056, accept 0.03
    x = np.linspace(lam[0] - 0.1 * span, lam[-1] + 0.1 * span, 200)
    assert np.abs(slq.cdf(x, width=0.05 * span) - exact.cdf(x, width=0.05 * span)).max() < 0.03


def test_pdf_is_a_density_and_cdf_its_integral():
    net, X, Y = problem(seed=6)
    spec = hessian_spectrum(net, X, Y, steps=12, probes=3, rng=2)
    lo, hi = spec.nodes.min() - 10 * spec.width, spec.nodes.max() + 10 * spec.width
    pts = np.sort(spec.nodes)
    mass = integrate.quad(spec.pdf, lo, hi, points=pts[:50], limit=500)[0]
    assert abs(mass - 1.0) < 1e-6  # quadrature
    x = 0.5 * (lo + hi)
    part = integrate.quad(spec.pdf, lo, x, points=pts[pts < x][:50], limit=500)[0]
    assert abs(part - spec.cdf(x)) < 1e-6  # quadrature
    assert spec.weights.sum() == pytest.approx(1.0, abs=1e-13)


def test_same_seed_same_spectrum():
    net, X, Y = problem()
    a = hessian_spectrum(net, X, Y, steps=8, probes=3, rng=9)
    b = hessian_spectrum(net, X, Y, steps=8, probes=3, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(a.nodes, b.nodes)
    assert a.seed == 9 and b.seed == "Generator"


# --------------------------------------------------------------------------------------
# top eigenvalues, Hutchinson
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
def test_top_eigenvalues_match_dense(which):
    net, X, Y = problem(seed=7, widths=(5, 8, 8, 4))
    lam = np.linalg.eigvalsh(net.hessian(X, Y))
    got = top_eigenvalues(net, X, Y, 3, which=which, rng=0)
    if which == "LA":
        want = lam[::-1][:3]
    elif which == "SA":
        want = lam[:3]
    else:
        want = np.sort(lam[np.argsort(-np.abs(lam))[:3]])[::-1]
    # ARPACK at tol=0 converges to rounding relative to ||A||
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10 * np.abs(lam).max())


def test_hutchinson_trace():
    net, X, Y = problem(seed=8)
    A = net.hessian(X, Y, matrix="gauss_newton")
    est = hutchinson_trace(net, X, Y, matrix="gauss_newton", probes=200, rng=4)
    Z = rademacher_probes(np.random.default_rng(4), 200, A.shape[0])
    np.testing.assert_allclose(est.per_probe, np.einsum("ij,jk,ik->i", Z, A, Z),
                               rtol=1e-10)  # rounding (RTOL_PRODUCT of test_network)
    assert abs(est.trace - np.trace(A)) <= K_SE * est.stderr  # Monte Carlo
    # Var(z^T A z) = 2 sum_{i != j} A_ij^2 for Rademacher z: the stderr estimates it
    sd = np.sqrt(2 * (np.sum(A**2) - np.sum(np.diag(A) ** 2)))
    assert 0.7 < est.stderr * np.sqrt(200) / sd < 1.3  # Monte Carlo (sample sd, 200 probes)


def test_bad_input():
    net, X, Y = problem()
    with pytest.raises(ValueError, match="method must be one of"):
        hessian_spectrum(net, X, Y, method="dense")
    with pytest.raises(ValueError, match="probes must be an integer >= 1"):
        hessian_spectrum(net, X, Y, probes=0)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        hessian_spectrum(net, X, Y, steps=1.5)
    with pytest.raises(ValueError, match="matrix must be one of"):
        hessian_spectrum(net, X, Y, matrix="ggn")
    with pytest.raises(ValueError, match="Y must have shape"):
        hessian_spectrum(net, X, Y[:, :2])
    with pytest.raises(ValueError, match="net must be an rmtchain Network"):
        hessian_spectrum("net", X, Y)
    with pytest.raises(ValueError, match="k must be < P"):
        top_eigenvalues(net, X, Y, net.n_parameters)
    with pytest.raises(ValueError, match="which must be one of"):
        top_eigenvalues(net, X, Y, 2, which="BE")
    with pytest.raises(ValueError, match="rng must be"):
        hutchinson_trace(net, X, Y, rng=-1)
    spec = hessian_spectrum(net, X, Y, steps=4, probes=2, rng=0)
    with pytest.raises(ValueError, match="width must be a finite number > 0"):
        spec.pdf(0.0, width=0.0)
    with pytest.raises(ValueError, match="kmax must be an integer >= 1"):
        spec.moments(0)


@pytest.mark.parametrize("method", ["exact", "slq"])
@pytest.mark.parametrize("rng", ["bad", -1])
def test_rng_is_validated_for_every_method(method, rng):
    net, X, Y = problem()
    with pytest.raises(ValueError, match="rng"):
        hessian_spectrum(net, X, Y, method=method, rng=rng)
