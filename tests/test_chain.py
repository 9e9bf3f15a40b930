"""``rmtchain.Chain``: validation (ValueError naming the parameter) and properties.

The input length q_input is checked against an independent mean-field computation:
``naive.length_map_np`` (Gauss-Legendre, iterated from q = 1 to see where the map flows)
decides whether a stable nonzero fixed point exists, and ``naive.length_map_mp`` (mpmath
quadrature split at the kinks) checks the fixed-point equation
q = sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2 at q_input.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import rmtchain
from rmtchain import Chain

import naive
from strategies import PHIS, chains, phis, widths

# ----------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------

BAD = [
    # (kwargs, parameter the message must name)
    (dict(depth=0, width=3), "depth"),
    (dict(depth=-2, width=3), "depth"),
    (dict(depth=2.0, width=3), "depth"),
    (dict(depth="3", width=3), "depth"),
    (dict(depth=True, width=3), "depth"),
    (dict(depth=None, width=3), "depth"),
    (dict(depth=2, width=0), "width"),
    (dict(depth=2, width=-4), "width"),
    (dict(depth=2, width=2.5), "width"),
    (dict(depth=2, width=True), "width"),
    (dict(depth=2, width=None), "width"),
    (dict(depth=2, width=[3, 0, 3]), "width"),
    (dict(depth=2, width=[3, 3.5, 3]), "width"),
    (dict(depth=2, width="abc"), "width"),
    (dict(depth=3, width=[4, 4, 4]), "width"),          # too short: needs depth + 1
    (dict(depth=1, width=[4, 4, 4]), "width"),          # too long
    (dict(depth=2, width=[]), "width"),
    (dict(depth=2, width=3, sigma_w=0.0), "sigma_w"),
    (dict(depth=2, width=3, sigma_w=-1.0), "sigma_w"),
    (dict(depth=2, width=3, sigma_w=math.nan), "sigma_w"),
    (dict(depth=2, width=3, sigma_w=math.inf), "sigma_w"),
    (dict(depth=2, width=3, sigma_w=-math.inf), "sigma_w"),
    (dict(depth=2, width=3, sigma_w=np.float64("nan")), "sigma_w"),
    (dict(depth=2, width=3, sigma_w="1.0"), "sigma_w"),
    (dict(depth=2, width=3, sigma_w=None), "sigma_w"),
    (dict(depth=2, width=3, sigma_w=True), "sigma_w"),
    (dict(depth=2, width=3, sigma_b=-0.1), "sigma_b"),
    (dict(depth=2, width=3, sigma_b=math.nan), "sigma_b"),
    (dict(depth=2, width=3, sigma_b=math.inf), "sigma_b"),
    (dict(depth=2, width=3, sigma_b="0"), "sigma_b"),
    (dict(depth=2, width=3, phi="nope"), "phi"),
    (dict(depth=2, width=3, phi="Tanh"), "phi"),
    (dict(depth=2, width=3, phi=3), "phi"),
    (dict(depth=2, width=3, phi=None), "phi"),
    (dict(depth=2, width=3, phi="leaky_relu(abc)"), "phi"),
    (dict(depth=2, width=3, phi="leaky_relu(1.5)"), "slope"),   # the phi's slope parameter
    (dict(depth=2, width=3, phi="leaky_relu(-0.1)"), "slope"),
    (dict(depth=2, width=3, weights="uniform"), "weights"),
    (dict(depth=2, width=3, weights="Gaussian"), "weights"),
    (dict(depth=2, width=3, weights=None), "weights"),
    (dict(depth=2, width=3, q0=0.0), "q0"),
    (dict(depth=2, width=3, q0=-1.0), "q0"),
    (dict(depth=2, width=3, q0=math.nan), "q0"),
    (dict(depth=2, width=3, q0=math.inf), "q0"),
    (dict(depth=2, width=3, q0="1"), "q0"),
]


@pytest.mark.parametrize("kwargs, name", BAD, ids=[f"{n}={kw}" for kw, n in BAD])
def test_bad_input_raises_value_error_naming_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Chain(**kwargs)


def test_numpy_integers_are_accepted_and_stored_as_python_ints():
    c = Chain(np.int64(3), np.int32(5))
    assert c.depth == 3 and c.widths == (5, 5, 5, 5)
    assert all(type(w) is int for w in c.widths)
    c = Chain(2, np.array([3, 4, 5]))
    assert c.widths == (3, 4, 5) and all(type(w) is int for w in c.widths)


# ----------------------------------------------------------------------------------------
# properties of valid chains
# ----------------------------------------------------------------------------------------

@st.composite
def chain_args(draw):
    depth = draw(st.integers(1, 8))
    width = draw(widths(depth, 16))
    kw = dict(
        weights=draw(st.sampled_from(["gaussian", "orthogonal"])),
        phi=draw(phis()),
        sigma_w=draw(st.floats(0.1, 3.0)),
        sigma_b=draw(st.one_of(st.just(0.0), st.floats(0.0, 1.0))),
        q0=draw(st.one_of(st.none(), st.floats(1e-3, 10.0))),
    )
    return depth, width, kw


@given(chain_args())
def test_valid_chain_properties(args):
    depth, width, kw = args
    c = Chain(depth, width, **kw)
    assert c.depth == depth
    assert isinstance(c.widths, tuple) and len(c.widths) == depth + 1
    expect = (width,) * (depth + 1) if isinstance(width, int) else tuple(width)
    assert c.widths == expect
    assert c.n_in == expect[0] and c.n_out == expect[-1]
    assert c.rank_bound == min(expect[0], expect[-1])
    assert c.weights == kw["weights"]
    assert isinstance(c.phi, rmtchain.Nonlinearity)
    assert c.sigma_w == kw["sigma_w"] and c.sigma_b == kw["sigma_b"]
    assert math.isfinite(c.q_input) and c.q_input > 0
    if kw["q0"] is not None:
        assert c.q_input == kw["q0"]
    # frozen, hashable, equal to a rebuild, and describable as JSON
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.depth = depth + 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.q_input = 2.0
    assert c == Chain(depth, width, **kw) and hash(c) == hash(Chain(depth, width, **kw))
    d = json.loads(json.dumps(c.describe()))
    assert d["depth"] == depth and d["q_input"] == c.q_input and d["weights"] == c.weights


# ----------------------------------------------------------------------------------------
# q_input = q* (the mean-field fixed point) when one exists
# ----------------------------------------------------------------------------------------

def _flow_from_one(name, param, sigma_w, sigma_b, steps=4000):
    """Where the length map (independent Gauss-Legendre version) takes q = 1.

    Returns ("identity", 1), ("fixed", q*), ("zero", q), ("infinity", q) or ("slow", q)
    (not settled after ``steps`` iterations: near-critical, no verdict).
    """
    def lmap(q):
        return naive.length_map_np(name, param, sigma_w, sigma_b, q)

    if abs(lmap(1.0) - 1.0) < 1e-10 and abs(lmap(4.0) - 4.0) < 4e-10:
        return "identity", 1.0
    q = 1.0
    for _ in range(steps):
        q_new = lmap(q)
        if not math.isfinite(q_new) or q_new > 1e9:
            return "infinity", q_new
        if q_new < 1e-11:
            return "zero", q_new
        if abs(q_new - q) <= 1e-12 * q:
            return "fixed", q_new
        q = q_new
    return "slow", q


def _fixed_point_residual_mp(chain, q):
    lq = naive.length_map_mp(chain.phi.name, chain.phi.param, chain.sigma_w, chain.sigma_b, q)
    return float(abs(lq - q) / q)


def _slope_mp(chain, q, rel=1e-6):
    """d(length map)/dq at q by a central difference of the mpmath length map."""
    f = lambda x: naive.length_map_mp(chain.phi.name, chain.phi.param, chain.sigma_w,  # noqa: E731
                                      chain.sigma_b, x)
    return float((f(q * (1 + rel)) - f(q * (1 - rel))) / (2 * rel * q))


@given(chains(max_depth=1, max_width=1, q0=False))
def test_q_input_is_the_fixed_point_of_the_length_map(chain):
    kind, q_ref = _flow_from_one(chain.phi.name, chain.phi.param, chain.sigma_w, chain.sigma_b)
    if kind == "fixed":
        # quadrature: both length maps are exact to ~1e-13; the fixed point is well
        # conditioned away from criticality, so 1e-8 relative is generous
        assert chain.q_input == pytest.approx(q_ref, rel=1e-8)
    elif kind in ("identity", "zero", "infinity"):
        assert chain.q_input == 1.0, (kind, q_ref)
    if chain.q_input != 1.0 or kind == "fixed":
        # q_input solves q = sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2 (mpmath quadrature,
        # 30 digits: the residual is the package's root-finding tolerance, 1e-14, plus its
        # quadrature tolerance, 1e-13)
        assert _fixed_point_residual_mp(chain, chain.q_input) < 1e-11
        # and it is stable (reached by iterating the map)
        assert _slope_mp(chain, chain.q_input) < 1.0 + 1e-6


@pytest.mark.parametrize("kw, q_star", [
    (dict(phi="linear", sigma_w=0.5, sigma_b=0.3), 0.09 / 0.75),   # q = s_w^2 q + s_b^2
    (dict(phi="relu", sigma_w=1.0, sigma_b=1.0), 2.0),             # q = q/2 + 1
    (dict(phi="leaky_relu(0.5)", sigma_w=1.0, sigma_b=0.5), 0.25 / (1 - 0.625)),
    (dict(phi="hardtanh", sigma_w=0.5, sigma_b=0.1), None),        # checked by residual
    (dict(phi="tanh", sigma_w=1.1225, sigma_b=0.05), 0.1537),     # THEORY.md example (4 digits)
])
def test_q_input_closed_forms(kw, q_star):
    c = Chain(3, 4, **kw)
    if q_star is not None:
        rel = 1e-3 if kw["phi"] == "tanh" else 1e-10   # 4-digit literature value / exact
        assert c.q_input == pytest.approx(q_star, rel=rel)
    assert _fixed_point_residual_mp(c, c.q_input) < 1e-11


@pytest.mark.parametrize("kw", [
    dict(phi="linear", sigma_w=1.0, sigma_b=0.0),          # every q is a fixed point
    dict(phi="relu", sigma_w=math.sqrt(2.0), sigma_b=0.0),  # He: every q is a fixed point
    dict(phi="tanh", sigma_w=0.9, sigma_b=0.0),             # q flows to 0
    dict(phi="tanh", sigma_w=1.0, sigma_b=0.0),             # q flows to 0 (critical)
    dict(phi="linear", sigma_w=1.5, sigma_b=0.0),           # q flows to infinity
    dict(phi="relu", sigma_w=2.0, sigma_b=0.5),             # q flows to infinity
])
def test_q_input_is_one_without_a_nonzero_fixed_point(kw):
    assert Chain(3, 4, **kw).q_input == 1.0


def test_q_input_finds_a_small_fixed_point():
    c = Chain(3, 4, phi="tanh", sigma_w=0.5, sigma_b=1e-7)
    # for q << 1, tanh^2 ~ h^2: q* = sigma_b^2 / (1 - sigma_w^2) to relative O(q*)
    assert c.q_input == pytest.approx(1e-14 / 0.75, rel=1e-6)


def test_q0_overrides_the_fixed_point():
    assert Chain(2, 3, phi="tanh", sigma_w=1.5, q0=0.25).q_input == 0.25


@pytest.mark.parametrize("name", PHIS)
def test_every_registered_phi_builds_a_chain(name):
    c = Chain(2, [3, 4, 2], phi=name)
    assert c.phi.name == name


@pytest.mark.parametrize("kw, name", [(dict(sigma_w=1e200), "sigma_w"), (dict(sigma_w=1e-200), "sigma_w"),
                                      (dict(sigma_b=1e200), "sigma_b")])
def test_sigmas_whose_square_leaves_float64_are_rejected(kw, name):
    """sigma_w^2 = 1e400 overflowed (OverflowError deep in the mean field) and 1e-400 gave
    log(0): both must be a ValueError naming the parameter."""
    with pytest.raises(ValueError, match=name):
        Chain(2, 3, **kw)
