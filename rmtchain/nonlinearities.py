"""The nonlinearity registry: phi, phi' and phi'' usable inside numba kernels.

Built-in nonlinearities are dispatched by an integer ``code`` inside the cached kernels
(``_phi_dphi``/``_d2phi`` below); a user-registered nonlinearity supplies its own numba
functions and gets kernels compiled for it (see ``rmtchain._kernels.kernels_for``).

Conventions: theory/README.md (glossary); derivatives are tested against mpmath in
tests/test_nonlinearities.py.
"""

from __future__ import annotations

import cmath
import math
import numbers
import re
from dataclasses import dataclass, field

import numba
import numpy as np

from ._config import FASTMATH

__all__ = ["Nonlinearity", "analytic_derivatives", "get_phi", "register_phi", "registered_phis"]

_SELU_L = 1.0507009873554804934193349852946
_SELU_A = 1.6732632423543772848170429916717
_INV_SQRT_2PI = 0.3989422804014327
_INV_SQRT_2 = 0.7071067811865476
_TWO_OVER_SQRT_PI = 1.1283791670955126
_INV_SQRT_PI = 0.5641895835477563

LINEAR, TANH, HARDTANH, RELU, LEAKY_RELU, ERF, SIGMOID, SELU, GELU, SILU = range(10)
CUSTOM = -1


@numba.njit(cache=True, fastmath=FASTMATH)
def _sigmoid(h):
    if h >= 0.0:
        return 1.0 / (1.0 + math.exp(-h))
    e = math.exp(h)
    return e / (1.0 + e)


@numba.njit(cache=True, fastmath=FASTMATH)
def _dtanh(h):
    """tanh'(h) = 4 e / (1 + e)^2, e = exp(-2|h|): no cancellation in 1 - tanh^2 at large |h|."""
    e = math.exp(-2.0 * abs(h))
    return 4.0 * e / ((1.0 + e) * (1.0 + e))


@numba.njit(cache=True, fastmath=FASTMATH)
def _dsigmoid(h):
    """sigmoid'(h) = e / (1 + e)^2, e = exp(-|h|): accurate in both tails."""
    e = math.exp(-abs(h))
    return e / ((1.0 + e) * (1.0 + e))


@numba.njit(cache=True, fastmath=FASTMATH)
def _phi_dphi(code, a, h):
    """(phi(h), phi'(h)) for built-in ``code`` with parameter ``a``."""
    if code == LINEAR:
        return h, 1.0
    if code == TANH:
        return math.tanh(h), _dtanh(h)
    if code == HARDTANH:
        if h >= 1.0:
            return 1.0, 0.0
        if h <= -1.0:
            return -1.0, 0.0
        return h, 1.0
    if code == RELU:
        if h > 0.0:
            return h, 1.0
        return 0.0, 0.0
    if code == LEAKY_RELU:
        if h > 0.0:
            return h, 1.0
        return a * h, a
    if code == ERF:
        return math.erf(h), _TWO_OVER_SQRT_PI * math.exp(-h * h)
    if code == SIGMOID:
        return _sigmoid(h), _dsigmoid(h)
    if code == SELU:
        if h > 0.0:
            return _SELU_L * h, _SELU_L
        e = math.exp(h)
        return _SELU_L * _SELU_A * (e - 1.0), _SELU_L * _SELU_A * e
    if code == GELU:
        cdf = 0.5 * math.erfc(-h * _INV_SQRT_2)
        pdf = _INV_SQRT_2PI * math.exp(-0.5 * h * h)
        return h * cdf, cdf + h * pdf
    if code == SILU:
        s = _sigmoid(h)
        return h * s, s + h * _dsigmoid(h)
    return math.nan, math.nan


@numba.njit(cache=True, fastmath=FASTMATH)
def _d2phi(code, a, h):
    """phi''(h) for built-in ``code`` (0 on the linear pieces of kinked phi)."""
    if code == TANH:
        return -2.0 * math.tanh(h) * _dtanh(h)
    if code == ERF:
        return -2.0 * h * _TWO_OVER_SQRT_PI * math.exp(-h * h)
    if code == SIGMOID:
        return _dsigmoid(h) * (1.0 - 2.0 * _sigmoid(h))
    if code == SELU:
        if h > 0.0:
            return 0.0
        return _SELU_L * _SELU_A * math.exp(h)
    if code == GELU:
        return _INV_SQRT_2PI * math.exp(-0.5 * h * h) * (2.0 - h * h)
    if code == SILU:
        return _dsigmoid(h) * (2.0 + h * (1.0 - 2.0 * _sigmoid(h)))
    if code in (LINEAR, HARDTANH, RELU, LEAKY_RELU):
        return 0.0
    return math.nan


