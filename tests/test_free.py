"""Free-probability engine (rmtchain/free.py, theory/free.md) against independent references.

References used, none of them the code under test:
- mu_k = E[phi'(h)^{2k}] by mpmath quadrature at 30 digits with the derivatives written out
  here (closed forms for the Bernoulli laws);
- the moment series from the branch-free equation (FP.8) expanded in u = 1/w and inverted
  term by term in mpmath (``_mtransform_moments``), a different route from the code's
  S-transform product (FP.4)-(FP.7);
- the variance identity m_2/m_1^2 - 1 = L (mu_2/mu_1^2 - 1 + s_1) (THEORY.md);
- closed-form laws (rmtchain.laws.FussCatalan, MarchenkoPastur), themselves tested against
  quadrature and mpmath in tests/test_laws.py;
- Monte Carlo spectra from rmtchain.sample_spectrum (slow test).

Named tolerances: ROUNDING, QUAD, SERIES, MASS, DENSITY_MOMENTS, SOLVER below (each test's
docstring names the one it uses) and the Monte Carlo KS bound in the slow test.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rmtchain
from rmtchain import free
from rmtchain.laws import FussCatalan, MarchenkoPastur

#: float rounding of the same closed form computed two ways (relative)
ROUNDING = 1e-12
#: the code's Gauss-Legendre panels (FP.1) against 30-digit mpmath quadrature (relative)
QUAD = 1e-11
#: M_D(w) with the pole subtraction (FP.2b) at w 1e-6..1e-3 from the support of d against
#: mpmath split at the real crossings (relative): the subtracted remainder's node sum
#: (~1e-13) and mpmath's tanh-sinh at a near-endpoint pole; dx/dw is conditioned ~1/Im w
#: worse
QUAD_NEAR = 1e-10
QUAD_NEAR_DX = 1e-8
#: acceptance: moment series against the independent inversion (relative), issue 3
SERIES = 1e-8
#: mass of the density (bulk + atoms) against 1, depth <= 50: panel quadrature in
#: s = sqrt(t_edge - t) plus the node sum for M_D(w) near the support of d (FP.11)
MASS = 1e-6
#: moments of the density against the series: the same quadrature errors, weighted by
#: lambda^k (relative)
DENSITY_MOMENTS = 1e-6
#: the Newton root of (FP.9) against the Fuss-Catalan / Marchenko-Pastur closed forms,
#: conditioned like 1 / (edge - lam) near the edge (relative, points >= 1e-3 edge away)
SOLVER = 1e-9

#: (sigma_w, sigma_b) per phi: a stable q* exists and chi1 is O(1), so m_4 at depth 1000
#: stays inside the float range for most phi; the comparison is made on log m_1 and
#: m_k / m_1^k, which never overflow.
SETTINGS = {
    "linear": (0.9, 0.3),
    "tanh": (1.3956, 0.3),
    "hardtanh": (1.1161, 0.3),
    "relu": (1.4, 0.3),
    "leaky_relu": (1.4, 0.3),
    "erf": (1.2337, 0.3),
    "sigmoid": (4.0, 0.3),
    "selu": (1.0, 0.3),
    "gelu": (1.4, 0.3),
    "silu": (1.4, 0.3),
}
WEIGHTS = ("gaussian", "orthogonal")

mp = mpmath.mp


# --------------------------------------------------------------------------- references
def _dphi_mp(name, param=0.01):
    """phi' in mpmath, written out independently of rmtchain.nonlinearities."""
    lam = mp.mpf("1.0507009873554804934193349852946")
    alp = mp.mpf("1.6732632423543772848170429916717")

    def sig(h):
        return 1 / (1 + mp.exp(-h))

    return {
        "linear": lambda h: mp.mpf(1),
        "tanh": lambda h: 1 / mp.cosh(h) ** 2,
        "hardtanh": lambda h: mp.mpf(1) if abs(h) < 1 else mp.mpf(0),
        "relu": lambda h: mp.mpf(1) if h > 0 else mp.mpf(0),
        "leaky_relu": lambda h: mp.mpf(1) if h > 0 else mp.mpf(param),
        "erf": lambda h: 2 / mp.sqrt(mp.pi) * mp.exp(-h * h),
        "sigmoid": lambda h: sig(h) * (1 - sig(h)),
        "selu": lambda h: lam if h > 0 else lam * alp * mp.exp(h),
        "gelu": lambda h: mp.ncdf(h) + h * mp.npdf(h),
        "silu": lambda h: sig(h) * (1 + h * (1 - sig(h))),
    }[name]


_KINKS = {"hardtanh": (-1, 1), "relu": (0,), "leaky_relu": (0,), "selu": (0,)}


def _mu_mp(name, q, kmax):
    """mu_k = E[phi'(h)^{2k}], h ~ N(0, q), k = 1..kmax, by mpmath.quad split at kinks."""
    with mp.workdps(30):
        d = _dphi_mp(name)
        s = mp.sqrt(mp.mpf(q))
        pts = sorted({mp.mpf(-40), mp.mpf(0), mp.mpf(40)}
                     | {mp.mpf(k) / s for k in _KINKS.get(name, ()) if abs(k / math.sqrt(q)) < 40})
        out = []
        for k in range(1, kmax + 1):
            f = lambda z, k=k: d(s * z) ** (2 * k) * mp.npdf(z)  # noqa: E731
            out.append(mp.quad(f, pts))
        return out


def _series_pow(f, alpha, n):
    """(1 + f)^alpha as a series, f[0] = 0 (J. C. P. Miller's recurrence)."""
    a = [mp.mpf(1)] + list(f[1:n])
    g = [mp.mpf(1)] + [mp.mpf(0)] * (n - 1)
    for m in range(1, n):
        g[m] = sum(((alpha + 1) * k - m) * a[k] * g[m - k] for k in range(1, m + 1)) / m
    return g


def _series_mul(a, b, n):
    return [sum(a[i] * b[m - i] for i in range(m + 1)) for m in range(n)]


def _mtransform_moments(mu, depth, sigma_w, weights, kmax):
    """m_1..m_kmax from (FP.8) z(w) = (sigma_w^2 w)^L x^{L-1} (1 + x)^a, x = M_D(w):
    with u = 1/w, x(u) = sum mu_k u^k and 1/z = zeta(u) = sigma_w^{-2L} u^L x^{1-L}
    (1+x)^{-a}; invert zeta(u) term by term and read M(z) = x(u(zeta)) = sum m_k zeta^k."""
    with mp.workdps(40):
        L = depth
        a = 1 if weights == "gaussian" else 1 - L
        n = kmax + 1
        mu = [mp.mpf(m) for m in mu]
        x = [mp.mpf(0)] + mu[:kmax]                        # x(u)
        r = [mp.mpf(0)] + [mu[k] / mu[0] for k in range(1, kmax)]  # x / (mu_1 u) - 1
        part1 = _series_pow(r, 1 - L, kmax)                # (x / (mu_1 u))^(1 - L)
        part2 = _series_pow(x, -a, n)                      # (1 + x)^(-a)
        c = mp.mpf(sigma_w) ** (-2 * L) * mu[0] ** (1 - L)
        zeta = [mp.mpf(0)] + [c * v for v in _series_mul(part1, part2, kmax)]  # zeta(u)
        # term-by-term inversion u(zeta): u = (zeta - sum_{j>=2} zeta_j u^j) / zeta_1
        u = [mp.mpf(0), 1 / zeta[1]] + [mp.mpf(0)] * (n - 2)
        for order in range(2, n):
            pw = u[:]
            acc = mp.mpf(0)
            for j in range(2, order + 1):
                pw = _series_mul(pw, u, n)
                acc += zeta[j] * pw[order]
            u[order] = -acc / zeta[1]
        # M = x(u(zeta))
        out = [mp.mpf(0)] * n
        pw = [mp.mpf(1)] + [mp.mpf(0)] * (n - 1)
        for k in range(1, n):
            pw = _series_mul(pw, u, n)
            for m in range(n):
                out[m] += x[k] * pw[m]
        return [float(v) for v in out[1:]]


