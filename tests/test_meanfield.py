"""``rmtchain.mean_field``, ``critical_sigma_w``, ``critical_point``, ``Chain.critical``
(rmtchain/meanfield.py, theory/meanfield.md (MF.3), (MF.3d)).

References, none of them the code under test:
- mpmath quadrature at 30 digits (``mp.quad`` split at the kinks) of the 1-D Gaussian
  expectations, with phi, phi', phi'' written out here; the slope of the length map in the
  form with phi'' *and its delta masses at the kinks* (hardtanh: -2 p_q(1)), where the package
  uses the phi''-free form;
- the correlation map (MF.3b): erf by its closed form (the arcsine kernel), hardtanh with the
  inner expectation in closed form (normal cdf) and the outer one by mp.quad, tanh by nested
  Gauss-Legendre in mpmath (20 digits), relu by the arc-cosine kernel;
- closed forms: relu mu_k = 1/2, hardtanh mu_k = erf(1/sqrt(2 q*)), linear;
- finite differences of the iterated maps for the depth scales.

Named tolerances (module constants below); each test says which one it uses.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rmtchain
from rmtchain import Chain, critical_point, critical_sigma_w, mean_field
from rmtchain.meanfield import length_map

import naive

#: the package's quadrature (epsabs = epsrel = 1e-13 per piece, 2-D rule to 1e-13) and root
#: solves (xtol 1e-14) against 30-digit mpmath: the issue's acceptance level
QUAD = 1e-10
#: closed forms evaluated through the package's quadrature (a few 1e-13 pieces summed)
ROUNDING_QUAD = 1e-12
#: central difference of a quadrature-evaluated map, step 1e-4 relative: O(step^2) = 1e-8
#: truncation plus (1e-13 quadrature noise) / step = 1e-9
FINITE_DIFF = 1e-6

# ----------------------------------------------------------------------------------------
# independent mpmath references
# ----------------------------------------------------------------------------------------


def _clip(h):
    return max(mp.mpf(-1), min(mp.mpf(1), h))


#: phi, phi', phi'' (the regular part) in mpmath, and the kinks
MP_PHI = {
    "tanh": (mp.tanh, lambda h: mp.sech(h) ** 2, lambda h: -2 * mp.tanh(h) * mp.sech(h) ** 2, ()),
    "erf": (mp.erf, lambda h: 2 / mp.sqrt(mp.pi) * mp.exp(-h * h),
            lambda h: -4 * h / mp.sqrt(mp.pi) * mp.exp(-h * h), ()),
    "relu": (lambda h: h if h > 0 else mp.mpf(0), lambda h: mp.mpf(1 if h > 0 else 0),
             lambda h: mp.mpf(0), (0,)),
    "hardtanh": (_clip, lambda h: mp.mpf(1 if abs(h) < 1 else 0), lambda h: mp.mpf(0), (-1, 1)),
}


def _npdf(x, q):
    return mp.exp(-x * x / (2 * q)) / mp.sqrt(2 * mp.pi * q)


def _kink_delta(name, q):
    """E[phi(u) phi''(u)] from the delta masses of phi'' at the kinks, u ~ N(0, q).

    hardtanh'' = delta(h + 1) - delta(h - 1): phi(-1) p(-1) - phi(1) p(1) = -2 p_q(1);
    relu'' = delta(h) and relu(0) = 0: nothing.
    """
    return -2 * _npdf(mp.mpf(1), q) if name == "hardtanh" else mp.mpf(0)


def mp_expect(f, q, kinks):
    s = mp.sqrt(q)
    pts = [-mp.inf, *sorted(mp.mpf(k) / s for k in kinks), mp.inf]
    return mp.quad(lambda z: f(s * z) * mp.exp(-z * z / 2), pts) / mp.sqrt(2 * mp.pi)


def mp_mean_field(name, sigma_w, sigma_b, q_guess):
    """q*, chi1, mu_1, mu_2, chi_q at 30 digits (q* by findroot from near the package value)."""
    phi, dphi, d2phi, kinks = MP_PHI[name]
    with mp.workdps(30):
        sw2, sb2 = mp.mpf(sigma_w) ** 2, mp.mpf(sigma_b) ** 2

        def g(q):
            return sw2 * mp_expect(lambda h: phi(h) ** 2, q, kinks) + sb2 - q

        q = mp.findroot(g, (mp.mpf(q_guess) * (1 - mp.mpf("1e-6")), mp.mpf(q_guess)))
        mu1 = mp_expect(lambda h: dphi(h) ** 2, q, kinks)
        mu2 = mp_expect(lambda h: dphi(h) ** 4, q, kinks)
        e = mp_expect(lambda h: dphi(h) ** 2 + phi(h) * d2phi(h), q, kinks) + _kink_delta(name, q)
        return dict(q=q, chi1=sw2 * mu1, mu1=mu1, mu2=mu2, chi_q=sw2 * e)


def mp_corr_hardtanh(q, c):
    """(E[phi(u_1) phi(u_2)], E[phi'(u_1) phi'(u_2)]) for hardtanh: inner expectations in
    closed form given u_1 (u_2 | u_1 ~ N(c u_1, q (1 - c^2))), outer by mp.quad."""
    b = mp.sqrt(q * (1 - c * c))

    def inner_phi(m):   # E[clip(X)], X ~ N(m, b^2)
        lo, hi = (-1 - m) / b, (1 - m) / b
        return (-mp.ncdf(lo) + (1 - mp.ncdf(hi)) + m * (mp.ncdf(hi) - mp.ncdf(lo))
                + b * (mp.npdf(lo) - mp.npdf(hi)))

    def inner_dphi(m):  # P(|X| < 1)
        return mp.ncdf((1 - m) / b) - mp.ncdf((-1 - m) / b)

    pp = mp_expect(lambda h: _clip(h) * inner_phi(c * h), q, (-1, 1))
    dd = mp_expect(lambda h: (1 if abs(h) < 1 else 0) * inner_dphi(c * h), q, (-1, 1))
    return pp, dd


def mp_corr_nested(f, g, q, c, dps=15):
    """E[f(u_1) g(u_2)] by nested Gauss-Legendre on |z| <= 9 in mpmath (smooth f, g).

    The mass beyond |z| = 9 is 2e-19; mpmath's Gauss-Legendre at 15 digits is accurate to
    ~1e-15 here (the same number as at 20 digits on |z| <= 10, which takes 10x longer)."""
    with mp.workdps(dps):
        q, c = mp.mpf(q), mp.mpf(c)
        s, r = mp.sqrt(q), mp.sqrt(1 - c * c)

        def inner(z1):
            return mp.quad(lambda z2: g(s * (c * z1 + r * z2)) * mp.exp(-z2 * z2 / 2),
                           [-9, 0, 9], method="gauss-legendre")

        return mp.quad(lambda z1: f(s * z1) * mp.exp(-z1 * z1 / 2) * inner(z1), [-9, 0, 9],
                       method="gauss-legendre") / (2 * mp.pi)


# ----------------------------------------------------------------------------------------
# agreement with mpmath (acceptance: 1e-10 for tanh, erf, relu, hardtanh)
# ----------------------------------------------------------------------------------------

CASES = [
    ("tanh", 1.5, 0.1),       # chaotic
    ("tanh", 1.1, 0.1),       # ordered
    ("erf", 2.0, 0.1),        # chaotic
    ("relu", 1.0, 0.3),       # ordered (relu with a finite q* always is)
    ("hardtanh", 1.5, 0.1),   # chaotic
    ("hardtanh", 0.9, 0.2),   # ordered
]


@pytest.mark.parametrize("name, sigma_w, sigma_b", CASES)
def test_mean_field_matches_mpmath(name, sigma_w, sigma_b):
    """q*, chi1, mu_1, mu_2, xi_q against 30-digit mpmath (tolerance QUAD)."""
    mf = mean_field(name, sigma_w, sigma_b)
    ref = mp_mean_field(name, sigma_w, sigma_b, mf.q_star)
    assert mf.q_star == pytest.approx(float(ref["q"]), rel=QUAD)
    assert mf.chi1 == pytest.approx(float(ref["chi1"]), rel=QUAD)
    assert mf.mu[0] == pytest.approx(float(ref["mu1"]), rel=QUAD)
    assert mf.mu[1] == pytest.approx(float(ref["mu2"]), rel=QUAD)
    assert mf.chi_q == pytest.approx(float(ref["chi_q"]), rel=QUAD)
    assert mf.xi_q == pytest.approx(float(-1 / mp.log(ref["chi_q"])), rel=QUAD)
    assert mf.phase == ("chaotic" if ref["chi1"] > 1 else "ordered")
    d = mf.diagnostics
    assert d.quad_failures == 0
    assert d.q_residual < 1e-13
    assert np.all(d.mu_error < 1e-12) and d.chi1_error < 1e-12
    if ref["chi1"] < 1:   # ordered: c* = 1 and xi_c = -1/log chi1 exactly
        assert mf.c_star == 1.0 and mf.chi_c == mf.chi1
        assert mf.xi_c == pytest.approx(-1 / math.log(mf.chi1), rel=1e-15)


def test_c_star_erf_closed_form():
    """erf: E[erf(u_1) erf(u_2)] = (2/pi) asin(2 q c / (1 + 2q)) (Williams 1997); c* by
    findroot at 30 digits, chi_c = sigma_w^2 (4/pi) / sqrt((1+2q)^2 - (2qc)^2). QUAD."""
    sw, sb = 2.0, 0.1
    mf = mean_field("erf", sw, sb)
    with mp.workdps(30):
        q = mp.findroot(lambda q: sw**2 * 2 / mp.pi * mp.asin(2 * q / (1 + 2 * q)) + sb**2 - q,
                        mp.mpf(mf.q_star))
        fc = lambda c: (sw**2 * 2 / mp.pi * mp.asin(2 * q * c / (1 + 2 * q)) + sb**2) / q  # noqa: E731
        c = mp.findroot(lambda c: fc(c) - c, mp.mpf(mf.c_star))
        chi_c = sw**2 * 4 / mp.pi / mp.sqrt((1 + 2 * q) ** 2 - (2 * q * c) ** 2)
    assert 0 < mf.c_star < 1
    assert mf.c_star == pytest.approx(float(c), abs=QUAD)
    assert mf.chi_c == pytest.approx(float(chi_c), rel=QUAD)
    assert mf.xi_c == pytest.approx(float(-1 / mp.log(chi_c)), rel=QUAD)
    assert mf.correlation_map(0.5) == pytest.approx(float(fc(mp.mpf(0.5))), abs=QUAD)


def test_c_star_hardtanh_mpmath():
    """hardtanh, chaotic: f_c(c*) = c* and chi_c by mp.quad (30 digits) with the inner
    expectation in closed form (so the kinks of phi(u_2), which move with u_1, are handled
    exactly). A residual r means |c* - c*_true| = r / (1 - chi_c); QUAD in c* and chi_c."""
    sw, sb = 1.5, 0.1
    mf = mean_field("hardtanh", sw, sb)
    with mp.workdps(30):
        q = mp.mpf(mf.q_star)   # checked against mpmath to 1e-10 above
        pp, dd = mp_corr_hardtanh(q, mp.mpf(mf.c_star))
        residual = abs(float((sw**2 * pp + sb**2) / q) - mf.c_star)
        chi_c = float(sw**2 * dd)
    assert residual <= QUAD * (1 - chi_c)
    assert mf.chi_c == pytest.approx(chi_c, rel=QUAD)
    assert mf.diagnostics.c_residual < 1e-13


def test_c_star_tanh_mpmath():
    """tanh, chaotic: f_c(c*) = c* by nested mpmath Gauss-Legendre (15 digits). A residual
    r means |c* - c*_true| = r / (1 - chi_c); we ask for QUAD in c*. Also chi_c. QUAD."""
    sw, sb = 1.5, 0.1
    mf = mean_field("tanh", sw, sb)
    q = mf.q_star   # checked against mpmath to 1e-10 above; enters here at that level
    e12 = mp_corr_nested(mp.tanh, mp.tanh, q, mf.c_star)
    chi_c = sw**2 * mp_corr_nested(lambda h: mp.sech(h) ** 2, lambda h: mp.sech(h) ** 2, q,
                                   mf.c_star)
    residual = abs(float((sw**2 * e12 + sb**2) / q) - mf.c_star)
    assert residual <= QUAD * (1 - float(chi_c))
    assert mf.chi_c == pytest.approx(float(chi_c), rel=QUAD)


def test_correlation_map_relu_arccos_kernel():
    """relu: E[relu(u_1) relu(u_2)] = q/(2 pi) (sqrt(1-c^2) + (pi - acos c) c) (Cho & Saul).
    The 2-D rule splits at the kink of phi(u_2), which moves with u_1. ROUNDING_QUAD."""
    sw, sb = 1.2, 0.4
    mf = mean_field("relu", sw, sb)
    q = mf.q_star
    for c in (-0.7, 0.0, 0.3, 0.9, 0.999):
        k = q / (2 * math.pi) * (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c)
        assert mf.correlation_map(c) == pytest.approx((sw**2 * k + sb**2) / q,
                                                      abs=ROUNDING_QUAD)
    assert mf.correlation_map(1.0) == pytest.approx(1.0, abs=ROUNDING_QUAD)


# ----------------------------------------------------------------------------------------
# closed forms
# ----------------------------------------------------------------------------------------

def test_chi1_closed_forms():
    """relu: phi'^2 is Bernoulli(1/2), so mu_k = 1/2 and chi1 = sigma_w^2/2; hardtanh:
    Bernoulli(p), mu_k = p = erf(1/sqrt(2 q*)); linear: mu_k = 1, q* = sigma_b^2/(1 - sigma_w^2).
    ROUNDING_QUAD."""
    mf = mean_field("relu", 1.2, 0.5)
    assert mf.q_star == pytest.approx(0.25 / (1 - 0.72), rel=ROUNDING_QUAD)
    np.testing.assert_allclose(mf.mu, 0.5, rtol=ROUNDING_QUAD)
    assert mf.chi1 == pytest.approx(0.72, rel=ROUNDING_QUAD)
    assert mf.chi_q == pytest.approx(0.72, rel=ROUNDING_QUAD)   # f(q) = sw^2 q/2 + sb^2

    mf = mean_field("hardtanh", 0.9, 0.2, kmax=5)
    p = math.erf(1 / math.sqrt(2 * mf.q_star))
    assert mf.kmax == 5
    np.testing.assert_allclose(mf.mu, p, rtol=ROUNDING_QUAD)
    assert mf.chi1 == pytest.approx(0.81 * p, rel=ROUNDING_QUAD)

    mf = mean_field("linear", 0.5, 0.3)
    assert mf.q_star == pytest.approx(0.09 / 0.75, rel=ROUNDING_QUAD)
    np.testing.assert_allclose(mf.mu, 1.0, rtol=ROUNDING_QUAD)
    assert mf.chi1 == pytest.approx(0.25, rel=ROUNDING_QUAD)
    assert mf.xi_q == pytest.approx(-1 / math.log(0.25), rel=ROUNDING_QUAD)
    assert mf.xi_c == pytest.approx(-1 / math.log(0.25), rel=ROUNDING_QUAD)
    assert mf.c_star == 1.0


def test_identity_maps_need_q_star():
    """linear with sigma_w = 1 and relu with sigma_w^2 = 2 (sigma_b = 0): every q is a fixed
    point; with q_star given, chi1 = 1 and both depth scales are infinite. ROUNDING_QUAD."""
    with pytest.raises(ValueError, match="every q is a fixed point.*q_star"):
        mean_field("relu", math.sqrt(2), 0.0)
    mf = mean_field("relu", math.sqrt(2), 0.0, q_star=0.7)
    assert mf.q_star == 0.7 and mf.diagnostics.q_solver == "given"
    assert mf.chi1 == pytest.approx(1.0, rel=ROUNDING_QUAD)
    assert mf.c_star == 1.0 and mf.xi_q == math.inf and mf.xi_c == math.inf
    assert mf.phase == "critical"
    mf = mean_field("linear", 1.0, 0.0, q_star=3.0)
    assert mf.chi1 == pytest.approx(1.0, rel=ROUNDING_QUAD) and mf.xi_c == math.inf == mf.xi_q


# ----------------------------------------------------------------------------------------
# depth scales against the iterated maps
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, sigma_w, sigma_b", [
    ("tanh", 1.5, 0.1), ("hardtanh", 1.5, 0.1), ("hardtanh", 0.9, 0.2), ("relu", 1.0, 0.3),
    ("erf", 0.8, 0.3),
])
def test_depth_scale_matches_iterated_map(name, sigma_w, sigma_b):
    """chi_q = f'(q*) and chi_c = f_c'(c*) against central differences of the maps
    (hardtanh: the deltas of phi'' at the kinks are in the difference, MF.3c). FINITE_DIFF."""
    mf = mean_field(name, sigma_w, sigma_b)
    q, h = mf.q_star, 1e-4 * mf.q_star
    slope = (length_map(name, sigma_w, sigma_b, q + h)
             - length_map(name, sigma_w, sigma_b, q - h)) / (2 * h)
    assert mf.chi_q == pytest.approx(slope, rel=FINITE_DIFF)
    assert mf.xi_q == pytest.approx(-1 / math.log(slope), rel=10 * FINITE_DIFF)
    if mf.c_star < 1:
        c, h = mf.c_star, 1e-4
        slope_c = (mf.correlation_map(c + h) - mf.correlation_map(c - h)) / (2 * h)
        assert mf.chi_c == pytest.approx(slope_c, rel=FINITE_DIFF)
    # and a naive phi''-based slope is wrong for hardtanh by the kink term -2 sigma_w^2 p_q(1)
    if name == "hardtanh":
        naive_chi_q = sigma_w**2 * mf.mu[0]   # E[phi'^2 + phi * 0]: the registry's phi''
        kink = -2 * sigma_w**2 * math.exp(-1 / (2 * q)) / math.sqrt(2 * math.pi * q)
        assert mf.chi_q == pytest.approx(naive_chi_q + kink, rel=ROUNDING_QUAD)


# ----------------------------------------------------------------------------------------
# the critical line
# ----------------------------------------------------------------------------------------

def test_critical_sigma_w_tanh():
    """THEORY.md: tanh, sigma_b = 0.05 -> sigma_w = 1.12254, q* = 0.15369 (5 digits), and
    chi1 = 1 at the returned sigma_w by 30-digit mpmath (q* solved there). QUAD."""
    sw = critical_sigma_w("tanh", 0.05)
    assert sw == pytest.approx(1.12254, abs=5e-6)
    mf = mean_field("tanh", sw, 0.05)
    assert mf.q_star == pytest.approx(0.15369, abs=5e-6)
    assert mf.chi1 == pytest.approx(1.0, abs=QUAD) and mf.phase == "critical"
    ref = mp_mean_field("tanh", sw, 0.05, mf.q_star)
    assert abs(float(ref["chi1"]) - 1) < QUAD
    assert mf.c_star == 1.0 and mf.xi_c == math.inf


@pytest.mark.parametrize("name, sigma_b", [("erf", 0.3), ("hardtanh", 0.1), ("sigmoid", 0.0)])
def test_critical_sigma_w_gives_chi1_one(name, sigma_b):
    """chi1 = 1 at the critical sigma_w, q* by the rule (MF.2). QUAD."""
    mf = mean_field(name, critical_sigma_w(name, sigma_b), sigma_b)
    assert mf.chi1 == pytest.approx(1.0, abs=QUAD)


def test_critical_sigma_w_homogeneous():
    """relu/leaky_relu/linear: the critical line is sigma_b = 0 only, where
    sigma_w = (E[phi'(z)^2])^(-1/2) (sqrt 2 for relu). ROUNDING_QUAD."""
    assert critical_sigma_w("relu", 0.0) == pytest.approx(math.sqrt(2), rel=ROUNDING_QUAD)
    assert critical_sigma_w("linear", 0.0) == pytest.approx(1.0, rel=ROUNDING_QUAD)
    assert critical_sigma_w("leaky_relu(0.5)", 0.0) == pytest.approx(math.sqrt(2 / 1.25),
                                                                      rel=ROUNDING_QUAD)
    with pytest.raises(ValueError, match="sigma_b=0.1.*homogeneous|homogeneous.*sigma_b=0.1"):
        critical_sigma_w("relu", 0.1)
    with pytest.raises(ValueError, match="sigma_b=0.0.*q\\* = 0"):
        critical_sigma_w("tanh", 0.0)


@pytest.mark.parametrize("weights", ["gaussian", "orthogonal"])
@pytest.mark.parametrize("name", ["tanh", "hardtanh"])
@pytest.mark.parametrize("q_star", [1 / 64, 1 / 2])
def test_chain_critical(name, weights, q_star):
    """1711.04735's settings: the chain has q0 = q*, q* is a fixed point at
    (sigma_w, sigma_b) and chi1 = 1 there. QUAD (ROUNDING_QUAD for the construction)."""
    c = Chain.critical(4, 8, phi=name, weights=weights, q_star=q_star)
    assert c.q_input == q_star and c.weights == weights and c.phi.name == name
    mf = mean_field(name, c.sigma_w, c.sigma_b, q_star=q_star)
    assert mf.chi1 == pytest.approx(1.0, abs=ROUNDING_QUAD)
    assert mf.diagnostics.q_residual < ROUNDING_QUAD
    # 30-digit check of the fixed point and of chi1 at q* (no root solve needed)
    lq = naive.length_map_mp(name, 0.0, c.sigma_w, c.sigma_b, q_star)
    assert float(abs(lq - q_star) / q_star) < QUAD
    with mp.workdps(30):
        chi1 = mp.mpf(c.sigma_w) ** 2 * mp_expect(lambda h: MP_PHI[name][1](h) ** 2,
                                                  mp.mpf(q_star), MP_PHI[name][3])
    assert abs(float(chi1) - 1) < QUAD


def test_chain_critical_published_values():
    """hardtanh at q* = 1/64 needs sigma_b ~ 4e-9: sigma_b^2 = (2 phi_N(a)/a - 2 Q(a)) / p with
    a = 1/sqrt(q*) = 8, p = erf(a/sqrt 2), Q the normal tail (MF.3d); relu at any q* gives He
    init with sigma_b = 0 exactly. ROUNDING_QUAD (hardtanh sigma_b^2 to 1e-6 relative: it
    is the integral of q phi'^2 - phi^2, about 2e-17, computed to relative 1e-13 per piece)."""
    sw, sb = critical_point("hardtanh", 1 / 64)
    a = 8.0
    with mp.workdps(30):
        sb2 = 2 * mp.npdf(a) / a - 2 * (1 - mp.ncdf(a))
        p = mp.erf(a / mp.sqrt(2))
    assert sw == pytest.approx(float(1 / mp.sqrt(p)), rel=ROUNDING_QUAD)
    assert sb**2 == pytest.approx(float(sb2 / p), rel=1e-6)
    c = Chain.critical(3, 5, phi="relu", q_star=0.3)
    assert c.sigma_w == pytest.approx(math.sqrt(2), rel=ROUNDING_QUAD) and c.sigma_b == 0.0


# ----------------------------------------------------------------------------------------
# bad input: ValueError naming the argument, never NaN
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, match", [
    (dict(sigma_w=0.0), "sigma_w"), (dict(sigma_w=-1.0), "sigma_w"),
    (dict(sigma_w=math.nan), "sigma_w"), (dict(sigma_w=math.inf), "sigma_w"),
    (dict(sigma_w="1"), "sigma_w"), (dict(sigma_w=True), "sigma_w"),
    (dict(sigma_b=-0.1), "sigma_b"), (dict(sigma_b=math.nan), "sigma_b"),
    (dict(phi="nope"), "phi"), (dict(phi=3), "phi"),
    (dict(kmax=0), "kmax"), (dict(kmax=2.0), "kmax"),
    (dict(q_star=0.0), "q_star"), (dict(q_star=-1.0), "q_star"), (dict(q_star=math.nan), "q_star"),
    (dict(q_star=0.5), "q_star=0.5 is not a fixed point"),
])
def test_mean_field_bad_arguments(kw, match):
    args = dict(phi="tanh", sigma_w=1.5, sigma_b=0.1) | kw
    with pytest.raises(ValueError, match=match):
        mean_field(**args)


@pytest.mark.parametrize("name, sigma_w, sigma_b, match", [
    ("tanh", 0.9, 0.0, "to 0"), ("tanh", 1.0, 0.0, "to 0"), ("hardtanh", 0.8, 0.0, "to 0"),
    ("relu", 2.0, 0.5, "to infinity"), ("linear", 1.5, 0.0, "to infinity"),
    ("linear", 1.0, 0.0, "every q"),
])
def test_mean_field_without_fixed_point(name, sigma_w, sigma_b, match):
    with pytest.raises(ValueError, match=f"sigma_w={sigma_w}, sigma_b={sigma_b}.*{match}"):
        mean_field(name, sigma_w, sigma_b)


def test_critical_bad_arguments():
    with pytest.raises(ValueError, match="sigma_b"):
        critical_sigma_w("tanh", -0.1)
    with pytest.raises(ValueError, match="phi"):
        critical_sigma_w("nope", 0.1)
    for q in (0.0, -1.0, math.inf, "1"):
        with pytest.raises(ValueError, match="q_star"):
            critical_point("tanh", q)
        with pytest.raises(ValueError, match="q_star"):
            Chain.critical(2, 3, phi="tanh", q_star=q)
    # sigmoid at q* = 1: sigma_b^2 = q* - E[phi^2]/E[phi'^2] < 0
    with pytest.raises(ValueError, match="sigma_b\\^2"):
        Chain.critical(2, 3, phi="sigmoid", q_star=1.0)
    with pytest.raises(ValueError, match="weights"):
        Chain.critical(2, 3, phi="tanh", weights="haar", q_star=0.5)
    with pytest.raises(ValueError, match="c must be"):
        mean_field("tanh", 1.5, 0.1).correlation_map(1.5)


# ----------------------------------------------------------------------------------------
# properties
# ----------------------------------------------------------------------------------------

MAX_DPHI = {"tanh": 1.0, "erf": 2 / math.sqrt(math.pi)}


@settings(max_examples=12)
@given(name=st.sampled_from(["tanh", "erf"]), frac=st.floats(0.1, 0.99),
       sigma_b=st.floats(0.02, 1.0))
def test_ordered_q_star_is_fixed_point(name, frac, sigma_b):
    """Smooth phi, sigma_w < 1/max|phi'| (so chi1 < 1: ordered): f(q*) = q* by 30-digit
    mpmath (QUAD), c* = 1, xi_c = -1/log chi1, everything finite."""
    sw = frac / MAX_DPHI[name]
    mf = mean_field(name, sw, sigma_b)
    lq = naive.length_map_mp(name, 0.0, sw, sigma_b, mf.q_star)
    assert float(abs(lq - mf.q_star) / mf.q_star) < QUAD
    assert mf.chi1 < 1 and mf.c_star == 1.0 and mf.phase == "ordered"
    assert mf.xi_c == pytest.approx(-1 / math.log(mf.chi1), rel=1e-15)
    assert 0 < mf.chi_q < 1 and math.isfinite(mf.xi_q)


@settings(max_examples=10)
@given(name=st.sampled_from(rmtchain.registered_phis()), sigma_w=st.floats(0.3, 2.5),
       sigma_b=st.one_of(st.just(0.0), st.floats(0.01, 1.0)))
def test_mean_field_never_nan(name, sigma_w, sigma_b):
    """Any registered phi, any sigma: a ValueError or finite numbers (xi may be inf)."""
    try:
        mf = mean_field(name, sigma_w, sigma_b)
    except ValueError as exc:
        assert "sigma_w" in str(exc) and "sigma_b" in str(exc)
        return
    vals = [mf.q_star, mf.chi1, mf.chi_q, mf.c_star, mf.chi_c, *mf.mu]
    assert all(math.isfinite(v) for v in vals), mf
    assert not (math.isnan(mf.xi_q) or math.isnan(mf.xi_c))
    assert 0.0 <= mf.c_star <= 1.0
    assert mf.diagnostics.quad_failures == 0


def test_cited_labels_exist():
    """Every theory/meanfield.md label cited by rmtchain/meanfield.py and chain.py is defined
    there (as **(MF.n)** or a "## (MF.n)" heading)."""
    import pathlib
    import re

    root = pathlib.Path(rmtchain.__file__).parent
    page = (root.parent / "theory" / "meanfield.md").read_text()
    defined = set(re.findall(r"\*\*\((MF\.[0-9a-z']+)\)\*\*", page))
    defined |= set(re.findall(r"^## \((MF\.[0-9a-z']+)\)", page, re.M))
    for name in ("meanfield.py", "chain.py"):
        cited = set(re.findall(r"\((MF\.[0-9a-z']+)\)", (root / name).read_text()))
        assert cited <= defined, (name, cited - defined)
