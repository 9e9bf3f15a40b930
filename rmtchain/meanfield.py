"""Mean field of a deep random chain (Poole et al. 1606.05340; Schoenholz et al. 1611.01232).

The length map (MF.1) and its fixed point q*, the input length rule ``q0=None`` (MF.2),
chi_1, the correlation map and its fixed point c*, the depth scales xi_q, xi_c (MF.3) and the
moments mu_k of phi'(h)^2, and the critical line chi_1 = 1 (MF.3d). Gaussian expectations are
taken by adaptive quadrature split at the kinks of phi (MF.4). theory/meanfield.md derives
everything here.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass, field

import numpy as np
from scipy import integrate, optimize

from ._rng import check_real, check_sigmas
from .nonlinearities import CUSTOM, Nonlinearity, _phi_dphi, get_phi

__all__ = ["MeanField", "MeanFieldDiagnostics", "critical_point", "critical_sigma_w",
           "gaussian_expectation", "length_map", "mean_field", "solve_q_star"]

_QUAD_EPS = 1e-13
_Z_MAX = 38.0
#: |q^-1 F(q) - 1| below this is rounding, not a crossing of the fixed-point equation.
_G_NOISE = 1e-10


def gaussian_expectation(f, q, kinks=()):
    """E[f(sqrt(q) z)], z ~ N(0, 1), by adaptive quadrature split at the kinks of f.

    Gauss-Hermite converges slowly at kinks (THEORY.md), so each smooth piece is integrated
    separately with ``scipy.integrate.quad`` (absolute/relative tolerance 1e-13).
    """
    if q == 0.0:
        return float(f(0.0))
    s = math.sqrt(q)
    # |z| <= 38 holds all but exp(-722) of the mass; finite ends keep quad from sampling
    # only the far tails of a piece (which missed the centre when a kink was far out).
    # Fixed cuts at 0 and +-8 help quad resolve the Gaussian bulk on the long interval.
    cuts = sorted({min(max(k / s, -_Z_MAX), _Z_MAX) for k in kinks} | {-8.0, 0.0, 8.0})
    edges = [-_Z_MAX, *cuts, _Z_MAX]
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        val, _ = integrate.quad(
            lambda z: f(s * z) * math.exp(-0.5 * z * z), lo, hi,
            epsabs=_QUAD_EPS, epsrel=_QUAD_EPS, limit=200,
        )
        total += val
    return total / math.sqrt(2.0 * math.pi)


def _scalar_funcs(nl):
    """(phi, phi') as fast scalar callables float -> float (the registry's own functions)."""
    if nl.code == CUSTOM:
        f0, f1 = nl._funcs[0], nl._funcs[1]
        return (lambda h: float(f0(h))), (lambda h: float(f1(h)))
    code, a = nl.code, nl.param
    return (lambda h: _phi_dphi(code, a, h)[0]), (lambda h: _phi_dphi(code, a, h)[1])


def length_map(phi, sigma_w, sigma_b, q):
    """The length map q -> sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2, theory/meanfield.md (MF.1)."""
    nl = get_phi(phi)
    ev = _scalar_funcs(nl)[0]
    return sigma_w**2 * gaussian_expectation(lambda h: ev(h) ** 2, q, nl.kinks) + sigma_b**2


@dataclass(frozen=True)
class _QStar:
    q: float | None
    reason: str          # "fixed", "identity", "zero" (q flows to 0), "infinity"
    iterations: int = 0
    function_calls: int = 0


@functools.lru_cache(maxsize=256)
def _q_star_cached(phi, sigma_w, sigma_b):
    def g(logq):
        q = math.exp(logq)
        return length_map(phi, sigma_w, sigma_b, q) / q - 1.0

    # Identity map (every q is a fixed point): linear with sigma_w = 1, relu with 2, ...
    if abs(g(0.0)) < 1e-12 and abs(g(math.log(4.0))) < 1e-12:
        return _QStar(None, "identity")
    # q* >= sigma_b^2 (the length map is >= sigma_b^2), so a grid reaching below
    # sigma_b^2 / 2 brackets every fixed point down to the smallest normal float
    lo = max(min(1e-12, 0.5 * sigma_b * sigma_b), 1e-300)
    grid = np.linspace(math.log(lo), math.log(1e8), 1 + math.ceil((math.log(1e8 / lo)) / 0.77))
    vals = np.array([g(x) for x in grid])
    # Stable crossings (+ to -) between consecutive grid points whose |g| is above rounding.
    sig = [i for i in range(len(grid)) if abs(vals[i]) > _G_NOISE]
    brackets = [(i, j) for i, j in zip(sig[:-1], sig[1:]) if vals[i] > 0 > vals[j]]
    # start from q = 1 and follow the map's direction to the nearest stable fixed point
    i1 = int(np.searchsorted(grid, 0.0))
    if vals[i1] > 0:  # q grows from 1
        above = [b for b in brackets if b[1] >= i1]
        if not above:
            return _QStar(None, "infinity")
        i, j = above[0]
    else:
        below = [b for b in brackets if b[0] <= i1]
        if not below:
            return _QStar(None, "zero")
        i, j = below[-1]
    root, res = optimize.brentq(g, grid[i], grid[j], xtol=1e-14, rtol=1e-14, full_output=True)
    return _QStar(math.exp(root), "fixed", res.iterations, res.function_calls + len(grid) + 2)


def solve_q_star(phi, sigma_w, sigma_b):
    """The stable nonzero fixed point q* of the length map reached from q = 1, or None.

    Returns None where q = 1 flows to 0 or to infinity or where every q is a fixed point
    (linear with sigma_w = 1, relu with sigma_w^2 = 2 and sigma_b = 0): theory/meanfield.md
    (MF.2).
    """
    nl = get_phi(phi)
    return _q_star_cached(nl, float(sigma_w), float(sigma_b)).q


# ----------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------

def _positive_q(name, q):
    q = check_real(name, q)
    if not 0.0 < q <= 1e12:
        raise ValueError(f"{name} must be in (0, 1e12], got {q}")
    return q


# ----------------------------------------------------------------------------------------
# quadrature with error estimates (MF.4)
# ----------------------------------------------------------------------------------------

#: the inner integral of a 2-D Gaussian expectation is done to this (abs and rel), tighter
#: than the outer one so that its noise does not stop the outer adaptive rule converging
_INNER_EPS = 1e-14
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class _Tally:
    """Sums quad's error estimates and counts the calls that did not converge (ier > 0)."""

    def __init__(self):
        self.failures = 0

    def quad(self, g, edges, eps):
        total = err = 0.0
        for lo, hi in zip(edges[:-1], edges[1:]):
            if hi <= lo:
                continue
            # full_output: a non-converged piece is counted here, not raised as a warning
            out = integrate.quad(g, lo, hi, epsabs=eps, epsrel=eps, limit=200, full_output=1)
            total += out[0]
            err += out[1]
            if len(out) > 3:
                self.failures += 1
        return total, err


