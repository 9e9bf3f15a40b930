"""Finite-width laws of log ||J u||^2 and log ||x_L||^2/||x_0||^2, and width for depth.

Exact laws (zero bias; linear also with bias for the gradient): every layer multiplies R by
an independent factor, a scaled chi^2 (Gaussian weights) or Beta (Haar weights) with a
Binomial number of active units (relu), theory/finitewidth.md (FW.1)-(FW.4). The law of
the sum of the logs is inverted from its characteristic function (closed form through
``loggamma``) by the midpoint Gil-Pelaez sum (FW.5). Other nonlinearities get the
leading-order normal law with the mean-field fluctuations of the layer lengths (FW.6).
``width_for_depth``/``depth_for_width`` apply the criterion (FW.7).

Lyapunov exponents live in ``rmtchain.lyapunov``.

References: Hanin arXiv:1801.03744; Hanin & Nica arXiv:1812.05994; Orvieto et al.
arXiv:2106.03763.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special, stats

from ._config import DRAW_BUFFER
from ._rng import as_generator, check_count
from .chain import Chain
from .meanfield import gaussian_expectation
from .nonlinearities import _phi_dphi

__all__ = ["LognormPrediction", "predict_lognorm", "sample_forward_lognorm",
           "width_for_depth", "depth_for_width", "QUANTITIES"]

QUANTITIES = ("gradient", "forward")

#: tails of the finite part beyond the window [lo, hi] carry less than this (Chernoff)
_TAIL = 1e-17
#: the Gil-Pelaez sum stops where |phi(t)| (continuous part) drops below this
_CF_TOL = 1e-15
#: and never uses more than this many terms (slow algebraic decay: Haar, small width)
_CF_MAX = 2**13
#: binomial weights below this (relative) are dropped (their total mass is < 1e-25)
_BINOM_CUT = 1e-28


# ----------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------

def _check_chain(chain):
    if not isinstance(chain, Chain):
        raise ValueError(f"chain must be an rmtchain.Chain, got {type(chain).__name__}")
    return chain


def _check_quantity(quantity):
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity must be one of {QUANTITIES}, got {quantity!r}")
    return quantity


def _is_relu(nl):
    return nl.name == "relu" or (nl.name == "leaky_relu" and nl.param == 0.0)


def _exact_kind(chain, quantity):
    """"linear", "relu" or None: whether (FW.1)-(FW.4) hold for this chain."""
    nl = chain.phi
    if nl.name == "linear" and (quantity == "gradient" or chain.sigma_b == 0.0):
        return "linear"
    if _is_relu(nl) and chain.sigma_b == 0.0:
        return "relu"
    return None


# ----------------------------------------------------------------------------------------
# exact laws: one layer = shift + log(chi^2_k) or log Beta(a, b), mixed over k (FW.1-FW.4)
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _Layer:
    """Law of one layer's log factor given that it is nonzero: ``shift`` plus a mixture
    (weights ``w``) of log chi^2_{2a} (``b is None``) or log Beta(a, b) (b = 0: the point 0).
    ``dead`` is P(factor = 0) (no active unit); ``mult`` how many layers share this law."""

    shift: float
    a: np.ndarray
    b: np.ndarray | None
    w: np.ndarray
    dead: float
    mean_factor: float      # E[factor], including the dead event (0)
    mult: int = 1


def _active_counts(n, relu):
    """(k, P(K = k | K >= 1), P(K = 0)) for K ~ Binomial(n, 1/2) (relu) or K = n."""
    if not relu:
        return np.array([float(n)]), np.array([1.0]), 0.0
    k = np.arange(1, n + 1)
    logp = (special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
            - n * math.log(2.0))
    dead = 2.0 ** (-n)
    p = np.exp(logp - math.log1p(-dead))
    keep = p > _BINOM_CUT * p.max()
    return k[keep].astype(float), p[keep] / p[keep].sum() * 1.0, dead


def _layers(chain, kind):
    """The distinct per-layer laws of (FW.2)/(FW.3), grouped by (n_{l-1}, n_l)."""
    sw2 = chain.sigma_w ** 2
    relu = kind == "relu"
    groups = {}
    w = chain.widths
    for l in range(chain.depth):
        key = (w[l], w[l + 1])
        groups[key] = groups.get(key, 0) + 1
    out = []
    for (n_in, n_out), mult in groups.items():
        k, p, dead = _active_counts(n_out, relu)
        mean_k = n_out / 2.0 if relu else float(n_out)
        if chain.weights == "gaussian":
            shift = math.log(sw2 / n_in)
            out.append(_Layer(shift, k / 2.0, None, p, dead, sw2 / n_in * mean_k, mult))
        else:
            m = max(n_in, n_out)
            out.append(_Layer(math.log(sw2), k / 2.0, (m - k) / 2.0, p, dead, sw2 * mean_k / m,
                              mult))
    return out


def _layer_logcf(layer, t):
    """log E exp(i t Y) of one layer's finite log factor, on real t (any shape)."""
    t = np.asarray(t, dtype=float)
    it = 1j * t[..., None]
    a = layer.a
    lg = special.loggamma(a + it) - special.gammaln(a)
    if layer.b is None:
        lg = lg + it * math.log(2.0)
    else:
        lg = lg + special.gammaln(a + layer.b) - special.loggamma(a + layer.b + it)
    # log sum_k w_k e^{lg_k}, scaled by the largest real part (|cf| underflows for large t)
    top = lg.real.max(axis=-1)
    comp = np.exp(lg - top[..., None]) @ layer.w
    with np.errstate(divide="ignore"):
        return 1j * t * layer.shift + top + np.log(comp)


