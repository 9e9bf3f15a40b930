"""Free probability of the chain Jacobian: laws of phi'(h)^2, S-transforms, moment series
and the density of lambda (eigenvalues of J J^T) in the large-width limit.

Derivations and equation labels: theory/free.md (FP.1)-(FP.13). Conventions: THEORY.md
(free probability) and theory/README.md. Sources: Pennington, Schoenholz, Ganguli
arXiv:1711.04735 and arXiv:1802.09979.

Layout (scipy.stats style): ``DerivativeLaw`` is the law of d = phi'(h)^2 (FP.1)-(FP.2);
``s_transform_series`` composes the per-layer S-transforms (FP.3)-(FP.6) and
``moment_series`` inverts their product (FP.7); ``_DensitySolver`` solves the branch-free
equation (FP.8)-(FP.10) by complex Newton continuation; ``predict_spectrum`` returns a frozen
``SpectrumPrediction``.
"""

from __future__ import annotations

import cmath
import functools
import math
import numbers
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special

from ._rng import check_count
from ._mtransform import m_transform as m_transform_kernel
from .nonlinearities import _cderivs, get_phi

__all__ = [
    "DerivativeLaw",
    "SpectrumPrediction",
    "derivative_law",
    "layer_lengths",
    "moment_series",
    "predict_spectrum",
    "s_transform_series",
    "series_reversion",
]

# --------------------------------------------------------------------------- quadrature
#: Gauss-Legendre order per panel of the Gaussian quadrature (FP.1)
_GL_ORDER = 40
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_GL_ORDER)
#: panel edges in z = h / sqrt(q); |z| > 14 carries < 1e-44 of the Gaussian mass. Panels
#: 1/4 wide for |z| < 6: the node sum for M_D(w) (FP.2) must resolve 1/(w - d(h)) when w
#: comes close to the support of d (measured: gelu at depth 1 loses 1.5e-3 of the mass with
#: unit panels, 7e-8 with these)
_Z_CUTS = (-14.0, -10.0, -8.0, *np.arange(-24, 25) / 4.0, 8.0, 10.0, 14.0)
#: a length-map step smaller than this (relative) is rounding at a fixed point: q stays put
_Q_SETTLE = 1e-12
#: floor and ceiling of layer lengths that follow the length map to 0 or to infinity (FP.5)
_TINY_Q = 1e-300
_HUGE_Q = 1e300
#: scale-invariant nonlinearities: the law of phi'(h)^2 does not depend on q
_SCALE_FREE = ("linear", "relu", "leaky_relu")


def _gauss_nodes(q, kinks=()):
    """Nodes h and weights of E[f(h)], h ~ N(0, q): Gauss-Legendre panels in z = h/sqrt(q),
    split at every kink (theory/free.md (FP.1)). Exact to rounding for smooth pieces."""
    s = math.sqrt(q)
    cuts = set(_Z_CUTS)
    for k in kinks:
        zk = k / s
        if -_Z_CUTS[-1] < zk < _Z_CUTS[-1]:
            cuts.add(zk)
    edges = np.array(sorted(cuts))
    a, b = edges[:-1, None], edges[1:, None]
    z = (0.5 * (b - a) * _GL_X + 0.5 * (a + b)).ravel()
    wz = (0.5 * (b - a) * _GL_W).ravel() * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return s * z, wz


def _phi_values(nl, h, which):
    return np.asarray(nl._evaluate(h, which), dtype=float)


def layer_lengths(chain):
    """Mean-field lengths q_1, ..., q_L of the chain's layers (theory/free.md (FP.5)).

    q_l = sigma_w^2 r_l E[phi(sqrt(q_{l-1}) z)^2] + sigma_b^2 from q_0 = ``chain.q_input``,
    with r_l = n_{l-1}/n_l for an expanding orthogonal layer (orthonormal columns) and 1
    otherwise (theory/meanfield.md (MF.1)).

    Returns
    -------
    ndarray, shape (L,)

    Notes
    -----
    Without a fixed point q_l may run to 0 or to infinity: it is floored at 1e-300 (where
    the law of d is its q -> 0 limit to rounding) and, for linear/relu/leaky_relu (whose
    law of d does not depend on q), capped at 1e300 (theory/free.md (FP.5)).

    Raises
    ------
    ValueError
        If the length map leaves (0, inf) otherwise (NaN, or overflow for a phi whose law
        of d depends on q).
    """
    nl = chain.phi
    L = chain.depth
    out = np.empty(L)
    q = chain.q_input
    sw2, sb2 = chain.sigma_w**2, chain.sigma_b**2
    n = chain.widths
    cache = {}
    for l in range(L):
        r = n[l] / n[l + 1] if (chain.weights == "orthogonal" and n[l + 1] > n[l]) else 1.0
        key = (q, r)
        if key not in cache:
            h, wz = _gauss_nodes(q, nl.kinks)
            cache[key] = sw2 * r * float(np.dot(wz, _phi_values(nl, h, 0) ** 2)) + sb2
        q_new = cache[key]
        if q_new < _TINY_Q and q_new < q:
            # q_l -> 0 geometrically (tanh-like phi, sigma_b = 0): below 1e-300 the law of
            # d equals its q -> 0 limit to rounding (h ~ 1e-150), so q is held there
            q_new = max(q_new, _TINY_Q) if q >= _TINY_Q else q
        if nl.name in _SCALE_FREE and q_new > _HUGE_Q:
            # q_l -> inf geometrically; the law of d does not depend on q (FP.5)
            q_new = _HUGE_Q
        if not math.isfinite(q_new) or q_new <= 0.0:
            raise ValueError(
                f"the length map of phi={nl} with sigma_w={chain.sigma_w}, "
                f"sigma_b={chain.sigma_b} leaves (0, inf) at layer {l + 1} (q = {q_new})")
        # settle exactly on a fixed point once reached (rounding-level changes only)
        if abs(q_new - q) <= _Q_SETTLE * q:
            q_new = q
        out[l] = q_new
        q = q_new
    return out


# --------------------------------------------------------------------------- law of d
@dataclass(frozen=True)
class _NodeIntegral:
    """The continuous part of d as an integral in z = h / sqrt(q) over [za, zb], for the
    pole subtraction of (FP.2b): its nodes are ``DerivativeLaw.values[n_atoms:]``."""

    phi: object  #: the Nonlinearity (complex derivatives by ``nonlinearities._cderivs``)
    s: float  #: sqrt(q)
    z: np.ndarray  #: the nodes in z
    u: np.ndarray  #: their plain dz weights (Gauss-Legendre x panel half-width)
    norm: float  #: node probabilities = norm x rho(z) x u
    za: float
    zb: float
    spacing: np.ndarray  #: local spread of d between neighbouring nodes
    sup: float  #: the supremum of d over [za, zb]
    zeros: np.ndarray  #: the zeros of phi'(s z) in [za, zb] (gelu, silu)
    slopes: np.ndarray  #: |s phi''(s z)| at them


@dataclass(frozen=True)
class DerivativeLaw:
    """The law of d = phi'(h)^2, h ~ N(0, q), as weighted points (values, probs).

    Atoms of d (relu, hardtanh, linear, leaky_relu, the h > 0 half of selu) are exact points;
    a continuous part is represented by Gauss-Legendre nodes in h (theory/free.md (FP.1)).

    Attributes
    ----------
    phi : Nonlinearity
    q : float
        Variance of h.
    values, probs : ndarray
        Points of d and their weights (summing to 1 up to rounding).
    n_atoms : int
        The first ``n_atoms`` entries are exact atoms; the rest are quadrature nodes.
    bernoulli_p : float or None
        p when d is Bernoulli on {0, 1} with P(d = 1) = p (relu 1/2, hardtanh
        erf(1/sqrt(2q)), linear 1) (FP.2).
    """

    phi: object
    q: float
    values: np.ndarray = field(repr=False)
    probs: np.ndarray = field(repr=False)
    n_atoms: int = 0
    bernoulli_p: float | None = None
    #: the continuous part as an integral for the pole subtraction of (FP.2b); None where
    #: phi has no complex evaluation (kinked and user phi)
    _integral: _NodeIntegral | None = field(default=None, repr=False, compare=False)

    @property
    def max(self):
        """The right end of the support of d: the largest atom or node with positive
        weight, or the supremum of phi'(h)^2 over the quadrature range where the
        continuous part is an integral (FP.2b)."""
        top = float(np.max(self.values[self.probs > 0]))
        if self._integral is not None:
            top = max(top, self._integral.sup)
        return top

    @property
    def atoms(self):
        """Exact atoms of d: list of (value, probability)."""
        return [(float(v), float(p)) for v, p in
                zip(self.values[:self.n_atoms], self.probs[:self.n_atoms]) if p > 0]

    def moments(self, kmax):
        """mu_k = E[d^k], k = 1..kmax (FP.1)."""
        kmax = check_count("kmax", kmax)
        k = np.arange(1, kmax + 1)
        with np.errstate(under="ignore"):
            return (self.probs[None, :] * self.values[None, :] ** k[:, None]).sum(axis=1)

    def m_transform(self, w):
        """x = M_D(w) = E[d / (w - d)] and dx/dw at complex w (FP.2), vectorised."""
        x, _, dx = self.m_transform_1p(w)
        return x, dx

    def m_transform_1p(self, w):
        """(x, 1 + x, dx/dw) with 1 + x = w E[1 / (w - d)] summed directly, so it keeps
        full relative precision where x -> -1 (lambda -> 0) (FP.2); with the pole
        subtraction of (FP.2b) near a continuous part (numba kernel, rmtchain._mtransform)."""
        w = np.asarray(w, dtype=complex)
        ig = self._integral
        if ig is None:
            out = m_transform_kernel(w.ravel(), self.values, self.probs, self.n_atoms, -1,
                                     1.0, _NO_NODES, _NO_NODES, 1.0, 0.0, 0.0, _NO_NODES,
                                     _NO_NODES, _NO_NODES, _NEAR_SPACINGS, _PAIR_GAP)
        else:
            out = m_transform_kernel(w.ravel(), self.values, self.probs, self.n_atoms,
                                     ig.phi.code, ig.s, ig.z, ig.u, ig.norm, ig.za, ig.zb,
                                     ig.spacing, ig.zeros, ig.slopes, _NEAR_SPACINGS,
                                     _PAIR_GAP)
        return tuple(v.reshape(w.shape)[()] for v in out)


