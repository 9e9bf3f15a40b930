"""Hypothesis strategies: hypothesis draws the structure and the seeds, NumPy the floats.

``chains()`` draws small valid ``rmtchain.Chain`` objects (depth <= 6, widths <= 12) over
every built-in nonlinearity (leaky_relu with a drawn slope), both weight ensembles, and
sigma_w, sigma_b in ranges where h stays O(10) (so no phi' underflows to an exact zero
in one implementation and not in another).
"""

from __future__ import annotations

from hypothesis import strategies as st

import rmtchain

from naive import BUILTIN_PHIS, SMOOTH_PHIS

#: the nonlinearities chains() draws from: the registry as it stands at import time (the
#: built-ins; tests that register their own must not leak them into other tests' draws)
PHIS = tuple(rmtchain.registered_phis())
assert set(BUILTIN_PHIS) <= set(PHIS)

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def widths(depth, max_width=12):
    """Either one int or a list of depth + 1 widths, each in 1..max_width."""
    one = st.integers(1, max_width)
    return st.one_of(one, st.lists(one, min_size=depth + 1, max_size=depth + 1))


@st.composite
def phis(draw, names=PHIS):
    name = draw(st.sampled_from(names))
    if name == "leaky_relu":
        slope = draw(st.sampled_from([0.0, 0.01, 0.1, 0.5, 0.9]))
        return f"leaky_relu({slope})"
    return name


@st.composite
def chains(draw, max_depth=6, max_width=12, names=PHIS, weights=("gaussian", "orthogonal"),
           bias=True, q0=True):
    """A valid Chain with small depth and widths."""
    depth = draw(st.integers(1, max_depth))
    width = draw(widths(depth, max_width))
    phi = draw(phis(names))
    sigma_w = draw(st.floats(0.3, 2.5))
    sigma_b = draw(st.one_of(st.just(0.0), st.floats(0.01, 1.0))) if bias else 0.0
    q = draw(st.one_of(st.none(), st.floats(0.05, 4.0))) if q0 else None
    return rmtchain.Chain(depth, width, weights=draw(st.sampled_from(weights)), phi=phi,
                          sigma_w=sigma_w, sigma_b=sigma_b, q0=q)


def smooth_chains(**kw):
    """chains() restricted to nonlinearities with a continuous phi'."""
    return chains(names=SMOOTH_PHIS, **kw)
