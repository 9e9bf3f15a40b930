"""Input plumbing: ``rng=`` to a Generator (SPEC 7), and the scalar checks every module shares."""

import math
import numbers

import numpy as np


def as_generator(rng):
    """Return a ``numpy.random.Generator`` from ``rng`` (None, int or Generator).

    Raises
    ------
    ValueError
        If ``rng`` is of another type or a negative integer.
    """
    if rng is None or isinstance(rng, np.random.Generator):
        return np.random.default_rng(rng)
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng must be a non-negative int, a Generator or None, got {rng}")
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng must be an int, a numpy Generator or None, got {type(rng).__name__}")


def check_count(name, value, minimum=1):
    """Validate an integer count and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_real(name, value):
    """Validate a finite real number and return it as ``float``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


#: sigma_w and sigma_b are squared everywhere (variances, log sigma_w^2): keep the squares normal
SIGMA_MIN, SIGMA_MAX = 1e-150, 1e150


def check_sigmas(sigma_w, sigma_b):
    """Validate the weight scale and bias std; return them as floats.

    sigma_w in [1e-150, 1e150], sigma_b in [0, 1e150]: their squares must be finite (and
    sigma_w^2 nonzero) in float64.
    """
    sigma_w = check_real("sigma_w", sigma_w)
    if not SIGMA_MIN <= sigma_w <= SIGMA_MAX:
        raise ValueError(f"sigma_w must be in [{SIGMA_MIN:g}, {SIGMA_MAX:g}] (its square must be "
                         f"a positive finite float), got {sigma_w}")
    sigma_b = check_real("sigma_b", sigma_b)
    if not 0.0 <= sigma_b <= SIGMA_MAX:
        raise ValueError(f"sigma_b must be in [0, {SIGMA_MAX:g}], got {sigma_b}")
    return sigma_w, sigma_b