_NO_NODES = np.empty(0)

#: a node sum of 1/(w - d) is trusted (FP.2b) when |w - d_i| exceeds this many local node
#: spacings of d at every node: a pole closer to the real z axis than ~1/10 of a panel's
#: half-width is what 40-point Gauss-Legendre cannot resolve, ~2 spacings
_NEAR_SPACINGS = 40.0


#: roots of d(z) = w at a maximum of d closer than this (in z) are not subtracted (FP.2b)
_PAIR_GAP = 1e-4


def _bernoulli(nl, q, p):
    vals = np.array([1.0, 0.0])
    probs = np.array([p, 1.0 - p])
    return DerivativeLaw(nl, q, vals, probs, 2, p)


@functools.lru_cache(maxsize=512)
def _derivative_law_cached(nl, q):
    name = nl.name
    if name == "linear":
        return DerivativeLaw(nl, q, np.array([1.0]), np.array([1.0]), 1, 1.0)
    if name == "relu":
        return _bernoulli(nl, q, 0.5)
    if name == "hardtanh":
        return _bernoulli(nl, q, float(special.erf(1.0 / math.sqrt(2.0 * q))))
    if name == "leaky_relu":
        a2 = nl.param**2
        if a2 == 0.0:
            return _bernoulli(nl, q, 0.5)
        return DerivativeLaw(nl, q, np.array([1.0, a2]), np.array([0.5, 0.5]), 2, None)
    h, wz = _gauss_nodes(q, nl.kinks)
    d = _phi_values(nl, h, 1) ** 2
    s = math.sqrt(q)
    z = h / s
    zb = _Z_CUTS[-1]
    if name == "selu":  # h > 0: phi' = const, an atom of mass 1/2
        pos = h > 0.0
        lam2 = float(nl.dphi(1.0)) ** 2
        norm = 0.5 / wz[~pos].sum()
        integral = _integral_of(nl, s, z[~pos], wz[~pos], d[~pos], norm, -zb, 0.0)
        return DerivativeLaw(nl, q, np.concatenate(([lam2], d[~pos])),
                             np.concatenate(([0.5], wz[~pos] * norm)), 1, None, integral)
    norm = 1.0 / wz.sum()
    integral = _integral_of(nl, s, z, wz, d, norm, -zb, zb)
    return DerivativeLaw(nl, q, d, wz * norm, 0, None, integral)


def _integral_of(nl, s, z, wz, d, norm, za, zb):
    """The ``_NodeIntegral`` of DerivativeLaw (FP.2b), or None for a phi without complex
    evaluation (kinked and user phi)."""
    if not _cderivs(nl.code, 0.1 + 0j)[0]:
        return None
    u = wz * math.sqrt(2.0 * math.pi) * np.exp(0.5 * z * z)
    dd = np.abs(np.diff(d))
    spacing = np.maximum(np.concatenate(([dd[0]], dd)), np.concatenate((dd, [dd[-1]])))
    spacing = np.maximum(spacing, 1e-300)
    # the supremum of d on [za, zb]: the ends, and the best node refined between its
    # neighbours (a real w between the top node and this is on the cut of M_D, not above it)
    dz = lambda v: float(_phi_values(nl, np.array([s * v]), 1)[0]) ** 2  # noqa: E731
    i = int(np.argmax(d))
    lo, hi = z[max(i - 1, 0)], z[min(i + 1, len(z) - 1)]
    res = optimize.minimize_scalar(lambda v: -dz(v), bounds=(lo, hi), method="bounded",
                                   options={"xatol": 1e-14})
    sup = max(float(d[i]), -float(res.fun), dz(za), dz(zb))
    # the zeros of phi' (sign changes along the nodes), where pairs of roots coalesce
    p1 = lambda v: float(_phi_values(nl, np.array([s * v]), 1)[0])  # noqa: E731
    dp = _phi_values(nl, s * z, 1)
    zeros = np.array([optimize.brentq(p1, z[j], z[j + 1], xtol=1e-15, rtol=4 * _EPS)
                      for j in np.flatnonzero(dp[:-1] * dp[1:] < 0.0)])
    slopes = np.abs(s * _phi_values(nl, s * zeros, 2))
    return _NodeIntegral(nl, s, z, u, norm, za, zb, spacing, sup, zeros, slopes)


def derivative_law(phi, q):
    """The law of d = phi'(h)^2 with h ~ N(0, q) (theory/free.md (FP.1), (FP.2)).

    Parameters
    ----------
    phi : str or Nonlinearity
    q : float
        Variance of h (finite, > 0).

    Returns
    -------
    DerivativeLaw
    """
    nl = get_phi(phi)
    q = _positive("q", q)
    if nl.name in _SCALE_FREE:
        q = 1.0
    return _derivative_law_cached(nl, q)