def _z_edges(kinks, shift, scale):
    """Cuts in z for the pieces of F(shift + scale z): kinks, 0 and +-8, clipped to |z| <= 38."""
    cuts = {min(max((k - shift) / scale, -_Z_MAX), _Z_MAX) for k in kinks} | {-8.0, 0.0, 8.0}
    return [-_Z_MAX, *sorted(cuts), _Z_MAX]


def _expect(tally, f, q, kinks, eps=_QUAD_EPS):
    """(E[f(sqrt(q) z)], error estimate), split at the kinks as in (MF.4)."""
    s = math.sqrt(q)
    val, err = tally.quad(lambda z: f(s * z) * math.exp(-0.5 * z * z),
                          _z_edges(kinks, 0.0, s), eps)
    return val * _INV_SQRT_2PI, err * _INV_SQRT_2PI


_GL_X, _GL_W = np.polynomial.legendre.leggauss(10)
#: the vectorised 2-D rule works on |z| <= 12 (all but 2e-33 of the Gaussian mass)
_Z2 = 12.0
#: panels per piece tried in turn by the vectorised 2-D rule (each level doubles)
_LEVELS = (1, 2, 4, 8)
#: the 2-D rule stops when two levels agree to this (absolute, on O(1) integrands)
_TOL2 = 1e-13
#: cuts in z that resolve the Gaussian weight, and cuts in h = sqrt(q) z that resolve phi
#: (every registered phi changes on the scale |h| ~ 1 around 0)
_Z_CUTS = np.array([-8.0, -5.0, -3.0, -1.5, 0.0, 1.5, 3.0, 5.0, 8.0])
_H_CUTS = np.array([-8.0, -4.0, -2.0, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0])