def _layer_logmgf(layer, s):
    """log E exp(s Y) for real s > -min(a) (Chernoff bounds of the window)."""
    a = layer.a
    lg = special.gammaln(a + s) - special.gammaln(a)
    if layer.b is None:
        lg = lg + s * math.log(2.0)
    else:
        lg = lg + special.gammaln(a + layer.b) - special.gammaln(a + layer.b + s)
    return s * layer.shift + special.logsumexp(lg, b=layer.w)


def _layer_moments(layer):
    """(mean, variance) of one layer's finite log factor: digamma/trigamma mixtures (FW.4)."""
    a = layer.a
    if layer.b is None:
        m = math.log(2.0) + special.digamma(a)
        v = special.polygamma(1, a)
    else:
        pt = layer.b == 0
        ab = np.where(pt, 1.0, a + layer.b)
        m = np.where(pt, 0.0, special.digamma(a) - special.digamma(ab))
        v = np.where(pt, 0.0, special.polygamma(1, a) - special.polygamma(1, ab))
    mean = float(layer.w @ m)
    var = float(layer.w @ (v + m * m) - mean * mean)
    return layer.shift + mean, max(var, 0.0)


def _point_mass(layer):
    """Weight of the point component (Haar with every unit active and n_l >= n_{l-1})."""
    if layer.b is None:
        return 0.0
    return float(layer.w[layer.b == 0].sum())


