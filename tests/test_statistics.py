"""Monte Carlo against exact and limit laws (THEORY.md, "Free probability" and "Finite width").

Tolerance: Monte Carlo, K_SE = 4 standard errors, plus the finite-size bias each test
states (exact finite-n values need no bias allowance; limit laws get their O(1/n) or
O(1/L) correction). All seeds are fixed, so the outcomes are deterministic.

Exact finite-n second moment of a product of real Ginibre matrices (entry variance 1/n),
by Wick's theorem: with A = J J^T, p = E (tr A)^2, s = E tr(A^2), one layer A -> W A W^T
maps (p, s) -> (p + 2 s / n, ((n + 1) s + p) / n) (rows w_i of W are independent
N(0, I/n): tr A' = sum_i w_i^T A w_i, E (w^T A w)^2 = ((tr A)^2 + 2 tr A^2) / n^2 and
E (w_i^T A w_k)^2 = tr A^2 / n^2 for i != k). From A = I (p = n^2, s = n), E m_2 = s_L / n;
L = 1 gives 2 + 1/n, L = 3 gives 4 + 6/n + 12/n^2 + 5/n^3.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from rmtchain import Chain, sample_lognorm, sample_spectrum

import naive
from helpers import K_SE, assert_mc_close


def fuss_catalan(L, k):
    """k-th moment of the Fuss-Catalan law of a product of L Ginibre matrices (Penson &
    Zyczkowski 1103.3453): binom((L + 1) k, k) / (L k + 1)."""
    return special.comb((L + 1) * k, k, exact=True) / (L * k + 1)


def exact_m2(n, L):
    """E m_2 of J J^T, J a product of L real n x n Ginibre matrices with entry variance 1/n."""
    p, s = float(n * n), float(n)
    for _ in range(L):
        p, s = p + 2 * s / n, ((n + 1) * s + p) / n
    return s / n


def test_exact_m2_recursion_closed_forms():
    for n in (3, 16, 400):
        assert exact_m2(n, 1) == pytest.approx(2 + 1 / n, rel=1e-14)
        assert exact_m2(n, 3) == pytest.approx(4 + 6 / n + 12 / n**2 + 5 / n**3, rel=1e-14)
    assert exact_m2(10**7, 5) == pytest.approx(fuss_catalan(5, 2), rel=1e-5)


# ----------------------------------------------------------------------------------------
# linear Gaussian chains: Fuss-Catalan and exact finite-n moments
# ----------------------------------------------------------------------------------------

#: E m_3 - FC_3 for L = 3 is ~ 85/n + 380/n^2 (estimated from 2e5 samples at n = 8, 16, 32;
#: no closed form here); the allowance 120/n covers it at n >= 64
M3_BIAS_L3 = 120.0


def _check_gaussian_linear_moments(n, L, samples, seed):
    spec = sample_spectrum(Chain(L, n, phi="linear"), samples, rng=seed)
    m = spec.moments(3)
    # m_1 = tr(J J^T)/n has expectation exactly 1
    assert_mc_close(m.mean[0], m.stderr[0], 1.0, what="m_1")
    # m_2 against its exact finite-n expectation: no bias allowance
    assert_mc_close(m.mean[1], m.stderr[1], exact_m2(n, L), what="m_2 exact")
    # m_2, m_3 against Fuss-Catalan, allowing the O(1/n) bias
    assert_mc_close(m.mean[1], m.stderr[1], fuss_catalan(L, 2),
                    bias=exact_m2(n, L) - fuss_catalan(L, 2), what="m_2 FC")
    if L == 3:
        assert_mc_close(m.mean[2], m.stderr[2], fuss_catalan(L, 3), bias=M3_BIAS_L3 / n,
                        what="m_3 FC")
    return m


def test_gaussian_linear_fuss_catalan_n64():
    m = _check_gaussian_linear_moments(64, 3, 2000, seed=1)
    assert m.stderr[1] < 0.03          # the check above is sharp enough to see the 1/n bias


@pytest.mark.slow
def test_gaussian_linear_fuss_catalan_n400():
    """The issue's acceptance case: L = 3, n = 400."""
    _check_gaussian_linear_moments(400, 3, 150, seed=2)


@pytest.mark.parametrize("L", [1, 2, 3])
def test_exact_m2_resolves_the_finite_size_bias(L):
    """At n = 16 the 1/n bias is tens of standard errors: the sample matches the exact
    finite-n m_2 and visibly not the n -> infinity Fuss-Catalan value (so the check above
    has teeth)."""
    n = 16
    m = sample_spectrum(Chain(L, n, phi="linear"), 20000, rng=10 + L).moments(2)
    assert_mc_close(m.mean[1], m.stderr[1], exact_m2(n, L), what="m_2 exact")
    assert abs(m.mean[1] - fuss_catalan(L, 2)) > 10 * m.stderr[1]


