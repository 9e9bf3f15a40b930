"""Finite-width laws (theory/finitewidth.md): exact laws against independent digamma sums
(mpmath), closed-form single-layer cdfs (scipy.stats), mpmath convolution quadrature and
KS tests on rmtchain.sample_lognorm; width_for_depth; Lyapunov exponents."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

import naive
from helpers import RTOL_ROUNDING, assert_mc_close
from rmtchain.chain import Chain
from rmtchain.finitewidth import (depth_for_width, predict_lognorm, sample_forward_lognorm,
                                  width_for_depth)
from rmtchain.lyapunov import lyapunov_exponents, sample_lyapunov
from rmtchain.sampling import sample_lognorm

#: KS significance: each KS test rejects a true law with probability 1e-3 (fixed seeds)
KS_ALPHA = 1e-3
#: Gil-Pelaez inversion vs an independent closed form / quadrature: the sum's rounding
#: (N terms of size <= 1, cancellation to O(1)) and its truncation at |cf| < 1e-15
TOL_INVERSION = 1e-10


def _chain(family, n, L, sigma_w=None):
    phi, weights, sw = {"linear_gaussian": ("linear", "gaussian", 1.0),
                        "relu_he": ("relu", "gaussian", math.sqrt(2.0)),
                        "relu_haar": ("relu", "orthogonal", math.sqrt(2.0)),
                        "linear_haar": ("linear", "orthogonal", 1.0)}[family]
    return Chain(L, n, phi=phi, weights=weights, sigma_w=sw if sigma_w is None else sigma_w)


# ---------------------------------------------------------------------------------------
# independent references: digamma / trigamma sums with mpmath (FW.4)
# ---------------------------------------------------------------------------------------

def _binom_given_alive(n):
    """[(k, P(K = k | K >= 1))] for K ~ Binomial(n, 1/2), in mpmath."""
    alive = 1 - mpmath.mpf(2) ** (-n)
    return [(k, mpmath.binomial(n, k) / mpmath.mpf(2) ** n / alive) for k in range(1, n + 1)]


def _reference_moments(chain):
    """E and Var of log R given R > 0, summed layer by layer in mpmath (50 digits)."""
    mpmath.mp.dps = 50
    relu = chain.phi.name == "relu"
    sw2 = mpmath.mpf(chain.sigma_w) ** 2
    mean = var = mpmath.mpf(0)
    w = chain.widths
    for l in range(chain.depth):
        n_in, n_out = w[l], w[l + 1]
        ks = _binom_given_alive(n_out) if relu else [(n_out, mpmath.mpf(1))]
        m1 = m2 = mpmath.mpf(0)
        for k, p in ks:
            if chain.weights == "gaussian":
                mu = mpmath.log(2 * sw2 / n_in) + mpmath.digamma(mpmath.mpf(k) / 2)
                v = mpmath.psi(1, mpmath.mpf(k) / 2)
            else:
                mm = max(n_in, n_out)
                a, ab = mpmath.mpf(k) / 2, mpmath.mpf(mm) / 2
                mu = mpmath.log(sw2) + (mpmath.digamma(a) - mpmath.digamma(ab) if k < mm else 0)
                v = mpmath.psi(1, a) - mpmath.psi(1, ab) if k < mm else mpmath.mpf(0)
            m1 += p * mu
            m2 += p * (v + mu * mu)
        mean += m1
        var += m2 - m1 * m1
    return float(mean), float(var)


EXACT_CHAINS = [
    Chain(7, 5, phi="linear", sigma_w=1.3),
    Chain(5, [3, 8, 2, 6, 6, 4], phi="linear", sigma_w=0.7, sigma_b=0.4),
    Chain(10, 100, phi="relu", sigma_w=math.sqrt(2.0)),
    Chain(6, [4, 9, 3, 12, 5, 7, 2], phi="relu", sigma_w=0.9),
    Chain(8, 6, phi="relu", weights="orthogonal", sigma_w=1.7),
    Chain(5, [6, 3, 9, 4, 4, 8], phi="relu", weights="orthogonal", sigma_w=1.1),
    Chain(5, [6, 3, 9, 4, 2, 8], phi="linear", weights="orthogonal", sigma_w=1.2),
]


@pytest.mark.parametrize("chain", EXACT_CHAINS, ids=lambda c: f"{c.phi}-{c.weights}-{c.widths}")
def test_exact_mean_var_equal_digamma_sums(chain):
    """(FW.4): mean and variance of log R | R > 0 to rounding (1e-12 relative)."""
    p = predict_lognorm(chain)
    assert p.exact
    mean, var = _reference_moments(chain)
    assert p.mean == pytest.approx(mean, rel=RTOL_ROUNDING, abs=1e-13)
    assert p.var == pytest.approx(var, rel=RTOL_ROUNDING, abs=1e-13)


def test_atom_and_mean_ratio_closed_form():
    """(FW.3): P(R = 0) = 1 - (1 - 2^-n_0) prod (1 - 2^-n_l) and E R = (1 - 2^-n_0)
    prod sigma_w^2 n_l / (2 n_{l-1}) (Gaussian), sigma_w^2 n_l / (2 max) (Haar); rounding."""
    w = [4, 9, 3, 12, 5, 7, 2]
    for weights in ("gaussian", "orthogonal"):
        c = Chain(6, w, phi="relu", weights=weights, sigma_w=0.9)
        p = predict_lognorm(c)
        alive = (1 - 2.0 ** -w[0]) * np.prod([1 - 2.0 ** -n for n in w[1:]])
        assert p.atom_at_zero == pytest.approx(1 - alive, rel=RTOL_ROUNDING)
        den = w[:-1] if weights == "gaussian" else [max(a, b) for a, b in zip(w[:-1], w[1:])]
        er = (1 - 2.0 ** -w[0]) * np.prod([0.81 * b / (2 * d) for b, d in zip(w[1:], den)])
        assert p.mean_ratio == pytest.approx(er, rel=RTOL_ROUNDING)


# ---------------------------------------------------------------------------------------
# the inversion (FW.5) against closed forms and mpmath quadrature
# ---------------------------------------------------------------------------------------

def _single_layer_cdf(chain, x):
    """P(log R <= x | R > 0) for one layer, from scipy.stats chi2 / beta mixtures."""
    n_in, n_out = chain.widths
    sw2 = chain.sigma_w ** 2
    relu = chain.phi.name == "relu"
    ks = range(1, n_out + 1) if relu else [n_out]
    out = 0.0
    for k in ks:
        pk = (special.comb(n_out, k) / 2.0 ** n_out / (1 - 2.0 ** -n_out)) if relu else 1.0
        if chain.weights == "gaussian":
            out += pk * stats.chi2.cdf(np.exp(x) * n_in / sw2, k)
        else:
            m = max(n_in, n_out)
            y = np.exp(x) / sw2
            out += pk * (stats.beta.cdf(y, k / 2, (m - k) / 2) if k < m else (y >= 1.0) * 1.0)
    return out


@pytest.mark.parametrize("chain", [Chain(1, [3, 5], phi="linear", sigma_w=1.4),
                                   Chain(1, 6, phi="relu", sigma_w=0.8),
                                   Chain(1, [9, 4], phi="linear", weights="orthogonal"),
                                   Chain(1, [5, 7], phi="relu", weights="orthogonal")],
                         ids=["linear-gauss", "relu-gauss", "linear-haar-contract", "relu-haar"])
def test_cdf_single_layer_closed_form(chain):
    """One layer: the Gil-Pelaez cdf equals scipy's chi2/beta mixture. Tolerance: inversion
    (1e-10) where the cf decays exponentially (Gaussian); for Haar the cf decays like
    t^-1/2 and the sum is truncated at 2^16 terms: error <= 10 cf_error (measured)."""
    p = predict_lognorm(chain)
    lo, hi = p.window
    x = np.linspace(max(lo, p.mean - 6 * p.std), min(hi, p.mean + 4 * p.std), 41)
    x = x[np.abs(x - p.point[0]) > 1e-3] if p.point[1] > 0 else x
    a = p.atom_at_zero
    got = (p.cdf(x) - a) / (1 - a)
    tol = TOL_INVERSION if chain.weights == "gaussian" else max(TOL_INVERSION,
                                                                 10 * p.cf_error + 1e-3)
    np.testing.assert_allclose(got, _single_layer_cdf(chain, x), atol=tol)


def _log_chi2_pdf(y, k, scale):
    """Density of log(scale chi^2_k) at y (mpmath)."""
    u = mpmath.exp(y) / scale
    return u * u ** (mpmath.mpf(k) / 2 - 1) * mpmath.exp(-u / 2) / (
        mpmath.mpf(2) ** (mpmath.mpf(k) / 2) * mpmath.gamma(mpmath.mpf(k) / 2))


def test_pdf_cdf_two_layers_vs_mpmath_convolution():
    """L = 2 linear Gaussian, widths (3, 5, 4): pdf and cdf at a few points equal the
    convolution integrals by mpmath.quad (30 digits). Inversion tolerance 1e-10."""
    c = Chain(2, [3, 5, 4], phi="linear", sigma_w=1.2)
    p = predict_lognorm(c)
    mpmath.mp.dps = 20
    s1, s2 = mpmath.mpf(1.44) / 3, mpmath.mpf(1.44) / 5
    for x in (p.mean - 2.0, p.mean, p.mean + 1.5):
        # Y1 = log(s1 chi^2_5): its density is below 1e-40 outside [-40, 6]
        grid = [-40, -10, -3, -1, 0, 1, 2, 3, 6]
        pdf = mpmath.quad(lambda y: _log_chi2_pdf(y, 5, s1) * _log_chi2_pdf(x - y, 4, s2), grid)
        # cdf: P(Y1 + Y2 <= x) = E[F_2(x - Y1)], F_2 the chi2 cdf
        cdf = mpmath.quad(lambda y: _log_chi2_pdf(y, 5, s1)
                          * mpmath.gammainc(mpmath.mpf(2), 0, mpmath.exp(x - y) / s2 / 2,
                                            regularized=True), grid)

        assert abs(float(p.pdf(x)) - float(pdf)) < TOL_INVERSION
        assert abs(float(p.cdf(x)) - float(cdf)) < TOL_INVERSION


_GL_X, _GL_W = np.polynomial.legendre.leggauss(10)


def _integrate(f, lo, hi, panels=400):
    """Composite 10-point Gauss-Legendre of a vectorised f on [lo, hi]."""
    e = np.linspace(lo, hi, panels + 1)
    x = (0.5 * (e[:-1] + e[1:])[:, None] + 0.5 * np.diff(e)[:, None] * _GL_X).ravel()
    wt = (0.5 * np.diff(e)[:, None] * _GL_W).ravel()
    return float(wt @ f(x))


@settings(max_examples=12)
@given(family=st.sampled_from(["linear_gaussian", "relu_he", "relu_haar"]),
       n=st.integers(2, 24), L=st.integers(2, 30), sw=st.floats(0.5, 2.0))
def test_law_properties(family, n, L, sw):
    """Invariants: cdf non-decreasing in [0, 1]; the pdf integrates to the continuous mass
    and its first moment is ``.mean``; the quantile inverts the cdf. Tolerances: inversion
    (1e-9) plus, for Haar (algebraic cf decay), 10 x the truncation level ``cf_error``;
    quadrature of the smooth pdf by 4000-node Gauss-Legendre (1e-8 on O(1) values)."""
    p = predict_lognorm(_chain(family, n, L, sigma_w=sw))
    tol = 1e-9 + 10 * p.cf_error
    lo, hi = p.window
    x = np.linspace(lo, hi, 400)
    F = p.cdf(x)
    assert np.all(np.diff(F) >= -tol) and F.min() >= 0 and F.max() <= 1
    assert F[-1] == pytest.approx(1.0, abs=tol)
    cont = (1 - p.atom_at_zero) * (1 - p.point[1])
    if p.cf_error == 0:
        assert _integrate(p.pdf, lo, hi) == pytest.approx(cont, abs=1e-8)
        m1 = _integrate(lambda v: v * p.pdf(v), lo, hi) / cont
        assert m1 == pytest.approx(p.mean, abs=1e-8 * max(1, abs(p.mean)))
    for q in (0.1, 0.5, 0.9):
        if q > p.atom_at_zero:
            xq = p.quantile(q)   # inf{x : cdf(x) >= q}: a point atom may make cdf jump past q
            assert float(p.cdf(xq)) >= q - tol
            assert float(p.cdf(xq - 1e-7)) <= q + tol


# ---------------------------------------------------------------------------------------
# KS tests against rmtchain.sample_lognorm
# ---------------------------------------------------------------------------------------

def _ks_check(chain, samples, seed, sampler=sample_lognorm, quantity="gradient"):
    p = predict_lognorm(chain, quantity)
    r = sampler(chain, samples, rng=seed)
    dead = ~np.isfinite(r)
    a = p.atom_at_zero
    # Monte Carlo: binomial count of R = 0 within 4 standard errors
    assert_mc_close(dead.mean(), math.sqrt(max(a * (1 - a), 1e-12) / samples), a,
                    what="P(R = 0)")
    fin = r[~dead]
    res = stats.kstest(fin, lambda v: (p.cdf(v) - a) / (1 - a))
    assert res.pvalue > KS_ALPHA, (chain, res)


QUICK_KS = [("linear_gaussian", 4, 10), ("relu_he", 16, 10), ("relu_haar", 4, 10),
            ("relu_he", 64, 10)]
SLOW_KS = [(f, n, L) for f in ("linear_gaussian", "relu_he", "relu_haar")
           for n in (4, 16, 64) for L in (10, 100)]


@pytest.mark.parametrize("family,n,L", QUICK_KS)
def test_ks_quick(family, n, L):
    """KS at significance 1e-3, 2000 samples, fixed seed."""
    _ks_check(_chain(family, n, L), 2000, seed=1000 + n + L)


@pytest.mark.slow
@pytest.mark.parametrize("family,n,L", SLOW_KS)
def test_ks_full(family, n, L):
    """KS at significance 1e-3, 20000 samples, fixed seed."""
    _ks_check(_chain(family, n, L), 20000, seed=2000 + n + L)


def test_relu_he_median_ratio_n_L_100():
    """n = L = 100, relu He: mean ratio 1 (to 2^-100), median ratio ~ 0.08 (THEORY.md:
    exp(-5/2) = 0.082 to leading order). Sampled median within 4 s.e. of the predicted one
    (order statistic s.e. sqrt(p(1-p)/N) / pdf(median))."""
    c = _chain("relu_he", 100, 100)
    p = predict_lognorm(c)
    assert p.mean_ratio == pytest.approx(1.0, rel=1e-12)
    assert 0.07 < p.median_ratio < 0.09
    assert p.median_ratio == pytest.approx(math.exp(-2.5), rel=0.1)   # leading order, O(1/n)
    r = sample_lognorm(c, 4000, rng=7)
    se = 0.5 / math.sqrt(4000) / float(p.pdf(p.median))
    assert_mc_close(np.median(r), se, p.median, what="median log R")


# ---------------------------------------------------------------------------------------
# forward norm
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("family", ["linear_gaussian", "relu_he", "relu_haar"])
def test_forward_law_equals_gradient_law(family):
    """(FW.8): zero-bias relu/linear forward law = gradient law (same numbers), and the
    forward sampler passes KS against it (significance 1e-3)."""
    c = _chain(family, 8, 12, sigma_w=1.3)
    g, f = predict_lognorm(c, "gradient"), predict_lognorm(c, "forward")
    x = np.linspace(*g.window, 50)
    assert (g.mean, g.var, g.atom_at_zero) == (f.mean, f.var, f.atom_at_zero)
    np.testing.assert_array_equal(g.cdf(x), f.cdf(x))
    _ks_check(c, 3000, seed=11, sampler=sample_forward_lognorm, quantity="forward")


def _forward_twin(chain, row):
    """log ||x_L||^2/||x_0||^2 from one sample_lognorm draw row with full weight frames."""
    phi, _ = naive.phi_numpy(chain.phi.name, chain.phi.param)
    w = chain.widths
    n0 = w[0]
    x = phi(math.sqrt(chain.q_input * n0) * row[:n0] / np.linalg.norm(row[:n0]))
    x0 = np.linalg.norm(x) ** 2
    pos = 2 * n0
    for l in range(chain.depth):
        m = max(w[l], w[l + 1])
        G = row[pos:pos + 2 * m].reshape(m, 2)
        pos += 2 * m
        F = (chain.sigma_w / math.sqrt(w[l]) * G if chain.weights == "gaussian"
             else chain.sigma_w * naive.haar_frame(G))[:w[l + 1]]
        h = np.linalg.norm(x) * F[:, 0]
        if chain.sigma_b > 0:
            h = h + chain.sigma_b * row[pos:pos + w[l + 1]]
            pos += w[l + 1]
        x = phi(h)
    return math.log(np.linalg.norm(x) ** 2) - math.log(x0)


@settings(max_examples=20)
@given(weights=st.sampled_from(["gaussian", "orthogonal"]),
       phi=st.sampled_from(["tanh", "erf", "linear", "gelu"]),
       width=st.lists(st.integers(1, 9), min_size=4, max_size=4),
       sigma_b=st.sampled_from([0.0, 0.3]), seed=st.integers(0, 2**31))
def test_forward_sampler_matches_naive_twin(weights, phi, width, sigma_b, seed):
    """sample_forward_lognorm equals a NumPy twin (QR Haar frames) on the same draws
    (rounding: 1e-12 relative, 1e-12 absolute near 0)."""
    c = Chain(3, width, weights=weights, phi=phi, sigma_w=1.2, sigma_b=sigma_b)
    got = sample_forward_lognorm(c, 5, rng=seed)
    rows = naive.draws_lognorm(c, 5, seed)
    want = [_forward_twin(c, row) for row in rows]
    np.testing.assert_allclose(got, want, rtol=RTOL_ROUNDING, atol=1e-12)


def test_forward_sampler_law_full_network():
    """The reduced forward draw has the law of full Gaussian/Haar networks (tanh with bias,
    rectangular): two-sample KS (significance 1e-3) against naive.forward on full W."""
    for weights in ("gaussian", "orthogonal"):
        c = Chain(4, [5, 7, 3, 6, 4], weights=weights, phi="tanh", sigma_w=1.4, sigma_b=0.3)
        a = sample_forward_lognorm(c, 3000, rng=5)
        rows = naive.draws_spectrum(c, 3000, 6)
        phi, _ = naive.phi_numpy("tanh")
        b = []
        for row in rows:
            h0, Ws, bs = naive.build_network(c, row)
            x0 = phi(h0)
            xL, _ = naive.forward(c, Ws, bs, x0)
            b.append(math.log(xL @ xL) - math.log(x0 @ x0))
        assert stats.ks_2samp(a, b).pvalue > KS_ALPHA


def test_forward_same_seed_same_numbers():
    c = Chain(5, 6, phi="tanh", sigma_b=0.2)
    np.testing.assert_array_equal(sample_forward_lognorm(c, 7, rng=3),
                                  sample_forward_lognorm(c, 7, rng=np.random.default_rng(3)))


# ---------------------------------------------------------------------------------------
# the normal approximation (FW.6)
# ---------------------------------------------------------------------------------------

def test_normal_approximation_tanh_gaussian():
    """Critical tanh (q* = 0.5), Gaussian, n = 64, L = 32: the predicted variance of log R
    (leading order, with the q fluctuations) within 10% of the sampled one (approximation
    error O(L/n^2) relative plus Monte Carlo 2%); the mean within 0.3 (its O(L/n) terms of
    second order in the q fluctuation are not included, (FW.6))."""
    c = Chain.critical(32, 64, phi="tanh", q_star=0.5)
    p = predict_lognorm(c)
    assert not p.exact
    r = sample_lognorm(c, 20000, rng=3)
    assert p.var == pytest.approx(r.var(), rel=0.1)
    assert abs(p.mean - r.mean()) < 0.3
    # the leading-order c: 2 c beta = var
    assert p.c == pytest.approx(p.var / (2 * p.beta), rel=1e-12)


# ---------------------------------------------------------------------------------------
# width for depth (FW.7)
# ---------------------------------------------------------------------------------------

def test_width_for_depth_linear_in_depth():
    """Gaussian weights: doubling the depth doubles the width within 10% (depth >= 50)."""
    for phi, sw in (("relu", math.sqrt(2.0)), ("linear", 1.0)):
        w = [width_for_depth(L, phi=phi, weights="gaussian", sigma_w=sw, tolerance=0.5)
             for L in (50, 100, 200)]
        assert w[1] / w[0] == pytest.approx(2.0, rel=0.1), (phi, w)
        assert w[2] / w[1] == pytest.approx(2.0, rel=0.1), (phi, w)


def test_width_for_depth_criterion_and_inverse():
    """The returned width meets the criterion and width - 1 does not; depth_for_width is
    its inverse (monotone step functions)."""
    n = width_for_depth(60, tolerance=0.4)
    tgt = math.log(0.6)
    p = predict_lognorm(Chain(60, n, phi="relu", sigma_w=math.sqrt(2.0)))
    q = predict_lognorm(Chain(60, n - 1, phi="relu", sigma_w=math.sqrt(2.0)))
    assert p.median - p.log_mean_ratio >= tgt > q.median - q.log_mean_ratio
    d = depth_for_width(n, tolerance=0.4)
    assert d >= 60
    assert width_for_depth(d, tolerance=0.4) <= n < width_for_depth(d + 1, tolerance=0.4)


def test_linear_orthogonal_any_width():
    assert width_for_depth(500, phi="linear", weights="orthogonal", sigma_w=1.3) == 1
    assert depth_for_width(2, phi="linear", weights="orthogonal", sigma_w=0.9) == math.inf
    p = predict_lognorm(Chain(40, 5, phi="linear", weights="orthogonal", sigma_w=1.1))
    assert p.point == (40 * math.log(1.21), 1.0) or p.point[1] == 1.0
    assert p.median == pytest.approx(80 * math.log(1.1), rel=RTOL_ROUNDING)
    assert p.var == 0.0


# ---------------------------------------------------------------------------------------
# Lyapunov exponents (FW.9)-(FW.10)
# ---------------------------------------------------------------------------------------

def test_lyapunov_linear_closed_forms():
    """Linear Gaussian: lambda_i = (1/2)[log(2 sigma_w^2/n) + psi((n-i+1)/2)] (mpmath);
    linear Haar: log sigma_w for every i. Rounding tolerance."""
    n, sw = 7, 1.3
    got = lyapunov_exponents(Chain(5, n, phi="linear", sigma_w=sw)).exponents
    want = [0.5 * float(mpmath.log(2 * mpmath.mpf(sw) ** 2 / n) + mpmath.digamma(
        mpmath.mpf(n - i + 1) / 2)) for i in range(1, n + 1)]
    np.testing.assert_allclose(got, want, rtol=RTOL_ROUNDING)
    haar = lyapunov_exponents(Chain(5, n, phi="linear", weights="orthogonal", sigma_w=sw))
    np.testing.assert_allclose(haar.exponents, math.log(sw), rtol=RTOL_ROUNDING)


def test_lyapunov_relu_top_equals_gradient_rate():
    """(FW.10) with k = 1 is (1/2) E[log R | R > 0] per layer of (FW.2)/(FW.3): two
    formulas for the same number (rounding)."""
    for weights in ("gaussian", "orthogonal"):
        c = Chain(10, 12, phi="relu", weights=weights, sigma_w=1.3)
        lam = lyapunov_exponents(c).exponents[0]
        p = predict_lognorm(Chain(1, 12, phi="relu", weights=weights, sigma_w=1.3))
        assert lam == pytest.approx(0.5 * p.mean, rel=RTOL_ROUNDING)


def test_sample_lyapunov_linear_gaussian():
    """n = 6, L = 1500: sampled log s_i / L within 4 s.e. + O(1/L) bias (log n / L, the
    gap of (S.5a)) of the digamma formula."""
    c = Chain(1500, 6, phi="linear", sigma_w=1.1)
    s = sample_lyapunov(c, 6, rng=4)
    assert_mc_close(s.exponents, s.stderr, lyapunov_exponents(c).exponents,
                    bias=math.log(6) / 1500, what="Lyapunov")


@pytest.mark.slow
def test_sample_lyapunov_relu():
    """relu He and relu Haar, n = 32, L = 3000: top 3 exponents (depth * P(K < 3) ~ 4e-4)
    within 4 s.e. + log(n)/L."""
    for weights in ("gaussian", "orthogonal"):
        c = Chain(3000, 32, phi="relu", weights=weights, sigma_w=math.sqrt(2.0))
        s = sample_lyapunov(c, 8, rng=5)
        assert_mc_close(s.exponents[:3], s.stderr[:3], lyapunov_exponents(c).exponents[:3],
                        bias=math.log(32) / 3000, what=f"relu {weights} Lyapunov")


# ---------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------

def test_bad_input():
    c = Chain(3, 4, phi="relu")
    with pytest.raises(ValueError, match="chain"):
        predict_lognorm("relu")
    with pytest.raises(ValueError, match="quantity"):
        predict_lognorm(c, "backward")
    with pytest.raises(ValueError, match="samples"):
        sample_forward_lognorm(c, 0)
    with pytest.raises(ValueError, match="rng"):
        sample_forward_lognorm(c, 3, rng=-1)
    with pytest.raises(ValueError, match="tolerance"):
        width_for_depth(10, tolerance=1.5)
    with pytest.raises(ValueError, match="depth"):
        width_for_depth(0)
    with pytest.raises(ValueError, match="width"):
        depth_for_width(0)
    with pytest.raises(ValueError, match="sigma_w"):
        width_for_depth(10, sigma_w=-1.0)
    with pytest.raises(ValueError, match="p must"):
        predict_lognorm(c).quantile(1.0)
    with pytest.raises(ValueError, match="x must"):
        predict_lognorm(c).cdf(np.nan)
    with pytest.raises(ValueError, match="width"):
        lyapunov_exponents(Chain(3, [4, 5, 4, 4], phi="linear"))
    with pytest.raises(ValueError, match="phi"):
        lyapunov_exponents(Chain(3, 4, phi="tanh"))
    with pytest.raises(ValueError, match="sigma_b"):
        lyapunov_exponents(Chain(3, 4, phi="linear", sigma_b=0.1))
    with pytest.raises(ValueError, match="samples"):
        sample_lyapunov(c, 0)


@pytest.mark.parametrize("weights, sigma_w, n", [("orthogonal", 1.0, 20), ("gaussian", 2 ** 0.5, 64),
                                                 ("gaussian", 2 ** 0.5, 1100)])
def test_lyapunov_relu_exponents_are_ordered_and_finite_where_defined(weights, sigma_w, n):
    """relu: finite exponents descend, and at Haar sigma_w = 1 (every layer a contraction,
    ||D W|| <= 1) none is positive; the rest are -inf, never NaN (n = 1100 underflowed to
    0/0 before the RELU_RANK_TOL cut)."""
    lam = lyapunov_exponents(Chain(2, n, phi="relu", weights=weights, sigma_w=sigma_w)).exponents
    assert not np.isnan(lam).any()
    fin = lam[np.isfinite(lam)]
    assert fin.size >= 1 and np.all(np.isneginf(lam[fin.size:]))
    assert np.all(np.diff(fin) <= 0)
    if weights == "orthogonal":
        assert np.all(fin <= 0)
