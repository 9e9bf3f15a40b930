"""Sampled against predicted spectrum: ``compare_spectrum`` (theory/compare.md).

One call samples a chain (``sample_spectrum``), predicts its large-width spectrum
(``predict_spectrum``) and measures the distance between the two:

- ``ks``: Kolmogorov-Smirnov distance on lambda, atoms included (CMP.2);
- ``wasserstein_log``: W1 distance between the laws of log lambda given lambda > 0 (CMP.3);
- ``moment_z``: z-scores of the sampled moments m_1..m_kmax from their Monte Carlo standard
  errors (CMP.4).

All three are computed in t = log lambda from ``Spectrum.log_singular_values`` (exact zeros
are t = -inf), so deep chains whose lambda under- or overflows float64 are handled without
loss. The small kernels ``_ks_statistic`` and ``_w1_cells`` take plain arrays (and are tested
against scipy); ``compare_spectrum`` validates, evaluates the predicted cdf once and wraps.

``ks_distance(sample, cdf, atoms=...)`` is the same KS distance (CMP.2) for any sample of
lambda and any predicted cdf (a closed-form law, an interpolated prediction): the one KS
implementation the figure scripts use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from ._rng import check_count, check_real
from .chain import Chain
from .free import SpectrumPrediction, moment_series, predict_spectrum
from .results import Spectrum
from .sampling import METHODS, sample_spectrum

__all__ = ["CDF_METHODS", "SpectrumComparison", "compare_spectrum", "ks_distance"]

#: how the predicted cdf is evaluated (CMP.5): at every distinct sampled value, on an
#: adaptive grid with linear interpolation, or "auto" (exact up to _AUTO_EXACT_MAX values)
CDF_METHODS = ("auto", "exact", "grid")
#: "auto" evaluates the cdf exactly at up to this many distinct finite sampled values
#: (about 4 ms each for a tanh chain on one core), else on the grid
_AUTO_EXACT_MAX = 600
#: grid: a cell is bisected until the predicted cdf rises by at most this much across it;
#: this is the bound on the interpolation error of the cdf (CMP.5)
_GRID_DELTA = 4e-3
#: grid: never more than this many cdf evaluations (the bound is reported, not assumed)
_GRID_MAX_EVALS = 600
#: a sampled t within this of a predicted atom's log-location is counted at the atom
#: (rounding of the sampler: log s exact to ~1e-12 relative per layer, theory/sampling.md)
_ATOM_SNAP = 1e-9
#: ks_distance: a cdf may leave [0, 1] or decrease by this much (rounding of a numerical
#: cdf) before it is rejected as not a distribution function
_CDF_SLACK = 1e-6
#: the lower tail of log lambda is followed down until the conditional cdf is below this
_TAIL_CDF = 1e-7
#: unresolved predicted mass (several bulk components, free.py) above this: no distances
_UNRESOLVED_MAX = 1e-6
#: W1 refinement: stop when the error bracket is below max(abs, rel * W1), or after
#: this many extra cdf evaluations (CMP.3)
_W_TARGET_ABS = 2e-3
_W_TARGET_REL = 0.05
_W_REFINE_MAX = 200
#: floor of the standard error of a moment ratio: the sampler's rounding (CMP.4)
_SE_FLOOR = 1e-10
#: t = log lambda of the smallest positive float: the cdf cannot be evaluated below it
_T_MIN = math.log(np.nextafter(0.0, 1.0))


# --------------------------------------------------------------------------- kernels
def _ks_statistic(values, counts, g_right, g_left):
    """sup |F_n - G| from the distinct sorted sample values (CMP.2).

    Parameters
    ----------
    values : (m,) sorted distinct sample values (may start with -inf)
    counts : (m,) int, multiplicity of each value
    g_right : (m,) G(v), the predicted cdf at v (atoms at v included)
    g_left : (m,) G(v-), the predicted cdf just below v (atom at v excluded)

    F_n is constant between sample values and G is non-decreasing, so the supremum is
    attained at v or v- for some sample value v (also before the first and after the last).
    """
    n = counts.sum()
    f_right = np.cumsum(counts) / n
    f_left = f_right - counts / n
    return float(max(np.max(np.abs(f_right - g_right)), np.max(np.abs(f_left - g_left))))


def _w1_cells(dt, f, g_a, g_b):
    """int |F - G| dt over cells of widths ``dt`` where F = f_j is constant and G is
    non-decreasing from g_a[j] to g_b[j] (CMP.3).

    Returns (estimate, per-cell bound): the estimate takes G linear across each cell (exact
    then); whatever G's shape, the true integral over cell j lies within
    dt_j (g_b[j] - g_a[j]) of it.
    """
    dt = np.asarray(dt, dtype=float)
    f = np.asarray(f, dtype=float)
    a, b = np.asarray(g_a, dtype=float), np.asarray(g_b, dtype=float)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    est = np.empty(dt.shape)
    out = (f <= lo) | (f >= hi)
    est[out] = dt[out] * np.abs(f[out] - 0.5 * (a[out] + b[out]))
    cross = ~out
    if cross.any():
        d = hi[cross] - lo[cross]
        est[cross] = dt[cross] * ((f[cross] - lo[cross]) ** 2 + (hi[cross] - f[cross]) ** 2) / (2 * d)
    return float(est.sum()), dt * (hi - lo)


def _refine(G, cond, tl, tr, f, ga, gb, target, budget):
    """Bisect the cells with the largest bracket dt (g_b - g_a) with exact cdf evaluations
    until the summed bracket is <= ``target`` or ``budget`` evaluations are spent (CMP.3)."""
    spent = 0
    while True:
        w, bound = _w1_cells(tr - tl, f, ga, gb)
        if bound.sum() <= target or spent >= budget:
            return w, float(bound.sum())
        batch = min(32, budget - spent)
        pick = np.argsort(bound)[::-1][:batch]
        pick = pick[bound[pick] > 0]
        if pick.size == 0:
            return w, float(bound.sum())
        mid = 0.5 * (tl[pick] + tr[pick])
        gr = cond(G.right(mid))
        gl = gr - G.atom_at(mid) * (cond(1.0) - cond(0.0))
        spent += pick.size
        tl = np.concatenate([tl, mid])
        tr = np.concatenate([tr, tr[pick]])
        f = np.concatenate([f, f[pick]])
        ga = np.concatenate([ga, gr])
        gb = np.concatenate([gb, gb[pick]])
        tr[pick] = mid
        gb[pick] = gl


# --------------------------------------------------------------------------- result
@dataclass(frozen=True)
class SpectrumComparison:
    """A sampled spectrum beside its large-width prediction (``compare_spectrum``).

    Attributes
    ----------
    chain : Chain
    sampled : Spectrum
        From ``sample_spectrum(chain, samples, rng=rng, method=method)``.
    predicted : SpectrumPrediction
        From ``predict_spectrum(chain)``.
    kmax : int
    cdf_method : {"exact", "grid"}
        How the predicted cdf was evaluated (CMP.5).
    ks : float
        sup_x |F_sampled(x) - F_pred(x)| over lambda >= 0, the n_L - rank exact zeros and
        the predicted atoms included (CMP.2). NaN only when ``distances_available`` is False.
    ks_error : float
        Bound on the error of ``ks`` from the evaluation of the predicted cdf (CMP.5).
    wasserstein_log : float
        W1 between the pooled log lambda of the nonzero sampled eigenvalues and the
        predicted law of log lambda given lambda > 0 (CMP.3).
    wasserstein_log_error : float
        Bound on its error (cell bracketing, cdf interpolation, lower tail) (CMP.3), (CMP.5).
    zero_fraction_sampled, zero_fraction_predicted : float
        Fraction of exact zeros among the pooled eigenvalues, and the predicted atom at 0.
    moments_sampled, moments_stderr : (kmax,) arrays
        Mean over samples of m_k = tr((J J^T)^k)/n_L and its standard error (S.8).
    moments_predicted : (kmax,) array
        m_k of the prediction (theory/free.md (FP.7)).
    moment_z : (kmax,) array
        (mean of the per-sample ratios m_k / m_k^pred - 1) / (their standard error) (CMP.4).
    distances_available : bool
        False where the prediction has only moments (some rectangular or orthogonal chains
        with layer-dependent laws of phi'(h)^2; see ``SpectrumPrediction``); then ``ks``
        and ``wasserstein_log`` are NaN and ``note`` says why.
    note : str
    """

    chain: Chain
    sampled: Spectrum = field(repr=False)
    predicted: SpectrumPrediction = field(repr=False)
    kmax: int
    cdf_method: str
    ks: float
    ks_error: float
    wasserstein_log: float
    wasserstein_log_error: float
    zero_fraction_sampled: float
    zero_fraction_predicted: float
    moments_sampled: np.ndarray = field(repr=False)
    moments_stderr: np.ndarray = field(repr=False)
    moments_predicted: np.ndarray = field(repr=False)
    moment_z: np.ndarray = field(repr=False)
    distances_available: bool = True
    note: str = ""

    @property
    def samples(self):
        """Number of sampled chains."""
        return self.sampled.samples

    def passed(self, *, z_max=4.0, ks_max=0.1, wasserstein_max=0.25):
        """The agreement test of theory/compare.md (CMP.6).

        True when every |moment_z| <= ``z_max`` and, where distances are available,
        ``ks <= ks_max`` and ``wasserstein_log <= wasserstein_max``. The defaults suit
        width >= 64 with k L / n <= 1/4; the z-scores carry no finite-width bias allowance
        (CMP.4), so with many samples a finite-width bias in m_k fails them by design.
        """
        for name, v in (("z_max", z_max), ("ks_max", ks_max), ("wasserstein_max", wasserstein_max)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        ok = bool(np.all(np.abs(self.moment_z) <= z_max))
        if self.distances_available:
            ok = ok and self.ks <= ks_max and self.wasserstein_log <= wasserstein_max
        return ok

    def plot(self, ax=None, *, log=True, bins=60):
        """Histogram of the sampled spectrum with the predicted density and atoms.

        See ``rmtchain.plotting.plot_comparison``; returns the Axes.
        """
        from .plotting import plot_comparison

        return plot_comparison(self, ax=ax, log=log, bins=bins)

    def summary(self):
        """A JSON-able dict of the comparison (non-finite floats as None)."""

        def num(x):
            x = float(x)
            return x if math.isfinite(x) else None

        pred = self.predicted
        out = {
            "chain": self.chain.describe(),
            "samples": self.samples,
            "seed": self.sampled.seed if not isinstance(self.sampled.seed, np.integer)
            else int(self.sampled.seed),
            "method": self.sampled.method,
            "cdf_method": self.cdf_method,
            "normalisation": "lambda = s^2 eigenvalue of J J^T (n_L x n_L, n_L - rank exact "
                             "zeros included); m_k = tr((J J^T)^k)/n_L",
            "moments": {
                "k": list(range(1, self.kmax + 1)),
                "sampled": [num(v) for v in self.moments_sampled],
                "stderr": [num(v) for v in self.moments_stderr],
                "predicted": [num(v) for v in self.moments_predicted],
                "z": [num(v) for v in self.moment_z],
            },
            "ks": num(self.ks),
            "ks_error": num(self.ks_error),
            "wasserstein_log": num(self.wasserstein_log),
            "wasserstein_log_error": num(self.wasserstein_log_error),
            "zero_fraction_sampled": num(self.zero_fraction_sampled),
            "zero_fraction_predicted": num(self.zero_fraction_predicted),
            "distances_available": self.distances_available,
            "note": self.note,
            "passed": self.passed(),
        }
        if self.distances_available:
            out["support"] = [num(v) for v in pred.support]
            out["max_eigenvalue"] = num(pred.max_eigenvalue)
            out["atoms"] = [[num(loc), num(m)] for loc, m in pred.atoms]
        else:
            out["support"] = None
            out["max_eigenvalue"] = None
            out["atoms"] = [[num(loc), num(m)] for loc, m in pred.atoms]
        return out


# --------------------------------------------------------------------------- helpers
def _pooled_t(spectrum):
    """Pooled t = log lambda = 2 log s over samples, with the n_L - rank exact zeros of a
    chain wider at the output than the input appended as -inf (CMP.1). Sorted ascending."""
    ls = spectrum.log_singular_values
    chain = spectrum.chain
    t = 2.0 * ls
    pad = chain.n_out - ls.shape[1]
    if pad > 0:
        t = np.concatenate([t, np.full((ls.shape[0], pad), -np.inf)], axis=1)
    return np.sort(t.ravel())


def _moments(spectrum, kmax, pred_log):
    """(mean, stderr, z) of m_k; z from the per-sample ratios m_k / m_k^pred (CMP.4)."""
    ls = spectrum.log_singular_values
    k = np.arange(1, kmax + 1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        logm = logsumexp(2.0 * k[None, :, None] * ls[:, None, :], axis=2) - math.log(
            spectrum.chain.n_out)
        per = np.exp(logm)
        ratio = np.exp(logm - pred_log[None, :])
    S = ls.shape[0]
    mean = per.mean(axis=0)
    stderr = per.std(axis=0, ddof=1) / math.sqrt(S)
    r_mean = ratio.mean(axis=0)
    r_se = np.maximum(ratio.std(axis=0, ddof=1) / math.sqrt(S), _SE_FLOOR)
    z = (r_mean - 1.0) / r_se
    return mean, stderr, z


class _PredictedCdf:
    """G(t) = P(log lambda <= t) from ``SpectrumPrediction.cdf``, with atoms known exactly."""

    def __init__(self, pred):
        self.pred = pred
        self.atoms = [(math.log(loc) if loc > 0 else -math.inf, m) for loc, m in pred.atoms]
        self.a0 = sum(m for loc, m in pred.atoms if loc == 0.0)
        self.evals = 0

    def right(self, t):
        """G(t) (right-continuous; atoms at t included). t may contain -inf."""
        t = np.asarray(t, dtype=float)
        out = np.empty(t.shape)
        neg = np.isneginf(t)
        out[neg] = self.a0
        if (~neg).any():
            with np.errstate(over="ignore", under="ignore"):
                lam = np.exp(t[~neg])
            self.evals += lam.size
            out[~neg] = self.pred.cdf(lam)
        return out

    def atom_at(self, t):
        """Predicted atom mass exactly at each t (0 where none)."""
        t = np.asarray(t, dtype=float)
        out = np.zeros(t.shape)
        for loc, m in self.atoms:
            out[t == loc] += m
        return out


def _snap(t, atoms, *, tol=_ATOM_SNAP, relative=False):
    """Move sampled t within ``tol`` of a finite atom location onto it, sorted (CMP.1).

    ``relative``: within ``tol * |location|`` instead (lambda rather than log lambda: a
    relative tolerance in lambda is an absolute one in log lambda; an atom at 0 then takes
    exact zeros only).
    """
    t = t.copy()
    for loc, _ in atoms:
        if math.isfinite(loc):
            t[np.abs(t - loc) <= (tol * abs(loc) if relative else tol)] = loc
    return np.sort(t)


def _grid(G, lo, hi, atoms):
    """Adaptive nodes in [lo, hi] with G rising by at most _GRID_DELTA per cell (CMP.5).

    Returns (nodes, G(nodes) right-continuous, max cell rise, sum of width * rise). Positive atoms in range are
    nodes, so no cell straddles a jump."""
    nodes = list(np.linspace(lo, hi, 33))
    nodes += [loc for loc, _ in atoms if math.isfinite(loc) and lo < loc < hi]
    nodes = np.unique(np.array(nodes))
    vals = G.right(nodes)
    while True:
        left_b = vals[1:] - G.atom_at(nodes[1:])
        rise = left_b - vals[:-1]
        bad = np.flatnonzero((rise > _GRID_DELTA) & (np.diff(nodes) > 1e-12 * (1 + abs(hi))))
        if bad.size == 0 or G.evals >= _GRID_MAX_EVALS:
            # cdf error of interpolation within a cell <= its rise; int over the cell <= width * rise
            rise = np.maximum(rise, 0.0)
            return nodes, vals, float(rise.max(initial=0.0)), float(np.sum(np.diff(nodes) * rise))
        bad = bad[: max(1, _GRID_MAX_EVALS - G.evals)]
        mids = 0.5 * (nodes[bad] + nodes[bad + 1])
        mv = G.right(mids)
        nodes = np.concatenate([nodes, mids])
        vals = np.concatenate([vals, mv])
        order = np.argsort(nodes)
        nodes, vals = nodes[order], vals[order]


def _interp(nodes, vals, G, x):
    """Linear interpolation of G within cells (left limit at the right end of a cell)."""
    j = np.clip(np.searchsorted(nodes, x, side="right") - 1, 0, len(nodes) - 2)
    a, b = nodes[j], nodes[j + 1]
    ga = vals[j]
    gb = vals[j + 1] - G.atom_at(b)
    w = np.where(b > a, (x - a) / np.where(b > a, b - a, 1.0), 0.0)
    out = ga + w * (gb - ga)
    exact = x == b
    out[exact] = vals[j + 1][exact]
    return out


def _distances(pred, t_sorted, cdf):
    """(ks, ks_error, w, w_error, cdf_method) from sorted pooled t (CMP.2), (CMP.3), (CMP.5)."""
    G = _PredictedCdf(pred)
    t_sorted = _snap(t_sorted, G.atoms)
    values, counts = np.unique(t_sorted, return_counts=True)
    finite = np.isfinite(values)
    fvals = values[finite]
    n_distinct = fvals.size
    if cdf == "auto":
        cdf = "exact" if n_distinct <= _AUTO_EXACT_MAX else "grid"
    t_top = pred.log_max_eigenvalue
    a0 = G.a0
    g_err = g_int = 0.0
    if cdf == "exact":
        g_fin = G.right(fvals)
        grid = None
    else:
        lo = float(fvals.min()) if n_distinct else t_top - 1.0
        hi = max(float(fvals.max()) if n_distinct else t_top, t_top)
        nodes, nvals, g_err, g_int = _grid(G, lo, hi, G.atoms)
        g_fin = _interp(nodes, nvals, G, fvals)
        grid = (nodes, nvals)
    g_right = np.empty(values.shape)
    g_right[finite] = g_fin
    g_right[~finite] = a0
    g_left = g_right - G.atom_at(values)
    g_left[~finite] = 0.0
    ks = _ks_statistic(values, counts, g_right, g_left)
    ks_err = g_err + pred.mass_below_min_float

    # W1 on log lambda given lambda > 0 (CMP.3)
    if n_distinct == 0 or a0 >= 1.0:
        return ks, ks_err, math.nan, math.nan, cdf
    c = counts[finite]
    pos_n = c.sum()

    def cond(g):
        return (g - a0) / (1.0 - a0)

    # nodes: sample values, the top of the support, and the lower tail
    tail_t, tail_g = [], []
    t_low, g_low = fvals[0], cond(g_left[finite][0])
    step = 1.0
    while g_low > _TAIL_CDF and t_low > _T_MIN + 2 * step:
        t_low = t_low - step
        g_low = float(cond(G.right(np.array([t_low]))[0]))
        tail_t.append(t_low)
        tail_g.append(g_low)
        step *= 2.0
    if g_low > _TAIL_CDF:
        tail_est = g_low * step  # mass below the float range: bounded by a step of its size
    elif len(tail_g) >= 2 and tail_g[-2] > tail_g[-1] > 0:
        # exponential tail G ~ exp(t / ell) (density ~ lambda^(1/ell - 1) near 0)
        ell = (tail_t[-2] - tail_t[-1]) / math.log(tail_g[-2] / tail_g[-1])
        tail_est = tail_g[-1] * ell
    else:
        tail_est = g_low * step
    # nodes: the lower-tail nodes, the distinct sampled values, the top of the support
    node_t = np.concatenate([tail_t[::-1], fvals])
    node_r = np.concatenate([tail_g[::-1], cond(g_right[finite])])
    tail_l = np.array(tail_g[::-1]) - G.atom_at(np.array(tail_t[::-1])) / (1.0 - a0)
    node_l = np.concatenate([tail_l, cond(g_left[finite])])
    f_cells = np.concatenate([np.zeros(len(tail_t)), np.cumsum(c) / pos_n])
    if t_top > fvals[-1]:
        gt = float(G.right(np.array([t_top]))[0])
        node_t = np.append(node_t, t_top)
        node_r = np.append(node_r, cond(gt))
        node_l = np.append(node_l, cond(gt - float(G.atom_at(np.array([t_top]))[0])))
    else:
        f_cells = f_cells[:-1]
    g_a, g_b = node_r[:-1], node_l[1:]
    if grid is not None:  # interpolated values: keep them in [0, 1]
        g_a, g_b = np.clip(g_a, 0.0, 1.0), np.clip(g_b, 0.0, 1.0)
    # refine until the bracket is small beside the distance itself (or the budget is spent)
    w0, b0 = _w1_cells(np.diff(node_t), f_cells, g_a, g_b)
    w, w_bound = _refine(G, cond, node_t[:-1].copy(), node_t[1:].copy(), f_cells.copy(),
                         g_a.copy(), g_b.copy(), target=max(_W_TARGET_ABS, _W_TARGET_REL * w0),
                         budget=_W_REFINE_MAX)
    # below the lowest node F = 0: int G dt; the tail estimate is both value and error
    w += tail_est
    w_err = w_bound + tail_est + g_int / (1.0 - a0)
    return ks, ks_err, float(w), float(w_err), cdf


# --------------------------------------------------------------------------- public
def ks_distance(sample, cdf, *, atoms=(), snap=_ATOM_SNAP):
    """Kolmogorov-Smirnov distance sup_x |F_N(x) - G(x)| of a sample to a predicted cdf.

    Parameters
    ----------
    sample : array_like of float
        The pooled sample (any shape, flattened), e.g. ``Spectrum.eigenvalues``; ties and
        exact zeros allowed, +-inf allowed (``cdf`` is then evaluated there), NaN not.
    cdf : callable
        G(x) = P(X <= x), right-continuous and non-decreasing, atoms included; called once
        with a 1-d float array (the distinct sample values, ascending) and returning an array
        of that shape, e.g. ``SpectrumPrediction.cdf`` or ``FussCatalan(2).cdf``.
    atoms : iterable of (location, mass) pairs
        The point masses of the law (``SpectrumPrediction.atoms``); they give the left
        limit G(v-) = G(v) - (mass at v) at a sample value v sitting on an atom. Without
        them G is taken to be continuous (right for a continuous law).
    snap : float
        A sample value within ``snap * |location|`` of a finite atom location is counted at
        the atom (sampler rounding, theory/compare.md (CMP.1)); 0 disables it. An atom at 0
        takes exact zeros only.

    Returns
    -------
    float
        The distance, in [0, 1] (up to the rounding of ``cdf``).

    Raises
    ------
    ValueError
        The message names the argument: ``sample`` empty, not real, or containing NaN;
        ``cdf`` not callable, or returning values of the wrong shape, NaN, outside [0, 1] or
        decreasing (beyond 1e-6 of rounding); ``atoms`` not (location, mass) pairs with
        finite masses >= 0 summing to <= 1, or an atom heavier than the rise of ``cdf``
        below it; ``snap`` not a finite number >= 0.

    Notes
    -----
    theory/compare.md (CMP.2): F_N is constant between sample values and G is non-decreasing,
    so the supremum is attained at a distinct sample value v or just below it, and
    KS = max_v max(|F_N(v) - G(v)|, |F_N(v-) - G(v-)|). Without ties or atoms this is
    ``scipy.stats.kstest``'s statistic. The distance is invariant under a monotone map of
    the variable (``compare_spectrum`` evaluates it in t = log lambda); it is a distance,
    not a test: eigenvalues of one matrix are not independent (CMP.2).

    Examples
    --------
    >>> import numpy as np
    >>> from rmtchain.compare import ks_distance
    >>> ks_distance([0.25, 0.5, 0.75], lambda x: np.clip(x, 0.0, 1.0))  # uniform on [0, 1]
    0.25

    An atom 1/2 at 0 plus 1/2 uniform on [0, 4]; the exact zeros of the sample sit on it:

    >>> G = lambda x: np.where(x < 0, 0.0, 0.5 + np.clip(x, 0.0, 4.0) / 8)
    >>> ks_distance([0, 0, 1, 3], G, atoms=[(0.0, 0.5)])
    0.125
    >>> ks_distance([0, 0, 1, 3], G)  # without atoms, G(0-) = G(0) = 1/2 is wrong
    0.5
    """
    x = np.asarray(sample)
    if x.dtype.kind not in "iuf":
        raise ValueError(f"sample must be an array of real numbers, got dtype {x.dtype}")
    x = x.astype(float).ravel()
    if x.size == 0:
        raise ValueError("sample must not be empty")
    if np.isnan(x).any():
        raise ValueError(f"sample contains NaN ({int(np.isnan(x).sum())} of {x.size} values)")
    if not callable(cdf):
        hint = (f" (pass its .cdf, e.g. {type(cdf).__name__}(...).cdf)" if hasattr(cdf, "cdf")
                else "")
        raise ValueError(f"cdf must be callable{hint}, got {type(cdf).__name__}")
    try:
        pairs = [(float(loc), float(m)) for loc, m in atoms]
    except (TypeError, ValueError):
        raise ValueError(f"atoms must be (location, mass) pairs, got {atoms!r}") from None
    for loc, m in pairs:
        if math.isnan(loc) or not (math.isfinite(m) and m >= 0.0):
            raise ValueError(f"atoms: location must not be NaN and mass must be finite and "
                             f">= 0, got ({loc!r}, {m!r})")
    if sum(m for _, m in pairs) > 1.0 + _CDF_SLACK:
        raise ValueError(f"atoms: the masses sum to {sum(m for _, m in pairs)!r} > 1")
    snap = check_real("snap", snap)
    if snap < 0.0:
        raise ValueError(f"snap must be >= 0, got {snap!r}")

    values, counts = np.unique(_snap(x, pairs, tol=snap, relative=True),
                               return_counts=True)
    try:
        g_right = np.asarray(cdf(values), dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cdf must return real numbers for an array of points: {exc}") from exc
    if g_right.size != values.size:
        raise ValueError(f"cdf must return one value per point: shape {g_right.shape} for "
                         f"{values.shape} points")
    g_right = g_right.reshape(values.shape)
    if np.isnan(g_right).any():
        raise ValueError(f"cdf returned NaN at {values[np.isnan(g_right)][:3].tolist()}")
    if g_right.min() < -_CDF_SLACK or g_right.max() > 1.0 + _CDF_SLACK:
        raise ValueError(f"cdf must return values in [0, 1], got values in "
                         f"[{g_right.min()!r}, {g_right.max()!r}]")
    if values.size > 1 and np.diff(g_right).min() < -_CDF_SLACK:
        j = int(np.argmin(np.diff(g_right)))
        raise ValueError(f"cdf must be non-decreasing: G({values[j]!r}) = {g_right[j]!r} > "
                         f"G({values[j + 1]!r}) = {g_right[j + 1]!r}")
    at = np.zeros(values.shape)
    for loc, m in pairs:
        at[values == loc] += m
    g_left = g_right - at
    # the atom at v is part of G's rise from the previous sample value to v
    below = np.concatenate([[0.0], g_right[:-1]])
    if (g_left < below - _CDF_SLACK).any():
        j = int(np.argmax(below - g_left))
        raise ValueError(f"atoms: mass {at[j]!r} at {values[j]!r} exceeds the rise "
                         f"{g_right[j] - below[j]!r} of cdf up to it")
    return _ks_statistic(values, counts, g_right, g_left)


def compare_spectrum(chain, samples, *, rng=None, kmax=4, method="auto", cdf="auto",
                     distances=True):
    """Sample ``chain``, predict its spectrum, and measure how far apart they are.

    Parameters
    ----------
    chain : Chain
    samples : int
        Number of sampled chains (>= 2: the z-scores need a standard error).
    rng : None, int or numpy.random.Generator
        Passed to ``sample_spectrum`` (SPEC 7): the same seed gives the same result.
    kmax : int
        Moments m_1..m_kmax are compared (>= 1).
    method : {"auto", "plain", "qr"}
        Accumulation of the sampled product (``sample_spectrum``, theory/sampling.md (S.4)).
        "plain" does not track exact zeros (they come out tiny and finite), which spoils
        the distances for relu and hardtanh.
    cdf : {"auto", "exact", "grid"}
        How the predicted cdf is evaluated (theory/compare.md (CMP.5)): "exact" at every
        distinct sampled value (cost grows with samples * width), "grid" on an adaptive grid
        with linear interpolation (error bounded by the cdf rise per cell, <= 2e-3), "auto"
        exact up to 600 distinct values.
    distances : bool
        False skips ``ks`` and ``wasserstein_log`` (NaN, ``distances_available`` False):
        moments only, without the cost of the predicted cdf.

    Returns
    -------
    SpectrumComparison

    Raises
    ------
    ValueError
        For a bad argument (the message names it), or a chain whose length map leaves
        (0, inf) (from ``predict_spectrum``).

    Notes
    -----
    The pooled sample is the full spectrum of the n_L x n_L matrix J J^T of every sample,
    exact zeros included (CMP.1), matching the normalised trace tr(.)/n_L of the prediction
    (theory/free.md (FP.11), (FP.12)). Distances: theory/compare.md (CMP.2) (KS), (CMP.3)
    (W1 on log lambda), (CMP.4) (moment z-scores); their numerical errors (CMP.5); what a
    passing agreement is (CMP.6).

    References
    ----------
    J. Pennington, S. Schoenholz, S. Ganguli, arXiv:1711.04735 and arXiv:1802.09979.

    Examples
    --------
    >>> import rmtchain
    >>> from rmtchain.compare import compare_spectrum
    >>> cmp = compare_spectrum(rmtchain.Chain(1, 64, phi="linear"), 4, rng=0, kmax=2)
    >>> bool(cmp.ks < 0.1), cmp.moments_predicted
    (True, array([1., 2.]))
    """
    if not isinstance(chain, Chain):
        raise ValueError(f"chain must be an rmtchain.Chain, got {type(chain).__name__}")
    samples = check_count("samples", samples, minimum=2)
    kmax = check_count("kmax", kmax)
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    if cdf not in CDF_METHODS:
        raise ValueError(f"cdf must be one of {list(CDF_METHODS)}, got {cdf!r}")
    if not isinstance(distances, (bool, np.bool_)):
        raise ValueError(f"distances must be True or False, got {distances!r}")
    pred = predict_spectrum(chain)
    spec = sample_spectrum(chain, samples, rng=rng, method=method)

    log_m1, m_hat = moment_series(chain, kmax, lengths=pred.lengths)
    k = np.arange(1, kmax + 1)
    pred_log = k * log_m1 + np.log(m_hat)
    with np.errstate(over="ignore", under="ignore"):
        m_pred = np.exp(pred_log)
    m_mean, m_se, z = _moments(spec, kmax, pred_log)

    t = _pooled_t(spec)
    zero_s = float(np.mean(np.isneginf(t)))
    zero_p = float(sum(m for loc, m in pred.atoms if loc == 0.0))
    note = ""
    try:
        if not distances:
            raise NotImplementedError("not requested (distances=False)")
        unresolved = pred.unresolved_mass
        if abs(unresolved) > _UNRESOLVED_MAX:
            raise NotImplementedError(
                f"the predicted density leaves {unresolved:.3g} of the mass unresolved "
                "(several bulk components)")
        ks, ks_err, w, w_err, used = _distances(pred, t, cdf)
        available = True
        if math.isnan(w):
            note = ("wasserstein_log undefined (NaN): no nonzero sampled eigenvalue, or no "
                    "predicted mass above 0 (CMP.3)")
    except NotImplementedError as exc:
        ks = ks_err = w = w_err = math.nan
        used = cdf if cdf != "auto" else "exact"
        available = False
        note = f"moments only, no distances: {' '.join(str(exc).split())}"
    return SpectrumComparison(
        chain=chain, sampled=spec, predicted=pred, kmax=kmax, cdf_method=used, ks=ks,
        ks_error=ks_err, wasserstein_log=w, wasserstein_log_error=w_err,
        zero_fraction_sampled=zero_s, zero_fraction_predicted=zero_p,
        moments_sampled=m_mean, moments_stderr=m_se, moments_predicted=m_pred, moment_z=z,
        distances_available=available, note=note)