def _positive(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


# --------------------------------------------------------------------------- power series
def _mul(a, b):
    """Product of two truncated power series of the same length."""
    n = len(a)
    return np.convolve(a, b)[:n]


def series_reversion(f):
    """Compositional inverse g of f (f[0] = 0, f[1] != 0): f(g(z)) = z, truncated.

    Coefficients one order at a time (theory/free.md (FP.7)): with powers of g kept up to
    the current order, [z^n] f(g(z)) = f[1] g[n] + (terms in g[1..n-1]).
    """
    f = np.asarray(f, dtype=float)
    n = len(f)
    g = np.zeros(n)
    if n < 2:
        return g
    g[1] = 1.0 / f[1]
    for order in range(2, n):
        # [z^order] of sum_{j>=2} f[j] g^j with g known to order - 1 (g[order] enters only j=1)
        acc = 0.0
        p = g.copy()
        p[order:] = 0.0
        power = p.copy()
        for j in range(2, order + 1):
            power = _mul(power, p)
            acc += f[j] * power[order]
        g[order] = -acc / f[1]
    return g


def _s_from_moments(mu_hat):
    """S-transform series of a law with normalised moments mu_hat (mu_hat[0] = m_1 = 1).

    psi(z) = sum_k mu_hat_k z^k, chi = psi^{-1}, S = chi (1 + z) / z (FP.3). Returns the
    coefficients s_0..s_{K-1} of S (s_0 = 1)."""
    psi = np.concatenate(([0.0], mu_hat))
    chi = series_reversion(psi)  # length K + 1
    c = chi[1:]  # chi(z)/z, length K
    return c + np.concatenate(([0.0], c[:-1]))  # (1 + z) chi / z


def _layer_geometry(chain):
    """Per layer (c_l = n_l / n_{l-1}, kind) with kind in {"gauss", "orth_expand", "orth"}."""
    n = chain.widths
    out = []
    for l in range(chain.depth):
        c = n[l + 1] / n[l]
        if chain.weights == "gaussian":
            out.append((c, "gauss"))
        else:
            out.append((c, "orth_expand" if c > 1.0 else "orth"))
    return out


def s_transform_series(chain, order, *, lengths=None):
    """S-transform of J J^T (normalised by n_L) as (log m_1, coefficients of S_hat).

    S_{JJ^T}(z) = S_hat(z) / m_1 with S_hat(0) = 1, composed layer by layer (FP.4)-(FP.6):
    T_0 = 1, T_l(z) = S_{D_l^2}(z) F_l(z) T_{l-1}(c_l z) with c_l = n_l / n_{l-1} and
    F_l = 1/(sigma_w^2 (1 + c_l z)) (Gaussian), c_l (1 + z)/(sigma_w^2 (1 + c_l z))
    (orthogonal, c_l > 1), 1/sigma_w^2 (orthogonal, c_l <= 1).

    Parameters
    ----------
    chain : Chain
    order : int
        Number of coefficients (>= 1) of S_hat to return.

    Returns
    -------
    log_m1 : float
    s_hat : ndarray, shape (order,)
    """
    order = check_count("order", order)
    q = layer_lengths(chain) if lengths is None else lengths
    nl = chain.phi
    sw2 = chain.sigma_w**2
    K = order
    T = np.zeros(K)
    T[0] = 1.0
    log_m1 = 0.0
    kk = np.arange(K)
    cache = {}
    for l, (c, kind) in enumerate(_layer_geometry(chain)):
        law = derivative_law(nl, q[l])
        key = id(law)
        if key not in cache:
            mu = law.moments(K)
            if mu[0] <= 0.0:
                raise ValueError(f"phi'(h)^2 vanishes almost surely at layer {l + 1}")
            cache[key] = (math.log(mu[0]), _s_from_moments(mu / mu[0] ** np.arange(1, K + 1)))
        log_mu1, s_d = cache[key]
        T = T * c**kk  # T_{l-1}(c z)
        if kind == "gauss":
            F = (-c) ** kk  # 1 / (1 + c z)
            log_f0 = 0.0
        elif kind == "orth_expand":
            F = _mul(np.concatenate(([1.0, 1.0], np.zeros(max(0, K - 2))))[:K], (-c) ** kk)
            log_f0 = math.log(c)
        else:
            F = np.zeros(K)
            F[0] = 1.0
            log_f0 = 0.0
        T = _mul(_mul(T, s_d), F)
        log_m1 += math.log(sw2) + log_mu1 - log_f0
    return log_m1, T


def moment_series(chain, kmax, *, lengths=None):
    """Moments m_1..m_kmax of J J^T from the product of S-transforms (FP.7).

    psi(z) = sum m_k z^k is the compositional inverse of chi(z) = z S(z) / (1 + z). Computed
    for lambda / m_1 (S_hat) and rescaled by m_1^k in logs, so deep chains do not overflow
    before the end (inf past the float range).

    Returns
    -------
    log_m1 : float
    m_hat : ndarray, shape (kmax,)
        m_k / m_1^k.
    """
    kmax = check_count("kmax", kmax)
    log_m1, s_hat = s_transform_series(chain, kmax, lengths=lengths)
    # chi_hat(z) = z S_hat(z) / (1 + z)
    geo = (-1.0) ** np.arange(kmax)
    chi = np.concatenate(([0.0], _mul(s_hat, geo)))
    psi = series_reversion(chi)
    return log_m1, psi[1:]


# --------------------------------------------------------------------------- density
#: Newton: relative step below which a root is converged
_NEWTON_TOL = 1e-14
#: a Newton step below this relative size that no longer reduces the residual has reached
#: the rounding floor of Phi (FP.9)
_NEWTON_STALL = 1e-9
#: ... and a residual within this factor of its rounding estimate (a stalled Newton with a
#: larger residual is a wrong derivative, not the floor)
_STALL_NOISE = 1e4
_NEWTON_MAXITER = 60
_EPS = float(np.finfo(float).eps)
#: Im w / |w| below this counts as a real root (outside the bulk)
_REAL_TOL = 1e-9
#: the integrand -Im x / pi of the mass in log lambda below this is the end of the bulk
_TAIL_TOL = 1e-18
_PANEL = np.polynomial.legendre.leggauss(20)
#: rows 17-19 of the map from values at the 20 panel nodes to Legendre coefficients
_LEG_TAIL = (np.polynomial.legendre.legvander(_PANEL[0], 19) * _PANEL[1][:, None]).T[17:] \
    * (2.0 * np.arange(17, 20)[:, None] + 1.0) / 2.0
#: a panel whose highest Legendre coefficients carry more mass than this is halved (FP.11)
_PANEL_TOL = 1e-12


class _ContinuationError(RuntimeError):
    """The root continuation lost the branch (several bulk components, or none found)."""


class _NoEdge(_ContinuationError):
    """Phi has no usable real critical point above max d (FP.10b)."""


#: Im w / |w| at which a soft top edge (FP.10c) starts the table: the density per unit t
#: there is ~1e-8 and the mass above it ~1e-9
_SOFT_EDGE = 1e-8

#: quadrature nodes of a continuous d in the top tail of total mass below this are left
#: out of the density solve (FP.10b): with tiny weights they act as separate atoms and split
#: the top of the spectrum into a comb of artificial components
_TAIL_DROP = 1e-9


def _truncated(law):
    """``law`` without the top-tail quadrature nodes of total mass < _TAIL_DROP (atoms
    kept), renormalised (FP.10b)."""
    na = law.n_atoms
    if na == len(law.values) or law._integral is not None:
        return law  # atoms only, or a continuous part without node poles (FP.2b)
    vals, probs = law.values[na:], law.probs[na:]
    order = np.argsort(vals)[::-1]
    tail = np.cumsum(probs[order])
    drop = order[tail < _TAIL_DROP * probs.sum()]
    if len(drop) == 0:
        return law
    keep = np.ones(len(vals), bool)
    keep[drop] = False
    new_vals = np.concatenate((law.values[:na], vals[keep]))
    new_probs = np.concatenate((law.probs[:na], probs[keep]))
    return DerivativeLaw(law.phi, law.q, new_vals, new_probs / new_probs.sum(), na,
                         law.bernoulli_p)


class _DensitySolver:
    """Branch-free density of a square chain whose layers share one law of d (FP.8)-(FP.11).

    Unknown w (Im w > 0 in the bulk); x = M_D(w); the equation is
    Phi(w) = L log(sigma_w^2 w) + (L - 1) log x + a log(1 + x) = t = log lambda,
    a = 1 (Gaussian) or 1 - L (orthogonal). rho(lambda) = -Im x / (pi lambda), so the mass
    in t is -Im x / pi dt.
    """

    #: the root at a soft top edge (FP.10c), where the table starts; None otherwise
    _w_soft = None

    def __init__(self, law, depth, sigma_w, weights):
        self.law = law = _truncated(law)
        self.L = depth
        self.a = 1.0 if weights == "gaussian" else 1.0 - depth
        self.log_s2 = 2.0 * math.log(sigma_w)
        self.dmax = law.max
        self._edge_and_table()

    def _edge_and_table(self):
        """Top edge and its component's table; where the top edge cannot be continued
        (no real critical point above the law of d, or the branch is lost next to it) the
        component is left to ``_find_components`` (FP.10b): ``t_edge`` is then None."""
        self.t_bound = math.inf
        try:
            self._edge()
            self._table()
        except (_NoEdge, _ContinuationError):
            self.t_edge = None
            self.s_lower = None
            self.panels, self.bulk_mass = [], 0.0

    # Phi and its derivative (FP.9)
    def phi(self, w):
        x, x1, dx = self.law.m_transform_1p(w)
        L, a = self.L, self.a
        val = L * (self.log_s2 + np.log(w)) + (L - 1) * np.log(x) + a * np.log(x1)
        der = L / w + ((L - 1) / x + a / x1) * dx
        return val, der, x

    def _phi_real(self, s):
        """Phi at real w = dmax + exp(s) (> max d), where it is real."""
        v, _, _ = self.phi(np.array([self.dmax + math.exp(s)], dtype=complex))
        return float(v[0].real)

    def _edge(self):
        """Right edge: min of Phi over real w > max d (FP.10), in s = log(w - max d)."""
        grid = np.linspace(-30.0, 12.0 + math.log(self.dmax + 1.0), 300)
        vals = np.array([self._phi_real(s) for s in grid])
        i = int(np.argmin(vals))
        # real roots w > max d exist for every t above min Phi: the spectrum lies below
        if np.isfinite(vals[i]):
            self.t_bound = float(vals[i])
        if i == 0 or vals[0] - vals[i] <= 1e-9 * (1.0 + abs(vals[i])):  # minimum at w -> max d (orthogonal atom at the top): the edge is a
            # critical point of |z(w)| in a gap between the atoms of d (FP.10)
            self._edge_in_gap()
            return
        else:
            lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
            res = optimize.minimize_scalar(self._phi_real, bracket=(lo, grid[i], hi),
                                           tol=1e-12)
            self.s_edge = float(res.x)
        self.w_edge = self.dmax + math.exp(self.s_edge)
        self.t_edge = self._phi_real(self.s_edge)
        # Phi'' at the edge, by differences of Phi' (real there)
        h = 1e-4 * (self.w_edge - self.dmax)
        _, d1, _ = self.phi(np.array([self.w_edge + h, self.w_edge - h], dtype=complex))
        self.phi2 = float((d1[0] - d1[1]).real / (2.0 * h))

    def _log_abs_z(self, w):
        x, x1, _ = self.law.m_transform_1p(np.array([w + 0j]))
        if x[0] == 0 or x1[0] == 0:
            return math.inf
        return float(self.L * (self.log_s2 + math.log(w)) + (self.L - 1) * math.log(abs(x[0]))
                     + self.a * math.log(abs(x1[0])))

    def _edge_in_gap(self):
        top_is_atom = any(v == self.dmax for v, _ in self.law.atoms)
        if not top_is_atom and self.law._integral is not None:
            self._soft_edge()
            return
        if not top_is_atom or self.law.n_atoms != len(self.law.values):
            # Phi decreases all the way to w = max d without an atom there: the top of d
            # carries too little mass to hold the edge (gelu/silu at small q, whose maximum
            # of phi'^2 sits far in the Gaussian tail) - found by the scan (FP.10b)
            raise _NoEdge("no real critical point of Phi above max d")
        v = np.unique(self.law.values[self.law.probs > 0])
        best = None
        for lo, hi in zip(v[:-1], v[1:]):
            lo = max(lo, 0.0)
            gs = lo + (hi - lo) * (0.5 + 0.5 * np.tanh(np.linspace(-11, 11, 401)))
            gs = gs[(gs > lo) & (gs < hi)]
            vals = np.array([self._log_abs_z(g) for g in gs])
            for j in range(1, len(gs) - 1):
                noise = 1e-11 * (1.0 + abs(vals[j]))
                if vals[j] < vals[j - 1] - noise and vals[j] < vals[j + 1] - noise:
                    res = optimize.minimize_scalar(
                        self._log_abs_z, bounds=(gs[j - 1], gs[j + 1]), method="bounded",
                        options={"xatol": 1e-14 * gs[j]})
                    if best is None or res.fun > best[1]:
                        best = (float(res.x), float(res.fun))
        if best is None:
            # no critical point: the edge is the limit w -> max d, where the density
            # diverges (e.g. relu orthogonal with L (1 - p) = 1); start far from the axis
            self.w_edge = self.dmax
            self.t_edge = self.L * (self.log_s2 + math.log(self.dmax))
            self.phi2 = None
            return
        self.w_edge, self.t_edge = best
        gap = min(abs(self.w_edge - v) for v in self.law.values)
        h = 1e-4 * gap
        _, d1, _ = self.phi(np.array([self.w_edge + h, self.w_edge - h], dtype=complex))
        self.phi2 = float((d1[0] - d1[1]).real / (2.0 * h))

    def _soft_edge(self):
        """The top of a spectrum whose Phi has no critical point above sup d (FP.10c): the
        top of d carries a Gaussian-tail mass (gelu/silu at small q), so below
        t_bound = Phi(sup d) the root w enters the range of d with Im w ~ 1e-15 and the
        density rises from rounding level. The edge is the largest t below t_bound where
        Im w / |w| of the physical root reaches _SOFT_EDGE: found by steps down from t_bound
        and bisection, each root by ``start_far`` (a Newton continuation from one t to the
        next can settle on a near-real root of the wrong branch, which passed over a tail
        of 2.4e-7 of the mass of silu orthogonal sigma_w = 1.3). The mass above it (~1e-9)
        is reported by ``unresolved_mass``."""
        if not math.isfinite(self.t_bound):
            raise _NoEdge("Phi has no finite infimum above sup d")

        def root(t):
            w, _, conv = self.newton(t, self.start_far(t))
            if not conv or not cmath.isfinite(w):
                raise _ContinuationError("lost the root below the soft top edge")
            return w, w.imag > _SOFT_EDGE * abs(w)

        t_out = self.t_bound - 1e-9 * (1.0 + abs(self.t_bound))  # outside the bulk
        h = 1e-3
        for _ in range(200):
            w_lo, inside = root(t_out - h)
            if inside:
                break
            t_out -= h
            h = min(2.0 * h, 0.25)
        else:
            raise _ContinuationError("no bulk below the soft top edge")
        lo = t_out - h
        for _ in range(50):
            if t_out - lo < 1e-10 * (1.0 + abs(lo)):
                break
            mid = 0.5 * (lo + t_out)
            wm, inside = root(mid)
            if inside:
                lo, w_lo = mid, wm
            else:
                t_out = mid
        self.t_edge, self.w_edge, self.phi2 = lo, w_lo.real, None
        self._w_soft = w_lo

    def _far_slope(self):
        """w / z far from the support: w ~ mu_1 z / m_1 (M(z) ~ m_1 / z)."""
        mu1 = float(self.law.moments(1)[0])
        return mu1 * math.exp(-self.L * (self.log_s2 + math.log(mu1)))

    def start_far(self, t):
        """Continuation from large Im z down to the real axis (THEORY.md): at
        z = lambda + i eta with eta >> lambda, M(z) ~ m_1/z so w ~ mu_1 z / m_1; then eta is
        halved until it is below rounding, keeping the root nearest the previous one."""
        lam = math.exp(t)
        eta = 1e3 * lam
        z = complex(lam, eta)
        w = self._far_slope() * z
        while True:
            target = complex(math.log(abs(z)), math.atan2(z.imag, z.real))
            w, _, _ = self.newton(target, w)
            if eta < 1e-15 * lam:
                return w
            eta *= 0.5
            z = complex(lam, eta)

    def newton(self, t, w0):
        """Solve Phi(w) = t (real) from w0; returns (w, x, ok)."""
        w = complex(w0)
        res_prev = math.inf
        for _ in range(_NEWTON_MAXITER):
            v, d, x = self.phi(np.array([w]))
            res = abs(v[0] - t)
            step = (v[0] - t) / d[0]
            full = True
            # damp steps that would cross the real axis or more than halve |w|
            while abs(step) > 0.5 * abs(w) or (w - step).imag <= 0.0 < w.imag:
                step *= 0.5
                full = False
                if abs(step) < 1e-300:
                    break
            w = w - step
            # converged: a relative step at rounding, or a residual at the rounding level
            # of Phi (near an edge Phi' -> 0 and steps only chase that rounding), or a
            # residual that stopped falling while a full (undamped) step is below
            # _NEWTON_STALL and the residual within _STALL_NOISE of the estimate: the rounding
            # floor of Phi, which exceeds the estimate where 1 + x is ill-conditioned (mass of
            # d on both sides of Re w, lambda -> 0; measured up to ~100x)
            noise = 8.0 * _EPS * (abs(t) + self.L * (abs(self.log_s2) + abs(math.log(abs(w))))
                                  + abs(self.a) + self.L)
            if (abs(step) <= _NEWTON_TOL * abs(w) or res <= noise
                    or (full and res >= 0.5 * res_prev and res <= _STALL_NOISE * noise
                        and abs(step) <= _NEWTON_STALL * abs(w))):
                v, d, x = self.phi(np.array([w]))
                return w, complex(x[0]), True
            res_prev = res
        return w, complex(x[0]), False

    def start(self, t):
        """Initial guess just inside the right edge: Phi ~ t_e + Phi'' (w - w_e)^2 / 2."""
        if self._w_soft is not None:
            return self._w_soft
        if self.phi2 is None or not self.phi2 > 0:
            return self.start_far(t)
        return self.w_edge + 1j * math.sqrt(max(2.0 * (self.t_edge - t) / self.phi2, 0.0))

    def _table(self):
        """March from the right edge down in s = sqrt(t_edge - t) over Gauss-Legendre panels,
        storing roots and the per-panel mass (FP.11). Stops where the integrand is
        negligible or at a lower edge (Im w -> 0)."""
        xs, ws = _PANEL
        nodes_s, nodes_w, nodes_int = [], [], []
        panels = []  # (s0, s1, mass)
        s0 = 0.0
        h = 0.02 * math.sqrt(max(self.L, 1))
        w_prev = None
        total = 0.0
        self.s_lower = None
        breaks = self._singular_s()
        for _ in range(4000):
            # grade panels geometrically towards a singular point of the density (an atom
            # v of d seen at t = L log(sigma_w^2 v), orthogonal, FP.11) and end one there
            for b in breaks:
                if s0 < b < s0 + h:
                    h = b - s0 if b - s0 <= 1e-13 * (1.0 + b) else 0.5 * (b - s0)
            s1 = s0 + h
            svals = s0 + 0.5 * h * (xs + 1.0)
            roots, ok = [], True
            guess = w_prev
            for sv in svals:
                t = self.t_edge - sv * sv
                g = self.start(t) if guess is None or sv * sv < 1e-6 else guess
                w, x, conv = self.newton(t, g)
                if not conv or w.imag <= _REAL_TOL * abs(w) or abs(w - g) > 0.5 * abs(g):
                    ok = False
                    break
                roots.append((w, x))
                guess = w
            if not ok:
                if h < 1e-8:
                    # lower edge reached: locate it by bisection and close the bulk
                    self._close_lower(s0, w_prev, panels, nodes_s, nodes_w, nodes_int)
                    break
                h *= 0.25
                continue
            integ = np.array([-x.imag / math.pi * 2.0 * sv for sv, (_, x) in zip(svals, roots)])
            mass = 0.5 * h * float(np.dot(ws, integ))
            # the panel is accepted when its Legendre coefficients 17-19 are negligible:
            # a density rising over decades inside one panel (a soft edge, FP.10c) is not
            if (h > 1e-6 and (self.law._integral is not None or s1 * s1 - s0 * s0 > 1.0)
                    and 0.5 * h * float(np.max(np.abs(_LEG_TAIL @ integ))) > _PANEL_TOL):
                h *= 0.5
                continue
            panels.append((s0, s1, mass))
            nodes_s.extend(svals)
            nodes_w.extend(w for w, _ in roots)
            nodes_int.extend(0.5 * h * ws * integ)
            total += mass
            w_prev = roots[-1][0]
            s0 = s1
            if integ[-1] < _TAIL_TOL and integ[-1] <= integ[0] and total > 0:
                break
            h = min(h * 1.6, 2.0 + 0.1 * s0)
            if any(abs(s0 - b) <= 1e-13 * (1.0 + b) for b in breaks):
                h = 1e-13 * (1.0 + s0)  # and away from it
        self.panels = panels
        order = np.argsort(np.array(nodes_s), kind="stable")
        self.nodes_s = np.array(nodes_s)[order]
        self.nodes_w = np.array(nodes_w, dtype=complex)[order]
        #: the mass each node carries (quadrature weight x density in t), FP.11
        self.nodes_mass = np.array(nodes_int)[order]
        self.s_end = panels[-1][1] if panels else 0.0
        self.bulk_mass = float(sum(p[2] for p in panels))

    def _singular_s(self):
        """s = sqrt(t_edge - t) of the points t = L log(sigma_w^2 v) for the atoms v > 0 of
        d, orthogonal chains, where the density can diverge (FP.11)."""
        if self.a == 1.0 or self.t_edge is None:
            return []
        out = []
        for v, _ in self.law.atoms:
            if v > 0.0:
                t = self.L * (self.log_s2 + math.log(v))
                if t < self.t_edge:
                    out.append(math.sqrt(self.t_edge - t))
        return sorted(out)

    def _close_lower(self, s0, w_prev, panels, nodes_s, nodes_w, nodes_int):
        """Bisect for the lower edge s_lower beyond s0 and add the last piece in u with
        t = t_lower + u^2 (the square-root edge) (FP.10)."""
        if w_prev is None:
            raise _ContinuationError("no root found next to the upper edge")
        lo, hi = s0, s0 + 1e-8
        # widen hi until failure
        step = 1e-6
        w_lo = w_prev
        while True:
            t = self.t_edge - hi * hi
            w, x, conv = self.newton(t, w_lo)
            if not conv or w.imag <= _REAL_TOL * abs(w):
                break
            lo, w_lo = hi, w
            hi += step
            step *= 2.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            w, x, conv = self.newton(self.t_edge - mid * mid, w_lo)
            if conv and w.imag > _REAL_TOL * abs(w):
                lo, w_lo = mid, w
            else:
                hi = mid
        self.s_lower = 0.5 * (lo + hi)
        # the piece from s0 to s_lower, each sub-piece [sa, sb] in u = sqrt(t - t(sb)) (the
        # square-root edge at s_lower); graded geometrically towards s0 when s0 is a
        # singular point of the density (an atom of d, orthogonal, FP.11)
        breaks = [s0, self.s_lower]
        if any(abs(s0 - b) <= 1e-12 * (1.0 + b) for b in self._singular_s()):
            gap = self.s_lower - s0
            k = 1
            while gap * 0.5**k > 1e-13 * (1.0 + s0):
                breaks.insert(1, s0 + gap * 0.5**k)
                k += 1
        xs, ws = _PANEL
        guess = w_lo
        pieces = []
        new_s, new_w, new_int = [], [], []
        for sa, sb in zip(breaks[-2::-1], breaks[:0:-1]):  # from the lower edge upwards
            t_low = self.t_edge - sb * sb
            U = math.sqrt(max(sb * sb - sa * sa, 0.0))
            vals = []
            for u in 0.5 * U * (xs + 1.0):
                w, x, conv = self.newton(t_low + u * u, guess)
                guess = w
                vals.append(-x.imag / math.pi * 2.0 * u)
                new_s.append(math.sqrt(max(sb * sb - u * u, 0.0)))
                new_w.append(w)
            new_int.extend(0.5 * U * ws * np.array(vals))
            pieces.append((sa, sb, 0.5 * U * float(np.dot(ws, vals))))
        if not all(math.isfinite(m) for _, _, m in pieces):
            # the root was lost below s0 (a deep tail where Phi is at its rounding floor):
            # no closing piece, its mass is reported by ``unresolved_mass``
            self.s_lower = None
            return
        nodes_s.extend(new_s)
        nodes_w.extend(new_w)
        nodes_int.extend(new_int)
        panels.extend(pieces[::-1])

    # -- evaluation at user points ------------------------------------------------------
    def solve_t(self, t):
        """x at log lambda = t (array), 0 imaginary part outside the bulk. Returns complex x
        (nan where lambda is outside the bulk)."""
        t = np.asarray(t, dtype=float)
        out = np.full(t.shape, np.nan + 0j)
        s = np.sqrt(np.maximum(self.t_edge - t, 0.0))
        inside = t < self.t_edge
        if self.s_lower is not None:
            inside &= s < self.s_lower
        order = np.argsort(s[inside])
        idx = np.flatnonzero(inside)[order]
        for i in idx:
            si = s[i]
            if len(self.nodes_s) == 0 or si <= self.nodes_s[0]:
                g = self.start(t[i])
            elif si <= self.nodes_s[-1]:
                j = int(np.argmin(np.abs(self.nodes_s - si)))
                g = self.nodes_w[j]
            else:
                g = self._march(si)
            w, x, conv = self.newton(t[i], g)
            if conv and w.imag > 0:
                out[i] = x
        return out

    def _march(self, s_target):
        """Continue past the table's last node to s_target (deep tails)."""
        s = self.nodes_s[-1]
        w = self.nodes_w[-1]
        h = max(s_target - s, 0.0)
        while s < s_target:
            st = min(s + h, s_target)
            w_new, _, conv = self.newton(self.t_edge - st * st, w)
            if conv and w_new.imag > 0 and abs(w_new - w) < 0.5 * abs(w):
                s, w = st, w_new
                h *= 2.0
            else:
                h *= 0.5
                if h < 1e-10:
                    break
        return w

    def mass_above(self, t):
        """Bulk mass of lambda > e^t (FP.11), by the panel table and one partial panel."""
        s = math.sqrt(max(self.t_edge - t, 0.0))
        if s <= 0.0:
            return 0.0
        acc = 0.0
        for s0, s1, m in self.panels:
            if s >= s1:
                acc += m
                continue
            if s > s0:
                acc += self._partial(s0, s)
            return acc
        return acc

    def _partial(self, s0, s1):
        xs, ws = _PANEL
        svals = s0 + 0.5 * (s1 - s0) * (xs + 1.0)
        vals = []
        for sv in svals:
            t = self.t_edge - sv * sv
            x = self.solve_t(np.array([t]))[0]
            vals.append(0.0 if np.isnan(x) else -x.imag / math.pi * 2.0 * sv)
        return 0.5 * (s1 - s0) * float(np.dot(ws, vals))

    def bulk_moments(self, kmax):
        """int lambda^k rho over the bulk as ratios m_k / e^{k t_edge} (no overflow): the
        sum over every quadrature node of the table, lower-edge pieces included, of its
        mass times e^{k (t - t_edge)} (FP.11)."""
        k = np.arange(1, kmax + 1)
        dt = -self.nodes_s**2  # t - t_edge
        return (self.nodes_mass * np.exp(np.outer(k, dt))).sum(axis=1)


class _MultiLawSolver(_DensitySolver):
    """Density of a chain whose layers have different laws of d or different widths
    (FP.13): the same continuation as ``_DensitySolver`` in the unknown w of the
    last layer (x = M_{D_L}(w) = M_{JJ^T}(z)), with every other layer's w_l found by
    inverting M_{D_l}(w_l) = C_l x, C_l = n_L / n_l (a vectorised inner Newton).

    Phi(w) = log(1+x) - log x + sum_l [log w_l + log x_l - log(1+x_l) + f_l(x_l)] = log z,
    x_l = C_l x, f_l = -log F_l: log sigma_w^2 + log(1 + c_l y) (Gaussian),
    log sigma_w^2 + log(1 + c_l y) - log c_l - log(1 + y) (orthogonal, c_l > 1),
    log sigma_w^2 (orthogonal, c_l <= 1).
    """

    def __init__(self, laws, chain, log_m1):
        geo = _layer_geometry(chain)
        n = chain.widths
        L = chain.depth
        groups = {}
        for l in range(L):
            c, kind = geo[l]
            key = (id(laws[l]), n[L] / n[l + 1], c, kind)
            if key not in groups:
                groups[key] = [laws[l], n[L] / n[l + 1], c, kind, 0]
            groups[key][4] += 1
        # the reference group: the last layer (C = 1), whose w is the unknown
        ref_key = (id(laws[L - 1]), 1.0, geo[L - 1][0], geo[L - 1][1])
        keys = [ref_key] + [k for k in groups if k != ref_key]
        g = [groups[k] for k in keys]
        self.K = len(g)
        self.C = np.array([x[1] for x in g])
        self.c = np.array([x[2] for x in g])
        self.kind = [x[3] for x in g]
        self.count = np.array([x[4] for x in g], dtype=float)
        self.mu1 = np.array([float(x[0].moments(1)[0]) for x in g])
        self.dmaxes = np.array([x[0].max for x in g])
        self.gauss = np.array([k == "gauss" for k in self.kind])
        self.expand = np.array([k == "orth_expand" for k in self.kind])
        self.law = g[0][0]
        self.group_laws = [x[0] for x in g]
        self.L = L
        self.a = 1.0
        self.log_s2 = 2.0 * math.log(chain.sigma_w)
        self.log_m1 = log_m1
        self.dmax = self.law.max
        self._last = None  # (w_ref, w_l) of the last converged inner solve
        self.t_bound = math.inf
        self._edge()
        self._table()

    def _inner(self, w, y):
        """w_l with M_{D_l}(w_l) = y_l for l >= 1 (group 0 is w itself), and M'_l(w_l)."""
        real = w.imag == 0.0
        guesses = []
        if self._last is not None and self._last[0] != 0:
            guesses.append(self._last[1] * (w / self._last[0]))
        guesses.append(w * self.mu1 / (self.C * self.mu1[0]))
        for v in guesses:
            v = np.array(v, dtype=complex)
            v[0] = w
            ok = False
            res_prev = np.full(len(v) - 1, np.inf)
            for _ in range(_NEWTON_MAXITER):
                m, dm = self._m_groups(v[1:])
                res = np.abs(m - y[1:])
                step = (m - y[1:]) / dm
                if not np.all(np.isfinite(step)):
                    break  # this start failed
                new = v[1:] - step
                full = np.ones(len(step), dtype=bool)
                # halve steps that cross the real axis (complex mode) or max d (real mode)
                for _h in range(60):
                    if real:
                        bad = ~(new.real > self.dmaxes[1:])
                    else:
                        bad = ~(new.imag > 0.0)
                    if not bad.any():
                        break
                    step = np.where(bad, 0.5 * step, step)
                    full &= ~bad
                    new = v[1:] - step
                else:
                    break  # no admissible step: this start failed
                v[1:] = new
                # converged: a step at rounding, or a stalled residual with a small step (the
                # rounding floor of M_D near its support), as in ``newton``
                small = np.abs(step) <= _NEWTON_TOL * np.abs(new)
                stall = full & (res >= 0.5 * res_prev) & (
                    res <= _STALL_NOISE * _EPS * (1.0 + np.abs(y[1:]))) & (
                    np.abs(step) <= _NEWTON_STALL * np.abs(new))
                if np.all(small | stall):
                    ok = True
                    break
                res_prev = res
            if ok and np.all(np.isfinite(v)):
                _, dm = self._m_groups(v[1:])
                self._last = (w, v.copy())
                return v, dm
        return None, None

    def _m_groups(self, v):
        """M_{D_l}(v_l) and its derivative for the groups l >= 1, each by its law's
        m_transform_1p (with the pole subtraction of (FP.2b) near its support)."""
        m = np.empty(len(v), dtype=complex)
        dm = np.empty(len(v), dtype=complex)
        for i, law in enumerate(self.group_laws[1:]):
            x, _, dx = law.m_transform_1p(v[i])
            m[i], dm[i] = x, dx
        return m, dm

    def phi(self, w):
        # a failed inner solve gives NaN, which the callers treat as "no root here"
        with np.errstate(all="ignore"):
            return self._phi(w)

    def _phi(self, w):
        w = np.asarray(w, dtype=complex)
        vals, ders, xs = [], [], []
        for wi in w.ravel():
            x, x1, dx = self.law.m_transform_1p(np.array([wi]))
            x, x1, dx = complex(x[0]), complex(x1[0]), complex(dx[0])
            y = self.C * x
            wl, dm = (np.array([wi]), np.array([]))
            if self.K > 1:
                wl, dm = self._inner(wi, y)
                if wl is None:
                    vals.append(np.nan + 0j)
                    ders.append(np.nan + 0j)
                    xs.append(x)
                    continue
            dwdx = np.concatenate(([1.0 / dx], 1.0 / dm)) if self.K > 1 else np.array([1.0 / dx])
            y1 = 1.0 + y
            y1[0] = x1  # full relative precision where x -> -1
            cy = 1.0 + self.c * y
            f = self.log_s2 + np.where(self.gauss | self.expand, np.log(cy), 0.0)
            f = f - np.where(self.expand, np.log(self.c) + np.log(y1), 0.0)
            df = np.where(self.gauss | self.expand, self.c / cy, 0.0)
            df = df - np.where(self.expand, 1.0 / y1, 0.0)
            val = np.log(x1) - np.log(x) + np.sum(
                self.count * (np.log(wl) + np.log(y) - np.log(y1) + f))
            dval_dx = 1.0 / x1 - 1.0 / x + np.sum(
                self.count * self.C * (dwdx / wl + 1.0 / y - 1.0 / y1 + df))
            vals.append(val)
            ders.append(dval_dx * dx)
            xs.append(x)
        shape = w.shape
        return (np.array(vals).reshape(shape), np.array(ders).reshape(shape),
                np.array(xs).reshape(shape))

    def newton(self, t, w0):
        with np.errstate(all="ignore"):
            return super().newton(t, w0)

    def _phi_real(self, s):
        v, _, _ = self.phi(np.array([self.dmax + math.exp(s)], dtype=complex))
        val = v[0]
        return float(val.real) if np.isfinite(val) else math.inf

    def _edge_in_gap(self):
        raise _ContinuationError(
            "the upper edge is not a critical point of Phi above max d (an atom of "
            "phi'(h)^2, or a soft top of gelu/silu) with layer-dependent laws: not "
            "implemented")

    def _far_slope(self):
        return self.mu1[0] * math.exp(-self.log_m1)


#: a bulk lighter than this whose continuation fails is reported as unresolved mass
_UNRESOLVABLE_BULK = 1e-10
#: a density missing more than this much of the mass is not returned (NotImplementedError)
_LOST_MASS = 1e-3
#: bulk mass still missing above which the scan for further components runs (FP.10b)
_SCAN_DEFICIT = 1e-7
#: the scan goes down to this far below the top of the spectrum in t = log lambda
_SCAN_DEPTH = 120.0
#: the scan stops after this many components
_MAX_COMPONENTS = 16
#: density per unit t below which the scan counts a point as outside the bulk: the top
#: tail of a continuous d represented by plain node sums (FP.2b) gives densities ~1e-5
#: that the nodes split into a comb of tiny pieces; they are skipped and their mass
#: (~1e-6) is reported by unresolved_mass
_SCAN_DENSITY = 1e-4
#: the scan stops after this many root evaluations from large Im z (each ~0.01-0.5 s);
#: what it has not found is reported by unresolved_mass, not searched for without end
_SCAN_BUDGET = 200
#: largest step of the scan in t: components narrower than this can be missed
_SCAN_STEP = 0.25


def _inside(sol, t):
    """The Stieltjes root at t by the continuation from large Im z and whether it lies in
    the bulk (Im w > 1e-9 |w|) (FP.10b)."""
    with np.errstate(all="ignore"):
        try:
            w = sol.start_far(t)
        except (ArithmeticError, ValueError):
            return None, False
    ok = np.isfinite(w) and w.imag > _REAL_TOL * abs(w)
    if ok:  # the density there (per unit t) must be resolvable too
        _, _, x = sol.phi(np.array([w]))
        ok = bool(np.isfinite(x[0]) and -x[0].imag / math.pi > _SCAN_DENSITY)
    return w, bool(ok)


def _find_components(sol, expected):
    """All bulk components of ``sol`` (a solver built by ``_DensitySolver.__init__``):
    the top one from its edge (FP.10), then, while bulk mass ``expected`` is not yet
    found, a scan down in t = log lambda for the next t where the Stieltjes root is
    complex; its upper edge is bisected and the same table is built from there (FP.10b).
    Returns a list of solver snapshots, one per component (top first)."""
    import copy

    comps = []
    if sol.t_edge is not None and sol.panels:
        comps.append(copy.copy(sol))
        found = sol.bulk_mass
        if sol.s_lower is None:
            if expected - found <= _SCAN_DEFICIT:
                return comps
            comps[0].s_lower = sol.s_end
            comps[0].open_tail = True
        t_hi = comps[0].t_edge - comps[0].s_lower**2
    else:
        found = 0.0
        t_hi = sol.t_bound
        if not math.isfinite(t_hi):
            return comps
    t_top = t_hi
    step = 1e-6
    calls = 0
    while (expected - found > _SCAN_DEFICIT and t_hi > t_top - _SCAN_DEPTH
           and calls < _SCAN_BUDGET):
        t_prev, t_in, w_in = t_hi, None, None
        while t_prev > t_top - _SCAN_DEPTH and calls < _SCAN_BUDGET:
            t = t_prev - step
            calls += 1
            w, ok = _inside(sol, t)
            if ok:
                t_in, w_in = t, w
                break
            t_prev = t
            step = min(2.0 * step, _SCAN_STEP)
        if t_in is None:
            break
        # a table from the point found: a tooth of the comb (mass < 1e-7, FP.10b) is
        # skipped without locating its edge; a real component gets its edge bisected
        comp = _component_from(sol, t_in, w_in)
        if comp is not None and comp.bulk_mass < _TOOTH:
            t_hi = comp.t_edge - (comp.s_lower if comp.s_lower is not None else comp.s_end)**2
            continue
        step = 1e-6
        lo, hi = t_in, t_prev  # lo inside, hi outside
        for _ in range(45):
            mid = 0.5 * (lo + hi)
            calls += 1
            w, ok = _inside(sol, mid)
            if ok:
                lo, w_in = mid, w
            else:
                hi = mid
            if hi - lo < 1e-11 * (1.0 + abs(hi)):
                break
        comp = _component_from(sol, hi, w_in)
        if comp is None:
            t_hi = t_in - 1e-6  # go on below the point found
            continue
        comps.append(comp)
        found += comp.bulk_mass
        if comp.s_lower is None:
            # the table ended where the density fell below 1e-18: go on below it only if
            # mass is still missing
            comp.s_lower = comp.s_end
            comp.open_tail = True
        t_hi = comp.t_edge - comp.s_lower**2
        if len(comps) >= _MAX_COMPONENTS:
            break
    if comps and getattr(comps[-1], "open_tail", False):
        comps[-1].s_lower = None  # the last table ran down its tail: no lower edge
    return comps


#: a component lighter than this found by the scan is a tooth of the comb (FP.10b)
_TOOTH = 1e-7


def _component_from(sol, t_edge, w_edge):
    """A copy of ``sol`` with its table built down from (t_edge, w_edge), or None."""
    import copy

    comp = copy.copy(sol)
    comp.t_edge, comp.w_edge, comp.phi2 = t_edge, complex(w_edge).real, None
    comp._w_soft = None  # the soft start belongs to the top edge, not to this component
    try:
        comp._table()
    except _ContinuationError:
        return None
    if not comp.panels or comp.bulk_mass <= 0.0:
        return None
    return comp


class _Components:
    """Several bulk components (FP.10b): each a solver snapshot with its own table; the
    interface of ``_DensitySolver`` used by ``SpectrumPrediction``."""

    def __init__(self, comps):
        self.comps = comps
        self.t_edge = comps[0].t_edge
        last = comps[-1]
        if last.s_lower is None:
            self.s_lower = None
        else:
            self.s_lower = math.sqrt(self.t_edge - (last.t_edge - last.s_lower**2))
        self.bulk_mass = float(sum(c.bulk_mass for c in comps))

    def _range(self, c, t):
        low = -np.inf if c.s_lower is None else c.t_edge - c.s_lower**2
        return (t < c.t_edge) & (t > low)

    def solve_t(self, t):
        t = np.asarray(t, dtype=float)
        out = np.full(t.shape, np.nan + 0j)
        for c in self.comps:
            m = self._range(c, t)
            if m.any():
                out[m] = c.solve_t(t[m])
        return out

    def mass_above(self, t):
        return float(sum(c.mass_above(t) for c in self.comps))

    def bulk_moments(self, kmax):
        k = np.arange(1, kmax + 1)
        out = np.zeros(kmax)
        for c in self.comps:
            out += c.bulk_moments(kmax) * np.exp(k * (c.t_edge - self.t_edge))
        return out


class _PushforwardBulk:
    """The density of an orthogonal chain of depth 1 with a continuous law of d
    (FP.12b): J J^T = sigma_w^2 D^2 conjugated by a Haar rotation, so lambda has the law of
    sigma_w^2 phi'(h)^2, h ~ N(0, q): the pushforward of the Gaussian, computed on the
    monotone pieces of h -> phi'(h)^2 (split at the zeros of d' = 2 phi' phi'' and at kinks).
    The atoms of d (selu, h > 0) are in ``SpectrumPrediction.atoms``."""

    def __init__(self, law, sigma_w):
        nl, q = law.phi, law.q
        self.sd = math.sqrt(q)
        self.s2 = sigma_w**2
        hi = _Z_CUTS[-1] * self.sd
        lo = -hi
        if nl.name == "selu":  # h > 0 is the atom lambda_selu^2
            hi = 0.0
        cuts = sorted({lo, hi, *(k for k in nl.kinks if lo < k < hi)})
        self._d = lambda h: float(_phi_values(nl, np.array([h]), 1)[0]) ** 2
        dd = lambda h: float(_phi_values(nl, np.array([h]), 1)[0]  # noqa: E731
                             * _phi_values(nl, np.array([h]), 2)[0])
        edges = []
        for a, b in zip(cuts[:-1], cuts[1:]):
            edges.append(a)
            g = np.linspace(a, b, 4001)[1:-1]
            v = _phi_values(nl, g, 1) * _phi_values(nl, g, 2)
            sg = np.sign(v)
            edges.extend(g[sg == 0.0])  # a grid point on a critical point (tanh: h = 0)
            for j in np.flatnonzero(sg[:-1] * sg[1:] < 0):
                edges.append(optimize.brentq(dd, g[j], g[j + 1], xtol=1e-15, rtol=4 * _EPS))
        edges = sorted(edges)
        edges.append(cuts[-1])
        self.pieces = [(a, b, self._d(a), self._d(b)) for a, b in zip(edges[:-1], edges[1:])
                       if b > a]
        dvals = [v for p in self.pieces for v in p[2:]]
        dmax, dmin = max(dvals), min(dvals)
        self.t_edge = math.log(self.s2 * dmax)
        self.s_lower = (math.sqrt(self.t_edge - math.log(self.s2 * dmin)) if dmin > 0
                        else None)
        self.bulk_mass = float(sum(self._gmass(a, b) for a, b, _, _ in self.pieces))
        self.law = law
        self.dmax = dmax

    def _gmass(self, a, b):
        """P(a < h < b), h ~ N(0, q), without cancellation in either tail."""
        s = self.sd
        if a >= 0.0:
            return float(special.ndtr(-a / s) - special.ndtr(-b / s))
        return float(special.ndtr(b / s) - special.ndtr(a / s))

    def _root(self, a, b, da, db, v):
        return optimize.brentq(lambda h: self._d(h) - v, a, b, xtol=1e-15, rtol=4 * _EPS)

    def mass_above(self, t):
        v = math.exp(t) / self.s2
        acc = 0.0
        for a, b, da, db in self.pieces:
            if v >= max(da, db):
                continue
            if v <= min(da, db):
                acc += self._gmass(a, b)
                continue
            r = self._root(a, b, da, db, v)
            acc += self._gmass(r, b) if db > da else self._gmass(a, r)
        return acc

    def solve_t(self, t):
        """x = -i pi lambda rho(lambda) (so that pdf = -Im x / (pi lambda)); nan outside."""
        t = np.asarray(t, dtype=float)
        out = np.full(t.shape, np.nan + 0j)
        for i, ti in np.ndenumerate(t):
            lam = math.exp(ti)
            v = lam / self.s2
            rho = 0.0
            for a, b, da, db in self.pieces:
                if min(da, db) < v < max(da, db):
                    r = self._root(a, b, da, db, v)
                    dphi = float(_phi_values(self.law.phi, np.array([r]), 1)[0])
                    d2 = float(_phi_values(self.law.phi, np.array([r]), 2)[0])
                    jac = abs(2.0 * dphi * d2) * self.s2
                    if jac > 0:
                        rho += math.exp(-0.5 * (r / self.sd) ** 2) / (
                            self.sd * math.sqrt(2.0 * math.pi) * jac)
            if rho > 0:
                out[i] = -1j * math.pi * lam * rho
        return out

    def bulk_moments(self, kmax):
        """E[(sigma_w^2 d)^k] over the continuous part of d, over e^{k t_edge} (FP.1)."""
        law = self.law
        vals, probs = law.values[law.n_atoms:], law.probs[law.n_atoms:]
        k = np.arange(1, kmax + 1)
        with np.errstate(under="ignore"):
            return (probs[None, :] * (vals[None, :] / self.dmax) ** k[:, None]).sum(axis=1)


class _EmptyBulk:
    """Stand-in solver when the atoms carry all the mass (linear orthogonal chains)."""

    def __init__(self, atoms):
        top = max(loc for loc, _ in atoms)
        self.t_edge = math.log(top) if top > 0 else -math.inf
        self.s_lower = 0.0
        self.bulk_mass = 0.0
        self.empty = True

    def solve_t(self, t):
        return np.full(np.shape(t), np.nan + 0j)

    def mass_above(self, t):
        return 0.0

    def bulk_moments(self, kmax):
        return np.zeros(kmax)


# --------------------------------------------------------------------------- result
def _as_points(name, lam):
    if isinstance(lam, (str, bytes)):
        raise ValueError(f"{name} must be a real number or array of real numbers, got {lam!r}")
    try:
        arr = np.asarray(lam)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{name} must be a real number or array of real numbers: {exc}") from None
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a real number or array of real numbers, "
                         f"got dtype {arr.dtype}")
    arr = arr.astype(float)
    if np.isnan(arr).any():
        raise ValueError(f"{name} must not contain NaN")
    return arr