@numba.njit(cache=True, fastmath=FASTMATH)
def _eval_builtin(code, a, h, which, out):
    for i in range(h.size):
        if which == 2:
            out[i] = _d2phi(code, a, h[i])
        else:
            p, d = _phi_dphi(code, a, h[i])
            out[i] = p if which == 0 else d


@numba.njit(cache=True, error_model="numpy")
def _sech2_tanh(h):
    """sech(h)^2 and tanh(h) at complex h, with e = exp(-2 h sign(Re h)) so neither
    overflows nor cancels in either tail."""
    sgn = 1.0 if h.real >= 0.0 else -1.0
    e = cmath.exp(-2.0 * sgn * h)
    return 4.0 * e / ((1.0 + e) * (1.0 + e)), sgn * (1.0 - e) / (1.0 + e)


@numba.njit(cache=True, error_model="numpy")
def _sigmoid_derivs(h):
    """sigma and its first three derivatives at complex h (e = exp(-|h|) form)."""
    sgn = 1.0 if h.real >= 0.0 else -1.0
    e = cmath.exp(-sgn * h)
    s = 1.0 / (1.0 + e) if sgn > 0 else e / (1.0 + e)
    s1 = e / ((1.0 + e) * (1.0 + e))
    s2 = s1 * (1.0 - 2.0 * s)
    s3 = s2 * (1.0 - 2.0 * s) - 2.0 * s1 * s1
    return s, s1, s2, s3


#: erfc(x) at complex x (Re x >= 0): the power series of erf up to this |x|, the continued
#: fraction above it
_ERFC_SWITCH = 2.5


@numba.njit(cache=True, error_model="numpy")
def _cerfc(x):
    """erfc at complex x with Re x >= 0 (callers use erfc(-x) = 2 - erfc(x)), for the gelu
    of (FP.2b), where x stays near the real axis.

    |x| <= 2.5: erf(x) = 2 x exp(-x^2) / sqrt(pi) sum_n (2 x^2)^n / (2n+1)!! (Abramowitz
    and Stegun 7.1.6; positive terms on the real axis, the largest ~30, so ~1e-15
    absolute) and erfc = 1 - erf. Larger |x|: Laplace's continued fraction (A&S 7.1.14)
    erfc(x) = exp(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))) by the
    modified Lentz method, full relative precision in the right tail; NaN if 5000 terms
    do not converge (Re x below ~0.1 with |Im x| > 2.5, reached by (FP.2b) only for gelu at
    q >~ 3, where a Newton start then fails and that root is left to the node sum).
    """
    if abs(x) <= _ERFC_SWITCH:
        x2 = 2.0 * x * x
        term = 1.0 + 0j
        total = 1.0 + 0j
        n = 0
        while abs(term) > 1e-17 * abs(total) and n < 200:
            n += 1
            term = term * x2 / (2 * n + 1)
            total += term
        return 1.0 - _TWO_OVER_SQRT_PI * x * cmath.exp(-x * x) * total
    f = x
    c = x
    dl = 0j
    for n in range(1, 5000):
        a = 0.5 * n
        dl = x + a * dl
        if dl == 0:
            dl = 1e-300 + 0j
        c = x + a / c
        if c == 0:
            c = 1e-300 + 0j
        dl = 1.0 / dl
        delta = c * dl
        f *= delta
        if abs(delta - 1.0) <= 4.0 * 2.220446049250313e-16:
            return _INV_SQRT_PI * cmath.exp(-x * x) / f
    return complex(math.nan, math.nan)


