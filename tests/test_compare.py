"""compare_spectrum: distances and z-scores against independent computations
(theory/compare.md (CMP.1)-(CMP.6)).

Tolerances used (tests/helpers.py and stated per test): rounding (1e-12 relative); the
prediction's quadrature (its cdf agrees with the closed-form Marchenko-Pastur cdf to ~1e-10,
theory/free.md (FP.11)); the error bounds the comparison reports for itself (CMP.5);
Monte Carlo (a KS test of z-scores over seeds, slow).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

import rmtchain
from rmtchain.compare import (SpectrumComparison, _distances, _ks_statistic, _pooled_t,
                              _w1_cells, compare_spectrum, ks_distance)
from rmtchain.laws import FussCatalan, MarchenkoPastur

from helpers import RTOL_ROUNDING
from strategies import seeds

#: the free-probability cdf (quadrature, FP.11) vs the closed-form MP cdf (LAW.4):
#: measured |difference| <= 1e-12 on [0, 4]; a KS statistic inherits it
QUAD_CDF = 1e-9


def mp_chain(n=24, sigma_w=1.3):
    return rmtchain.Chain(1, n, phi="linear", sigma_w=sigma_w)


@pytest.fixture(scope="module")
def mp_comparison():
    return compare_spectrum(mp_chain(), 6, rng=11, kmax=3, cdf="exact")


# ----------------------------------------------------------------------------- kernels


@settings(max_examples=30)
@given(seed=seeds, n=st.integers(1, 60))
def test_ks_kernel_equals_scipy_kstest(seed, n):
    """(CMP.2) without ties or atoms is the classical one-sample KS statistic."""
    x = np.sort(np.random.default_rng(seed).standard_normal(n))
    g = scipy.stats.norm.cdf(x)
    ours = _ks_statistic(x, np.ones(n, dtype=int), g, g)
    ref = scipy.stats.kstest(x, "norm").statistic
    assert ours == pytest.approx(ref, rel=RTOL_ROUNDING, abs=1e-15)


@settings(max_examples=30)
@given(seed=seeds, n=st.integers(1, 40), p0=st.sampled_from([0.0, 0.3, 0.5]))
def test_ks_kernel_with_atom_and_ties_equals_brute_force(seed, n, p0):
    """A law with an atom p0 at 0 plus an Exp(1) part; the sample has ties at 0. The
    supremum is found independently on a dense grid including every point's left limit."""
    rng = np.random.default_rng(seed)
    x = np.where(rng.random(n) < p0, 0.0, rng.exponential(size=n))

    def G(v):
        return np.where(v < 0, 0.0, p0 + (1 - p0) * (1 - np.exp(-np.maximum(v, 0))))

    vals, counts = np.unique(x, return_counts=True)
    g_r = G(vals)
    g_l = g_r - np.where(vals == 0.0, p0, 0.0)
    ours = _ks_statistic(vals, counts, g_r, g_l)
    grid = np.concatenate([vals, vals - 1e-13, np.linspace(-1, x.max() + 5, 20001)])
    fn = np.searchsorted(np.sort(x), grid, side="right") / n
    ref = np.max(np.abs(fn - G(grid)))
    # the grid's left limits miss G's continuous part by <= density * 1e-13
    assert abs(ours - ref) <= 1e-12
    assert 0.0 <= ours <= 1.0