def _chain(phi, depth, weights, width=64):
    sw, sb = SETTINGS[phi]
    return rmtchain.Chain(depth, width, phi=phi, sigma_w=sw, sigma_b=sb, weights=weights)


@pytest.fixture(scope="module")
def mu_ref():
    """mpmath mu_1..mu_4 per phi at its chain's q (cached across tests)."""
    cache = {}

    def get(phi):
        if phi not in cache:
            q = _chain(phi, 1, "gaussian").q_input
            cache[phi] = _mu_mp(phi, q, 4)
        return cache[phi]

    return get


# --------------------------------------------------------------------------- law of d
@pytest.mark.parametrize("phi", rmtchain.registered_phis())
def test_mu_k_against_mpmath(phi, mu_ref):
    """QUAD: the code's panel quadrature of mu_k (FP.1) against 30-digit mpmath."""
    q = _chain(phi, 1, "gaussian").q_input
    got = free.derivative_law(phi, q).moments(4)
    want = np.array([float(v) for v in mu_ref(phi)])
    np.testing.assert_allclose(got, want, rtol=QUAD)


def test_bernoulli_closed_forms():
    """ROUNDING: relu p = 1/2, hardtanh p = erf(1/sqrt(2q)), linear p = 1 (FP.2)."""
    assert free.derivative_law("relu", 0.7).bernoulli_p == 0.5
    assert free.derivative_law("linear", 3.0).bernoulli_p == 1.0
    q = 0.37
    p = free.derivative_law("hardtanh", q).bernoulli_p
    assert abs(p - math.erf(1 / math.sqrt(2 * q))) <= ROUNDING
    x, dx = free.derivative_law("hardtanh", q).m_transform(np.array([2.0 + 1.0j]))
    assert abs(x[0] - p / (1.0 + 1.0j)) <= ROUNDING
    assert abs(dx[0] + p / (1.0 + 1.0j) ** 2) <= ROUNDING


def test_m_transform_against_mpmath():
    """QUAD: M_D(w) = E[d/(w - d)] for tanh at complex w away from [0, 1] (FP.2)."""
    q = 0.5
    law = free.derivative_law("tanh", q)
    d = _dphi_mp("tanh")
    for w in (2.0 + 0.5j, 0.5 + 0.8j, -1.0 + 0.1j):
        with mp.workdps(30):
            s = mp.sqrt(q)
            wm = mp.mpc(w)
            ref = mp.quad(lambda z: d(s * z) ** 2 / (wm - d(s * z) ** 2) * mp.npdf(z),
                          [-40, 0, 40])
        got = law.m_transform(np.array([w]))[0][0]
        assert abs(got - complex(ref)) <= QUAD * abs(complex(ref))


def _m_reference(name, q, w, hi):
    """E[d/(w-d)] and -E[d/(w-d)^2] over z in [-14, hi] in mpmath (30 digits), split at the
    real z where d = Re w and at the extrema of d, so the near pole of the integrand sits at
    an endpoint of a tanh-sinh panel."""
    from scipy import optimize

    d1 = _dphi_mp(name)
    nl = rmtchain.get_phi(name)
    zg = np.linspace(-14.0, hi, 20001)
    dg = nl.dphi(math.sqrt(q) * zg) ** 2
    cross = [optimize.brentq(lambda v: float(nl.dphi(math.sqrt(q) * v)) ** 2 - w.real,
                             zg[i], zg[i + 1], xtol=1e-15)
             for i in np.flatnonzero(np.diff(np.sign(dg - w.real)))]
    ext = [zg[i] for i in range(1, len(zg) - 1) if (dg[i] - dg[i - 1]) * (dg[i + 1] - dg[i]) < 0]
    pts = sorted(set([float(v) for v in np.linspace(-14.0, hi, 29)] + cross + ext))
    with mp.workdps(30):
        s = mp.sqrt(q)
        wm = mp.mpc(w)

        def f(z, k):
            d = d1(s * z) ** 2
            return mp.npdf(z) * d / (wm - d) ** k

        x = complex(mp.quad(lambda z: f(z, 1), pts))
        dx = -complex(mp.quad(lambda z: f(z, 2), pts))
    return x, dx


@pytest.mark.parametrize("name, q", [("tanh", 0.5), ("gelu", 0.02), ("selu", 0.5)])
def test_m_transform_near_the_support_against_mpmath(name, q):
    """QUAD_NEAR (FP.2b): x = M_D(w), 1 + x and dx/dw at w inside the range of d, 1e-6 and
    1e-3 above the real axis, and just above sup d, where the plain node sum is off by
    O(1); against an mpmath quadrature split at the poles' real parts."""
    law = free.derivative_law(name, q)
    top = law.max
    hi = 0.0 if name == "selu" else 14.0
    for w in (0.5 * top + 1e-6j, 0.9 * top + 1e-3j, top * (1 + 1e-3) + 1e-4j):
        x, x1, dx = law.m_transform_1p(np.array([w]))
        ref, ref_dx = _m_reference(name, q, w, hi)
        if name == "selu":  # the atom lambda^2 with mass 1/2 (h > 0), and the h < 0 half
            lam2 = float(law.values[0])
            ref = ref + 0.5 * lam2 / (w - lam2)
            ref_dx = ref_dx - 0.5 * lam2 / (w - lam2) ** 2
        assert abs(x[0] - ref) <= QUAD_NEAR * abs(ref), (w, x[0], ref)
        assert abs(x1[0] - (1 + ref)) <= QUAD_NEAR * abs(1 + ref)
        assert abs(dx[0] - ref_dx) <= QUAD_NEAR_DX * abs(ref_dx), (w, dx[0], ref_dx)


#: a node within 5e-6 (in z) of a pole near the real axis (FP.2b): the O(e) error of the
#: regular limit that replaces its node term meets the rounding of w - d_i at e ~ 5e-6
#: (measured 3e-10 for x there, 3e-12 at 1e-8; before the limit: 2e-4 at 1e-8, 54% at 1e-10)
QUAD_NODE = 2e-9