@numba.njit(cache=True, error_model="numpy")
def _cderivs(code, h):
    """(ok, phi', phi'', phi''', phi'''') at complex h for the built-in analytic ``code``
    (selu: its h < 0 piece); ok is False (and the rest 0) for kinked and user phi. Overflow
    gives inf or NaN, which callers test with cmath.isfinite."""
    if code == TANH:
        s2, t = _sech2_tanh(h)
        return (True, s2, -2.0 * t * s2, s2 * (4.0 * t * t - 2.0 * s2),
                s2 * t * (16.0 * s2 - 8.0 * t * t))
    if code == ERF:
        d1 = _TWO_OVER_SQRT_PI * cmath.exp(-h * h)
        return (True, d1, -2.0 * h * d1, (4.0 * h * h - 2.0) * d1,
                (12.0 * h - 8.0 * h * h * h) * d1)
    if code == SIGMOID:
        s, s1, s2, s3 = _sigmoid_derivs(h)
        return True, s1, s2, s3, s3 * (1.0 - 2.0 * s) - 6.0 * s1 * s2
    if code == SELU:
        d = _SELU_L * _SELU_A * cmath.exp(h)
        return True, d, d, d, d
    if code == GELU:
        pdf = _INV_SQRT_2PI * cmath.exp(-0.5 * h * h)
        x = -h * _INV_SQRT_2
        cdf = 0.5 * _cerfc(x) if x.real >= 0.0 else 1.0 - 0.5 * _cerfc(-x)
        h2 = h * h
        return (True, cdf + h * pdf, pdf * (2.0 - h2), pdf * (h2 * h - 4.0 * h),
                pdf * (7.0 * h2 - h2 * h2 - 4.0))
    if code == SILU:
        s, s1, s2, s3 = _sigmoid_derivs(h)
        s4 = s3 * (1.0 - 2.0 * s) - 6.0 * s1 * s2
        return True, s + h * s1, 2.0 * s1 + h * s2, 3.0 * s2 + h * s3, 4.0 * s3 + h * s4
    return False, 0j, 0j, 0j, 0j


def analytic_derivatives(nl, h):
    """phi', phi'' and phi''' at one complex ``h`` for the built-in analytic
    nonlinearities (tanh, erf, sigmoid, gelu, silu; selu on its h < 0 piece), or None.

    Used by the singularity subtraction of the M-transform of d = phi'(h)^2
    (theory/free.md (FP.2b)), which needs the roots of phi'(h)^2 = w off the real axis; its
    numba kernel ``_cderivs`` is what the M-transform kernel calls.
    User-registered nonlinearities are float -> float and return None.

    Raises
    ------
    ValueError
        If ``nl`` is not a registered nonlinearity or ``h`` is not a number.
    """
    nl = get_phi(nl)
    if isinstance(h, (bool, np.bool_)) or not isinstance(h, numbers.Number):
        raise ValueError(f"h must be a real or complex number, got {h!r}")
    ok, p1, p2, p3, _ = _cderivs(nl.code, complex(h))
    return (complex(p1), complex(p2), complex(p3)) if ok else None


@dataclass(frozen=True)
class Nonlinearity:
    """A registered nonlinearity.

    Attributes
    ----------
    name : str
        Registry name (``"tanh"``, ``"leaky_relu"``, ...).
    param : float
        The parameter of a parametrised family (the negative slope of ``leaky_relu``); 0
        otherwise.
    kinks : tuple of float
        Points where phi' jumps; quadrature splits there (THEORY.md, "Kinked phi").
    code : int
        Kernel dispatch code; ``-1`` for user-registered nonlinearities.
    """

    name: str
    param: float = 0.0
    kinks: tuple = ()
    code: int = CUSTOM
    # compared by identity, so a re-registered name is a different nonlinearity to every cache
    _funcs: tuple = field(default=(), repr=False)

    def _evaluate(self, h, which):
        h = np.asarray(h, dtype=np.float64)
        if self.code != CUSTOM:
            flat = np.ascontiguousarray(h).ravel()
            out = np.empty_like(flat)
            _eval_builtin(self.code, self.param, flat, which, out)
            out = out.reshape(h.shape)
        else:
            f = self._funcs[which]
            out = np.array([f(float(v)) for v in h.ravel()], dtype=np.float64).reshape(h.shape)
        return out[()] if out.ndim == 0 else out

    def phi(self, h):
        """phi(h), elementwise."""
        return self._evaluate(h, 0)

    def dphi(self, h):
        """phi'(h), elementwise."""
        return self._evaluate(h, 1)

    def d2phi(self, h):
        """phi''(h), elementwise (0 on linear pieces; the kinks carry delta masses)."""
        return self._evaluate(h, 2)

    def __str__(self):
        return f"{self.name}({self.param:g})" if self.name == "leaky_relu" else self.name