# ----------------------------------------------------------------------------------------
# the result
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class LognormPrediction:
    """Predicted law of log R (``predict_lognorm``).

    R = ||J u||^2 / ||u||^2 (``quantity="gradient"``, u a uniform unit vector, J including
    D_L) or ||x_L||^2 / ||x_0||^2 (``"forward"``). R = 0 (log R = -inf) has probability
    ``atom_at_zero``; every other statistic except ``cdf``/``quantile``/``mean_ratio`` is
    of the finite part, i.e. conditional on R > 0.

    Attributes
    ----------
    chain : Chain
    quantity : str
    exact : bool
        True for the exact finite-width laws (FW.2)-(FW.4) (up to the inversion error
        ``cf_error``), False for the leading-order normal law (FW.6).
    mean, var : float
        Mean and variance of log R given R > 0.
    atom_at_zero : float
        P(R = 0): a layer with no active relu unit, or x_0 = relu(h_0) = 0 (FW.3).
    point : tuple (x, mass)
        A point mass of log R given R > 0 at x (Haar chains whose every layer can be an
        isometry; the whole law for linear Haar with non-decreasing widths), or (nan, 0).
    log_mean_ratio : float
        log E R (R = 0 included), exact for the exact laws; exp(mean + var/2) otherwise.
    median : float
        Median of log R (including the atom; -inf if ``atom_at_zero >= 1/2``).
    beta : float
        sum_l 1/n_l.
    c : float
        The rate constant of (FW.6): the leading-order variance of log R is 2 c beta, and
        log E R - median log R ~ c beta (relu Gaussian 5/2, relu Haar 3/2, linear
        Gaussian 1, linear Haar 0).
    window : (lo, hi)
        log R given R > 0 lies in [lo, hi] except for mass < 1e-17 on either side.
    cf_error : float
        |characteristic function| of the continuous part where the Gil-Pelaez sum stops
        (0 for the normal law): the truncation error of ``cdf`` is of this order (FW.5).
    """

    chain: Chain
    quantity: str
    exact: bool
    mean: float
    var: float
    atom_at_zero: float
    point: tuple
    log_mean_ratio: float
    beta: float
    c: float
    window: tuple
    cf_error: float
    median: float = field(init=False)
    _t: np.ndarray = field(default=None, repr=False)
    _cf: np.ndarray = field(default=None, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "median", self.quantile(0.5))

    # -- derived scalars ----------------------------------------------------------------
    @property
    def std(self):
        """Standard deviation of log R given R > 0."""
        return math.sqrt(self.var)

    @property
    def mean_ratio(self):
        """E R (may overflow to inf; ``log_mean_ratio`` does not)."""
        with np.errstate(over="ignore"):
            return float(np.exp(self.log_mean_ratio))

    @property
    def median_ratio(self):
        """exp(median of log R), the typical value of R."""
        return float(np.exp(self.median))

    # -- the finite part ----------------------------------------------------------------
    def _finite_cdf(self, x):
        x = np.asarray(x, dtype=float)
        if not self.exact:
            return stats.norm.cdf(x, self.mean, self.std) if self.var > 0 else (
                (x >= self.mean).astype(float))
        px, pm = self.point
        out = np.where(x >= px, pm, 0.0) if pm > 0 else np.zeros_like(x)
        if pm < 1.0:
            out = out + (1.0 - pm) * self._gil_pelaez(x, cdf=True)
        return out

    def _gil_pelaez(self, x, cdf):
        """Midpoint Gil-Pelaez sums (FW.5) of the continuous part at x (clipped to [0, 1])."""
        lo, hi = self.window
        flat = np.clip(np.ravel(x), lo, hi)
        res = np.empty(flat.shape)
        t, cf = self._t, self._cf
        h = 2.0 * (t[0]) if t.size else 1.0
        centre = 0.5 * (lo + hi)
        cfc = cf * np.exp(-1j * t * centre)
        for s in range(0, flat.size, 256):
            y = flat[s:s + 256] - centre
            e = np.exp(-1j * np.outer(y, t)) * cfc
            if cdf:
                res[s:s + 256] = 0.5 - (e.imag / (t / h)).sum(axis=1) / math.pi
            else:
                res[s:s + 256] = (h / math.pi) * e.real.sum(axis=1)
        if cdf:
            res = np.clip(res, 0.0, 1.0)
            x0 = np.ravel(x)
            res = np.where(x0 < lo, 0.0, np.where(x0 > hi, 1.0, res))
        else:
            res = np.where((np.ravel(x) < lo) | (np.ravel(x) > hi), 0.0, np.maximum(res, 0.0))
        return res.reshape(np.shape(x))

    # -- public distribution functions ----------------------------------------------------
    def cdf(self, x):
        """P(log R <= x), the atom at -inf included (x may be -inf)."""
        x = np.asarray(x, dtype=float)
        if np.isnan(x).any():
            raise ValueError("x must not contain NaN")
        a = self.atom_at_zero
        with np.errstate(invalid="ignore"):
            fin = self._finite_cdf(np.where(np.isfinite(x), x, 0.0))
        fin = np.where(x == np.inf, 1.0, np.where(x == -np.inf, 0.0, fin))
        out = a + (1.0 - a) * fin
        return out[()] if out.ndim == 0 else out

    def pdf(self, x):
        """Density of log R at finite x (the atoms excluded; mass 1 - atoms in total)."""
        x = np.asarray(x, dtype=float)
        if not np.isfinite(x).all():
            raise ValueError("x must be finite")
        if not self.exact:
            out = stats.norm.pdf(x, self.mean, self.std) if self.var > 0 else np.zeros_like(x)
        elif self.point[1] >= 1.0:
            out = np.zeros_like(x)
        else:
            out = (1.0 - self.point[1]) * self._gil_pelaez(x, cdf=False)
        out = (1.0 - self.atom_at_zero) * out
        return out[()] if out.ndim == 0 else out

    def quantile(self, p):
        """The p-quantile of log R, inf{x : cdf(x) >= p}, p in (0, 1)."""
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 < p < 1.0:
            raise ValueError(f"p must be a number in (0, 1), got {p!r}")
        a = self.atom_at_zero
        if p <= a:
            return -math.inf
        q = (p - a) / (1.0 - a)
        if not self.exact:
            return float(stats.norm.ppf(q, self.mean, self.std)) if self.var > 0 else self.mean
        px, pm = self.point
        lo, hi = self.window
        if pm >= 1.0:
            return px
        f = lambda x: float(self._finite_cdf(x)) - q  # noqa: E731
        if pm > 0 and f(px) >= 0 and float(self._finite_cdf(np.nextafter(px, -np.inf))) < q:
            return px
        if f(lo) >= 0:
            return lo
        if f(hi) <= 0:
            return hi
        return float(optimize.brentq(f, lo, hi, xtol=1e-13, rtol=1e-13))