@pytest.mark.parametrize(("name", "q", "node"), [("tanh", 1.0, 1000), ("silu", 0.5, 700)])
@pytest.mark.parametrize(("delta", "im"), [(1e-6, 1e-10), (1e-10, 1e-14)])
def test_m_transform_with_a_node_next_to_a_pole_against_mpmath(name, q, node, delta, im):
    """QUAD_NODE (FP.2b): w = D(z_i + delta) (1 + i im), so a pole of the integrand sits
    delta from a quadrature node and ~im from the real axis; x, 1 + x and dx/dw against an
    mpmath quadrature graded geometrically towards every pole (mp.findroot from each real
    crossing of d = Re w)."""
    law = free.derivative_law(name, q)
    d1 = _dphi_mp(name)
    zg = np.linspace(-14.0, 14.0, 2801)
    with mp.workdps(40):
        s = mp.sqrt(q)
        zr = mp.mpf(float(law._integral.z[node])) + delta
        d0 = complex(d1(s * zr) ** 2)
        w = d0 + 1j * im * abs(d0)
        wm = mp.mpc(w)
        dg = np.array([float(d1(s * mp.mpf(v)) ** 2) for v in zg])
        starts = [mp.mpc(zr)] + [mp.mpc(0.5 * (zg[k] + zg[k + 1])) for k in
                                 np.flatnonzero(np.diff(np.sign(dg - w.real)) != 0)]
        pts = {-14.0, -10.0, -6.0, -3.0, 0.0, 3.0, 6.0, 10.0, 14.0}
        for z0 in starts:
            r = mp.findroot(lambda z: d1(s * z) ** 2 - wm, z0)
            e = abs(r.imag) + 1e-30
            pts |= {float(r.real + sg * g * e) for g in [0] + [4.0**k for k in range(25)]
                    for sg in (1, -1) if -14 < r.real + sg * g * e < 14}

        def f(z, k):
            dd = d1(s * z) ** 2
            return mp.npdf(z) * dd / (wm - dd) ** k

        ref = complex(mp.quad(lambda z: f(z, 1), sorted(pts)))
        ref_dx = -complex(mp.quad(lambda z: f(z, 2), sorted(pts)))
    x, x1, dx = law.m_transform_1p(np.array([w]))
    assert abs(x[0] - ref) <= QUAD_NODE * abs(ref), (x[0], ref)
    # the limit's O(e) error is absolute: 1 + x is held to it relative to |x|
    assert abs(x1[0] - (1 + ref)) <= QUAD_NODE * max(abs(1 + ref), abs(ref))
    assert abs(dx[0] - ref_dx) <= QUAD_NODE * abs(ref_dx), (dx[0], ref_dx)


@pytest.mark.parametrize("name", ["gelu", "silu"])
@pytest.mark.parametrize("k", [6, 9, 12, 15])
def test_m_transform_at_a_zero_of_phi_prime_against_mpmath(name, k):
    """QUAD_NEAR (FP.2b, zeros of phi'): at q = 1/2 gelu' and silu' vanish inside the bulk
    of h, d has density ~ v^(-1/2) at 0 and the two roots of d = w coalesce as w -> 0; x,
    1 + x and dx/dw at |w| = 10^-k against mpmath, split at the zero z0 of phi' (its own
    findroot) and at the real parts of z0 +- sqrt(w) / (s phi''(s z0)). The plain node sum
    is off by 1e-4..1e-1 here; 1 + x ~ sqrt(w) must keep its relative precision."""
    q = 0.5
    law = free.derivative_law(name, q)
    w = 10.0**-k * complex(1.0, 0.5)
    x, x1, dx = law.m_transform_1p(np.array([w]))
    d1 = _dphi_mp(name)
    with mp.workdps(30):
        s = mp.sqrt(q)
        z0 = mp.findroot(lambda z: d1(s * z), -1.5)
        delta = mp.sqrt(mp.mpc(w)) / (s * mp.diff(d1, s * z0))
        # panels graded geometrically towards both poles (at distance |delta| from z0)
        near = [float(z0 + sg * (delta.real + g * abs(delta)))
                for sg in (1, -1) for g in (0.0, -0.5, 0.5, 2.0, 8.0, 32.0)]
        pts = sorted({-14.0, -8.0, -4.0, float(z0 - 1), float(z0), float(z0 + 1), 4.0, 8.0,
                      14.0, *near})
        wm = mp.mpc(w)

        def f(z, p):
            d = d1(s * z) ** 2
            return mp.npdf(z) * d / (wm - d) ** p

        ref, err = mp.quad(lambda z: f(z, 1), pts, error=True)
        ref_dx, err_dx = mp.quad(lambda z: f(z, 2), pts, error=True)
        ref1 = complex(1 + ref)
        ref, ref_dx = complex(ref), -complex(ref_dx)
    # the reference itself converged, well inside the tolerances
    assert err <= 0.01 * QUAD_NEAR * abs(ref) and err_dx <= 0.01 * QUAD_NEAR_DX * abs(ref_dx)
    assert abs(x[0] - ref) <= QUAD_NEAR * abs(ref), (w, x[0], ref)
    assert abs(x1[0] - ref1) <= QUAD_NEAR * abs(ref1), (w, x1[0], ref1)
    assert abs(dx[0] - ref_dx) <= QUAD_NEAR_DX * abs(ref_dx), (w, dx[0], ref_dx)


@settings(max_examples=25, deadline=None)
@given(phi=st.sampled_from(["tanh", "erf", "sigmoid", "selu", "gelu", "silu"]),
       q=st.floats(0.01, 4.0), frac=st.floats(0.05, 1.2), im=st.floats(0.02, 0.3))
def test_pole_subtraction_adds_nothing_where_nodes_resolve(phi, q, frac, im):
    """ROUNDING-level property of (FP.2b): where w is far enough from the real axis that the
    plain node sum is already exact to rounding (Im w >= 0.02 max d with 1/4-wide panels),
    forcing the subtraction on must change nothing - the exact logarithms and the node sums
    of the subtracted poles cancel. A wrong residue, log branch or Laurent coefficient would
    show here at O(1)."""
    law = free.derivative_law(phi, q)
    w = np.array([law.max * complex(frac, im)])
    base = [np.asarray(v) for v in law.m_transform_1p(w)]
    saved = free._NEAR_SPACINGS
    try:
        free._NEAR_SPACINGS = np.inf
        forced = [np.asarray(v) for v in law.m_transform_1p(w)]
    finally:
        free._NEAR_SPACINGS = saved
    for a, b in zip(base, forced):
        assert abs(a[0] - b[0]) <= 1e-9 * max(abs(a[0]), 1.0)