@settings(max_examples=30)
@given(seed=seeds, m=st.integers(1, 30))
def test_w1_cells_bracket_contains_fine_quadrature(seed, m):
    """(CMP.3): for a monotone G known only at cell ends, the true integral lies within the
    reported bracket; here G = normal cdf and the reference is a 2000-point midpoint rule
    per cell (its error, ~1e-7 dt^3, is far below the bracket)."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.normal(size=m + 1) * 2)
    f = np.sort(rng.random(m))
    g = scipy.stats.norm.cdf
    est, bound = _w1_cells(np.diff(t), f, g(t[:-1]), g(t[1:]))
    ref = 0.0
    for j in range(m):
        h = (t[j + 1] - t[j]) / 2000
        u = t[j] + h * (np.arange(2000) + 0.5)
        ref += h * np.abs(f[j] - g(u)).sum()
    assert abs(est - ref) <= bound.sum() + 1e-9
    assert np.all(bound >= 0)


# ----------------------------------------------------------------------------- ks_distance


@given(seed=seeds, L=st.integers(1, 6), N=st.integers(1, 300), log=st.booleans())
def test_ks_distance_equals_scipy_kstest(seed, L, N, log):
    """(CMP.2) for a continuous cdf is scipy.stats.kstest's statistic (rounding, 1e-12);
    properties: in [0, 1], invariant under a permutation and a reshape of the sample, and
    (``log``) under the monotone map lambda -> log lambda with G -> G(exp t)."""
    law = FussCatalan(L)
    x = np.random.default_rng(seed).uniform(0.0, law.support[1], N)
    ref = scipy.stats.kstest(x, law.cdf).statistic
    ours = ks_distance(x, law.cdf)
    assert abs(ours - ref) <= 1e-12
    assert 0.0 <= ours <= 1.0
    perm = np.random.default_rng(seed + 1).permutation(x)
    assert ks_distance(perm, law.cdf) == ours
    if N % 2 == 0:
        assert ks_distance(perm.reshape(2, -1), law.cdf) == ours
    if log:
        # exp(log x) moves each point by ~1 ulp: G moves by density * x * eps << 1e-12
        assert abs(ks_distance(np.log(x), lambda t: law.cdf(np.exp(t))) - ours) <= 1e-12


@given(seed=seeds, N=st.integers(1, 200), zeros=st.floats(0.0, 0.9), atom=st.floats(0.0, 0.5))
def test_ks_distance_with_atoms_equals_brute_force(seed, N, zeros, atom):
    """Atoms at 0 and at 1 plus a uniform part on (0, 2); the sample has ties on both atoms
    (or none on the one at 1). Reference: the supremum of |F_N - G| over a dense grid with
    every sample point, the atoms and each of them minus 1e-13 (the left limits; G's
    continuous part moves by <= 1e-13 there), F_N counted by searchsorted and G evaluated
    pointwise: no left limits from the atoms list."""
    rng = np.random.default_rng(seed)
    z0, a1 = 0.3, 1.0
    m1 = atom * (1.0 - z0)
    bulk = 1.0 - z0 - m1

    def G(v):
        v = np.asarray(v, dtype=float)
        return z0 * (v >= 0) + m1 * (v >= a1) + bulk * np.clip(v / 2.0, 0.0, 1.0)

    k0 = int(zeros * N)
    k1 = int(atom * (N - k0))
    x = np.concatenate([np.zeros(k0), np.full(k1, a1), rng.uniform(0.0, 2.0, N - k0 - k1)])
    atoms = [(0.0, z0)] + ([(a1, m1)] if m1 > 0 else [])
    ours = ks_distance(x, G, atoms=atoms)
    pts = np.concatenate([x, [0.0, a1, 2.0], np.linspace(-0.5, 2.5, 3001)])
    pts = np.concatenate([pts, pts - 1e-13])
    fn = np.searchsorted(np.sort(x), pts, side="right") / N
    ref = np.max(np.abs(fn - G(pts)))
    assert abs(ours - ref) <= 1e-12
    assert 0.0 <= ours <= 1.0
    assert ks_distance(rng.permutation(x), G, atoms=atoms) == ours


def _uniform01(x):
    return np.clip(x, 0.0, 1.0)


def _half_atom_at_0(x):
    """An atom 1/2 at 0 plus 1/2 uniform on [0, 4]."""
    x = np.asarray(x, dtype=float)
    return np.where(x < 0, 0.0, 0.5 + np.clip(x, 0.0, 4.0) / 8.0)


def _point_mass_at_2(x):
    return (np.asarray(x) >= 2.0).astype(float)


HAND = [
    # (sample, cdf, kwargs, KS by hand)
    # F_N = 1/3, 2/3, 1 vs G = 1/4, 1/2, 3/4: |0 - 1/4| at 1/4-, |1 - 3/4| at 3/4
    ([0.25, 0.5, 0.75], _uniform01, {}, 0.25),
    ([0.5, 0.5], _uniform01, {}, 0.5),                   # a tie: F_N jumps 0 -> 1 where G = 1/2
    ([-1.0, -1.0], _uniform01, {}, 1.0),                 # all mass below the support
    ([-np.inf, 0.5], _uniform01, {}, 0.5),               # F_N = 1/2 on (-inf, 1/2), G(-inf) = 0
    # atom 1/2 at 0: F_N (1/2, 3/4, 1) vs G (1/2, 5/8, 7/8) at 0, 1, 3; G(0-) = 0 = F_N(0-)
    ([0, 0, 1, 3], _half_atom_at_0, {"atoms": [(0.0, 0.5)]}, 0.125),
    ([0, 0, 1, 3], _half_atom_at_0, {"atoms": [(0.0, 0.25), (0.0, 0.25)]}, 0.125),
    ([0, 0, 1, 3], _half_atom_at_0, {}, 0.5),            # no atoms: G(0-) taken as 1/2
    ([1, 3, 3, 3], _half_atom_at_0, {"atoms": [(0.0, 0.5)]}, 0.625),  # G(1-) = 5/8, F_N = 0
    # the same law in t = log lambda, zeros at t = -inf (CMP.2 is invariant)
    ([-np.inf, -np.inf, 0.0, np.log(3.0)], lambda t: _half_atom_at_0(np.exp(t)),
     {"atoms": [(-np.inf, 0.5)]}, 0.125),
    # a point mass: exact, snapped from 1e-12 relative rounding (CMP.1), or not snapped
    ([2.0, 2.0, 2.0], _point_mass_at_2, {"atoms": [(2.0, 1.0)]}, 0.0),
    ([2.0 * (1 + 1e-12), 2.0 * (1 - 1e-12), 2.0], _point_mass_at_2, {"atoms": [(2.0, 1.0)]},
     0.0),
    ([2.0 * (1 + 1e-12)] * 3, _point_mass_at_2, {"atoms": [(2.0, 1.0)], "snap": 0.0}, 1.0),
    ([2.0 * (1 + 1e-6)] * 3, _point_mass_at_2, {"atoms": [(2.0, 1.0)]}, 1.0),
    # snapping is relative (an absolute 1e-9 in log lambda): at 1e6 a 1e-6 offset snaps,
    # at 1e-6 a 1e-10 offset does not
    ([1e6 * (1 + 1e-12)] * 2, lambda x: (np.asarray(x) >= 1e6).astype(float),
     {"atoms": [(1e6, 1.0)]}, 0.0),
    ([1e-6 * (1 + 1e-4)] * 2, lambda x: (np.asarray(x) >= 1e-6).astype(float),
     {"atoms": [(1e-6, 1.0)]}, 1.0),
]


@pytest.mark.parametrize("sample,cdf,kw,expected", HAND, ids=[str(i) for i in range(len(HAND))])
def test_ks_distance_hand_computed(sample, cdf, kw, expected):
    assert ks_distance(sample, cdf, **kw) == pytest.approx(expected, abs=1e-15)


def test_ks_distance_agrees_with_compare_spectrum():
    """The lambda route (ks_distance with the prediction's cdf and atoms) and the t route of
    compare_spectrum (CMP.2 in t, snapping in t) give the same KS: Marchenko-Pastur, relu
    (atom 1/2 at 0, exact zeros) and orthogonal linear (point mass, snapped: KS = 0).
    Same cdf at the same points: rounding."""
    chains = [(mp_chain(12, 1.2), 3, 7),
              (rmtchain.Chain(2, 12, phi="relu", sigma_w=math.sqrt(2.0)), 3, 4),
              (rmtchain.Chain(3, 12, phi="linear", weights="orthogonal", sigma_w=1.1), 2, 2)]
    for chain, samples, seed in chains:
        c = compare_spectrum(chain, samples, rng=seed, kmax=1, cdf="exact")
        ours = ks_distance(c.sampled.eigenvalues, c.predicted.cdf, atoms=c.predicted.atoms)
        assert abs(ours - c.ks) <= 1e-12, (chain.describe(), ours, c.ks)
    assert ours == 0.0


class _Law:
    def cdf(self, x):
        return _uniform01(x)


BAD_KS = [
    (dict(sample=[]), "sample"),
    (dict(sample=[0.1, np.nan]), "sample"),
    (dict(sample=["a", "b"]), "sample"),
    (dict(sample=[1 + 1j]), "sample"),
    (dict(sample=[True, False]), "sample"),
    (dict(cdf=_Law()), "cdf"),
    (dict(cdf=None), "cdf"),
    (dict(cdf=lambda x: 0.5), "cdf"),                         # one value for 3 points
    (dict(cdf=lambda x: np.full(np.shape(x), np.nan)), "cdf"),
    (dict(cdf=lambda x: 1.0 - _uniform01(x)), "cdf"),         # a survival function
    (dict(cdf=lambda x: 2.0 * _uniform01(x)), "cdf"),         # leaves [0, 1]
    (dict(cdf=lambda x: ["p"] * len(x)), "cdf"),
    (dict(atoms=[0.5]), "atoms"),
    (dict(atoms=[(0.5, -0.1)]), "atoms"),
    (dict(atoms=[(np.nan, 0.1)]), "atoms"),
    (dict(atoms=[(0.5, np.inf)]), "atoms"),
    (dict(atoms=[(0.2, 0.6), (0.4, 0.6)]), "atoms"),          # masses sum to 1.2
    (dict(atoms=[(0.5, 0.5)]), "atoms"),                      # G has no jump at 0.5
    (dict(snap=-1.0), "snap"),
    (dict(snap=np.nan), "snap"),
    (dict(snap="1e-9"), "snap"),
]


@pytest.mark.parametrize("kw,name", BAD_KS, ids=[f"{n}{i}" for i, (_, n) in enumerate(BAD_KS)])
def test_ks_distance_bad_input(kw, name):
    args = {"sample": [0.25, 0.5, 0.75], "cdf": _uniform01, **kw}
    with pytest.raises(ValueError, match=name):
        ks_distance(args.pop("sample"), args.pop("cdf"), **args)


def test_ks_distance_is_exported():
    assert rmtchain.ks_distance is ks_distance and "ks_distance" in rmtchain.__all__


# ----------------------------------------------------------------------------- closed forms


def test_ks_equals_kstest_against_marchenko_pastur(mp_comparison):
    """Linear Gaussian depth 1: the prediction is MP(1, sigma_w^2) (LAW.1); our KS must be
    scipy's kstest of the pooled eigenvalues against the closed-form cdf (tolerance QUAD_CDF)."""
    c = mp_comparison
    lam = c.sampled.eigenvalues.ravel()
    ref = scipy.stats.kstest(lam, MarchenkoPastur(1.0, 1.3**2).cdf).statistic
    assert abs(c.ks - ref) <= QUAD_CDF
    assert c.ks_error <= QUAD_CDF and c.cdf_method == "exact"


def test_wasserstein_log_against_scipy_on_mp_quantiles(mp_comparison):
    """W1 on log lambda (CMP.3) vs scipy.stats.wasserstein_distance against 2e5 midpoint
    quantiles of MP(1), found by inverting the closed-form cdf on a geometric grid.
    Tolerance: our reported bound plus the quantile sample's discretisation (the first
    cell, where log Q(u) ~ 2 log u, contributes ~ 4/M = 2e-5) and grid interpolation."""
    c = mp_comparison
    mp = MarchenkoPastur(1.0, 1.3**2)
    lam = np.geomspace(1e-14, mp.support[1], 400001)
    F = mp.cdf(lam)
    M = 200000
    u = (np.arange(M) + 0.5) / M
    q = np.interp(u, F, lam)
    ref = scipy.stats.wasserstein_distance(np.log(c.sampled.eigenvalues.ravel()), np.log(q))
    assert abs(c.wasserstein_log - ref) <= c.wasserstein_log_error + 1e-3
    # the bound is informative: well below the distance itself at this size
    assert c.wasserstein_log_error < 0.5 * c.wasserstein_log


def test_exact_and_grid_agree_within_their_bounds():
    """STYLE: every method= gives the same answer; here within the reported cdf bounds."""
    ch = mp_chain(16, 1.0)
    a = compare_spectrum(ch, 3, rng=5, kmax=2, cdf="exact")
    b = compare_spectrum(ch, 3, rng=5, kmax=2, cdf="grid")
    assert b.cdf_method == "grid" and 0 < b.ks_error <= 4e-3
    assert abs(a.ks - b.ks) <= a.ks_error + b.ks_error + QUAD_CDF
    assert abs(a.wasserstein_log - b.wasserstein_log) <= (
        a.wasserstein_log_error + b.wasserstein_log_error)


def test_orthogonal_linear_point_mass_is_exact():
    """Linear orthogonal: every lambda is sigma_w^(2L) (LAW.13), so KS = W = 0 and the
    moments agree to rounding (z ~ rounding / SE floor)."""
    ch = rmtchain.Chain(3, 16, phi="linear", weights="orthogonal", sigma_w=1.1)
    c = compare_spectrum(ch, 3, rng=2)
    assert c.ks == 0.0 and c.wasserstein_log == 0.0
    np.testing.assert_allclose(c.moments_sampled, c.moments_predicted, rtol=1e-11)
    np.testing.assert_allclose(c.moments_predicted, 1.1 ** (6 * np.arange(1, 5)),
                               rtol=RTOL_ROUNDING)
    assert np.all(np.abs(c.moment_z) < 1e-2)
    assert c.passed()


def test_moments_match_spectrum_and_prediction(mp_comparison):
    """Sampled moments are Spectrum.moments (S.8); predicted are SpectrumPrediction.moments
    (FP.7) and, for MP(1, s), s^k Narayana(k) = 1, 2, 5 (rounding)."""
    c = mp_comparison
    mom = c.sampled.moments(3)
    np.testing.assert_allclose(c.moments_sampled, mom.mean, rtol=RTOL_ROUNDING)
    np.testing.assert_allclose(c.moments_stderr, mom.stderr, rtol=1e-10)
    np.testing.assert_allclose(c.moments_predicted, 1.69 ** np.arange(1, 4) * [1, 2, 5],
                               rtol=RTOL_ROUNDING)
    ratio = mom.per_sample / c.moments_predicted
    z = (ratio.mean(0) - 1) / (ratio.std(0, ddof=1) / math.sqrt(c.samples))
    np.testing.assert_allclose(c.moment_z, z, rtol=1e-9)


def test_relu_zero_atom_counted_and_w_finite():
    """relu: atom 1/2 at 0 (FP.12). Exact zeros enter KS at lambda = 0 and are left out of
    W (CMP.3), which stays finite; the zero fractions are reported separately."""
    ch = rmtchain.Chain(2, 16, phi="relu", sigma_w=math.sqrt(2.0))
    c = compare_spectrum(ch, 3, rng=4, kmax=2)
    t = _pooled_t(c.sampled)
    assert c.zero_fraction_sampled == pytest.approx(np.mean(np.isneginf(t)), rel=0)
    assert c.zero_fraction_sampled > 0.3 and c.zero_fraction_predicted == 0.5
    assert math.isfinite(c.wasserstein_log) and c.wasserstein_log >= 0
    # KS is at least the mismatch of the atom itself
    assert c.ks >= abs(c.zero_fraction_sampled - 0.5) - 1e-12


def test_wrong_prediction_fails():
    """Samples of one chain against another chain's prediction: the distances must grow and
    the agreement (CMP.6) fail (here sigma_w off by 50%: every lambda scaled by 2.25)."""
    ch, wrong = mp_chain(24, 1.0), mp_chain(24, 1.5)
    c = compare_spectrum(ch, 4, rng=8, kmax=2)
    t = _pooled_t(c.sampled)
    ks_w, _, w_w, _, _ = _distances(rmtchain.predict_spectrum(wrong), t, "exact")
    assert c.ks < 0.1 and ks_w > 0.2
    # log(2.25) = 0.81 shift of every log lambda: W1 >= 0.81 - W1(sample, right law)
    assert w_w >= math.log(2.25) - c.wasserstein_log - c.wasserstein_log_error
    assert c.passed()
    bad = SpectrumComparison(**{**c.__dict__, "ks": ks_w, "wasserstein_log": w_w})
    assert not bad.passed()


# ----------------------------------------------------------------------------- invariants


@st.composite
def square_chains(draw):
    phi = draw(st.sampled_from(["linear", "relu", "hardtanh"]))
    weights = draw(st.sampled_from(["gaussian", "orthogonal"]))
    depth = draw(st.integers(1 if weights == "gaussian" else 2, 3))
    sigma_b = 0.1 if phi == "hardtanh" else 0.0
    return rmtchain.Chain(depth, draw(st.integers(4, 10)), phi=phi, weights=weights,
                          sigma_w=draw(st.sampled_from([0.9, 1.0, 1.2])), sigma_b=sigma_b)


@settings(max_examples=6)
@given(chain=square_chains(), seed=seeds)
def test_invariants(chain, seed):
    """KS in [0, 1], W >= 0 with a non-negative bound, z finite, same seed same result,
    summary is strict JSON."""
    a = compare_spectrum(chain, 2, rng=seed, kmax=2)
    b = compare_spectrum(chain, 2, rng=np.random.default_rng(seed), kmax=2)
    assert a.distances_available
    assert 0.0 <= a.ks <= 1.0 and a.ks_error >= 0
    assert a.wasserstein_log >= 0 and a.wasserstein_log_error >= 0
    assert np.all(np.isfinite(a.moment_z))
    assert a.ks == b.ks and a.wasserstein_log == b.wasserstein_log
    np.testing.assert_array_equal(a.moment_z, b.moment_z)
    s = json.loads(json.dumps(a.summary(), allow_nan=False))
    assert s["ks"] == a.ks and len(s["moments"]["z"]) == 2


def test_distances_off_and_unavailable_are_flagged():
    c = compare_spectrum(mp_chain(8), 2, rng=0, kmax=2, distances=False)
    assert not c.distances_available and math.isnan(c.ks) and "distances=False" in c.note
    s = c.summary()
    assert s["ks"] is None and s["distances_available"] is False
    assert np.all(np.isfinite(c.moment_z))


BAD = [
    (dict(chain="chain"), "chain"),
    (dict(samples=1), "samples"),
    (dict(samples=2.5), "samples"),
    (dict(kmax=0), "kmax"),
    (dict(method="svd"), "method"),
    (dict(cdf="fast"), "cdf"),
    (dict(rng=-1), "rng"),
    (dict(distances="yes"), "distances"),
]


@pytest.mark.parametrize("kw,name", BAD, ids=[n for _, n in BAD])
def test_bad_input(kw, name):
    args = {"chain": mp_chain(4), "samples": 2, **kw}
    with pytest.raises(ValueError, match=name):
        compare_spectrum(args.pop("chain"), args.pop("samples"), **args)


def test_passed_validates():
    c = compare_spectrum(mp_chain(8), 2, rng=0, kmax=1, distances=False)
    with pytest.raises(ValueError, match="z_max"):
        c.passed(z_max=-1)


def test_plot_returns_axes(tmp_path, monkeypatch, mp_comparison):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rmtchain.plotting import plot_comparison

    monkeypatch.chdir(tmp_path)
    ax = mp_comparison.plot()
    assert "log_{10}" in ax.get_xlabel() and len(ax.lines) >= 1
    ax2 = plot_comparison(mp_comparison, log=False)
    assert "lambda" in ax2.get_xlabel()
    orth = compare_spectrum(rmtchain.Chain(2, 6, phi="linear", weights="orthogonal"), 2, rng=0)
    orth.plot()
    assert list(tmp_path.iterdir()) == []  # never saves
    with pytest.raises(ValueError, match="comparison"):
        plot_comparison(np.zeros(3))
    with pytest.raises(ValueError, match="points"):
        plot_comparison(mp_comparison, points=1)
    plt.close("all")


# ----------------------------------------------------------------------------- statistics


@pytest.mark.slow
@pytest.mark.parametrize("phi,sigma_w", [("linear", 1.0), ("relu", math.sqrt(2.0))])
def test_first_moment_z_is_student_t_over_seeds(phi, sigma_w):
    """m_1 is unbiased at finite width for these chains (E tr(J J^T)/n_L = (sigma_w^2 mu_1)^L
    exactly: linear (S.8); relu with zero bias, Hanin 1801.03744), so z_1 over independent
    seeds follows Student t with samples - 1 degrees of freedom (m_1 per sample is nearly
    normal at n = 32). Monte Carlo: scipy KS test of 300 z's, rejected at p < 1e-3."""
    S, n = 8, 32
    ch = rmtchain.Chain(3, n, phi=phi, sigma_w=sigma_w)
    ss = np.random.SeedSequence(2024)
    z = np.array([compare_spectrum(ch, S, rng=np.random.default_rng(s), kmax=1,
                                   distances=False).moment_z[0] for s in ss.spawn(300)])
    p = scipy.stats.kstest(z, scipy.stats.t(S - 1).cdf).pvalue
    assert p > 1e-3, (p, z.mean(), z.std())


def test_all_zero_sample_explains_its_undefined_wasserstein():
    """relu n=2 L=200: every sampled eigenvalue is exactly 0 (rank drops), so W1 on log lambda
    given lambda > 0 is undefined: NaN with a note, never a silent NaN."""
    import math

    import rmtchain

    cmp = compare_spectrum(rmtchain.Chain(200, 2, phi="relu", sigma_w=0.01), 3, rng=0)
    assert math.isnan(cmp.wasserstein_log) and "undefined" in cmp.note
    assert not cmp.passed()


def test_atom_beyond_float64_is_a_clear_error():
    import rmtchain

    with pytest.raises(ValueError, match="sigma_w"):
        compare_spectrum(rmtchain.Chain(200, 2, phi="linear", sigma_w=10, weights="orthogonal"),
                         3, rng=0)