# ----------------------------------------------------------------------------------------
# predict_lognorm
# ----------------------------------------------------------------------------------------

def _leading_c(chain, kind):
    """c of (FW.6) from mu_2/mu_1^2 of d = phi'^2 (relu 2, linear 1), square-free form."""
    ratio = 2.0 if kind == "relu" else 1.0
    haar = chain.weights == "orthogonal"
    w = chain.widths
    v = sum((3.0 * ratio - 1.0) / w[l + 1] - (2.0 / max(w[l], w[l + 1]) if haar else 0.0)
            for l in range(chain.depth))
    beta = sum(1.0 / n for n in w[1:])
    return 0.5 * v / beta, beta


def _window(layers, mean, var):
    """[lo, hi] holding all but _TAIL of each tail, by Chernoff bounds on the mgf (FW.5)."""
    amin = min(float(lay.a.min()) for lay in layers)

    def logm(s):
        return sum(lay.mult * _layer_logmgf(lay, s) for lay in layers)

    sd = math.sqrt(max(var, 1e-300))
    lt = math.log(_TAIL)
    # s must stay below min(a) for the left tail; spread the trial values over (0, amin)
    left = [(lt - logm(-s)) / s for s in amin * np.array([0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.85,
                                                          0.95])]
    svals = np.concatenate([amin * np.array([0.1, 0.5]), 1.0 / sd * np.array([1, 3, 10, 30])])
    right = [(logm(s) - lt) / s for s in svals if s > 0]
    lo, hi = max(left), min(right)
    lo = min(lo, mean - 9 * sd)
    hi = max(hi, mean + 9 * sd)
    return float(lo), float(hi)