def _composite(lo, hi, m):
    """Nodes and weights of m-panel 10-point Gauss-Legendre on each piece [lo, hi] (last axis)."""
    t = (np.arange(m)[:, None] + 0.5 * (_GL_X[None, :] + 1.0)) / m          # (m, 10) in [0, 1]
    w = np.broadcast_to(_GL_W / (2.0 * m), t.shape)
    width = hi - lo
    z = lo[..., None, None] + width[..., None, None] * t
    wt = width[..., None, None] * w
    shape = lo.shape[:-1] + (-1,)
    return z.reshape(shape), wt.reshape(shape)


def _pieces(cuts):
    """[-Z, sorted cuts clipped to [-Z, Z], Z] along the last axis: (lo, hi) of every piece."""
    pad = np.full(cuts.shape[:-1] + (1,), _Z2)
    e = np.concatenate([-pad, np.clip(np.sort(cuts, -1), -_Z2, _Z2), pad], axis=-1)
    return e[..., :-1], e[..., 1:]


def _expect2_grid(F, kinks, s, c, m):
    """E[F(u_1, u_2)] by a tensor composite Gauss-Legendre rule, split at every kink."""
    r = math.sqrt(max(0.0, 1.0 - c * c))
    b = s * r
    k = np.asarray(kinks, dtype=float)
    hk = np.concatenate([_H_CUTS, k])
    # outer cuts: phi's scale and kinks in u_1, and around each kink a graded set at the
    # width r / c of the step the inner expectation has there
    graded = [kk + sgn * r * 2.0**j for kk in k / s for sgn in (-1, 1) for j in range(-1, 6)]
    outer = np.unique(np.clip(np.concatenate([_Z_CUTS, hk / s, graded]), -_Z2, _Z2))
    lo, hi = _pieces(outer)
    z1, w1 = _composite(lo, hi, m)
    h1 = s * z1
    a = (s * c) * z1
    if b > 0.0:
        cuts = np.concatenate([np.broadcast_to(_Z_CUTS, (z1.size, _Z_CUTS.size)),
                               (hk[None, :] - a[:, None]) / b], axis=1)
        lo2, hi2 = _pieces(cuts)
        z2, w2 = _composite(lo2, hi2, m)                       # (N1, N2)
        h2 = a[:, None] + b * z2
        vals = F(h1[:, None], h2)   # phi(u_1) once per outer node, broadcast
        inner = np.einsum("ij,ij->i", w2 * np.exp(-0.5 * z2 * z2), vals)
    else:
        inner = math.sqrt(2.0 * math.pi) * F(h1, a)
    return float(np.dot(w1 * np.exp(-0.5 * z1 * z1), inner)) / (2.0 * math.pi)


def _expect2(tally, F, Fs, q, c, kinks):
    """(E[F(u_1, u_2)], error estimate), u_1 = sqrt(q) z_1, u_2 = sqrt(q)(c z_1 + sqrt(1-c^2) z_2).

    F works on arrays, Fs on scalars. First a tensor composite Gauss-Legendre rule on
    |z| <= 12, split at the kinks of phi(u_1) (outer) and of phi(u_2) (inner; they move
    with z_1), refined until two levels agree to 1e-13; the error estimate is their
    difference. If that fails, nested adaptive quadrature (theory/meanfield.md (MF.4)).
    """
    s = math.sqrt(q)
    prev = None
    for m in _LEVELS:
        val = _expect2_grid(F, kinks, s, c, m)
        if prev is not None and abs(val - prev) <= _TOL2 * max(1.0, abs(val)):
            return val, abs(val - prev)
        prev = val
    return _expect2_quad(tally, Fs, q, c, kinks)