def test_single_gaussian_layer_is_marchenko_pastur():
    """L = 1, square: W W^T is real Wishart. Exact finite-n moments (entry variance s^2/n):
    m_1 = s^2, m_2 = s^4 (2 + 1/n), m_3 = s^6 (5 + 6/n + 4/n^2) (E tr S^3 = np(n^2 + p^2 +
    3np + 3n + 3p + 4) for S = X X^T, X p x n standard real Gaussian); the Marchenko-Pastur
    (ratio 1) limit is s^(2k) Catalan(k)."""
    n, s2 = 64, 1.3 ** 2
    spec = sample_spectrum(Chain(1, n, phi="linear", sigma_w=1.3), 3000, rng=5)
    m = spec.moments(3)
    exact = [s2, s2**2 * (2 + 1 / n), s2**3 * (5 + 6 / n + 4 / n**2)]
    limit = [s2**k * fuss_catalan(1, k) for k in (1, 2, 3)]          # Catalan numbers
    assert_mc_close(m.mean, m.stderr, exact, what="Wishart exact")
    assert_mc_close(m.mean, m.stderr, limit, bias=np.abs(np.subtract(exact, limit)), what="MP")
    # support: (0, 4 s^2] up to the O(n^-2/3) edge fluctuation
    assert spec.eigenvalues.max() < 4 * s2 * 1.3 and spec.eigenvalues.min() > 0


# ----------------------------------------------------------------------------------------
# Lyapunov exponents at depth
# ----------------------------------------------------------------------------------------

def _check_lyapunov(depth, n, samples, seed):
    """log s_i / L of a Gaussian linear chain (sigma_w = 1) against the Lyapunov exponents
    (1/2)[log(2/n) + digamma((n - i + 1)/2)] (THEORY.md, finite width), within K_SE of
    their standard errors sqrt(trigamma((n - i + 1)/2) / (4 L)) / sqrt(samples), plus an
    O(1/L) offset (the O(1) transient before the product aligns with its Lyapunov basis;
    allowed: 3/L)."""
    spec = sample_spectrum(Chain(depth, n, phi="linear"), samples, rng=seed)
    logs = spec.log_singular_values
    assert np.all(np.isfinite(logs))
    i = np.arange(1, n + 1)
    a = (n - i + 1) / 2
    lyap = 0.5 * (math.log(2 / n) + special.digamma(a))
    se = np.sqrt(special.polygamma(1, a) / (4 * depth)) / math.sqrt(samples)
    assert_mc_close((logs / depth).mean(axis=0), se, lyap, bias=3.0 / depth, what="Lyapunov")


def test_lyapunov_exponents_depth_2000():
    _check_lyapunov(2000, 8, 16, seed=7)


@pytest.mark.slow
def test_lyapunov_exponents_depth_10000_width_32():
    """The issue's acceptance case: depth 10,000, width 32."""
    _check_lyapunov(10_000, 32, 24, seed=8)


# ----------------------------------------------------------------------------------------
# exact finite-width laws of log R = log ||J u||^2 (sample_lognorm)
# ----------------------------------------------------------------------------------------

def _mean_var_se(x):
    """Sample mean and variance with their standard errors (the variance's from the
    sample fourth central moment)."""
    N = x.size
    mean, var = x.mean(), x.var(ddof=1)
    m4 = np.mean((x - mean) ** 4)
    return mean, math.sqrt(var / N), var, math.sqrt(max(m4 - var**2 * (N - 3) / (N - 1), 0) / N)


@pytest.mark.parametrize("widths", [[16] * 11, [16, 24, 12, 20, 16, 32, 8]],
                         ids=["square", "varying"])
def test_lognorm_linear_gaussian_law(widths):
    """sigma_w = 1: R = prod_l chi^2_{n_l} / n_{l-1} (independent), so
    E log R = sum_l [digamma(n_l/2) + log(2/n_{l-1})], Var log R = sum_l trigamma(n_l/2)."""
    chain = Chain(len(widths) - 1, widths, phi="linear")
    x = sample_lognorm(chain, 20000, rng=3)
    nin, nout = np.array(widths[:-1]), np.array(widths[1:])
    mean = np.sum(special.digamma(nout / 2) + np.log(2 / nin))
    var = np.sum(special.polygamma(1, nout / 2))
    m, se_m, v, se_v = _mean_var_se(x)
    assert_mc_close(m, se_m, mean, what="E log R")
    assert_mc_close(v, se_v, var, what="Var log R")


def _binomial_log_chi2_moments(n):
    """(E, Var) of log chi^2_K, K ~ Binomial(n, 1/2) conditioned on K >= 1 (K = 0 gives
    R = 0; P = 2^-n is negligible at the widths used)."""
    k = np.arange(1, n + 1)
    w = stats.binom.pmf(k, n, 0.5)
    w /= w.sum()
    mu_k = math.log(2) + special.digamma(k / 2)
    mean = np.sum(w * mu_k)
    var = np.sum(w * (special.polygamma(1, k / 2) + mu_k ** 2)) - mean ** 2
    return mean, var