def _exp(t):
    """exp(t), inf beyond the float range (a support edge past 1.8e308)."""
    return math.exp(t) if t < 709.78 else math.inf


@dataclass(frozen=True)
class SpectrumPrediction:
    """Large-width prediction for the spectrum of J J^T (``predict_spectrum``).

    Attributes
    ----------
    chain : Chain
        The specification predicted.
    lengths : ndarray, shape (L,)
        Mean-field q_1..q_L used for the layers' laws of phi'(h)^2 (FP.5).
    log_m1 : float
        log of the first moment m_1 (may exceed the float range in m_1 itself).
    atoms : list of (float, float)
        Point masses (location, mass) (FP.12): the mass P(d = 0) at 0 (relu, hardtanh); for
        orthogonal weights also max(0, 1 - L P(d != v)) at (sigma_w^2 v)^L for each atom v > 0
        of d.
    support : (float, float)
        Lower and upper edge of the absolutely continuous part (FP.10).
    max_eigenvalue : float
        The largest point of the support including atoms.
    mass_below_min_float : float
        Bulk mass below the smallest positive float (deep Gaussian chains, FP.11).

    Notes
    -----
    ``moments`` works for every chain (rectangular widths and layer-dependent q_l included)
    by the S-transform product (FP.4)-(FP.7). The density, ``cdf``, ``support`` and
    ``singular_value_pdf`` are available for square chains whose layers share one law of d
    (the input at the fixed point q*, or a scale-free phi) (FP.8)-(FP.11), with several bulk
    components found by a scan in log lambda (FP.10b) and orthogonal depth 1 as the
    pushforward of the Gaussian (FP.12b); for square chains whose laws of d follow the length
    map, q_l != q*, and for rectangular chains (FP.13). Orthogonal chains with
    layer-dependent laws or rectangular widths need a law of d without atoms, and can fail
    at small depth (the root next to the upper edge is lost) or with a soft top (gelu/silu);
    those raise NotImplementedError, as does any density that leaves more than 1e-3 of the
    mass unresolved. ``unresolved_mass`` reports what the solver did not resolve.
    """

    chain: object
    lengths: np.ndarray = field(repr=False)
    log_m1: float
    atoms: list
    _density: tuple = field(repr=False, compare=False, default=None)
    _cache: dict = field(repr=False, compare=False, default_factory=dict)

    # -- moments -----------------------------------------------------------------------
    def moments(self, kmax, *, method="series"):
        """m_1..m_kmax = normalised-trace moments of J J^T in the large-width limit.

        Parameters
        ----------
        kmax : int
            Highest order (>= 1).
        method : {"series", "density"}
            "series": exact power-series inversion of the S-transform product (FP.7);
            "density": the integral of lambda^k against the density plus the atoms (FP.11)
            (square chains with one law of d only; quadrature accuracy ~1e-10).

        Returns
        -------
        ndarray, shape (kmax,)
        """
        kmax = check_count("kmax", kmax)
        if method == "series":
            _, m_hat = moment_series(self.chain, kmax, lengths=self.lengths)
            k = np.arange(1, kmax + 1)
            with np.errstate(over="ignore", under="ignore"):
                return np.exp(k * self.log_m1) * m_hat
        if method == "density":
            sol = self._need_solver()
            k = np.arange(1, kmax + 1)
            with np.errstate(over="ignore", under="ignore"):
                bulk = sol.bulk_moments(kmax) * np.exp(k * sol.t_edge)
                at = sum(m * np.power(loc, k, dtype=float) for loc, m in self.atoms)
            return bulk + at
        raise ValueError(f"method must be 'series' or 'density', got {method!r}")

    # -- density -----------------------------------------------------------------------
    def _need_solver(self):
        """The density solver, built on first use (moments alone never need it)."""
        if "solver" in self._cache:
            return self._cache["solver"]
        if self._density is None:
            raise NotImplementedError(
                "the density is not implemented for orthogonal chains with layer-dependent "
                "laws or rectangular widths whose phi'(h)^2 has atoms, nor for rectangular "
                "orthogonal chains of depth 1; moments() works for every chain")
        law, atoms = self._density
        if 1.0 - sum(m for _, m in atoms) <= 1e-14:
            solver = _EmptyBulk(atoms)
        else:
            ch = self.chain
            try:
                if isinstance(law, list):
                    solver = _MultiLawSolver(law, ch, self.log_m1)
                elif ch.weights == "orthogonal" and ch.depth == 1:
                    solver = _PushforwardBulk(law, ch.sigma_w)
                else:
                    solver = _DensitySolver(law, ch.depth, ch.sigma_w, ch.weights)
                    expected = 1.0 - sum(m for _, m in atoms)
                    if expected - solver.bulk_mass > _SCAN_DEFICIT or solver.t_edge is None:
                        comps = _find_components(solver, expected)
                        if not comps:
                            raise _ContinuationError("no bulk component found")
                        solver = comps[0] if len(comps) == 1 else _Components(comps)
            except _ContinuationError as exc:
                bulk = 1.0 - sum(m for _, m in atoms)
                if bulk > _UNRESOLVABLE_BULK:
                    raise NotImplementedError(f"density continuation failed: {exc}") from None
                # a bulk this light (hardtanh orthogonal at q* = 1/64: L P(|h| > 1) ~ 1e-13)
                # is below what a double-precision continuation resolves: the atoms stand
                # alone and the bulk's mass is reported by unresolved_mass, not lost
                solver = _EmptyBulk(atoms)
        missing = 1.0 - solver.bulk_mass - sum(m for _, m in atoms)
        if not abs(missing) <= _LOST_MASS:
            raise NotImplementedError(
                f"density continuation failed: {missing:.3g} of the mass is unresolved "
                f"(e.g. a soft top of gelu/silu with layer-dependent laws, FP.13)")
        self._cache["solver"] = solver
        return solver

    @property
    def unresolved_mass(self):
        """1 - (bulk mass found + atoms) (FP.11): what the continuation and the scan for
        further components (FP.10b) did not resolve - the mass above a soft top edge
        (~1e-9, FP.10c), a deep lower tail where the root is lost at the rounding floor
        (~1e-7), the comb of tiny pieces where an edge sits inside the range of a
        continuous d represented by plain node sums (user phi: ~1e-6 to 5e-5, FP.2b), or a
        bulk lighter than 1e-10 next to atoms. More than 1e-3 either way (lost or
        over-counted) raises NotImplementedError."""
        sol = self._need_solver()
        return 1.0 - sol.bulk_mass - sum(m for _, m in self.atoms)

    @property
    def support(self):
        sol = self._need_solver()
        if getattr(sol, "empty", False):
            loc = max(loc for loc, _ in self.atoms)
            return (loc, loc)
        upper = _exp(sol.t_edge)
        if sol.s_lower is None:
            lower = 0.0
        else:
            lower = _exp(sol.t_edge - sol.s_lower**2)
        return (lower, upper)

    @property
    def log_max_eigenvalue(self):
        """log of ``max_eigenvalue``, computed in log space: finite where lambda itself
        under- or overflows (deep chains; the bulk's top is t_edge, FP.9)."""
        sol = self._need_solver()
        tops = [] if getattr(sol, "empty", False) else [sol.t_edge]
        tops += [math.log(loc) for loc, m in self.atoms if m > 0 and 0 < loc < math.inf]
        return max(tops) if tops else -math.inf

    @property
    def max_eigenvalue(self):
        top = self.support[1]
        for loc, m in self.atoms:
            if m > 0:
                top = max(top, loc)
        return top

    @property
    def mass_below_min_float(self):
        sol = self._need_solver()
        tiny = math.log(np.nextafter(0.0, 1.0))
        return max(sol.bulk_mass - sol.mass_above(tiny), 0.0)

    def pdf(self, lam):
        """Density of the absolutely continuous part at ``lam`` (FP.9): -Im x / (pi lam).

        Atoms are in ``atoms``; 0 outside the support and at lam <= 0.
        """
        lam = _as_points("lam", lam)
        sol = self._need_solver()
        out = np.zeros(lam.shape)
        pos = (lam > 0) & np.isfinite(lam)
        if pos.any():
            t = np.log(lam[pos])
            x = sol.solve_t(t)
            with np.errstate(over="ignore", under="ignore"):
                val = np.where(np.isnan(x), 0.0,
                               np.exp(np.log(np.maximum(-np.nan_to_num(x.imag), 1e-320))
                                      - math.log(math.pi) - t))
            val[np.isnan(x)] = 0.0
            out[pos] = val
        return out[()]

    def cdf(self, lam):
        """P(lambda <= lam), atoms included (FP.11)."""
        lam = _as_points("lam", lam)
        sol = self._need_solver()
        out = np.empty(lam.shape)
        flat = lam.ravel()
        res = out.ravel()
        for i, v in enumerate(flat):
            at = sum(m for loc, m in self.atoms if loc <= v)
            if v <= 0.0:
                res[i] = at
                continue
            if not math.isfinite(v):
                res[i] = sol.bulk_mass + at
                continue
            res[i] = sol.bulk_mass - sol.mass_above(math.log(v)) + at
        return np.clip(res.reshape(lam.shape), 0.0, 1.0)[()]

    def singular_value_pdf(self, s):
        """Density of the singular values s = sqrt(lambda) of J: 2 s rho(s^2)."""
        s = _as_points("s", s)
        out = np.zeros(s.shape)
        pos = s > 0
        if pos.any():
            out[pos] = 2.0 * s[pos] * np.asarray(self.pdf(s[pos] ** 2))
        return out[()]