def _expect2_quad(tally, F, q, c, kinks, eps=1e-12):
    """Nested adaptive quadrature for ``_expect2`` (scalar F)."""
    s = math.sqrt(q)
    b = s * math.sqrt(max(0.0, 1.0 - c * c))
    inner_err = [0.0]

    def inner(z1):
        h1, a = s * z1, s * c * z1
        v, e = tally.quad(lambda z2: F(h1, a + b * z2) * math.exp(-0.5 * z2 * z2),
                          _z_edges(kinks, a, b), 0.1 * eps)
        inner_err[0] = max(inner_err[0], e)
        return v * math.exp(-0.5 * z1 * z1)

    val, err = tally.quad(inner, _z_edges(kinks, 0.0, s), eps)
    scale = _INV_SQRT_2PI * _INV_SQRT_2PI
    return val * scale, err * scale + inner_err[0] * _INV_SQRT_2PI


def _depth_scale(chi, err):
    """xi = -1 / log(chi) for 0 <= chi < 1; inf where chi is 1 within max(2 err, 1e-13).

    A slope within its quadrature error of 1 is a marginal fixed point (linear with
    sigma_w = 1, relu at He init, any phi at criticality): its depth scale is infinite, not
    -1/log(1 - 1e-16) = 1e16.
    """
    if chi <= 0.0:
        return 0.0
    return math.inf if chi >= 1.0 - max(2.0 * err, 1e-13) else -1.0 / math.log(chi)


# ----------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)   # holds arrays: compare fields, not records
class MeanFieldDiagnostics:
    """How the numbers in a ``MeanField`` were obtained, and how accurate they are.

    Attributes
    ----------
    q_solver : {"brentq", "given"}
        q* found by the rule (MF.2) (grid + brentq in log q), or passed as ``q_star``.
    q_iterations, q_function_calls : int
        brentq iterations and length-map evaluations of the q* solve (0 when given).
    q_residual : float
        |f(q*) - q*| / q* with f the length map (MF.1).
    c_solver : {"ordered", "zero", "brentq"}
        c* = 1 because chi1 <= 1 (no solve); c* = 0 exactly (odd phi without bias); or
        solved by brentq on the secant form (MF.3b').
    c_iterations, c_function_calls : int
        brentq iterations and correlation-map evaluations (0 unless ``c_solver == "brentq"``).
    c_residual : float
        |f_c(c*) - c*| for the correlation map f_c (MF.3b); 0 when c* = 1.
    mu_error : (kmax,) array
        quadrature error estimates of ``mu``.
    chi1_error, chi_q_error, chi_c_error : float
        quadrature error estimates (absolute) of chi1, chi_q and chi_c.
    quad_failures : int
        number of quadrature pieces whose adaptive rule reported non-convergence (should be 0).
    """

    q_solver: str
    q_iterations: int
    q_function_calls: int
    q_residual: float
    c_solver: str
    c_iterations: int
    c_function_calls: int
    c_residual: float
    mu_error: np.ndarray
    chi1_error: float
    chi_q_error: float
    chi_c_error: float
    quad_failures: int