_BUILTIN = {
    "linear": (LINEAR, ()),
    "tanh": (TANH, ()),
    "hardtanh": (HARDTANH, (-1.0, 1.0)),
    "relu": (RELU, (0.0,)),
    "leaky_relu": (LEAKY_RELU, (0.0,)),
    "erf": (ERF, ()),
    "sigmoid": (SIGMOID, ()),
    "selu": (SELU, (0.0,)),
    "gelu": (GELU, ()),
    "silu": (SILU, ()),
}
_CUSTOM: dict[str, Nonlinearity] = {}
LEAKY_RELU_DEFAULT_SLOPE = 0.01


def registered_phis():
    """Names of every registered nonlinearity, built-ins first."""
    return list(_BUILTIN) + list(_CUSTOM)


def get_phi(phi, *, slope=None):
    """Look up a nonlinearity.

    Parameters
    ----------
    phi : str or Nonlinearity
        A registered name; ``"leaky_relu(0.2)"`` sets the negative slope inline.
    slope : float, optional
        Negative slope for ``leaky_relu`` (default 0.01), in [0, 1).

    Raises
    ------
    ValueError
        If ``phi`` is not registered or ``slope`` is out of range.
    """
    if isinstance(phi, Nonlinearity):
        return phi
    if not isinstance(phi, str):
        raise ValueError(f"phi must be a registered name or a Nonlinearity, got {phi!r}")
    m = re.fullmatch(r"\s*leaky_relu\s*\(\s*([^)]*)\)\s*", phi)
    if m:
        try:
            slope = float(m.group(1))
        except ValueError:
            raise ValueError(f"phi: cannot read the leaky_relu slope in {phi!r}") from None
        phi = "leaky_relu"
    phi = phi.strip()
    if phi in _CUSTOM:
        return _CUSTOM[phi]
    if phi not in _BUILTIN:
        raise ValueError(f"phi must be one of {registered_phis()}, got {phi!r}")
    code, kinks = _BUILTIN[phi]
    param = 0.0
    if code == LEAKY_RELU:
        param = LEAKY_RELU_DEFAULT_SLOPE if slope is None else float(slope)
        if not (0.0 <= param < 1.0):
            raise ValueError(f"slope must be in [0, 1) for leaky_relu, got {slope}")
    elif slope is not None:
        raise ValueError(f"slope applies only to leaky_relu, not {phi!r}")
    return Nonlinearity(phi, param, kinks, code)


def register_phi(name, phi, dphi, d2phi, *, kinks=()):
    """Register a user nonlinearity.

    Parameters
    ----------
    name : str
        New registry name (not a built-in).
    phi, dphi, d2phi : callables float -> float
        phi and its first two derivatives. They are compiled with ``numba.njit`` unless
        already numba dispatchers, so they must be numba-compilable scalar functions.
    kinks : sequence of float
        Points where ``dphi`` is discontinuous.

    Returns
    -------
    Nonlinearity
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be an identifier string, got {name!r}")
    if name in _BUILTIN:
        raise ValueError(f"name {name!r} is a built-in nonlinearity; choose another")
    funcs = []
    for label, f in (("phi", phi), ("dphi", dphi), ("d2phi", d2phi)):
        if not callable(f):
            raise ValueError(f"{label} must be callable, got {f!r}")
        funcs.append(f if isinstance(f, numba.core.registry.CPUDispatcher) else numba.njit(f))
    for label, f in zip(("phi", "dphi", "d2phi"), funcs):
        try:
            v = float(f(0.5))
        except Exception as exc:  # noqa: BLE001 - report any compile/eval failure clearly
            raise ValueError(f"{label} could not be compiled by numba or evaluated: {exc}") from None
        if not math.isfinite(v):
            raise ValueError(f"{label}(0.5) is not finite")
    nl = Nonlinearity(name, 0.0, tuple(float(k) for k in kinks), CUSTOM, tuple(funcs))
    _CUSTOM[name] = nl
    return nl