def _atoms(law, chain):
    """(FP.12)."""
    out = []
    vals = law.atoms
    p0 = sum(p for v, p in vals if v == 0.0)
    if p0 > 0:
        out.append((0.0, p0))
    if chain.weights == "orthogonal":
        L = chain.depth
        for v, p in vals:
            if v > 0.0:
                m = 1.0 - L * (1.0 - p)
                if m > 0.0:
                    log_loc = L * math.log(chain.sigma_w**2 * v)
                    if log_loc >= 709.78:
                        raise ValueError(
                            f"the atom of this orthogonal chain sits at (sigma_w^2 d)^depth = "
                            f"e^{log_loc:.1f}, beyond float64: lower sigma_w={chain.sigma_w} or "
                            f"depth={L}, or compare log singular values (sample_spectrum)")
                    out.append((math.exp(log_loc), m))
    return out


def _zero_atom(laws, chain):
    """The atom at 0 of a chain with per-layer laws and widths (FP.12): in generic position
    rank(J) = min(n_0, min_l n_l (1 - P(d_l = 0))), so the mass is 1 - rank / n_L."""
    n = chain.widths
    rank = float(n[0])
    for l, lw in enumerate(laws):
        p0 = sum(p for v, p in lw.atoms if v == 0.0)
        rank = min(rank, n[l + 1] * (1.0 - p0))
    m = 1.0 - rank / n[-1]
    return [(0.0, m)] if m > 1e-15 else []