@pytest.mark.parametrize("widths", [[32] * 11, [32, 48, 40, 64, 32, 40]], ids=["square", "varying"])
def test_lognorm_relu_he_law(widths):
    """relu, sigma_w^2 = 2, no bias: R = prod_l (2/n_{l-1}) chi^2_{K_l}, K_l ~ Bin(n_l, 1/2)
    independent (THEORY.md; exact, by the sign-flip symmetry of each row of W)."""
    chain = Chain(len(widths) - 1, widths, phi="relu", sigma_w=math.sqrt(2.0))
    assert chain.q_input == 1.0
    x = sample_lognorm(chain, 20000, rng=4)
    assert np.all(np.isfinite(x))          # P(some K_l = 0) ~ 10 * 2^-32 per sample
    moments = [_binomial_log_chi2_moments(n) for n in widths[1:]]
    mean = sum(math.log(2 / n) for n in widths[:-1]) + sum(m for m, _ in moments)
    var = sum(v for _, v in moments)
    m, se_m, v, se_v = _mean_var_se(x)
    assert_mc_close(m, se_m, mean, what="E log R")
    assert_mc_close(v, se_v, var, what="Var log R")


def test_lognorm_relu_orthogonal_law():
    """relu with sqrt(2) Haar, square width n: R = prod_l 2 Beta(K_l/2, (n - K_l)/2),
    K_l ~ Bin(n, 1/2) (THEORY.md); E log Beta(a, b) = digamma(a) - digamma(a + b),
    Var = trigamma(a) - trigamma(a + b) (0 for b = 0, K = n)."""
    n, L = 24, 10
    chain = Chain(L, n, weights="orthogonal", phi="relu", sigma_w=math.sqrt(2.0))
    x = sample_lognorm(chain, 20000, rng=6)
    assert np.all(np.isfinite(x))
    k = np.arange(1, n + 1)
    w = stats.binom.pmf(k, n, 0.5)
    w /= w.sum()
    mu_k = math.log(2) + special.digamma(k / 2) - special.digamma(n / 2)
    var_k = special.polygamma(1, k / 2) - special.polygamma(1, n / 2)
    mean1 = np.sum(w * mu_k)
    var1 = np.sum(w * (var_k + mu_k ** 2)) - mean1 ** 2
    m, se_m, v, se_v = _mean_var_se(x)
    assert_mc_close(m, se_m, L * mean1, what="E log R")
    assert_mc_close(v, se_v, L * var1, what="Var log R")


def test_lognorm_is_the_spectrum_of_j_seen_from_a_random_direction():
    """Consistency of the two samplers (different draws, same law): E R = E ||J u||^2 =
    m_1 * n_L / n_0 = tr(J J^T) / n_0 for a uniform unit u. Gaussian tanh chain, checked
    as E exp(log R) against the spectrum's mean normalised trace."""
    chain = Chain(4, [12, 16, 10, 14, 12], phi="tanh", sigma_w=1.3, sigma_b=0.2)
    r = np.exp(sample_lognorm(chain, 40000, rng=8))
    spec = sample_spectrum(chain, 4000, rng=9)
    tr = spec.moments(1).per_sample[:, 0] * chain.n_out / chain.n_in
    diff = r.mean() - tr.mean()
    se = math.sqrt(r.var(ddof=1) / r.size + tr.var(ddof=1) / tr.size)
    assert abs(diff) <= K_SE * se, (r.mean(), tr.mean(), se)


# ----------------------------------------------------------------------------------------
# Haar weights
# ----------------------------------------------------------------------------------------

def _plain_qr(a):
    """Q of a plain (LAPACK Householder) QR, without the sign fix: not Haar."""
    m, n = a.shape
    return np.linalg.qr(a)[0] if m >= n else np.linalg.qr(a.T)[0].T


@pytest.mark.parametrize("shape", [(5, 5), (3, 5), (5, 3)])
def test_orthogonal_weights_are_haar(shape):
    """The kernels' orthogonal weights are naive.haar of the same draws (the twin tests
    check this on nonlinear chains, where row/column signs change the spectrum). Here that
    construction is checked to be Haar: every entry of a Haar (partial) isometry with
    N = max(m, n) has mean 0, E Q_ij^2 = 1/N and E Q_ij^4 = 3/(N(N+2)) (a coordinate of a
    uniform unit vector in R^N). A plain QR without the sign fix fails the first check."""
    m, n = shape
    N, S = max(m, n), 8000
    z = np.random.default_rng(12).standard_normal((S, m, n))
    for construct, is_haar in ((naive.haar, True), (_plain_qr, False)):
        Q = np.array([construct(a) for a in z])
        assert Q.shape == (S, m, n)
        se = Q.std(axis=0, ddof=1) / math.sqrt(S)
        assert np.all(np.abs(Q.mean(axis=0)) <= K_SE * se) == is_haar
        if is_haar:
            for p, expect in ((2, 1 / N), (4, 3 / (N * (N + 2)))):
                Qp = Q ** p
                assert_mc_close(Qp.mean(axis=0), Qp.std(axis=0, ddof=1) / math.sqrt(S), expect,
                                what=f"E Q^{p}")
            # a (partial) isometry to rounding
            G = Q[0] @ Q[0].T if m <= n else Q[0].T @ Q[0]
            np.testing.assert_allclose(G, np.eye(min(m, n)), atol=1e-14)