@dataclass(frozen=True, eq=False)   # holds arrays: compare fields, not records
class MeanField:
    """The mean field of a chain at its fixed point (``mean_field``).

    Attributes
    ----------
    phi : Nonlinearity
    sigma_w, sigma_b : float
        The inputs.
    q_star : float
        Fixed point of the length map (MF.1), (MF.2).
    chi1 : float
        sigma_w^2 E[phi'(sqrt(q*) z)^2], the slope of the correlation map at c = 1 (MF.3a).
    chi_q : float
        Slope of the length map at q* (MF.3c): sigma_w^2 d/dq E[phi(sqrt(q) z)^2].
    c_star : float
        Stable fixed point of the correlation map (MF.3b): 1 when chi1 <= 1 (ordered or
        critical), in [0, 1) when chi1 > 1 (chaotic).
    chi_c : float
        Slope of the correlation map at c*: sigma_w^2 E[phi'(u_1) phi'(u_2)] (= chi1 at c* = 1).
    xi_q, xi_c : float
        Depth scales -1/log(chi_q), -1/log(chi_c) (MF.3c); ``inf`` where the slope is 1.
    mu : (kmax,) array
        mu_k = E[phi'(sqrt(q*) z)^(2k)], k = 1..kmax (the moments of d = phi'(h)^2).
    diagnostics : MeanFieldDiagnostics
    """

    phi: Nonlinearity
    sigma_w: float
    sigma_b: float
    q_star: float
    chi1: float
    chi_q: float
    c_star: float
    chi_c: float
    xi_q: float
    xi_c: float
    mu: np.ndarray = field(repr=False)
    diagnostics: MeanFieldDiagnostics = field(repr=False)

    @property
    def kmax(self):
        """The number of moments in ``mu``."""
        return len(self.mu)

    @property
    def phase(self):
        """``"ordered"`` (chi1 < 1), ``"critical"`` (|chi1 - 1| <= 1e-10) or ``"chaotic"``."""
        if abs(self.chi1 - 1.0) <= 1e-10:
            return "critical"
        return "ordered" if self.chi1 < 1.0 else "chaotic"

    def length_map(self, q):
        """f(q) = sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2 (MF.1)."""
        return length_map(self.phi, self.sigma_w, self.sigma_b, _positive_q("q", q))

    def correlation_map(self, c):
        """f_c(c) = (sigma_w^2 E[phi(u_1) phi(u_2)] + sigma_b^2) / q* at q* (MF.3b), c in [-1, 1]."""
        c = check_real("c", c)
        if not -1.0 <= c <= 1.0:
            raise ValueError(f"c must be in [-1, 1], got {c}")
        ev = _scalar_funcs(self.phi)[0]
        vp = self.phi.phi
        val, _ = _expect2(_Tally(), lambda h1, h2: vp(h1) * vp(h2),
                          lambda h1, h2: ev(h1) * ev(h2), self.q_star, c, self.phi.kinks)
        return (self.sigma_w**2 * val + self.sigma_b**2) / self.q_star


# ----------------------------------------------------------------------------------------
# the mean field
# ----------------------------------------------------------------------------------------

def _no_fixed_point(nl, sigma_w, sigma_b, reason):
    what = {
        "identity": "every q is a fixed point of its length map (pass q_star= to choose one)",
        "zero": "its length map takes q = 1 to 0: there is no nonzero fixed point",
        "infinity": "its length map takes q = 1 to infinity: there is no finite fixed point",
    }[reason]
    return ValueError(
        f"phi={nl} with sigma_w={sigma_w}, sigma_b={sigma_b} has no mean-field fixed point q*: "
        f"{what} (theory/meanfield.md (MF.2))")


def mean_field(phi, sigma_w, sigma_b, *, q_star=None, kmax=8):
    """The mean field of a chain: q*, chi1, c*, the depth scales and the moments mu_k.

    Parameters
    ----------
    phi : str or Nonlinearity
        A registered nonlinearity.
    sigma_w : float
        Weight scale, finite and > 0.
    sigma_b : float
        Bias standard deviation, finite and >= 0.
    q_star : float, optional
        Use this fixed point instead of solving for it (it must satisfy f(q) = q to 1e-9
        relative and be stable, f'(q) <= 1). Needed where every q is a fixed point
        (linear with sigma_w = 1, relu with sigma_w^2 = 2, sigma_b = 0).
    kmax : int
        Number of moments mu_1..mu_kmax (>= 1).

    Returns
    -------
    MeanField

    Raises
    ------
    ValueError
        For an invalid argument (the message names it), or where the length map has no
        stable nonzero fixed point reached from q = 1 (e.g. tanh with sigma_w <= 1 and
        sigma_b = 0, or relu with sigma_w^2 > 2).

    Notes
    -----
    q* follows the rule of theory/meanfield.md (MF.2); chi1 is (MF.3a); c* solves (MF.3b)
    in the secant form (MF.3b'); the depth scales are (MF.3c), with the slope of the length
    map taken in the phi''-free form sigma_w^2 E[u phi(u) phi'(u)] / q* (correct at kinks).
    Expectations: adaptive quadrature split at the kinks (MF.4), with error estimates in
    ``diagnostics``.

    References
    ----------
    Poole et al. arXiv:1606.05340; Schoenholz et al. arXiv:1611.01232.

    Examples
    --------
    >>> import rmtchain
    >>> mf = rmtchain.mean_field("tanh", 1.5, 0.1)
    >>> mf.phase, round(mf.q_star, 6), round(mf.chi1, 6), round(mf.c_star, 6)
    ('chaotic', 0.813322, 1.129053, 0.180084)
    """
    nl = get_phi(phi)
    sigma_w, sigma_b = check_sigmas(sigma_w, sigma_b)
    if isinstance(kmax, bool) or not isinstance(kmax, numbers.Integral) or kmax < 1:
        raise ValueError(f"kmax must be an integer >= 1, got {kmax!r}")
    kmax = int(kmax)
    ev, dev = _scalar_funcs(nl)
    sw2 = sigma_w * sigma_w
    tally = _Tally()

    if q_star is None:
        sol = _q_star_cached(nl, sigma_w, sigma_b)
        if sol.q is None:
            raise _no_fixed_point(nl, sigma_w, sigma_b, sol.reason)
        q, q_solver, q_its, q_calls = sol.q, "brentq", sol.iterations, sol.function_calls
    else:
        q, q_solver, q_its, q_calls = _positive_q("q_star", q_star), "given", 0, 0
    fq = length_map(nl, sigma_w, sigma_b, q)
    q_residual = abs(fq - q) / q
    if q_solver == "given" and q_residual > 1e-9:
        raise ValueError(
            f"q_star={q} is not a fixed point of the length map of phi={nl} with "
            f"sigma_w={sigma_w}, sigma_b={sigma_b}: f(q_star) = {fq} (theory/meanfield.md (MF.1))")

    # moments of d = phi'(h)^2 (MF.3a: chi1 = sigma_w^2 mu_1)
    mu, mu_err = np.empty(kmax), np.empty(kmax)
    for k in range(1, kmax + 1):
        mu[k - 1], mu_err[k - 1] = _expect(tally, lambda h, p=2 * k: dev(h) ** p, q, nl.kinks)
    chi1 = float(sw2 * mu[0])
    chi1_err = float(sw2 * mu_err[0])

    # slope of the length map, phi''-free (Stein): d/dq E[phi(sqrt q z)^2] = E[u phi phi'] / q
    e, chi_q_err = _expect(tally, lambda h: h * ev(h) * dev(h) / q, q, nl.kinks)
    chi_q, chi_q_err = sw2 * e, sw2 * chi_q_err
    if chi_q > 1.0 + 1e-9:
        raise ValueError(
            f"q_star={q} is an unstable fixed point of the length map of phi={nl} with "
            f"sigma_w={sigma_w}, sigma_b={sigma_b} (slope {chi_q} > 1)")

    # correlation map (MF.3b)
    c_its = c_calls = 0
    c_residual = 0.0
    chi_c_err = chi1_err
    if chi1 <= 1.0 + 1e-12:
        c_star, chi_c, c_solver = 1.0, chi1, "ordered"
    else:
        c_star, chi_c, chi_c_err, c_solver, c_its, c_calls, c_residual = _solve_c_star(
            tally, nl, ev, dev, sw2, sigma_b, q, chi1)

    diag = MeanFieldDiagnostics(
        q_solver=q_solver, q_iterations=q_its, q_function_calls=q_calls, q_residual=q_residual,
        c_solver=c_solver, c_iterations=c_its, c_function_calls=c_calls, c_residual=c_residual,
        mu_error=mu_err, chi1_error=chi1_err, chi_q_error=chi_q_err, chi_c_error=chi_c_err,
        quad_failures=tally.failures)
    return MeanField(phi=nl, sigma_w=sigma_w, sigma_b=sigma_b, q_star=q, chi1=chi1,
                     chi_q=chi_q, c_star=c_star, chi_c=chi_c, xi_q=_depth_scale(chi_q, chi_q_err),
                     xi_c=_depth_scale(chi_c, chi_c_err), mu=mu, diagnostics=diag)


def _solve_c_star(tally, nl, ev, dev, sw2, sigma_b, q, chi1):
    """The chaotic fixed point c* < 1 of the correlation map, by brentq on the secant form.

    f_c(c) = 1 - sigma_w^2 D(c) / q*, D(c) = E[(phi(u_1) - phi(u_2))^2] / 2 (because
    f_c(1) = 1 at q*), so G(c) = (c - f_c(c)) / (c - 1)... written without cancellation as
    G(c) = 1 - sigma_w^2 D(c) / (q* (1 - c)) = 1 - (secant slope of f_c from c to 1).
    f_c is convex on [0, 1], so G decreases from G(0) = f_c(0) >= 0 to G(1-) = 1 - chi1 < 0:
    one root, c* (theory/meanfield.md (MF.3b')).
    """
    vp, vd = nl.phi, nl.dphi
    e0, _ = _expect(tally, ev, q, nl.kinks)
    g0 = (sw2 * e0 * e0 + sigma_b**2) / q
    if g0 <= 1e-14:
        c_star, c_solver, its, calls = 0.0, "zero", 0, 0
    else:
        def G(c):
            if c >= 1.0 - 1e-12:
                return 1.0 - chi1
            inv = 1.0 / (2.0 * (1.0 - c))
            d, _ = _expect2(tally, lambda h1, h2: (vp(h1) - vp(h2)) ** 2 * inv,
                            lambda h1, h2: (ev(h1) - ev(h2)) ** 2 * inv, q, c, nl.kinks)
            return 1.0 - sw2 * d / q

        c_star, res = optimize.brentq(G, 0.0, 1.0, xtol=1e-13, rtol=1e-13, full_output=True)
        c_solver, its, calls = "brentq", res.iterations, res.function_calls
    # residual of the plain map (MF.3b) and the slope there
    e12, _ = _expect2(tally, lambda h1, h2: vp(h1) * vp(h2), lambda h1, h2: ev(h1) * ev(h2),
                      q, c_star, nl.kinks)
    residual = abs((sw2 * e12 + sigma_b**2) / q - c_star)
    d12, err = _expect2(tally, lambda h1, h2: vd(h1) * vd(h2), lambda h1, h2: dev(h1) * dev(h2),
                        q, c_star, nl.kinks)
    return c_star, sw2 * d12, sw2 * err, c_solver, its, calls, residual


# ----------------------------------------------------------------------------------------
# the critical line chi1 = 1 (MF.3d)
# ----------------------------------------------------------------------------------------

def _critical_at(tally, nl, q):
    """(sigma_w, sigma_b^2, error of sigma_b^2) on the critical line with fixed point q.

    chi1 = 1 fixes sigma_w^2 = 1 / mu_1(q); q = f(q) then gives
    sigma_b^2 = (q mu_1 - E[phi^2]) / mu_1, the numerator taken as one expectation
    E[q phi'^2 - phi^2] (MF.3d).
    """
    ev, dev = _scalar_funcs(nl)
    mu1, _ = _expect(tally, lambda h: dev(h) ** 2, q, nl.kinks)
    if not mu1 > 0.0:
        raise ValueError(f"phi={nl} has phi' = 0 almost surely at q={q}: chi1 = 0 for every sigma_w")
    num, err = _expect(tally, lambda h: q * dev(h) ** 2 - ev(h) ** 2, q, nl.kinks)
    return 1.0 / math.sqrt(mu1), num / mu1, (err + 1e-13 * q) / mu1


def critical_point(phi, q_star):
    """(sigma_w, sigma_b) on the critical line chi1 = 1 whose fixed point is ``q_star``.

    Parameters
    ----------
    phi : str or Nonlinearity
    q_star : float
        The fixed point q* > 0 wanted.

    Returns
    -------
    (sigma_w, sigma_b) : tuple of float
        sigma_w = mu_1(q*)^(-1/2) and sigma_b^2 = q* - sigma_w^2 E[phi(sqrt(q*) z)^2]
        (theory/meanfield.md (MF.3d)).

    Raises
    ------
    ValueError
        If no sigma_b >= 0 does it (sigma_b^2 would be negative beyond its quadrature error).

    Examples
    --------
    >>> import rmtchain
    >>> sw, sb = rmtchain.critical_point("relu", 0.5)
    >>> round(sw**2, 12), sb
    (2.0, 0.0)
    """
    nl = get_phi(phi)
    q = _positive_q("q_star", q_star)
    sw, sb2, err = _critical_at(_Tally(), nl, q)
    if _is_homogeneous(nl):   # f(q) = q E[phi(z)^2] / E[phi'(z)^2] = q: sigma_b = 0 exactly
        return sw, 0.0
    if sb2 < -err:
        raise ValueError(
            f"phi={nl} has no critical point with q_star={q}: chi1 = 1 needs sigma_w = {sw} and "
            f"then sigma_b^2 = q* - sigma_w^2 E[phi^2] = {sb2} < 0 (theory/meanfield.md (MF.3d))")
    return sw, math.sqrt(max(sb2, 0.0))


def _is_homogeneous(nl):
    """phi(a h) = a phi(h) for a > 0 (linear, relu, leaky_relu): f(q)/q does not depend on q."""
    ev = _scalar_funcs(nl)[0]
    r = [gaussian_expectation(lambda h: ev(h) ** 2, q, nl.kinks) / q for q in (0.25, 1.0, 4.0)]
    return max(r) - min(r) <= 1e-12 * max(r)


def critical_sigma_w(phi, sigma_b):
    """The sigma_w at which chi1 = 1 (edge of chaos) for bias scale ``sigma_b``.

    Parameters
    ----------
    phi : str or Nonlinearity
    sigma_b : float
        Bias standard deviation, finite and >= 0.

    Returns
    -------
    float
        sigma_w such that ``mean_field(phi, sigma_w, sigma_b).chi1 == 1`` (to ~1e-12), with
        q* the fixed point the rule (MF.2) selects.

    Raises
    ------
    ValueError
        Where the critical line does not reach this sigma_b with a finite nonzero q*:
        positively homogeneous phi (relu, leaky_relu, linear) with sigma_b > 0 (q* is
        infinite there), or tanh-like phi with sigma_b = 0 (q* -> 0 as sigma_w -> 1/phi'(0)).

    Notes
    -----
    The critical line is parametrised by q* (MF.3d): sigma_w(q) = mu_1(q)^(-1/2),
    sigma_b^2(q) = q - sigma_w(q)^2 E[phi^2]. We solve sigma_b^2(q) = sigma_b^2 for q by
    brentq in log q (bracketed on a grid over [1e-8, 1e6]), which is equivalent to a brentq over
    sigma_w with q* solved inside but needs one quadrature pair per step, and then check that
    the rule (MF.2) selects that q at (sigma_w, sigma_b).

    Examples
    --------
    >>> import rmtchain
    >>> round(rmtchain.critical_sigma_w("tanh", 0.05), 5)
    1.12254
    >>> round(rmtchain.critical_sigma_w("relu", 0.0) ** 2, 12)
    2.0
    """
    nl = get_phi(phi)
    _, sigma_b = check_sigmas(1.0, sigma_b)
    tally = _Tally()
    if _is_homogeneous(nl):
        if sigma_b > 0:
            raise ValueError(
                f"phi={nl} is positively homogeneous: with sigma_b={sigma_b} > 0 its fixed "
                f"point at chi1 = 1 is q* = infinity, so there is no critical sigma_w; the "
                f"critical point is sigma_b = 0 (theory/meanfield.md (MF.3d))")
        return _critical_at(tally, nl, 1.0)[0]
    target = sigma_b * sigma_b

    def S(logq):
        _, sb2, _ = _critical_at(tally, nl, math.exp(logq))
        return sb2 - target

    grid = np.linspace(math.log(1e-8), math.log(1e6), 43)
    vals = [S(x) for x in grid]
    for i in range(len(grid) - 1):
        if not (vals[i] < 0.0 <= vals[i + 1] or vals[i] > 0.0 >= vals[i + 1]):
            continue
        if vals[i + 1] == 0.0:
            logq = grid[i + 1]
        else:
            logq = optimize.brentq(S, grid[i], grid[i + 1], xtol=1e-15, rtol=1e-15)
        q = math.exp(logq)
        sw = _critical_at(tally, nl, q)[0]
        sol = _q_star_cached(nl, sw, sigma_b)
        if sol.q is not None and abs(sol.q - q) <= 1e-8 * q:
            return sw
    ev, dev = _scalar_funcs(nl)
    hint = ""
    if sigma_b == 0.0 and ev(0.0) == 0.0 and dev(0.0) != 0.0:
        hint = (f"; at sigma_b = 0 the critical line ends at sigma_w = 1/|phi'(0)| = "
                f"{1.0 / abs(dev(0.0))} with q* = 0, where there is no nonzero fixed point")
    raise ValueError(
        f"phi={nl} has no critical sigma_w at sigma_b={sigma_b} with a nonzero fixed point q* "
        f"in [1e-8, 1e6]{hint} (theory/meanfield.md (MF.3d))")