def predict_spectrum(chain):
    """Large-width prediction of the spectrum of J J^T for ``chain``.

    Parameters
    ----------
    chain : Chain

    Returns
    -------
    SpectrumPrediction

    Raises
    ------
    ValueError
        If ``chain`` is not a Chain or its length map leaves (0, inf).

    Notes
    -----
    Moments by the S-transform product theory/free.md (FP.4)-(FP.7); density by the
    branch-free equation theory/free.md (FP.8)-(FP.11); atoms (FP.12). Normalisation:
    tr(.)/n_L (THEORY.md).

    References
    ----------
    J. Pennington, S. Schoenholz, S. Ganguli, arXiv:1711.04735 and arXiv:1802.09979.

    Examples
    --------
    >>> import rmtchain
    >>> pred = rmtchain.predict_spectrum(rmtchain.Chain(2, 100, phi="linear"))
    >>> pred.moments(3)
    array([ 1.,  3., 12.])
    """
    from .chain import Chain

    if not isinstance(chain, Chain):
        raise ValueError(f"chain must be a rmtchain.Chain, got {type(chain).__name__}")
    q = layer_lengths(chain)
    log_m1, _ = s_transform_series(chain, 1, lengths=q)
    nl = chain.phi
    square = len(set(chain.widths)) == 1
    uniform = nl.name in _SCALE_FREE or bool(np.all(q == q[0]))
    law = derivative_law(nl, q[0])
    atoms = []
    density = None
    if square and uniform:
        atoms = _atoms(law, chain)
        # orthogonal depth 1 with a continuous d is the law of sigma_w^2 d itself: the
        # pushforward of the Gaussian (FP.12b), no equation to solve
        density = (law, atoms)
    else:
        laws = [derivative_law(nl, ql) for ql in q]
        atoms = _zero_atom(laws, chain)
        positive_atoms = any(v > 0.0 for lw in laws for v, _ in lw.atoms)
        # the density with per-layer laws and widths (FP.13): every chain but orthogonal
        # ones with an atom of d > 0 or rectangular orthogonal depth 1
        if not (chain.weights == "orthogonal" and (positive_atoms or chain.depth == 1)):
            density = (laws, atoms)
    return SpectrumPrediction(chain, q, log_m1, atoms, density)
