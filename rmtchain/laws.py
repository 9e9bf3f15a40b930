"""Closed-form limit laws of lambda, the eigenvalues of J J^T (normalised trace).

Three laws have closed forms (theory/laws.md):

- ``MarchenkoPastur(ratio, scale)``: one Gaussian layer, J = W (LAW.1)-(LAW.5);
- ``FussCatalan(depth, scale)``: a linear chain of ``depth`` square Gaussian layers
  (LAW.6)-(LAW.12);
- ``PointMass(location)``: a linear chain of orthogonal layers (LAW.13).

Each is a frozen dataclass in the style of ``scipy.stats``: the public methods (``pdf``,
``cdf``, ``moments``, ``moment``) validate and broadcast, the private ``_pdf``, ``_cdf`` and
``_moments`` hold the formulas and see only valid input. ``pdf`` is the density of the
absolutely continuous part; ``atoms`` lists the point masses; ``cdf`` is P(lambda <= lam) and
includes the atoms.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.special import zeta

from ._rng import check_count

__all__ = ["FussCatalan", "MarchenkoPastur", "PointMass"]

_EPS = np.finfo(float).eps
_SMALLEST = np.nextafter(0.0, 1.0)
#: below these arguments the series of log(sin y / y), (y cot y - 1) / y^2 are used
_LOG_SINC_CUT = 0.5
_SERIES_CUT = 0.05
#: iteration cap of the safeguarded Newton solver (converges in 4-11 steps in practice)
_MAXITER = 200


# --------------------------------------------------------------------------- validation
def _positive(name, value, *, allow_zero=False):
    """A finite real > 0 (>= 0 with ``allow_zero``) as float, else ValueError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def _as_lam(lam):
    """``lam`` as a float array; ValueError unless real, numeric and NaN-free."""
    if isinstance(lam, (str, bytes)):
        raise ValueError(f"lam must be a real number or array of real numbers, got {lam!r}")
    try:
        arr = np.asarray(lam)
    except Exception as exc:  # ragged nested sequences and the like
        raise ValueError(f"lam must be a real number or array of real numbers: {exc}") from None
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise ValueError(
            f"lam must be a real number or array of real numbers, got dtype {arr.dtype}")
    arr = arr.astype(float)
    if np.isnan(arr).any():
        raise ValueError("lam must not contain NaN")
    return arr


