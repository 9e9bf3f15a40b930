"""Mean-field length map and its fixed point q* (Poole et al. 1606.05340).

Only what the sampler needs lives here for now: the length map (MF.1) and the choice of the
input length ``q0`` (MF.2). theory/meanfield.md derives both.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import integrate, optimize

from .nonlinearities import get_phi

__all__ = ["gaussian_expectation", "length_map", "solve_q_star"]

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


def length_map(phi, sigma_w, sigma_b, q):
    """The length map q -> sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2, theory/meanfield.md (MF.1)."""
    nl = get_phi(phi)
    ev = nl.phi if nl.code == -1 else (lambda h: float(nl.phi(h)))
    return sigma_w**2 * gaussian_expectation(lambda h: ev(h) ** 2, q, nl.kinks) + sigma_b**2


@functools.lru_cache(maxsize=256)
def _q_star_cached(phi, sigma_w, sigma_b):
    def g(logq):
        q = math.exp(logq)
        return length_map(phi, sigma_w, sigma_b, q) / q - 1.0

    # Identity map (every q is a fixed point): linear with sigma_w = 1, relu with 2, ...
    if abs(g(0.0)) < 1e-12 and abs(g(math.log(4.0))) < 1e-12:
        return None
    grid = np.linspace(math.log(1e-12), math.log(1e8), 61)
    vals = np.array([g(x) for x in grid])
    # Stable crossings (+ to -) between consecutive grid points whose |g| is above rounding.
    sig = [i for i in range(len(grid)) if abs(vals[i]) > _G_NOISE]
    brackets = [(i, j) for i, j in zip(sig[:-1], sig[1:]) if vals[i] > 0 > vals[j]]
    # start from q = 1 and follow the map's direction to the nearest stable fixed point
    i1 = int(np.searchsorted(grid, 0.0))
    if vals[i1] > 0:  # q grows from 1
        above = [b for b in brackets if b[1] >= i1]
        if not above:
            return None
        i, j = above[0]
    else:
        below = [b for b in brackets if b[0] <= i1]
        if not below:
            return None
        i, j = below[-1]
    root = optimize.brentq(g, grid[i], grid[j], xtol=1e-14, rtol=1e-14)
    return math.exp(root)


def solve_q_star(phi, sigma_w, sigma_b):
    """The stable nonzero fixed point q* of the length map reached from q = 1, or None.

    Returns None where q = 1 flows to 0 or to infinity or where every q is a fixed point
    (linear with sigma_w = 1, relu with sigma_w^2 = 2 and sigma_b = 0): theory/meanfield.md
    (MF.2).
    """
    nl = get_phi(phi)
    return _q_star_cached(nl, float(sigma_w), float(sigma_b))