# --------------------------------------------------------------------------- moments
@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("phi", rmtchain.registered_phis())
def test_moments_against_independent_inversion(phi, weights, mu_ref):
    """SERIES (acceptance): moments(4) (S-transform product, FP.7) against the term-by-term
    inversion of the branch-free equation (FP.8) in mpmath, depths 1..1000. Compared as
    log m_1 and m_k / m_1^k (so chi1^4000 never overflows), and as m_k where finite."""
    mu = mu_ref(phi)
    for depth in (1, 2, 7, 50, 1000):
        chain = _chain(phi, depth, weights)
        sw = chain.sigma_w
        log_m1, m_hat = free.moment_series(chain, 4)
        ref_log_m1 = depth * math.log(sw**2 * float(mu[0]))
        assert abs(log_m1 - ref_log_m1) <= SERIES * max(1.0, abs(ref_log_m1))
        if depth <= 50:  # m_k itself is inside the float range here
            ref = np.array(_mtransform_moments(mu, depth, sw, weights, 4))
            m = free.predict_spectrum(chain).moments(4)
            np.testing.assert_allclose(m, ref, rtol=SERIES)
        # m_k / m_1^k does not depend on the scale: the reference at sigma_w' with
        # sigma_w'^2 mu_1 = 1 (m_1 = 1) is m_hat itself, at any depth
        sw1 = 1.0 / math.sqrt(float(mu[0]))
        ref_hat = np.array(_mtransform_moments(mu, depth, sw1, weights, 4))
        np.testing.assert_allclose(m_hat, ref_hat, rtol=SERIES)


@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("phi", ["tanh", "hardtanh", "relu", "erf", "linear"])
def test_variance_identity(phi, weights, mu_ref):
    """SERIES: m_2/m_1^2 - 1 = L (mu_2/mu_1^2 - 1 + s_1), s_1 = 1 Gaussian, 0 orthogonal
    (THEORY.md; FP.7), at depths 1..1000 (criticality is the special case chi1 = 1)."""
    mu = [float(v) for v in mu_ref(phi)]
    s1 = 1.0 if weights == "gaussian" else 0.0
    for depth in (1, 3, 100, 1000):
        _, m_hat = free.moment_series(_chain(phi, depth, weights), 2)
        want = depth * (mu[1] / mu[0] ** 2 - 1.0 + s1)
        assert abs((m_hat[1] - 1.0) - want) <= SERIES * max(want, 1.0)


def test_variance_identity_at_criticality():
    """SERIES: tanh at the critical sigma_w (chi1 = 1 solved here): m_1 = 1 and
    var = L (mu_2/mu_1^2 - 1 + s_1)."""
    from scipy import optimize

    sb = 0.3

    def chi1(sw):
        q = rmtchain.Chain(1, 8, phi="tanh", sigma_w=sw, sigma_b=sb).q_input
        return sw**2 * free.derivative_law("tanh", q).moments(1)[0] - 1.0

    sw = optimize.brentq(chi1, 1.2, 1.6, xtol=1e-15)
    for weights, s1 in (("gaussian", 1.0), ("orthogonal", 0.0)):
        chain = rmtchain.Chain(200, 64, phi="tanh", sigma_w=sw, sigma_b=sb, weights=weights)
        mu = free.derivative_law("tanh", chain.q_input).moments(2)
        m = free.predict_spectrum(chain).moments(2)
        assert abs(m[0] - 1.0) <= 1e-10  # chi1^200 with chi1 = 1 to brentq's 1e-15
        var = m[1] / m[0] ** 2 - 1.0
        assert abs(var - 200 * (mu[1] / mu[0] ** 2 - 1.0 + s1)) <= SERIES * var


def test_linear_gaussian_moments_fuss_catalan_and_rectangular_mp():
    """ROUNDING: linear Gaussian chains give Fuss-Catalan moments; a rectangular Gaussian
    layer gives Marchenko-Pastur with ratio n_1/n_0 (FP.6)."""
    for depth in (1, 2, 5, 30):
        m = free.predict_spectrum(rmtchain.Chain(depth, 16, phi="linear")).moments(5)
        np.testing.assert_allclose(m, FussCatalan(depth).moments(5), rtol=ROUNDING)
    for n0, n1 in ((40, 10), (10, 40), (30, 45)):
        chain = rmtchain.Chain(1, (n0, n1), phi="linear", sigma_w=1.3)
        m = free.predict_spectrum(chain).moments(5)
        np.testing.assert_allclose(m, MarchenkoPastur(n1 / n0, 1.3**2).moments(5),
                                   rtol=ROUNDING)


def test_rectangular_orthogonal_linear_moments():
    """ROUNDING: a linear orthogonal chain n_0 -> n_1 -> n_2 is a product of partial
    isometries: contracting then expanding gives a projection of rank n_1 scaled by
    sigma_w^4 in an n_2 space (FP.6): m_k = sigma_w^{4k} n_1/n_2."""
    chain = rmtchain.Chain(2, (20, 10, 20), phi="linear", sigma_w=1.1, weights="orthogonal")
    m = free.predict_spectrum(chain).moments(4)
    k = np.arange(1, 5)
    np.testing.assert_allclose(m, 1.1 ** (4 * k) * 0.5, rtol=ROUNDING)


def test_layer_dependent_lengths():
    """SERIES: tanh with sigma_w = 1, sigma_b = 0 has no q* (q_l -> 0 from q_0 = 1): the
    normalised variance adds over layers, sum_l (mu_2/mu_1^2 - 1 + s_1)(q_l) (FP.5)."""
    chain = rmtchain.Chain(20, 16, phi="tanh", sigma_w=1.0, sigma_b=0.0)
    q = free.layer_lengths(chain)
    assert np.all(np.diff(q) < 0)
    want = 0.0
    log_m1 = 0.0
    for ql in q:
        mu = [float(v) for v in _mu_mp("tanh", ql, 2)]
        want += mu[1] / mu[0] ** 2 - 1.0 + 1.0
        log_m1 += math.log(mu[0])
    got_log_m1, m_hat = free.moment_series(chain, 2)
    assert abs(got_log_m1 - log_m1) <= SERIES
    assert abs((m_hat[1] - 1.0) - want) <= SERIES * want


# --------------------------------------------------------------------------- density
DENSITY_CASES = [
    (phi, weights, depth)
    for phi in ("linear", "tanh", "hardtanh", "relu", "erf", "gelu", "silu")
    for weights in WEIGHTS
    for depth in (2, 5, 50)
    if not (phi == "linear" and weights == "orthogonal")
]


@pytest.mark.parametrize(("phi", "weights", "depth"), DENSITY_CASES)
def test_density_mass_and_moments(phi, weights, depth):
    """MASS and DENSITY_MOMENTS: the bulk integrates to 1 - atoms and its moments plus the
    atoms reproduce the series moments (FP.11)."""
    pred = free.predict_spectrum(_chain(phi, depth, weights))
    assert abs(pred.unresolved_mass) <= MASS
    m_series = pred.moments(3)
    m_density = pred.moments(3, method="density")
    np.testing.assert_allclose(m_density, m_series, rtol=DENSITY_MOMENTS)
    assert float(pred.cdf(np.inf)) == pytest.approx(1.0, abs=MASS)


@pytest.mark.parametrize("depth", [1, 2, 3, 8, 30])
def test_linear_gaussian_density_is_fuss_catalan(depth):
    """SOLVER: the density of a linear Gaussian chain equals Fuss-Catalan (FP.8 with d = 1);
    the upper edge is (L+1)^(L+1)/L^L."""
    pred = free.predict_spectrum(rmtchain.Chain(depth, 16, phi="linear"))
    fc = FussCatalan(depth)
    edge = fc.support[1]
    assert abs(pred.support[1] / edge - 1.0) <= SOLVER
    lam = np.concatenate((np.geomspace(1e-12, 0.5 * edge, 40),
                          np.linspace(0.5 * edge, (1 - 1e-3) * edge, 20)))
    np.testing.assert_allclose(pred.pdf(lam), fc.pdf(lam), rtol=SOLVER)
    np.testing.assert_allclose(pred.cdf(lam), fc.cdf(lam), atol=1e-9)
    assert pred.pdf(1.01 * edge) == 0.0


def test_depth_one_is_marchenko_pastur():
    """SOLVER: L = 1 linear Gaussian is Marchenko-Pastur (ratio 1, scale sigma_w^2)."""
    pred = free.predict_spectrum(rmtchain.Chain(1, 16, phi="linear", sigma_w=0.9,
                                                sigma_b=0.3))
    mp_law = MarchenkoPastur(1.0, 0.81)
    lam = np.linspace(1e-3, 0.999 * mp_law.support[1], 50)
    np.testing.assert_allclose(pred.pdf(lam), mp_law.pdf(lam), rtol=SOLVER)
    assert abs(pred.support[1] - mp_law.support[1]) <= SOLVER


def test_relu_and_hardtanh_atoms():
    """ROUNDING: atoms (FP.12): mass 1 - p at 0; orthogonal also max(0, 1 - L(1 - p)) at
    sigma_w^{2L}; the relu orthogonal critical edge L^L/(L-1)^(L-1)."""
    pred = free.predict_spectrum(_chain("relu", 4, "gaussian"))
    assert pred.atoms == [(0.0, 0.5)]
    ch = _chain("hardtanh", 3, "orthogonal")
    p = math.erf(1 / math.sqrt(2 * free.layer_lengths(ch)[0]))
    pred = free.predict_spectrum(ch)
    (z0, m0), (loc, m1) = pred.atoms
    assert z0 == 0.0 and abs(m0 - (1 - p)) <= ROUNDING
    assert abs(loc - ch.sigma_w**6) <= ROUNDING * loc and abs(m1 - (1 - 3 * (1 - p))) <= ROUNDING
    assert abs(pred.unresolved_mass) <= MASS
    assert pred.max_eigenvalue == loc
    crit = rmtchain.Chain(4, 16, phi="relu", sigma_w=math.sqrt(2.0), weights="orthogonal")
    assert abs(free.predict_spectrum(crit).support[1] - 4**4 / 3**3) <= SOLVER * 10


def test_singular_value_pdf_is_change_of_variable():
    """ROUNDING: p_s(s) = 2 s rho(s^2)."""
    pred = free.predict_spectrum(_chain("tanh", 3, "gaussian"))
    s = np.linspace(0.1, 3.0, 7)
    np.testing.assert_allclose(pred.singular_value_pdf(s), 2 * s * pred.pdf(s**2),
                               rtol=ROUNDING)


def test_deep_chain_reports_mass_below_float():
    """At depth 1000 (Gaussian, linear) the bulk reaches far below the smallest float; the
    mass there is reported (FP.11) and the total is still 1 to MASS * 10."""
    pred = free.predict_spectrum(rmtchain.Chain(1000, 16, phi="linear"))
    assert abs(pred.unresolved_mass) <= 10 * MASS
    assert 0.0 < pred.mass_below_min_float < 1.0
    assert abs(pred.support[1] / FussCatalan(1000).support[1] - 1) <= 1e-8


# --------------------------------------------------------------------------- validation
def test_validation():
    """Bad input: ValueError naming the parameter; NotImplementedError where the density is
    not available; no NaN out."""
    pred = free.predict_spectrum(_chain("tanh", 3, "gaussian"))
    for bad in ("a", [1, "b"], np.array([1j]), True, [np.nan]):
        with pytest.raises(ValueError, match="lam"):
            pred.pdf(bad)
    with pytest.raises(ValueError, match="lam"):
        pred.cdf("x")
    with pytest.raises(ValueError, match="kmax"):
        pred.moments(0)
    with pytest.raises(ValueError, match="method"):
        pred.moments(2, method="magic")
    with pytest.raises(ValueError, match="chain"):
        free.predict_spectrum("tanh")
    out = pred.pdf([-1.0, 0.0, 1.0, np.inf, -np.inf])
    assert np.all(np.isfinite(out)) and out[0] == 0.0
    # orthogonal with layer-dependent laws of d (q_l -> 0) at small depth: moments yes, the
    # continuation loses the root next to the upper edge (FP.13): NotImplementedError
    flow = free.predict_spectrum(rmtchain.Chain(3, 16, phi="tanh", sigma_w=1.0, sigma_b=0.0,
                                                weights="orthogonal"))
    assert np.all(np.isfinite(flow.moments(3)))
    with pytest.raises(NotImplementedError, match="density"):
        flow.pdf(1.0)
    # a continuation that loses more than 1e-3 of the mass raises instead of returning a
    # density without it (gelu orthogonal, rectangular, soft top: 0.8 unresolved)
    soft = free.predict_spectrum(rmtchain.Chain(3, (20, 30, 30, 25), phi="gelu", sigma_w=1.2,
                                                sigma_b=0.1, q0=0.5, weights="orthogonal"))
    with pytest.raises(NotImplementedError, match="unresolved"):
        soft.unresolved_mass
    with pytest.raises(ValueError, match="q"):
        free.derivative_law("tanh", 0.0)
    with pytest.raises(ValueError, match="order"):
        free.s_transform_series(_chain("tanh", 2, "gaussian"), 0)


@pytest.mark.parametrize(("phi", "sigma_w"), [("tanh", 0.5), ("hardtanh", 0.5), ("erf", 0.3),
                                              ("relu", 1.5), ("linear", 1.2)])
@pytest.mark.parametrize("weights", WEIGHTS)
def test_no_fixed_point_chains_give_finite_moments(phi, sigma_w, weights):
    """No mean-field fixed point (q_l -> 0 or -> inf geometrically, sigma_b = 0): at depth
    1000 the layer lengths are floored/capped (FP.5) instead of under/overflowing, and the
    moments are finite. SERIES: the q -> 0 limit d = phi'(0)^2 (tanh, hardtanh, erf: the
    layers become linear with slope phi'(0)) or scale-free d (relu, linear) gives the closed
    forms m_2/m_1^2 - 1 = sum_l (mu_2/mu_1^2 - 1 + s_1) evaluated here on the layers' own
    mu_k (mpmath for the first and last layer)."""
    chain = rmtchain.Chain(1000, 16, phi=phi, sigma_w=sigma_w, sigma_b=0.0, weights=weights)
    q = free.layer_lengths(chain)
    assert np.all(np.isfinite(q)) and np.all(q > 0)
    log_m1, m_hat = free.moment_series(chain, 4)
    assert math.isfinite(log_m1) and np.all(np.isfinite(m_hat))
    s1 = 1.0 if weights == "gaussian" else 0.0
    want = 0.0
    for ql in (q[0], q[-1]):
        mu = [float(v) for v in _mu_mp(phi, ql, 2)]
        want += mu[1] / mu[0] ** 2 - 1.0 + s1
    if phi in ("relu", "linear") or abs(q[1] / q[0] - q[-1] / q[-2]) < 1e-9:
        # every layer has the same law: the sum is L times one term
        assert abs((m_hat[1] - 1.0) - 500 * want) <= SERIES * max(500 * want, 1.0)
    else:  # q_l -> 0: the last layers are linear to rounding (mpmath at q = 1e-300)
        mu = [float(v) for v in _mu_mp(phi, q[-1], 2)]
        assert abs(mu[1] / mu[0] ** 2 - 1.0) <= 1e-12
        assert (m_hat[1] - 1.0) >= s1 * 999


@pytest.mark.parametrize(("n0", "n1", "sigma_w"), [(40, 10, 1.3), (10, 40, 1.3), (30, 45, 1.0)])
def test_rectangular_depth_one_density_is_marchenko_pastur(n0, n1, sigma_w):
    """SOLVER: one rectangular Gaussian linear layer n_0 -> n_1 gives J J^T = Marchenko-
    Pastur with ratio n_1/n_0 and scale sigma_w^2 (FP.6a, FP.13): density, edges, the atom
    1 - n_0/n_1 at 0 (FP.12), cdf."""
    pred = free.predict_spectrum(rmtchain.Chain(1, (n0, n1), phi="linear", sigma_w=sigma_w))
    law = MarchenkoPastur(n1 / n0, sigma_w**2)
    lo, hi = law.support
    assert abs(pred.support[0] - lo) <= SOLVER * hi and abs(pred.support[1] - hi) <= SOLVER * hi
    lam = np.linspace(lo, hi, 42)[1:-1]
    np.testing.assert_allclose(pred.pdf(lam), law.pdf(lam), rtol=SOLVER)
    np.testing.assert_allclose(pred.cdf(lam), law.cdf(lam), atol=1e-9)
    want_atoms = [(0.0, 1.0 - n0 / n1)] if n1 > n0 else []
    assert len(pred.atoms) == len(want_atoms)
    for (a, m), (b, n) in zip(pred.atoms, want_atoms):
        assert a == b and abs(m - n) <= ROUNDING
    assert abs(pred.unresolved_mass) <= MASS


#: rectangular cases (the last two lost 1e-3 and 7e-2 of the mass before the inner solve
#: of (FP.13) used the pole subtraction of (FP.2b))
RECT_CASES = [("tanh", "gaussian", (10, 20, 30, 15)), ("tanh", "orthogonal", (10, 20, 30, 15)),
              ("linear", "gaussian", (10, 20, 15)), ("erf", "orthogonal", (20, 30, 25)),
              ("relu", "gaussian", (20, 30, 25)), ("tanh", "gaussian", (30, 20, 10)),
              ("relu", "gaussian", (10, 20, 30, 15))]


@pytest.mark.parametrize(("phi", "weights", "widths"), RECT_CASES)
def test_rectangular_density_mass_and_moments(phi, weights, widths):
    """MASS and DENSITY_MOMENTS: the rectangular density (FP.13) integrates to 1 - atom at
    0, and its moments plus the atom reproduce the S-transform series (FP.4)-(FP.7), an
    independent route (power series vs Stieltjes inversion); the atom is
    1 - min(n_0, min_l n_l (1 - P(d = 0))) / n_L (FP.12), written out here."""
    chain = rmtchain.Chain(len(widths) - 1, widths, phi=phi, sigma_w=SETTINGS[phi][0],
                           sigma_b=SETTINGS[phi][1], weights=weights)
    pred = free.predict_spectrum(chain)
    p0 = 0.5 if phi == "relu" else 0.0
    rank = min([widths[0]] + [n * (1 - p0) for n in widths[1:]])
    zero = sum(m for loc, m in pred.atoms if loc == 0.0)
    assert abs(zero - (1.0 - rank / widths[-1])) <= ROUNDING
    assert abs(pred.unresolved_mass) <= MASS
    np.testing.assert_allclose(pred.moments(3, method="density"), pred.moments(3),
                               rtol=DENSITY_MOMENTS)


#: chains whose q_l follow the length map (no fixed point is used: the input length q0
#: differs from q*, or q* = 0), so every layer has its own law of d (FP.13):
#: (phi, weights, depth or widths, sigma_w, sigma_b, q0, slow)
FLOW_CASES = [("tanh", "gaussian", 2, 1.0, 0.0, 1.0, False),
              ("tanh", "gaussian", 5, 1.0, 0.0, 1.0, False),
              ("hardtanh", "gaussian", 5, 1.0, 0.0, 1.0, False),
              ("tanh", "gaussian", 10, 1.0, 0.0, 1.0, True),
              ("gelu", "gaussian", 5, 1.2, 0.1, 0.2, True),
              ("sigmoid", "gaussian", 5, 2.0, 0.1, 0.2, True),
              ("selu", "gaussian", 8, 1.0, 0.0, 2.0, True),
              ("sigmoid", "orthogonal", 5, 2.0, 0.1, 0.2, True),
              ("tanh", "orthogonal", 10, 1.0, 0.0, 1.0, True),
              ("tanh", "gaussian", (30, 40, 50, 35), 1.0, 0.0, 1.0, False),
              ("tanh", "gaussian", (50, 40, 30, 45), 1.0, 0.0, 1.0, True),
              ("erf", "gaussian", (30, 60, 60, 60, 40), 1.2, 0.1, 0.5, True),
              ("gelu", "gaussian", (20, 30, 30, 25), 1.2, 0.1, 0.5, True),
              ("tanh", "orthogonal", (30, 40, 50, 35), 1.0, 0.0, 1.0, True)]


@pytest.mark.parametrize(("phi", "weights", "depth", "sigma_w", "sigma_b", "q0"), [
    pytest.param(*c[:6], marks=[pytest.mark.slow] if c[6] else [],
                 id=f"{c[0]}-{c[1]}-{c[2]}".replace(" ", "")) for c in FLOW_CASES])
def test_layer_dependent_density_mass_and_moments(phi, weights, depth, sigma_w, sigma_b, q0):
    """MASS and DENSITY_MOMENTS (FP.13) for square chains whose laws of d change from layer
    to layer along the length map (e.g. the CLI default tanh sigma_w = 1, sigma_b = 0, whose
    q_l -> 0): the density integrates to 1 and reproduces the S-transform series with the
    per-layer laws (FP.4)-(FP.7), an independent route checked against mpmath in
    test_moments_against_independent_inversion."""
    widths = depth if isinstance(depth, tuple) else 100
    depth = len(depth) - 1 if isinstance(depth, tuple) else depth
    chain = rmtchain.Chain(depth, widths, phi=phi, sigma_w=sigma_w, sigma_b=sigma_b, q0=q0,
                           weights=weights)
    q = free.layer_lengths(chain)
    assert len(set(q.tolist())) == depth  # really one law per layer
    pred = free.predict_spectrum(chain)
    assert abs(pred.unresolved_mass) <= MASS
    np.testing.assert_allclose(pred.moments(3, method="density"), pred.moments(3),
                               rtol=DENSITY_MOMENTS)


@pytest.mark.parametrize("weights", WEIGHTS)
def test_depth_1000_density_mass_is_kept(weights):
    """MASS: tanh at depth 1000 (q*, chi1 ~ 1.2): the bulk stretches over thousands of
    decades in lambda; the continuation works in t = log lambda, so the mass below the
    smallest positive double is integrated and reported (mass_below_min_float), not lost:
    bulk + atoms = 1 (FP.11)."""
    pred = free.predict_spectrum(_chain("tanh", 1000, weights))
    assert abs(pred.unresolved_mass) <= MASS
    assert 0.05 < pred.mass_below_min_float < 0.95
    assert float(pred.cdf(np.inf)) == pytest.approx(1.0, abs=MASS)


# --------------------------------------------------------------------------- Monte Carlo
@pytest.mark.slow
@pytest.mark.parametrize(("phi", "weights"), [("tanh", "orthogonal"), ("tanh", "gaussian"),
                                              ("relu", "gaussian"), ("hardtanh", "orthogonal")])
def test_against_sample_spectrum(phi, weights):
    """Monte Carlo: pooled eigenvalues of 20 chains at width 200, depth 4, against the
    predicted cdf on 40 quantile points away from the atoms (KS distance on the bulk).
    The zero atom is conditioned away: at finite width the rank of J is the minimum over
    layers of Binomial(n, p) active units, ~ sqrt(p(1-p)/n) ~ 0.03 below its mean at
    n = 200, L = 4, a finite-width bias of the atom, not of the bulk. Tolerance 0.04: the
    remaining O(1/n) bias of the edges and atoms plus ~1.4/sqrt(4000) sampling error
    (for Bernoulli d see the measured 1/sqrt(n) law below)."""
    chain = _chain(phi, 4, weights, width=200)
    pred = free.predict_spectrum(chain)
    lam = rmtchain.sample_spectrum(chain, 20, rng=1234).eigenvalues.ravel()
    # condition on lambda > 0: the zero atom's finite-width excess (above) is not a bulk error
    lam = np.sort(lam[lam > 0.0])
    zero = sum(m for loc, m in pred.atoms if loc == 0.0)
    probe = np.quantile(lam, np.linspace(0.02, 0.98, 40))
    for loc, _ in pred.atoms:
        probe = probe[np.abs(probe - loc) > 1e-6 * max(loc, 1.0)]
    assert probe.size >= 20
    emp = np.searchsorted(lam, probe, side="right") / lam.size
    theory = (pred.cdf(probe) - zero) / (1.0 - zero)
    ks = np.max(np.abs(emp - theory))
    # Bernoulli d (relu, hardtanh): the fluctuating rank also reshapes the bulk; measured
    # for relu Gaussian: KS = 0.076, 0.053, 0.044, 0.031 at n = 100, 200, 400, 800, i.e.
    # ~0.75/sqrt(n): allow 0.9/sqrt(n)
    tol = 0.9 / math.sqrt(200) if phi in ("relu", "hardtanh") else 0.04
    assert ks < tol


@pytest.mark.parametrize(("phi", "weights"), [("relu", "gaussian"), ("hardtanh", "gaussian"),
                                              ("relu", "orthogonal"), ("hardtanh", "orthogonal")])
def test_bernoulli_density_against_polynomial_roots(phi, weights):
    """SOLVER x 1e3: for Bernoulli d the equation (FP.8) is a polynomial in M (Gaussian
    (1+M)(M+p)^L - (z/sigma_w^{2L}) M, orthogonal (M+p)^L - (z/sigma_w^{2L}) M (1+M)^{L-1}).
    Its roots by numpy.roots, followed from z = lam + 10i edge (root nearest m_1/z) down to
    z = lam + 1e-9i edge (root nearest the previous one), give the density -Im M/(pi lam)
    independently of the Newton solver. The tolerance covers the
    1e-9 offset from the real axis (relative error ~1e-9/(distance to the edge)) and the
    companion-matrix rounding."""
    P = np.polynomial.polynomial
    depth = 3
    chain = _chain(phi, depth, weights)
    p = free.derivative_law(phi, free.layer_lengths(chain)[0]).bernoulli_p
    pred = free.predict_spectrum(chain)
    s2L = chain.sigma_w ** (2 * depth)
    lo, hi = pred.support
    mp_ = P.polypow([p, 1.0], depth)

    def roots(z):
        if weights == "gaussian":
            poly = P.polysub(P.polymul([1.0, 1.0], mp_), [0.0, z / s2L])
        else:
            poly = P.polysub(mp_, P.polymul([0.0, z / s2L], P.polypow([1.0, 1.0], depth - 1)))
        return np.roots(poly[::-1])

    m1 = pred.moments(1)[0]
    for v in np.linspace(lo + 0.02 * (hi - lo), hi - 0.02 * (hi - lo), 25):
        # from z = v + 10i edge (M ~ m_1/z) down to z = v + 1e-9i edge, nearest root each step
        m = None
        for eta in np.geomspace(10.0 * hi, 1e-9 * hi, 300):
            z = v + 1j * eta
            r = roots(z)
            m = r[np.argmin(np.abs(r - (m1 / z if m is None else m)))]
        want = -m.imag / (np.pi * v)
        assert abs(pred.pdf(v) - want) <= 1e3 * SOLVER * max(want, 1e-2)


@pytest.mark.parametrize("depth", [32, 128])
def test_light_bulk_is_reported_as_unresolved_mass(depth):
    """hardtanh, orthogonal, q* = 1/64: phi'^2 = 1 except with probability
    P(|h| > 1) = erfc(8 / sqrt(2)) ~ 1.2e-15 per unit, so all but about
    depth * 1.2e-15 of the spectrum sits in the atom at sigma_w^(2L) (exact: Bernoulli law of
    d, FP.5). That bulk is too light to continue; the prediction keeps the atoms and reports
    the rest as unresolved mass (bound: depth * erfc(8/sqrt 2) * 10, a generous factor for the
    free-convolution's spreading of the mass)."""
    chain = rmtchain.Chain.critical(depth, 100, phi="hardtanh", weights="orthogonal",
                                    q_star=1 / 64)
    pred = rmtchain.predict_spectrum(chain)
    top = max(loc for loc, _ in pred.atoms)
    assert pred.support == (top, top)
    assert pred.max_eigenvalue == top
    lost = pred.unresolved_mass
    assert 0.0 <= lost <= depth * math.erfc(8 / math.sqrt(2)) * 10


# --------------------------------------------------------------------------- issue 3 grid
def test_orthogonal_depth_one_is_the_pushforward_of_the_gaussian():
    """ROUNDING x 1e3 (brentq roots of d(h) = v to 1e-15 and ndtr, relative): an orthogonal
    chain of depth 1 has lambda = sigma_w^2 tanh'(h)^2 (FP.12b); for tanh, d = sech^4 h is
    monotone in |h|, so P(lambda > v) = erf(h0 / sqrt(2q)) with h0 = arccosh((sigma_w^2/v)^(1/4))
    and rho(v) = 2 phi_q(h0) / (4 v tanh h0), closed forms written out here."""
    ch = rmtchain.Chain(1, 50, phi="tanh", sigma_w=1.3, sigma_b=0.1, weights="orthogonal")
    q = ch.q_input
    pred = free.predict_spectrum(ch)
    s2 = ch.sigma_w**2
    assert pred.atoms == []
    assert abs(pred.support[1] - s2) <= ROUNDING * s2
    for v in (0.05 * s2, 0.3 * s2, 0.7 * s2, 0.99 * s2):
        h0 = math.acosh((s2 / v) ** 0.25)
        want_cdf = 1.0 - math.erf(h0 / math.sqrt(2 * q))
        want_pdf = 2 * math.exp(-h0 * h0 / (2 * q)) / math.sqrt(2 * math.pi * q) / (
            4 * v * math.tanh(h0))
        assert abs(float(pred.cdf(v)) - want_cdf) <= 1e3 * ROUNDING
        assert abs(float(pred.pdf(v)) - want_pdf) <= 1e3 * ROUNDING * want_pdf
    assert abs(pred.unresolved_mass) <= MASS


def test_leaky_relu_depth_one_has_two_bulks():
    """MASS and DENSITY_MOMENTS: d takes the values 1 and a^2 = 1e-4 with probability 1/2,
    so the Gaussian depth-1 spectrum has two separated bulks (FP.10b); both are found (the
    scan), the mass between them is 0, and the moments match the series (FP.7), a route
    checked against mpmath in test_moments_against_independent_inversion."""
    ch = rmtchain.Chain(1, 50, phi="leaky_relu", sigma_w=1.2, sigma_b=0.1)
    pred = free.predict_spectrum(ch)
    assert abs(pred.unresolved_mass) <= MASS
    np.testing.assert_allclose(pred.moments(3, method="density"), pred.moments(3),
                               rtol=DENSITY_MOMENTS)
    lo, hi = pred.support
    # between the bulks: the top bulk is sigma_w^2 times an MP-like law of mass 1/2 above
    # ~1e-2 sigma_w^2, the lower one is a^2 times smaller; the gap holds no mass
    gap = (1e-3 * ch.sigma_w**2, 1e-2 * ch.sigma_w**2)
    assert float(pred.cdf(gap[1]) - pred.cdf(gap[0])) <= MASS
    assert float(pred.cdf(gap[0])) == pytest.approx(0.5, abs=MASS)
    assert hi > 1.0 and lo == 0.0


def _grid_cases():
    out = []
    for phi in rmtchain.registered_phis():
        for weights in WEIGHTS:
            for depth in (1, 2, 8, 50):
                if phi in ("relu", "leaky_relu", "linear"):
                    sws = (1.2, 1.6)
                else:
                    sws = (0.8, 1.3)
                specs = [("critical", None)] + [(f"sw{sw}", sw) for sw in sws]
                for tag, sw in specs:
                    out.append((phi, weights, depth, tag, sw))
    return out


#: cases measured to miss the acceptance (unresolved mass or density moments > 1e-6), with
#: the reason; they are strict xfails so that an improvement is noticed. Empty since the
#: pair subtraction at zeros of phi' (FP.2b) and the soft top edge by start_far (FP.10c):
#: every case of the grid passes (worst measured: unresolved 4.5e-7, moments 2.5e-7)
_GRID_KNOWN = {}


def _grid_chain(phi, weights, depth, tag, sw):
    if tag == "critical":
        try:
            return rmtchain.Chain.critical(depth, 100, phi=phi, weights=weights, q_star=0.5)
        except ValueError:
            return None
    return rmtchain.Chain(depth, 100, phi=phi, weights=weights, sigma_w=sw, sigma_b=0.1)


def _grid_params():
    params = []
    for case in _grid_cases():
        phi, weights, depth, tag, sw = case
        marks = []
        key = (phi, weights, depth, tag)
        if key in _GRID_KNOWN:
            marks.append(pytest.mark.xfail(strict=True, reason=_GRID_KNOWN[key]))
        if depth >= 8 or phi in ("gelu", "silu", "selu", "sigmoid") or (
                weights == "orthogonal" and phi in ("tanh", "erf")):
            marks.append(pytest.mark.slow)
        params.append(pytest.param(*case, marks=marks, id=f"{phi}-{weights}-{depth}-{tag}"))
    return params


@pytest.mark.parametrize(("phi", "weights", "depth", "tag", "sw"), _grid_params())
def test_density_holds_for_every_phi(phi, weights, depth, tag, sw):
    """MASS and DENSITY_MOMENTS (issue 3 acceptance): for every registered phi, both
    ensembles, depths 1, 2, 8, 50, at q* = 1/2 on the critical line (where it exists) and at
    an ordered and a chaotic sigma_w (sigma_b = 0.1): bulk + atoms = 1 within 1e-6 and the
    density moments equal the series moments (FP.7), a route checked against mpmath in
    test_moments_against_independent_inversion."""
    ch = _grid_chain(phi, weights, depth, tag, sw)
    if ch is None:
        pytest.skip(f"{phi} has no critical point with q* = 1/2")
    pred = free.predict_spectrum(ch)
    assert abs(pred.unresolved_mass) <= MASS
    np.testing.assert_allclose(pred.moments(3, method="density"), pred.moments(3),
                               rtol=DENSITY_MOMENTS)


@settings(max_examples=12, deadline=None)
@given(phi=st.sampled_from(["tanh", "erf", "sigmoid", "selu", "gelu", "silu"]),
       sigma_w=st.floats(0.5, 2.0), sigma_b=st.floats(0.05, 0.5))
def test_pushforward_invariants(phi, sigma_w, sigma_b):
    """MASS (property, FP.12b): for an orthogonal depth-1 chain the cdf is non-decreasing
    from 0 to 1 (atoms included), the pdf is >= 0 and vanishes above sigma_w^2 max d, and the
    mean from the density equals sigma_w^2 mu_1, mu_1 by the law of d (checked against
    mpmath in test_mu_k_against_mpmath)."""
    ch = rmtchain.Chain(1, 20, phi=phi, sigma_w=sigma_w, sigma_b=sigma_b,
                        weights="orthogonal")
    pred = free.predict_spectrum(ch)
    lo, hi = pred.support
    lam = np.geomspace(max(lo, 1e-12 * hi), hi, 60)
    c = pred.cdf(lam)
    assert np.all(np.diff(c) >= -ROUNDING)
    assert float(pred.cdf(np.inf)) == pytest.approx(1.0, abs=MASS)
    assert np.all(pred.pdf(lam) >= 0.0) and float(pred.pdf(1.01 * pred.max_eigenvalue)) == 0.0
    mu1 = free.derivative_law(phi, free.layer_lengths(ch)[0]).moments(1)[0]
    assert float(pred.moments(1, method="density")[0]) == pytest.approx(
        sigma_w**2 * mu1, rel=DENSITY_MOMENTS)