def _exact_float(value):
    """float(Fraction) correctly rounded; inf when it overflows."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


# --------------------------------------------------------------------------- base class
class _Law:
    """Public methods shared by every law; subclasses write ``_pdf``, ``_cdf``, ``_moments``.

    ``_pdf(x)`` and ``_cdf(x)`` receive a float array of lam values with no NaN;
    ``_moments(kmax)`` a validated int and returns m_1..m_kmax.
    """

    def pdf(self, lam):
        """Density of the absolutely continuous part of the law at ``lam``.

        Parameters
        ----------
        lam : float or array_like of float
            Points (any real, +-inf allowed; NaN is an error).

        Returns
        -------
        float or ndarray
            Same shape as ``lam``. Atoms are not included (see ``atoms``); the density is
            0 outside ``support`` and may be +inf at an edge where it diverges.

        Raises
        ------
        ValueError
            If ``lam`` is not real and numeric, or contains NaN.
        """
        x = _as_lam(lam)
        return self._pdf(x)[()]

    def cdf(self, lam):
        """Distribution function P(lambda <= lam), atoms included (right-continuous).

        Parameters
        ----------
        lam : float or array_like of float
            Points (any real, +-inf allowed; NaN is an error).

        Returns
        -------
        float or ndarray
            Same shape as ``lam``, non-decreasing from 0 to 1.

        Raises
        ------
        ValueError
            If ``lam`` is not real and numeric, or contains NaN.
        """
        x = _as_lam(lam)
        return np.clip(self._cdf(x), 0.0, 1.0)[()]

    def moments(self, kmax):
        """Moments m_k = E[lambda^k] (normalised trace of (J J^T)^k), k = 1..kmax.

        Parameters
        ----------
        kmax : int
            Highest order (>= 1).

        Returns
        -------
        ndarray, shape (kmax,)
            m_1, ..., m_kmax, correctly rounded from exact rational arithmetic (inf past
            the float range).

        Raises
        ------
        ValueError
            If ``kmax`` is not an integer >= 1.
        """
        kmax = check_count("kmax", kmax)
        return np.array(self._moments(kmax), dtype=float)

    def moment(self, k):
        """The single moment m_k = E[lambda^k] (k >= 0; m_0 = 1).

        Raises
        ------
        ValueError
            If ``k`` is not an integer >= 0.
        """
        k = check_count("k", k, minimum=0)
        if k == 0:
            return 1.0
        return float(self._moments(k)[-1])

    @property
    def mean(self):
        """m_1 = E[lambda]."""
        return float(self._moments(1)[0])


# --------------------------------------------------------------------------- Marchenko-Pastur
@dataclass(frozen=True)
class MarchenkoPastur(_Law):
    """Marchenko-Pastur law: eigenvalues of W W^T for one Gaussian layer.

    W has shape (n_1, n_0) and i.i.d. entries N(0, sigma^2 / n_0) (the chain convention,
    J = W, one layer from width n_0 to n_1); lambda is an eigenvalue of the n_1 x n_1 matrix
    W W^T, counted with the normalised trace tr(.)/n_1, as n_0, n_1 -> infinity with
    n_1 / n_0 -> ``ratio``.

    Parameters
    ----------
    ratio : float
        c = n_1 / n_0 = n_out / n_in, finite and > 0. For c > 1, W W^T has rank n_0 < n_1
        and the law has an atom of mass 1 - 1/c at 0.
    scale : float
        sigma^2, the weight variance times the fan-in (finite, > 0); it multiplies lambda.

    Attributes
    ----------
    support : (float, float)
        Edges of the bulk, scale (1 -+ sqrt(c))^2 (LAW.2); the atom is in ``atoms``.
    atoms : list of (float, float)
        [(0.0, 1 - 1/c)] when c > 1, else [].

    Notes
    -----
    Setting theory/laws.md (LAW.1); edges and atom (LAW.2); density theory/laws.md (LAW.3);
    distribution function theory/laws.md (LAW.4); moments, the Narayana polynomials,
    theory/laws.md (LAW.5). The normalisation is that of ../shared/THEORY.md
    (Conventions): m_1 = sigma^2 whatever c.

    References
    ----------
    V. A. Marchenko and L. A. Pastur, Math. USSR Sb. 1, 457 (1967).
    J. Pennington, S. Schoenholz, S. Ganguli, arXiv:1711.04735 (the Wishart S-transform).

    Examples
    --------
    >>> from rmtchain.laws import MarchenkoPastur
    >>> mp = MarchenkoPastur(ratio=0.25)
    >>> mp.support
    (0.25, 2.25)
    >>> mp.moments(3)
    array([1.    , 1.25  , 1.8125])
    >>> MarchenkoPastur(ratio=4.0).atoms
    [(0.0, 0.75)]
    >>> float(MarchenkoPastur(ratio=4.0).cdf(0.0))
    0.75
    """

    ratio: float = 1.0
    scale: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "ratio", _positive("ratio", self.ratio))
        object.__setattr__(self, "scale", _positive("scale", self.scale))

    @property
    def support(self):
        r = math.sqrt(self.ratio)
        return (self.scale * (1.0 - r) ** 2, self.scale * (1.0 + r) ** 2)

    @property
    def atoms(self):
        if self.ratio > 1.0:
            return [(0.0, 1.0 - 1.0 / self.ratio)]
        return []

    def _pdf(self, lam):
        # (LAW.3) in units of scale: x = lam / sigma^2
        c = self.ratio
        lo, hi = (1.0 - math.sqrt(c)) ** 2, (1.0 + math.sqrt(c)) ** 2
        inside, xi = self._bulk(lam)
        out = np.zeros_like(lam)
        out[inside] = np.sqrt((hi - xi) * (xi - lo)) / (2.0 * np.pi * c * xi) / self.scale
        if lo == 0.0:  # c == 1: the density diverges like lam^(-1/2) at 0
            out[lam == 0.0] = np.inf
        return out

    def _bulk(self, lam):
        """Mask of lam strictly inside ``support`` and lam / scale there, kept inside the
        unit-scale bulk whatever the rounding of the division."""
        c = self.ratio
        lo, hi = (1.0 - math.sqrt(c)) ** 2, (1.0 + math.sqrt(c)) ** 2
        slo, shi = self.support
        inside = (lam > slo) & (lam < shi)
        return inside, np.clip(lam[inside] / self.scale, lo, hi)

    def _cdf(self, lam):
        # (LAW.4): lam = scale (1 + c + 2 sqrt(c) cos theta), theta in [0, pi]
        c = self.ratio
        r = math.sqrt(c)
        lo, hi = (1.0 - r) ** 2, (1.0 + r) ** 2
        cont = min(1.0, 1.0 / c)  # mass of the bulk
        out = np.where(lam >= self.support[1], cont, 0.0)
        inside, xi = self._bulk(lam)
        sin_t = np.sqrt((hi - xi) * (xi - lo)) / (2.0 * r)
        cos_t = (xi - 1.0 - c) / (2.0 * r)
        theta = np.arctan2(sin_t, cos_t)
        half = 0.5 * theta
        k = abs(1.0 - r) / (1.0 + r)
        big_i = ((1.0 + c) * theta - 2.0 * r * sin_t
                 - 2.0 * abs(1.0 - c) * np.arctan2(k * np.sin(half), np.cos(half))) / (4.0 * c)
        out[inside] = cont - (2.0 / np.pi) * big_i
        if c > 1.0:
            out = out + np.where(lam >= 0.0, 1.0 - 1.0 / c, 0.0)
        return out

    def _moments(self, kmax):
        # (LAW.5): m_k = scale^k sum_{j=1}^k N(k, j) c^(j-1), exact in rationals
        c, s = Fraction(self.ratio), Fraction(self.scale)
        out = []
        for k in range(1, kmax + 1):
            poly = Fraction(0)
            for j in range(k, 0, -1):  # Horner in c
                poly = poly * c + Fraction(math.comb(k, j) * math.comb(k, j - 1), k)
            out.append(_exact_float(poly * s**k))
        return out


# --------------------------------------------------------------------------- Fuss-Catalan
#: log(sin y / y) = -sum_n zeta(2n)/n (y/pi)^(2n); 14 terms reach 1e-17 relative at y = 0.5
_LOG_SINC_COEF = np.array([-float(zeta(2 * n)) / n / math.pi ** (2 * n)
                           for n in range(14, 0, -1)])


def _log_sinc(y):
    """log(sin y / y) for 0 <= y <= pi/2, to ~1e-15 relative (exact 0 at y = 0)."""
    y = np.asarray(y, dtype=float)
    y2 = y * y
    series = np.polyval(_LOG_SINC_COEF, y2) * y2
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = np.log(np.sin(y) / y)
    return np.where(y < _LOG_SINC_CUT, series, direct)


def _cot_ratio(y):
    """(y cot y - 1) / y^2 = (d/dy log(sin y / y)) / y, regular at 0 (= -1/3)."""
    y = np.asarray(y, dtype=float)
    y2 = y * y
    series = -(1.0 / 3 + y2 * (1.0 / 45 + y2 * (2.0 / 945 + y2 / 4725)))
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = (y / np.tan(y) - 1.0) / y2
    return np.where(y < _SERIES_CUT, series, direct)


def _newton_increasing(f, fprime, target, lo, hi, t0, noise):
    """Solve f(t) = target for increasing f on [lo, hi], elementwise (safeguarded Newton).

    A Newton step that leaves the current bracket is replaced by bisection, so every point
    converges. A point is done when its step or bracket is below 4 eps relative, or when
    |f(t) - target| is below ``noise`` (the rounding level of f, past which Newton steps
    only chase rounding).
    """
    t = np.clip(t0, lo, hi)
    lo, hi = lo.copy(), hi.copy()
    for _ in range(_MAXITER):
        val = f(t) - target
        lo = np.where(val < 0.0, t, lo)
        hi = np.where(val > 0.0, t, hi)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            newton = t - val / fprime(t)
        ok = (newton >= lo) & (newton <= hi)  # False for NaN
        converged = np.abs(val) <= noise
        step = np.where(ok, newton, np.where(converged, t, 0.5 * (lo + hi)))
        tol = 4.0 * _EPS * np.maximum(np.abs(t), np.finfo(float).tiny)
        done = converged | (np.abs(step - t) <= tol) | (hi - lo <= tol)
        t = step
        if done.all():
            break
    return t


@dataclass(frozen=True)
class FussCatalan(_Law):
    """Fuss-Catalan law of order ``depth``: lambda for a linear Gaussian chain.

    J = W_L ... W_1 with L = ``depth`` square N x N Gaussian matrices, entries N(0, 1/N)
    (sigma_w = 1), N -> infinity; lambda is an eigenvalue of J J^T. ``scale`` multiplies
    lambda: a linear Gaussian chain with weight scale sigma_w has
    ``scale = sigma_w**(2 * depth)``.

    Parameters
    ----------
    depth : int
        L >= 1, the number of Gaussian factors. L = 1 is ``MarchenkoPastur(1.0)``.
    scale : float
        Multiplies lambda (finite, > 0).

    Attributes
    ----------
    support : (float, float)
        (0, scale (L+1)^(L+1) / L^L) (LAW.7).
    atoms : list
        Always [].

    Notes
    -----
    Moments m_k = scale^k binom((L+1)k, k) / (Lk + 1), theory/laws.md (LAW.6); support
    theory/laws.md (LAW.7). The density has the parametric form theory/laws.md (LAW.8),
    (LAW.9): for 0 < phi < pi/(L+1),

        lambda(phi) = sin((L+1)phi)^(L+1) / (sin(phi) sin(L phi)^L),
        rho(lambda(phi)) = sin(phi)^2 sin(L phi)^(L-1) / (pi sin((L+1)phi)^L)

    (in units of scale), and lambda(phi) decreases from the edge to 0. ``pdf`` solves
    lambda(phi) = lam by safeguarded Newton in phi^2 near the upper edge and in log of
    pi/(L+1) - phi near 0 (theory/laws.md (LAW.11)), so the density is accurate down to the
    smallest positive float, where it diverges like lam^(1/(L+1) - 1) (theory/laws.md
    (LAW.10)). The distribution function is the closed form theory/laws.md (LAW.12),

        F(lambda(phi)) = 1 - ((L+1) phi - L sin(phi) sin((L+1)phi) / sin(L phi)) / pi.

    References
    ----------
    K. A. Penson and K. Zyczkowski, arXiv:1103.3453 (moments, edge, density for L = 2).
    U. Haagerup and S. Moller, arXiv:1211.4457 (the parametrisation of the density).
    J. Pennington, S. Schoenholz, S. Ganguli, arXiv:1711.04735 (linear Gaussian chains).

    Examples
    --------
    >>> from rmtchain.laws import FussCatalan
    >>> fc = FussCatalan(2)
    >>> fc.moments(4)
    array([ 1.,  3., 12., 55.])
    >>> fc.support
    (0.0, 6.75)
    >>> float(fc.cdf(6.75)), float(fc.cdf(0.0))
    (1.0, 0.0)
    >>> bool(abs(FussCatalan(1).pdf(1.0) - 0.2756644477108960) < 1e-14)
    True
    """

    depth: int
    scale: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "depth", check_count("depth", self.depth))
        object.__setattr__(self, "scale", _positive("scale", self.scale))

    @property
    def _edge(self):
        """(L+1)^(L+1) / L^L = (L+1) (1 + 1/L)^L (LAW.7), in units of scale."""
        L = self.depth
        if L <= 64:  # correctly rounded
            return float(Fraction((L + 1) ** (L + 1), L**L))
        return (L + 1) * math.exp(L * math.log1p(1.0 / L))

    @property
    def support(self):
        return (0.0, self.scale * self._edge)

    @property
    def atoms(self):
        return []

    def _moments(self, kmax):
        # (LAW.6)
        L, s = self.depth, Fraction(self.scale)
        return [_exact_float(Fraction(math.comb((L + 1) * k, k), L * k + 1) * s**k)
                for k in range(1, kmax + 1)]

    # -- the parametrisation (LAW.8)-(LAW.12), in units of scale ------------------------
    def _log_x_phi(self, phi):
        """log(lambda(phi) / edge), written for small phi (0 <= phi <= a/2)."""
        L = self.depth
        return (L + 1) * _log_sinc((L + 1) * phi) - _log_sinc(phi) - L * _log_sinc(L * phi)

    def _log_x_eps(self, eps):
        """log lambda(a - eps), written for small eps = a - phi (0 < eps <= a/2)."""
        L = self.depth
        a = np.pi / (L + 1)
        return ((L + 1) * np.log(np.sin((L + 1) * eps)) - np.log(np.sin(a - eps))
                - L * np.log(np.sin(a + L * eps)))

    def _solve(self, x):
        """(phi, eps, upper) with eps = pi/(L+1) - phi and lambda(phi) = x, elementwise.

        x must lie in (0, edge). Near the edge (``upper``) the unknown is t = phi^2 and the
        equation log(lambda(phi) / edge) = log1p((x - edge) / edge), close to linear in t
        (slope -L(L+1)/2) and free of the rounding of log(edge); near 0 the unknown is
        u = log eps and the equation log lambda = log x, close to (L+1) u. Each unknown is
        the small one on its side, so it is resolved to full relative precision (LAW.11).
        """
        L = self.depth
        a = np.pi / (L + 1)
        edge = self._edge
        with np.errstate(divide="ignore"):  # -inf for x below edge * eps: the lower side
            logrel = np.log1p((x - edge) / edge)
        upper = logrel >= float(self._log_x_phi(np.array(a / 2)))
        logx = np.log(x)
        # rounding level of log lambda(phi): eps times the size of its terms
        noise = 4.0 * _EPS * (np.abs(logx) + L + 1)
        phi = np.empty_like(x)
        eps = np.empty_like(x)
        if upper.any():
            target = -logrel[upper]
            noise_u = 4.0 * _EPS * (target + 1.0)
            t_hi = np.full_like(target, (a / 2) ** 2)

            def f(t):
                return -self._log_x_phi(np.sqrt(t))

            def fprime(t):  # -(d log lambda / d phi) / (2 phi)
                p = np.sqrt(t)
                return -0.5 * ((L + 1) ** 3 * _cot_ratio((L + 1) * p) - _cot_ratio(p)
                               - L**3 * _cot_ratio(L * p))

            t0 = 2.0 * target / (L * (L + 1))
            t = _newton_increasing(f, fprime, target, np.zeros_like(target), t_hi, t0, noise_u)
            phi[upper] = np.sqrt(t)
            eps[upper] = a - phi[upper]
        lower = ~upper
        if lower.any():
            target = logx[lower]
            u_hi = np.full_like(target, math.log(a / 2))
            # log lambda ~ (L+1) log((L+1) eps / sin a) as eps -> 0; then widen down
            u0 = target / (L + 1) + math.log(math.sin(a) / (L + 1))
            u_lo = np.minimum(u0, u_hi) - 1.0
            while True:
                with np.errstate(divide="ignore", under="ignore"):
                    short = self._log_x_eps(np.exp(u_lo)) >= target
                if not short.any():
                    break
                u_lo = np.where(short, 2.0 * u_lo - u_hi, u_lo)

            def g(u):
                return self._log_x_eps(np.exp(u))

            def gprime(u):  # eps d log lambda / d eps
                e = np.exp(u)
                return e * ((L + 1) ** 2 / np.tan((L + 1) * e) + 1.0 / np.tan(a - e)
                            - L**2 / np.tan(a + L * e))

            u = _newton_increasing(g, gprime, target, u_lo, u_hi, u0, noise[lower])
            eps[lower] = np.exp(u)
            phi[lower] = a - eps[lower]
        return phi, eps, upper

    def _interior(self, lam):
        """Mask of 0 < lam < upper edge and the solved (phi, eps, upper) there."""
        inside = (lam > 0.0) & (lam < self.support[1])
        # lam / scale, kept below the unit-scale edge whatever the rounding of the division
        # (and above 0 where it underflows)
        x = np.clip(lam[inside] / self.scale, _SMALLEST, np.nextafter(self._edge, 0.0))
        phi, eps, upper = self._solve(x)
        return inside, phi, eps, upper

    def _pdf(self, lam):
        # (LAW.9) as log rho, each side in its own small variable
        L = self.depth
        a = np.pi / (L + 1)
        inside, phi, eps, upper = self._interior(lam)
        logrho = np.empty_like(phi)
        p = phi[upper]
        logrho[upper] = (np.log(p) + (L - 1) * math.log(L) - L * math.log(L + 1)
                         + 2.0 * _log_sinc(p) + (L - 1) * _log_sinc(L * p)
                         - L * _log_sinc((L + 1) * p))
        e = eps[~upper]
        logrho[~upper] = (2.0 * np.log(np.sin(a - e)) + (L - 1) * np.log(np.sin(a + L * e))
                          - L * np.log(np.sin((L + 1) * e)))
        out = np.zeros_like(lam)
        with np.errstate(over="ignore"):
            out[inside] = np.exp(logrho - math.log(np.pi)) / self.scale
        out[lam == 0.0] = np.inf  # (LAW.10): rho ~ lam^(1/(L+1) - 1)
        return out

    def _cdf(self, lam):
        # (LAW.12), written without cancellation on each side
        L = self.depth
        a = np.pi / (L + 1)
        inside, phi, eps, upper = self._interior(lam)
        f = np.empty_like(phi)
        p = phi[upper]
        ratio = _log_sinc(p) + _log_sinc((L + 1) * p) - _log_sinc(L * p)
        f[upper] = 1.0 + (L + 1) * p * np.expm1(ratio) / np.pi
        e = eps[~upper]
        f[~upper] = ((L + 1) * e + L * np.sin(a - e) * np.sin((L + 1) * e)
                     / np.sin(a + L * e)) / np.pi
        out = np.where(lam >= self.support[1], 1.0, 0.0)
        out[inside] = f
        return out


# --------------------------------------------------------------------------- point mass
@dataclass(frozen=True)
class PointMass(_Law):
    """All of the mass at one point: the law of lambda for a linear orthogonal chain.

    A square (constant-width) chain J = sigma_w^L Q_L ... Q_1 with Q_l Haar orthogonal has
    J J^T = sigma_w^(2L) I exactly, at every width (theory/laws.md (LAW.13)):
    ``PointMass(sigma_w**(2 * depth))``.

    Parameters
    ----------
    location : float
        Where the mass sits (finite, >= 0).

    Attributes
    ----------
    support : (float, float)
        (location, location).
    atoms : list of (float, float)
        [(location, 1.0)].

    Notes
    -----
    There is no absolutely continuous part: ``pdf`` is 0 everywhere (the atom is reported
    in ``atoms``), ``cdf`` is the step 1[lam >= location], m_k = location^k
    (theory/laws.md (LAW.13)). Rectangular Haar partial isometries add exact zeros: the
    law is then not a single point.

    References
    ----------
    J. Pennington, S. Schoenholz, S. Ganguli, arXiv:1711.04735 (dynamical isometry).

    Examples
    --------
    >>> from rmtchain.laws import PointMass
    >>> pm = PointMass(1.1 ** 20)
    >>> pm.cdf([6.0, 7.0]).tolist()
    [0.0, 1.0]
    >>> float(pm.pdf(pm.location))
    0.0
    """

    location: float

    def __post_init__(self):
        object.__setattr__(self, "location",
                           _positive("location", self.location, allow_zero=True))

    @property
    def support(self):
        return (self.location, self.location)

    @property
    def atoms(self):
        return [(self.location, 1.0)]

    def _pdf(self, lam):
        return np.zeros_like(lam)

    def _cdf(self, lam):
        return np.where(lam >= self.location, 1.0, 0.0)

    def _moments(self, kmax):
        # (LAW.13)
        m = Fraction(self.location)
        return [_exact_float(m**k) for k in range(1, kmax + 1)]