def _exact(chain, quantity, kind):
    layers = _layers(chain, kind)
    means = [_layer_moments(lay) for lay in layers]
    mean = sum(lay.mult * m for lay, (m, v) in zip(layers, means))
    var = sum(lay.mult * v for lay, (m, v) in zip(layers, means))
    dead0 = 2.0 ** (-chain.n_in) if kind == "relu" else 0.0
    alive = math.log1p(-dead0) + sum(lay.mult * math.log1p(-lay.dead) for lay in layers)
    atom = -math.expm1(alive)
    log_mean_ratio = math.log1p(-dead0) + sum(lay.mult * math.log(lay.mean_factor)
                                              for lay in layers)
    pts = [_point_mass(lay) for lay in layers]
    if all(p > 0 for p in pts):
        pm = math.exp(sum(lay.mult * math.log(p) for lay, p in zip(layers, pts)))
        px = sum(lay.mult * lay.shift for lay in layers)
    else:
        pm, px = 0.0, math.nan
    c, beta = _leading_c(chain, kind)
    if pm >= 1.0 - 1e-15:  # a point law: linear Haar with non-decreasing widths
        return LognormPrediction(chain, quantity, True, px, 0.0, atom, (px, 1.0),
                                 log_mean_ratio, beta, c, (px, px), 0.0,
                                 np.zeros(0), np.zeros(0, complex))
    lo, hi = _window(layers, mean, var)
    # grid t_j = (j + 1/2) h with 2 pi / h > hi - lo: no aliasing inside the window (FW.5)
    h = 2.0 * math.pi / (1.02 * (hi - lo))
    tparts, cparts = [], []
    j0, size, cf_error = 0, 1024, 0.0
    while True:
        t = (np.arange(j0, j0 + size) + 0.5) * h
        logcf = sum(lay.mult * _layer_logcf(lay, t) for lay in layers)
        cf = np.exp(logcf)
        if pm > 0:
            cf = (cf - pm * np.exp(1j * t * px)) / (1.0 - pm)
        tparts.append(t)
        cparts.append(cf)
        j0 += size
        tail = float(np.abs(cf[-size // 4:]).max())
        if tail < _CF_TOL or j0 >= _CF_MAX:
            cf_error = tail if tail >= _CF_TOL else 0.0
            break
        size = min(2 * size, _CF_MAX - j0)
    t = np.concatenate(tparts)
    cf = np.concatenate(cparts)
    keep = np.abs(cf) >= 1e-18 * np.abs(cf).max()
    last = int(np.nonzero(keep)[0].max()) + 1
    return LognormPrediction(chain, quantity, True, mean, var, atom, (px, pm), log_mean_ratio,
                             beta, c, (lo, hi), cf_error, t[:last], cf[:last])


def _stats_at(nl, q):
    """Gaussian expectations at h ~ N(0, q) used by (FW.6)."""
    ev = lambda h, k: _phi_dphi(nl.code, nl.param, h)[k]  # noqa: E731
    if nl.code < 0:
        f0, f1 = nl._funcs[0], nl._funcs[1]
        ev = lambda h, k: float(f0(h)) if k == 0 else float(f1(h))  # noqa: E731
    E = lambda f: gaussian_expectation(f, q, nl.kinks)  # noqa: E731
    nu = E(lambda h: ev(h, 0) ** 2)
    nu4 = E(lambda h: ev(h, 0) ** 4)
    mu1 = E(lambda h: ev(h, 1) ** 2)
    mu2 = E(lambda h: ev(h, 1) ** 4)
    cross = E(lambda h: ev(h, 0) ** 2 * ev(h, 1) ** 2)
    # Stein: d/dq E f(sqrt(q) z) = E[f(h)(h^2/q - 1)] / (2 q)
    dnu = E(lambda h: ev(h, 0) ** 2 * (h * h / q - 1.0)) / (2.0 * q)
    dmu1 = E(lambda h: ev(h, 1) ** 2 * (h * h / q - 1.0)) / (2.0 * q)
    cov_h2 = E(lambda h: ev(h, 0) ** 2 * h * h) - nu * q     # Cov(phi^2, h^2)
    return dict(nu=nu, nu4=nu4, mu1=mu1, mu2=mu2, cross=cross, dnu=dnu, dmu1=dmu1,
                cov_h2=cov_h2)


def _approx(chain, quantity):
    """The leading-order normal law with mean-field fluctuations (FW.6)."""
    nl, w, L = chain.phi, chain.widths, chain.depth
    sw2, sb2 = chain.sigma_w ** 2, chain.sigma_b ** 2
    haar = chain.weights == "orthogonal"
    cache = {}

    def st(q):
        key = float(q)
        if key not in cache:
            cache[key] = _stats_at(nl, key)
        return cache[key]

    qs = [chain.q_input]
    for _ in range(L):
        s = st(qs[-1])
        q = sw2 * s["nu"] + sb2
        qs.append(qs[-1] if abs(q - qs[-1]) <= 1e-12 * qs[-1] else q)
    S = [st(q) for q in qs]
    for l, s in enumerate(S):
        if not (s["nu"] > 0 and math.isfinite(s["nu"])) or (l > 0 and not s["mu1"] > 0):
            raise ValueError(
                f"no normal approximation for chain: the layer lengths reach q = {qs[l]:.3g} "
                f"where E phi^2 or E phi'^2 vanishes or is not finite (theory/finitewidth.md "
                f"(FW.6))")
    # forward noise e_l = relative fluctuation of S_l = ||x_l||^2 / n_l (FW.6b). A uniform
    # direction of fixed length (the input; Haar with n_l >= n_{l-1}) carries no
    # fluctuation of its h^2 part a^2 (a = h minus the bias): that regression is removed
    def sphere_q(l):
        if l == 0:
            return qs[0]
        if haar and w[l] >= w[l - 1]:
            return qs[l] - sb2
        return 0.0

    v_e = []
    for l in range(L + 1):
        s = S[l]
        var_phi2 = s["nu4"] - s["nu"] ** 2
        qa = sphere_q(l)
        if qa > 0:
            var_phi2 -= s["cov_h2"] ** 2 * qa * qa / (2.0 * qs[l] ** 4)
        v_e.append(max(var_phi2, 0.0) / (s["nu"] ** 2 * w[l]))
    # g_l = d log S_l / d log S_{l-1}; E log(1 + e) = -v/2 propagates like the noise
    g = [0.0] + [S[l]["dnu"] * sw2 * S[l - 1]["nu"] / S[l]["nu"] for l in range(1, L + 1)]
    if quantity == "forward":
        mean = math.log(w[L] * S[L]["nu"] / (w[0] * S[0]["nu"]))
        var, prod = 0.0, 1.0
        for l in range(L, 0, -1):
            var += prod * prod * v_e[l]
            mean -= 0.5 * prod * v_e[l]
            prod *= g[l]
        var += (prod - 1.0) ** 2 * v_e[0]
        mean -= 0.5 * (prod - 1.0) * v_e[0]
    else:
        mean, var = 0.0, 0.0
        kappa = [0.0] + [S[l]["dmu1"] / S[l]["mu1"] for l in range(1, L + 1)]
        wl = [0.0] + [kappa[l] * sw2 * S[l - 1]["nu"] for l in range(1, L + 1)]
        B = [0.0] * (L + 1)
        for m in range(L - 1, -1, -1):
            B[m] = wl[m + 1] + g[m + 1] * B[m + 1]
        for l in range(1, L + 1):
            s = S[l]
            vg = (3.0 * s["mu2"] / s["mu1"] ** 2 - 1.0) / w[l]
            if haar:
                vg -= 2.0 / max(w[l], w[l - 1])
            scale = w[l] / w[l - 1] if not haar else min(1.0, w[l] / w[l - 1])
            mean += math.log(sw2 * s["mu1"] * scale) - 0.5 * vg
            cov = (s["cross"] - s["nu"] * s["mu1"]) / (w[l] * s["nu"] * s["mu1"])
            var += max(vg, 0.0) + 2.0 * B[l] * cov
        var += sum(B[m] ** 2 * v_e[m] for m in range(L + 1))
    var = max(var, 0.0)
    beta = sum(1.0 / n for n in w[1:])
    c = 0.5 * var / beta
    sd = math.sqrt(var)
    return LognormPrediction(chain, quantity, False, mean, var, 0.0, (math.nan, 0.0),
                             mean + 0.5 * var, beta, c, (mean - 9 * sd, mean + 9 * sd), 0.0)


def predict_lognorm(chain, quantity="gradient"):
    """The law of log R at finite width: exact where it is known, leading order otherwise.

    Parameters
    ----------
    chain : Chain
    quantity : {"gradient", "forward"}
        ``"gradient"``: R = ||J u||^2 / ||u||^2 for a uniform unit u, J = D_L W_L ... D_1 W_1
        (what ``rmtchain.sample_lognorm`` samples). ``"forward"``: R = ||x_L||^2 / ||x_0||^2
        (``sample_forward_lognorm``; R = 0 when x_0 = 0).

    Returns
    -------
    LognormPrediction
        ``.mean``, ``.var`` (of log R given R > 0), ``.median``, ``.median_ratio``,
        ``.quantile(p)``, ``.cdf(x)``, ``.pdf(x)``, ``.atom_at_zero``, ``.log_mean_ratio``,
        ``.c``, ``.beta``, ``.exact``.

    Notes
    -----
    Exact (``.exact = True``) for zero-bias relu (any sigma_w, Gaussian or Haar weights, any
    widths) and linear chains (any bias for the gradient), theory/finitewidth.md
    (FW.1)-(FW.4): log R = sum_l [shift_l + log chi^2_{K_l}] (Gaussian) or
    sum_l [log sigma_w^2 + log Beta(K_l/2, (max(n_{l-1}, n_l) - K_l)/2)] (Haar), K_l ~
    Binomial(n_l, 1/2) for relu, K_l = n_l for linear. The cdf and pdf are the midpoint
    Gil-Pelaez sums (FW.5), accurate to about 1e-13 where the characteristic function
    decays (``cf_error`` = 0). Otherwise the normal law (FW.6) at the mean-field lengths
    q_l, with the fluctuations of q_l to linear order (``.exact = False``).

    References
    ----------
    Hanin arXiv:1801.03744; Hanin & Nica arXiv:1812.05994.

    Examples
    --------
    >>> import rmtchain
    >>> from rmtchain.finitewidth import predict_lognorm
    >>> p = predict_lognorm(rmtchain.Chain(100, 100, phi="relu", sigma_w=2 ** 0.5))
    >>> p.exact, round(p.median_ratio, 3), round(p.mean_ratio, 12)
    (True, 0.08, 1.0)
    """
    chain = _check_chain(chain)
    quantity = _check_quantity(quantity)
    kind = _exact_kind(chain, quantity)
    if kind is not None:
        return _exact(chain, quantity, kind)
    return _approx(chain, quantity)


# ----------------------------------------------------------------------------------------
# sampling the forward norm
# ----------------------------------------------------------------------------------------

def sample_forward_lognorm(chain, samples, *, rng=None):
    """Sample log(||x_L||^2 / ||x_0||^2) by propagating x only.

    Uses the draw layout of ``rmtchain.sample_lognorm`` (theory/sampling.md (S.7)): per
    sample g (n_0), u (n_0, unused here), then per layer G_l (max(n_{l-1}, n_l) x 2) and
    the biases; h_l = ||x_{l-1}|| F_1 + sigma_b zeta_l with F_1 the first column of the
    layer's 2-frame, so x_l is exactly the x of ``sample_lognorm`` with the same seed
    (theory/finitewidth.md (FW.8)).

    Parameters
    ----------
    chain : Chain
    samples : int
        >= 1.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    (samples,) array
        -inf where x_L = 0 or x_0 = 0 (relu input with every h_0 < 0).

    Examples
    --------
    >>> import rmtchain
    >>> r = sample_forward_lognorm(rmtchain.Chain(5, 4, weights="orthogonal",
    ...                            phi="linear", sigma_w=2.0), 3, rng=0)
    >>> bool(np.allclose(r, 5 * np.log(4.0), rtol=1e-12))
    True
    """
    chain = _check_chain(chain)
    samples = check_count("samples", samples)
    rng = as_generator(rng)
    w = chain.widths
    bias = chain.sigma_b > 0
    per = 2 * w[0] + sum(2 * max(w[l], w[l + 1]) + (w[l + 1] if bias else 0)
                         for l in range(chain.depth))
    block = max(1, min(samples, DRAW_BUFFER // per))
    out = np.empty(samples)
    phi = chain.phi.phi
    for start in range(0, samples, block):
        b = min(block, samples - start)
        draws = rng.standard_normal((b, per))
        out[start:start + b] = _forward_block(chain, draws, phi, bias)
    return out


def _forward_block(chain, draws, phi, bias):
    w = chain.widths
    n0 = w[0]
    g = draws[:, :n0]
    h0 = g * (np.sqrt(chain.q_input * n0) / np.sqrt(np.einsum("ij,ij->i", g, g)))[:, None]
    x = phi(h0)
    nx2 = np.einsum("ij,ij->i", x, x)
    with np.errstate(divide="ignore"):
        log0 = np.log(nx2)
    pos = 2 * n0
    for l in range(chain.depth):
        n_in, n_out = w[l], w[l + 1]
        m = max(n_in, n_out)
        G0 = draws[:, pos:pos + 2 * m:2]          # first column of the m x 2 frame
        pos += 2 * m
        if chain.weights == "gaussian":
            f1 = G0[:, :n_out] * (chain.sigma_w / math.sqrt(n_in))
        else:
            f1 = G0[:, :n_out] * (chain.sigma_w / np.sqrt(np.einsum("ij,ij->i", G0, G0)))[:, None]
        h = np.sqrt(nx2)[:, None] * f1
        if bias:
            h = h + chain.sigma_b * draws[:, pos:pos + n_out]
            pos += n_out
        x = phi(h)
        nx2 = np.einsum("ij,ij->i", x, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(nx2) - log0
    return np.where(np.isneginf(log0) | (nx2 == 0.0), -np.inf, out)


# ----------------------------------------------------------------------------------------
# width for depth (FW.7)
# ----------------------------------------------------------------------------------------

def _criterion_gap(depth, width, phi, weights, sigma_w, sigma_b, quantity):
    """median log R - log E R for the square chain (<= 0; 0 for a point law)."""
    chain = Chain(depth, width, weights=weights, phi=phi, sigma_w=sigma_w, sigma_b=sigma_b)
    p = predict_lognorm(chain, quantity)
    return p.median - p.log_mean_ratio


def _check_tolerance(tolerance):
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real) or not (
            0.0 < tolerance < 1.0):
        raise ValueError(f"tolerance must be a number in (0, 1), got {tolerance!r}")
    return float(tolerance)


_MAX_SEARCH = 2**22


def width_for_depth(depth, *, phi="relu", weights="gaussian", sigma_w=math.sqrt(2.0),
                    sigma_b=0.0, tolerance=0.5, quantity="gradient"):
    """The smallest width n at which the typical R stays within a factor of its mean.

    Criterion (theory/finitewidth.md (FW.7)): for the chain with every width n,

        exp(median log R) / E R >= 1 - tolerance,

    i.e. ``median - log_mean_ratio >= log(1 - tolerance)`` of ``predict_lognorm``. To leading
    order median log R - log E R = -c L / n, so n ~ c L / (-log(1 - tolerance)) grows
    linearly with depth (c = 5/2 relu Gaussian, 3/2 relu Haar, 1 linear Gaussian); linear
    Haar satisfies it at every width (returns 1).

    Parameters
    ----------
    depth : int
        L >= 1.
    phi, weights, sigma_w, sigma_b
        As for ``rmtchain.Chain`` (default: relu with He init, sigma_w = sqrt 2).
    tolerance : float
        In (0, 1).
    quantity : {"gradient", "forward"}

    Returns
    -------
    int

    Raises
    ------
    ValueError
        For invalid arguments, or if no width up to 2^22 satisfies the criterion.

    Examples
    --------
    >>> width_for_depth(50, phi="linear", weights="orthogonal", sigma_w=1.0)
    1
    """
    depth = check_count("depth", depth)
    tolerance = _check_tolerance(tolerance)
    quantity = _check_quantity(quantity)
    target = math.log1p(-tolerance)
    ok = lambda n: _criterion_gap(depth, n, phi, weights, sigma_w, sigma_b,  # noqa: E731
                                  quantity) >= target
    if ok(1):
        return 1
    lo, hi = 1, 2
    while not ok(hi):
        lo, hi = hi, 2 * hi
        if hi > _MAX_SEARCH:
            raise ValueError(f"no width up to {_MAX_SEARCH} meets tolerance={tolerance} at "
                             f"depth={depth}")
    while hi - lo > 1:   # ok(hi), not ok(lo)
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def depth_for_width(width, *, phi="relu", weights="gaussian", sigma_w=math.sqrt(2.0),
                    sigma_b=0.0, tolerance=0.5, quantity="gradient"):
    """The largest depth L at which width ``width`` meets the criterion of ``width_for_depth``.

    Returns 0 if even L = 1 fails, and ``math.inf`` if every depth up to 2^22 meets it (linear
    Haar: every depth). theory/finitewidth.md (FW.7).

    Examples
    --------
    >>> depth_for_width(8, phi="linear", weights="orthogonal", sigma_w=1.0)
    inf
    """
    width = check_count("width", width)
    tolerance = _check_tolerance(tolerance)
    quantity = _check_quantity(quantity)
    target = math.log1p(-tolerance)
    ok = lambda L: _criterion_gap(L, width, phi, weights, sigma_w, sigma_b,  # noqa: E731
                                  quantity) >= target
    if not ok(1):
        return 0
    lo, hi = 1, 2
    while ok(hi):
        lo, hi = hi, 2 * hi
        if hi > _MAX_SEARCH:
            return math.inf
    while hi - lo > 1:   # ok(lo), not ok(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo
