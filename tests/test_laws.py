"""Closed-form limit laws (rmtchain/laws.py, theory/laws.md) against independent references.

References used, none of them the code under test:
- moments and the cdf from the density by quadrature (Gauss-Jacobi in a variable that
  removes the lam^(1/(L+1) - 1) divergence at 0 and puts the square-root edge in the
  weight; scipy.integrate.quad for Marchenko-Pastur);
- the Fuss-Catalan moment generating function w = 1 + z w^(L+1) and the Marchenko-Pastur
  free-cumulant relation, iterated as exact integer / rational power series;
- the textbook Marchenko-Pastur density written out here, and Penson-Zyczkowski's explicit
  density for L = 2 (arXiv:1103.3453, their s = 2 formula);
- the parametric density solved at 40 digits with mpmath;
- Monte Carlo products of Gaussian matrices (rmtchain.sample_spectrum).

Named tolerances (ROUNDING, QUAD, SOLVER below; Monte Carlo ones in the MC test): each
test's docstring says which one it uses.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special

import rmtchain
from rmtchain.laws import FussCatalan, MarchenkoPastur, PointMass

#: float rounding of a closed form evaluated a few ways (relative)
ROUNDING = 1e-12
#: quadrature (200-point Gauss-Jacobi of a smooth integrand, or scipy.integrate.quad with
#: epsrel 1e-12) compared with the exact value
QUAD = 1e-9
#: the pdf's root solve plus the log-domain evaluation: ~ (L+1) eps |log lam| relative
#: away from the upper edge (the conditioning there is 1 / (edge - lam))
SOLVER = 1e-11

DEPTHS = (1, 2, 3, 7, 30)


def _quad(f, a, b):
    """scipy adaptive quadrature (scalar calls): for the cheap Marchenko-Pastur pdf."""
    value, _ = integrate.quad(f, a, b, epsabs=0.0, epsrel=1e-12, limit=400)
    return value


def _jacobi(f, alpha=0.0, n=200):
    """int_0^1 f(s) (1 - s)^alpha ds by n-point Gauss-Jacobi (scipy.special.roots_jacobi).

    f is called once on all nodes (vectorised). Exponentially convergent when f is smooth on
    [0, 1]: the substitutions below move every algebraic endpoint behaviour into the weight.
    """
    x, w = special.roots_jacobi(n, alpha, 0.0)  # weight (1 - x)^alpha on [-1, 1]
    return float(np.sum(w * f((x + 1.0) / 2.0))) / 2.0 ** (alpha + 1.0)


def _fc_moments_by_quadrature(law, kmax):
    """int lam^k pdf(lam) dlam, k = 0..kmax, over [0, E] with lam = E s^(L+1).

    The divergence lam^(1/(L+1) - 1) at 0 becomes a constant, the sqrt(E - lam) edge the
    Jacobi weight (1 - s)^(1/2).
    """
    L = law.depth
    e = law.support[1]

    def f(s, k):
        lam = e * s ** (L + 1)
        return law.pdf(lam) * lam**k * (L + 1) * e * s**L / np.sqrt(1.0 - s)

    return [_jacobi(lambda s: f(s, k), alpha=0.5) for k in range(kmax + 1)]


def _fc_cdf_by_quadrature(law, x):
    """int_0^x pdf (x <= E/2: lam = x s^(L+1)) or 1 - int_x^E pdf (lam = E - (E - x) v)."""
    L = law.depth
    e = law.support[1]
    if x <= e / 2:
        return _jacobi(lambda s: law.pdf(x * s ** (L + 1)) * (L + 1) * x * s**L)
    # v = 1 - s: the sqrt(E - lam) = sqrt((E - x)(1 - s)) edge is the Jacobi weight
    return 1.0 - _jacobi(lambda s: law.pdf(e - (e - x) * (1.0 - s)) * (e - x)
                         / np.sqrt(1.0 - s), alpha=0.5)


def _mp_moment_by_quad(law, k):
    """int lam^k pdf(lam) dlam over the bulk with lam = scale (1 + c + 2 sqrt(c) cos t)."""
    c, s = law.ratio, law.scale
    r = math.sqrt(c)

    def f(t):
        lam = s * (1.0 + c + 2.0 * r * math.cos(t))
        return float(law.pdf(lam)) * lam**k * 2.0 * r * s * math.sin(t)

    return _quad(f, 0.0, math.pi)


# --------------------------------------------------------------------------- moments
@pytest.mark.parametrize("depth", DEPTHS)
def test_fc_moments_from_pdf_quadrature(depth):
    """(LAW.6), (LAW.9): mass and m_1..m_4 from the density by quadrature (QUAD)."""
    law = FussCatalan(depth)
    exact = [1.0, *law.moments(4)]
    np.testing.assert_allclose(_fc_moments_by_quadrature(law, 4), exact, rtol=QUAD)


@pytest.mark.parametrize("ratio", [0.05, 0.5, 1.0, 2.0, 10.0])
def test_mp_moments_from_pdf_quadrature(ratio):
    """(LAW.3), (LAW.5): bulk mass 1 - atom and m_1..m_4 by quadrature (QUAD)."""
    law = MarchenkoPastur(ratio, scale=0.7)
    atom = sum(mass for _, mass in law.atoms)
    assert _mp_moment_by_quad(law, 0) == pytest.approx(1.0 - atom, rel=QUAD)
    for k, m in enumerate(law.moments(4), start=1):  # the atom at 0 adds nothing for k >= 1
        assert _mp_moment_by_quad(law, k) == pytest.approx(m, rel=QUAD)


@pytest.mark.parametrize("depth", [1, 2, 3, 5, 12])
def test_fc_moments_solve_the_generating_function(depth):
    """(LAW.6): w(z) = sum m_k z^k satisfies w = 1 + z w^(L+1); exact integers (ROUNDING)."""
    kmax = 12
    w = [1] + [0] * kmax
    for _ in range(kmax + 1):  # fixed-point iteration gains one exact coefficient per pass
        power = [1] + [0] * kmax
        for _ in range(depth + 1):
            power = [sum(power[i] * w[n - i] for i in range(n + 1)) for n in range(kmax + 1)]
        w = [1] + power[:kmax]
    law = FussCatalan(depth)
    np.testing.assert_allclose(law.moments(kmax), np.array(w[1:], dtype=float), rtol=ROUNDING)


@pytest.mark.parametrize("ratio", [0.25, 1.0, 3.0])
def test_mp_moments_from_free_cumulants(ratio):
    """(LAW.5): kappa_n = scale^n c^(n-1) and M = 1 + sum kappa_n (z M)^n (ROUNDING)."""
    c, scale, kmax = Fraction(ratio), Fraction(3, 2), 10
    m = [Fraction(1)] + [Fraction(0)] * kmax
    for _ in range(kmax + 1):
        zm = [Fraction(0)] + m[:kmax]  # z M(z), truncated
        new = [Fraction(1)] + [Fraction(0)] * kmax
        power = [Fraction(1)] + [Fraction(0)] * kmax
        for n in range(1, kmax + 1):
            power = [sum(power[i] * zm[j - i] for i in range(j + 1)) for j in range(kmax + 1)]
            kappa = scale**n * c ** (n - 1)
            new = [a + kappa * b for a, b in zip(new, power)]
        m = new
    law = MarchenkoPastur(ratio, scale=1.5)
    np.testing.assert_allclose(law.moments(kmax), [float(x) for x in m[1:]], rtol=ROUNDING)


def test_moment_accessors_and_scale():
    """moment(k), mean, and the scale law m_k(scale) = scale^k m_k(1) (ROUNDING)."""
    fc = FussCatalan(3, scale=0.4)
    assert fc.moment(0) == 1.0
    assert fc.moment(3) == pytest.approx(0.4**3 * math.comb(12, 3) / 10, rel=ROUNDING)
    assert fc.mean == pytest.approx(0.4, rel=ROUNDING)
    np.testing.assert_allclose(fc.moments(6), 0.4 ** np.arange(1, 7) * FussCatalan(3).moments(6),
                               rtol=ROUNDING)
    assert MarchenkoPastur(4.0, 2.0).mean == 2.0
    assert PointMass(1.5).moments(3).tolist() == [1.5, 2.25, 3.375]
    # exact rational arithmetic: huge moments are correctly rounded or inf, never an error
    assert math.isinf(FussCatalan(4).moment(500))
    assert FussCatalan(2, scale=1e-3).moment(200) == pytest.approx(
        float(Fraction(math.comb(600, 200), 401) * Fraction(1e-3) ** 200), rel=ROUNDING)


# --------------------------------------------------------------------------- densities
def test_mp_pdf_matches_textbook_formula():
    """(LAW.3) against the density written out independently here (ROUNDING)."""
    rng = np.random.default_rng(3)
    for c, s in [(0.1, 1.0), (0.5, 2.0), (1.0, 0.3), (3.0, 1.0)]:
        lo, hi = s * (1 - math.sqrt(c)) ** 2, s * (1 + math.sqrt(c)) ** 2
        lam = rng.uniform(lo, hi, 50)
        textbook = np.sqrt((hi - lam) * (lam - lo)) / (2 * math.pi * s * c * lam)
        np.testing.assert_allclose(MarchenkoPastur(c, s).pdf(lam), textbook, rtol=ROUNDING)
        outside = np.array([-1.0, lo - 1e-9 * s, hi * (1 + 1e-9), np.inf, -np.inf])
        if c != 1.0:
            outside = np.append(outside, 0.0)
        assert np.all(MarchenkoPastur(c, s).pdf(outside) == 0.0)


def test_fc_depth1_is_mp1():
    """(LAW.8)-(LAW.12) at L = 1 reduce to (LAW.3)-(LAW.4) with c = 1 (SOLVER)."""
    lam = np.concatenate([np.geomspace(1e-300, 1e-3, 40), np.linspace(1e-3, 2.5 * 4, 400)])
    fc, mp = FussCatalan(1, scale=2.5), MarchenkoPastur(1.0, scale=2.5)
    np.testing.assert_allclose(fc.pdf(lam), mp.pdf(lam), rtol=SOLVER, atol=0)
    np.testing.assert_allclose(fc.cdf(lam), mp.cdf(lam), rtol=0, atol=1e-14)
    assert fc.support == mp.support and fc.atoms == mp.atoms == []
    np.testing.assert_allclose(fc.moments(8), mp.moments(8), rtol=ROUNDING)
    assert fc.pdf(0.0) == mp.pdf(0.0) == np.inf


def test_fc_depth2_matches_penson_zyczkowski():
    """(LAW.9) at L = 2 against Penson-Zyczkowski's explicit density (SOLVER).

    P_2(x) = 2^(1/3) sqrt(3) / (12 pi) [2^(1/3) r^(2/3) - 6 x^(1/3)] / (x^(2/3) r^(1/3)),
    r = 27 + 3 sqrt(81 - 12 x), on (0, 27/4] (arXiv:1103.3453).
    """
    x = np.concatenate([np.geomspace(1e-200, 1e-2, 30), np.linspace(0.01, 6.7, 200)])
    r = 27 + 3 * np.sqrt(81 - 12 * x)
    pz = (2 ** (1 / 3) * math.sqrt(3) / (12 * math.pi)
          * (2 ** (1 / 3) * r ** (2 / 3) - 6 * np.cbrt(x)) / (x ** (2 / 3) * np.cbrt(r)))
    # the PZ form cancels two O(1) terms as x -> 27/4; its own error there is ~eps/(27/4 - x)
    np.testing.assert_allclose(FussCatalan(2).pdf(x), pz, rtol=1e-9)


@pytest.mark.parametrize("depth", [1, 4, 30, 1000])
def test_fc_pdf_matches_mpmath_parametrisation(depth):
    """(LAW.8)-(LAW.9) solved at 40 digits with mpmath; cdf (LAW.12) too (SOLVER)."""
    L = depth
    with mpmath.workdps(40):
        a = mpmath.pi / (L + 1)

        def lam_of(p):
            return mpmath.sin((L + 1) * p) ** (L + 1) / (mpmath.sin(p) * mpmath.sin(L * p) ** L)

        for frac in ("0.05", "0.3", "0.5", "0.9", "0.999"):
            p0 = a * mpmath.mpf(frac)
            lam = float(lam_of(p0))
            if lam == 0.0:
                continue  # below the float range at large depth
            target = mpmath.log(mpmath.mpf(lam))
            p = mpmath.findroot(lambda q: mpmath.log(lam_of(q)) - target,
                                (p0 * (1 - mpmath.mpf("1e-6")), p0 * (1 + mpmath.mpf("1e-6"))),
                                solver="anderson", tol=mpmath.mpf("1e-70"), verify=False)
            rho = (mpmath.sin(p) ** 2 * mpmath.sin(L * p) ** (L - 1)
                   / (mpmath.pi * mpmath.sin((L + 1) * p) ** L))
            cdf = 1 - ((L + 1) * p - L * mpmath.sin(p) * mpmath.sin((L + 1) * p)
                       / mpmath.sin(L * p)) / mpmath.pi
            law = FussCatalan(L)
            # large L amplifies: (L+1) log sin terms each carry eps absolute
            assert float(law.pdf(lam)) == pytest.approx(float(rho), rel=SOLVER * max(1, L / 30))
            assert float(law.cdf(lam)) == pytest.approx(float(cdf), rel=0, abs=1e-14)


@pytest.mark.parametrize("depth", [1, 2, 5, 30])
def test_fc_pdf_asymptotics(depth):
    """(LAW.10): rho ~ sin(pi/(L+1))/pi lam^(1/(L+1) - 1) at 0, and a square root at the edge.

    At lam = 1e-250 the next term is O(lam^(1/(L+1))) relative: at most 1e-250^(1/31) ~ 1e-8.
    """
    L = depth
    law = FussCatalan(L)
    lam = 1e-250
    lead = math.sin(math.pi / (L + 1)) / math.pi * lam ** (1 / (L + 1) - 1)
    assert float(law.pdf(lam)) == pytest.approx(lead, rel=SOLVER + 2 * lam ** (1 / (L + 1)))
    e = law.support[1]
    d = 1e-8 * e  # rho ~ C sqrt(E - lam), C from (LAW.10); next term O(d/E) relative
    c_edge = L ** (L - 1) / (math.pi * (L + 1) ** L) * math.sqrt(2 / (e * L * (L + 1)))
    assert float(law.pdf(e - d)) == pytest.approx(c_edge * math.sqrt(d), rel=1e-6)


def test_pdf_scale_law():
    """pdf_scale(lam) = pdf_1(lam / scale) / scale, cdf likewise (ROUNDING)."""
    lam = np.linspace(0.01, 20.0, 101)
    for one, scaled in [(FussCatalan(3), FussCatalan(3, scale=2.5)),
                        (MarchenkoPastur(0.3), MarchenkoPastur(0.3, scale=2.5))]:
        np.testing.assert_allclose(scaled.pdf(lam), one.pdf(lam / 2.5) / 2.5, rtol=ROUNDING)
        np.testing.assert_allclose(scaled.cdf(lam), one.cdf(lam / 2.5), rtol=0, atol=1e-15)


# --------------------------------------------------------------------------- cdf
@pytest.mark.parametrize("law", [FussCatalan(1), FussCatalan(2), FussCatalan(9, scale=0.5),
                                 MarchenkoPastur(0.3), MarchenkoPastur(1.0),
                                 MarchenkoPastur(2.5, scale=3.0)], ids=repr)
def test_cdf_is_integral_of_pdf(law):
    """(LAW.4), (LAW.12) against quadrature of the pdf (QUAD, absolute)."""
    lo, hi = law.support
    atom = sum(mass for _, mass in law.atoms)
    for frac in (0.001, 0.1, 0.37, 0.8, 0.999):
        x = lo + frac * (hi - lo)
        if isinstance(law, FussCatalan):
            ref = _fc_cdf_by_quadrature(law, x)
        else:
            ref = atom + _quad(lambda t: float(law.pdf(t)), lo, x)
        assert float(law.cdf(x)) == pytest.approx(ref, rel=0, abs=QUAD)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(depth=st.integers(1, 30), seed=st.integers(0, 2**32 - 1),
       scale=st.sampled_from([1.0, 0.2, 13.0]))
def test_fc_cdf_monotone_from_0_to_1(depth, seed, scale):
    """(LAW.12): non-decreasing, 0 at 0 and below, 1 at the edge (LAW.7) and above; the
    mean from the cdf, int (1 - F) dlam = scale (QUAD); pdf finite and >= 0 inside."""
    law = FussCatalan(depth, scale=scale)
    e = law.support[1]
    assert e == pytest.approx(scale * (depth + 1) ** (depth + 1) / depth**depth, rel=ROUNDING)
    rng = np.random.default_rng(seed)
    lam = np.sort(np.concatenate([e * rng.random(300), e * np.geomspace(1e-300, 1, 100),
                                  [0.0, e, -1.0, 2 * e, np.inf, -np.inf]]))
    cdf = law.cdf(lam)
    assert np.all(np.diff(cdf) >= 0.0)
    assert np.all(cdf[lam <= 0] == 0.0) and np.all(cdf[lam >= e] == 1.0)
    assert np.all((cdf >= 0) & (cdf <= 1))
    inside = (lam > 0) & (lam < e)
    pdf = law.pdf(lam)
    assert np.all(np.isfinite(pdf[inside])) and np.all(pdf[inside] > 0)
    assert np.all(pdf[(lam < 0) | (lam >= e)] == 0.0)
    # 1 - F ~ (E - lam)^(3/2) at the edge: the Jacobi weight (1 - s)^(3/2) carries it
    L = depth
    mean = _jacobi(lambda s: (1.0 - law.cdf(e * s ** (L + 1))) * (L + 1) * e * s**L
                   / (1.0 - s) ** 1.5, alpha=1.5)
    assert mean == pytest.approx(scale, rel=QUAD)


def test_mp_cdf_steps_and_limits():
    """(LAW.2), (LAW.4): the atom 1 - 1/c at 0, 0 below, 1 above the bulk (ROUNDING)."""
    law = MarchenkoPastur(4.0, scale=2.0)
    assert law.atoms == [(0.0, 0.75)]
    assert law.support == pytest.approx((2.0, 18.0), rel=ROUNDING)
    assert law.cdf([-1e-300, 0.0, 1.0, 2.0, 18.0, 1e300]).tolist() == [
        0.0, 0.75, 0.75, 0.75, 1.0, 1.0]
    assert MarchenkoPastur(1.0).atoms == MarchenkoPastur(0.5).atoms == []


def test_point_mass():
    """(LAW.13): no density, a unit step at the location, moments location^k."""
    law = PointMass(1.1**20)
    loc = law.location
    assert law.atoms == [(loc, 1.0)] and law.support == (loc, loc) and law.mean == loc
    assert law.pdf([0.0, loc, 2 * loc]).tolist() == [0.0, 0.0, 0.0]
    assert law.cdf([0.0, np.nextafter(loc, 0), loc, np.inf]).tolist() == [0.0, 0.0, 1.0, 1.0]
    assert PointMass(0.0).cdf(0.0) == 1.0


def test_orthogonal_linear_chain_is_point_mass():
    """(LAW.13) against a sampled orthogonal linear chain (ROUNDING: exact up to rounding)."""
    sigma_w, depth = 1.05, 6
    spec = rmtchain.sample_spectrum(
        rmtchain.Chain(depth, 16, weights="orthogonal", phi="linear", sigma_w=sigma_w), 2, rng=0)
    law = PointMass(sigma_w ** (2 * depth))
    np.testing.assert_allclose(spec.eigenvalues, law.location, rtol=ROUNDING)


# --------------------------------------------------------------------------- Monte Carlo
def _check_against_samples(depth, samples):
    """Monte Carlo tolerances: the eigenvalues of one sample are rigid, so the empirical cdf
    of samples x 200 eigenvalues is off the limit by O(1/n) plus edge effects: KS < 0.03
    (about 4x the 0.005-0.006 seen over seeds at L <= 8). Per-sample m_2/m_1^2 has a
    finite-width bias of about L(L+1)/(2n) (measured at n = 32, 64 with 400 samples);
    allowed: L(L+1)/n + 5 standard errors."""
    n = 200
    spec = rmtchain.sample_spectrum(rmtchain.Chain(depth, n, phi="linear"), samples,
                                    rng=100 + depth)
    law = FussCatalan(depth)
    lam = np.sort(spec.eigenvalues.ravel())
    f = law.cdf(lam)
    m = lam.size
    ks = max(np.max(np.arange(1, m + 1) / m - f), np.max(f - np.arange(m) / m))
    assert ks < 0.03
    mom = spec.moments(2)
    r = mom.per_sample[:, 1] / mom.per_sample[:, 0] ** 2
    stderr = r.std(ddof=1) / math.sqrt(samples)
    assert abs(r.mean() - law.moment(2)) < depth * (depth + 1) / n + 5 * stderr


def test_fc_against_products_of_gaussian_matrices():
    """(LAW.6), (LAW.12) against sample_spectrum(Chain(3, 200, phi="linear")), 3 samples;
    Monte Carlo tolerances in ``_check_against_samples``."""
    _check_against_samples(3, 3)


@pytest.mark.slow
@pytest.mark.parametrize("depth", [1, 2, 4, 8])
def test_fc_against_products_of_gaussian_matrices_slow(depth):
    """As above at more depths and 10 samples (Monte Carlo)."""
    _check_against_samples(depth, 10)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("make, name", [
    (lambda: FussCatalan(0), "depth"),
    (lambda: FussCatalan(-2), "depth"),
    (lambda: FussCatalan(2.0), "depth"),
    (lambda: FussCatalan(True), "depth"),
    (lambda: FussCatalan("3"), "depth"),
    (lambda: FussCatalan(2, scale=0.0), "scale"),
    (lambda: FussCatalan(2, scale=-1.0), "scale"),
    (lambda: FussCatalan(2, scale=float("inf")), "scale"),
    (lambda: FussCatalan(2, scale=float("nan")), "scale"),
    (lambda: MarchenkoPastur(0.0), "ratio"),
    (lambda: MarchenkoPastur(-1.0), "ratio"),
    (lambda: MarchenkoPastur(float("nan")), "ratio"),
    (lambda: MarchenkoPastur(float("inf")), "ratio"),
    (lambda: MarchenkoPastur("1"), "ratio"),
    (lambda: MarchenkoPastur(True), "ratio"),
    (lambda: MarchenkoPastur(1.0, scale=0), "scale"),
    (lambda: MarchenkoPastur(1.0, scale=1j), "scale"),
    (lambda: PointMass(-1.0), "location"),
    (lambda: PointMass(float("nan")), "location"),
])
def test_bad_parameters(make, name):
    with pytest.raises(ValueError, match=name):
        make()


@pytest.mark.parametrize("law", [FussCatalan(3), MarchenkoPastur(2.0), PointMass(1.0)], ids=repr)
@pytest.mark.parametrize("lam", [float("nan"), [0.5, np.nan], "abc", [1.0, "a"], 1 + 2j,
                                 np.array([1 + 0j]), None, True, [[1.0], [2.0, 3.0]], {}])
def test_bad_lam(law, lam):
    for method in (law.pdf, law.cdf):
        with pytest.raises(ValueError, match="lam"):
            method(lam)


@pytest.mark.parametrize("kmax", [0, -1, 1.5, True, "2", None])
def test_bad_kmax(kmax):
    with pytest.raises(ValueError, match="kmax"):
        FussCatalan(2).moments(kmax)
    with pytest.raises(ValueError, match="k "):
        FussCatalan(2).moment(-1)


def test_shapes_and_frozen():
    """Scalars in, numpy scalars out; arrays keep their shape; the dataclasses are frozen."""
    law = FussCatalan(2)
    assert np.ndim(law.pdf(1.0)) == 0 and np.ndim(law.cdf(1)) == 0
    assert law.pdf(np.ones((2, 3))).shape == (2, 3)
    assert law.cdf([]).shape == (0,)
    assert isinstance(law.support, tuple) and isinstance(law.moments(3), np.ndarray)
    with pytest.raises(AttributeError):
        law.depth = 3
    assert FussCatalan(2) == FussCatalan(2, 1.0)
