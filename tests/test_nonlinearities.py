"""The nonlinearity registry: phi, phi', phi'' against mpmath; leaky_relu slopes; user phis.

phi is compared with an independent mpmath implementation (``naive.phi_mpmath``), phi' and
phi'' with ``mpmath.diff`` of it (at 30 digits), at points away from the kinks.
Tolerance (rounding): a few ulp of the largest term in each formula, i.e.
|f - f_mp| <= 1e-14 * (|f_mp| + (1 + |h|)^2 * |scale|) with scale the function's typical size;
gelu' and silu' cross zero, where only the absolute part is meaningful.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rmtchain
from rmtchain import Chain, get_phi, register_phi, registered_phis

import naive
from helpers import RTOL_ROUNDING, num_threads

ISSUE_PHIS = ("linear", "tanh", "hardtanh", "relu", "leaky_relu", "erf", "sigmoid", "selu",
              "gelu", "silu")

#: (registry name, the parameter) for every built-in, leaky_relu at several slopes
CASES = [(n, 0.0) for n in naive.BUILTIN_PHIS if n != "leaky_relu"] + [
    ("leaky_relu", s) for s in (0.0, 0.01, 0.2, 0.9)]

POINTS = np.concatenate([np.linspace(-6.0, 6.0, 97), [-20.0, -9.5, -1e-3, 1e-3, 0.37, 9.5, 20.0]])


def _away_from_kinks(name, h, gap=1e-6):
    return all(abs(h - k) > gap for k in naive.kinks_of(name))


def test_registry_lists_the_issue_nonlinearities():
    names = registered_phis()
    assert set(ISSUE_PHIS) <= set(names)
    assert names[:len(naive.BUILTIN_PHIS)] == list(naive.BUILTIN_PHIS)   # built-ins first


@pytest.mark.parametrize("name, param", CASES, ids=[f"{n}({p:g})" for n, p in CASES])
def test_phi_and_derivatives_match_mpmath(name, param):
    nl = get_phi(name, slope=param) if name == "leaky_relu" else get_phi(name)
    f_mp = naive.phi_mpmath(name, param)
    hs = [h for h in POINTS if _away_from_kinks(name, h)]
    got = [nl.phi(np.array(hs)), nl.dphi(np.array(hs)), nl.d2phi(np.array(hs))]
    with mpmath.workdps(30):
        for i, h in enumerate(hs):
            hm = mpmath.mpf(float(h))
            ref = [f_mp(hm), mpmath.diff(f_mp, hm, 1), mpmath.diff(f_mp, hm, 2)]
            for order in range(3):
                r = float(ref[order])
                tol = 1e-14 * (abs(r) + (1.0 + abs(h)) ** 2)   # rounding, see module doc
                assert abs(got[order][i] - r) <= tol, (name, order, h, got[order][i], r)


@pytest.mark.parametrize("name", naive.BUILTIN_PHIS)
def test_scalar_and_array_evaluation_and_extremes(name):
    nl = get_phi(name)
    assert isinstance(nl.phi(0.3), float) and isinstance(nl.dphi(0.3), float)
    h = np.linspace(-2, 2, 12).reshape(3, 4)
    assert nl.phi(h).shape == (3, 4) and nl.d2phi(h).shape == (3, 4)
    # no overflow / nan at extreme arguments (warnings are errors in this suite)
    big = np.array([-800.0, -40.0, 40.0, 800.0])
    for f in (nl.phi, nl.dphi, nl.d2phi):
        assert np.all(np.isfinite(f(big))), (f, f(big))


@pytest.mark.parametrize("name, h, d1", [
    ("relu", 0.0, 0.0), ("hardtanh", 1.0, 0.0), ("hardtanh", -1.0, 0.0),
    ("leaky_relu", 0.0, 0.01), ("linear", 0.0, 1.0),
])
def test_kink_conventions(name, h, d1):
    """phi' at a kink takes one fixed one-sided value (the kernels' convention)."""
    assert get_phi(name).dphi(h) == d1
    assert get_phi(name).d2phi(h) == 0.0


# ----------------------------------------------------------------------------------------
# leaky_relu slope parsing
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, slope", [
    ("leaky_relu", 0.01),                 # documented default
    ("leaky_relu(0.2)", 0.2),
    (" leaky_relu ( 0.3 ) ", 0.3),
    ("leaky_relu(0)", 0.0),
    ("leaky_relu(1e-3)", 1e-3),
])
def test_leaky_relu_slope_parsing(spec, slope):
    nl = get_phi(spec)
    assert nl.name == "leaky_relu" and nl.param == slope
    assert nl.dphi(-1.0) == slope and nl.phi(-2.0) == -2.0 * slope
    assert Chain(2, 3, phi=spec).phi == nl
    assert str(nl) == f"leaky_relu({slope:g})"


def test_leaky_relu_slope_keyword():
    assert get_phi("leaky_relu", slope=0.5).param == 0.5
    assert get_phi("leaky_relu(0.25)") == get_phi("leaky_relu", slope=0.25)


@pytest.mark.parametrize("spec, kw, match", [
    ("leaky_relu(1.0)", {}, "slope"),
    ("leaky_relu(-0.5)", {}, "slope"),
    ("leaky_relu(nan)", {}, "slope"),
    ("leaky_relu(abc)", {}, "phi"),
    ("leaky_relu()", {}, "phi"),
    ("leaky_relu", dict(slope=2.0), "slope"),
    ("tanh", dict(slope=0.1), "slope"),
    ("tanh(0.1)", {}, "phi"),
    ("softplus", {}, "phi"),
])
def test_bad_phi_specs(spec, kw, match):
    with pytest.raises(ValueError, match=match):
        get_phi(spec, **kw)


# ----------------------------------------------------------------------------------------
# user-registered nonlinearities
# ----------------------------------------------------------------------------------------

def _lecun(h):
    return 1.7159 * math.tanh(2.0 * h / 3.0)


def _dlecun(h):
    t = math.tanh(2.0 * h / 3.0)
    return 1.7159 * (2.0 / 3.0) * (1.0 - t * t)


def _d2lecun(h):
    t = math.tanh(2.0 * h / 3.0)
    return -1.7159 * (8.0 / 9.0) * t * (1.0 - t * t)


def _lecun_numpy():
    return (lambda h: 1.7159 * np.tanh(2.0 * h / 3.0),
            lambda h: 1.7159 * (2.0 / 3.0) / np.cosh(2.0 * h / 3.0) ** 2)


@pytest.mark.parametrize("args, match", [
    (("tanh", _lecun, _dlecun, _d2lecun), "built-in"),
    (("1abc", _lecun, _dlecun, _d2lecun), "name"),
    ((3, _lecun, _dlecun, _d2lecun), "name"),
    (("ok_name", 1.0, _dlecun, _d2lecun), "phi"),
    (("ok_name", _lecun, None, _d2lecun), "dphi"),
    (("ok_name", _lecun, _dlecun, lambda h: {}[h]), "d2phi"),      # not numba-compilable
    (("ok_name", _lecun, lambda h: math.nan, _d2lecun), "dphi"),     # not finite
])
def test_register_phi_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        register_phi(*args)
    assert "ok_name" not in registered_phis()


def test_register_phi_user_function_is_sampled_like_its_naive_twin():
    """A registered phi is usable everywhere: registry, Chain, q*, sample_spectrum and
    sample_lognorm, which must equal the naive twins run with the user's NumPy formulas.

    Runs single-threaded: the kernels for a user phi are compiled on first use (not cached
    on disk), and the serial ones compile in a third of the time of the parallel ones.
    """
    nl = register_phi("lecun_tanh_test", _lecun, _dlecun, _d2lecun)
    assert "lecun_tanh_test" in registered_phis()
    assert get_phi("lecun_tanh_test") is nl
    assert nl.phi(0.5) == pytest.approx(_lecun(0.5), rel=1e-15)
    assert nl.dphi(np.array([0.5, -1.0])) == pytest.approx([_dlecun(0.5), _dlecun(-1.0)], rel=1e-15)
    assert nl.d2phi(0.5) == pytest.approx(_d2lecun(0.5), rel=1e-15)

    chain = Chain(3, [5, 6, 4, 5], weights="orthogonal", phi="lecun_tanh_test", sigma_w=1.2,
                  sigma_b=0.1)
    lq = naive.length_map_np("tanh", 0.0, 1.2 * 1.7159, 0.1, chain.q_input * 4 / 9)
    # q* of phi = a tanh(b h): q = s_w^2 a^2 E tanh^2(b sqrt(q) z) + s_b^2 -- i.e. the
    # tanh length map at (s_w a, s_b) evaluated at b^2 q (quadrature tolerance)
    assert lq == pytest.approx(chain.q_input, rel=1e-10)

    pair = _lecun_numpy()
    draws = naive.draws_spectrum(chain, 3, 7)
    with num_threads(1):
        spec = rmtchain.sample_spectrum(chain, 3, rng=7)
        lognorm = rmtchain.sample_lognorm(chain, 3, rng=7)
    for s in range(3):
        ref = naive.log_singular_values_mp(chain, draws[s], phi_pair=pair)
        # rounding, relative on singular values (a well-conditioned orthogonal chain)
        np.testing.assert_allclose(spec.log_singular_values[s], ref, rtol=0, atol=RTOL_ROUNDING)
    ldraws = naive.draws_lognorm(chain, 3, 7)
    ref = [naive.lognorm(chain, row, phi_pair=pair) for row in ldraws]
    np.testing.assert_allclose(lognorm, ref, rtol=RTOL_ROUNDING, atol=RTOL_ROUNDING)


def test_reregistered_phi_is_the_one_that_is_sampled():
    name = "rereg_phi_test"
    register_phi(name, lambda h: 0.5 * h, lambda h: 0.5, lambda h: 0.0)
    chain = Chain(2, 3, phi=name, sigma_b=0.5)
    with num_threads(1):
        rmtchain.sample_lognorm(chain, 2, rng=0)          # compiles kernels for 0.5 h
    register_phi(name, lambda h: 2.0 * h, lambda h: 2.0, lambda h: 0.0)
    chain2 = Chain(2, 3, phi=name, sigma_b=0.5)
    assert chain2.phi.phi(1.0) == 2.0                   # the registry has the new function
    # linear 2h with sigma_w = 1, sigma_b = 0.5: q -> 4 q + 0.25 has no stable fixed point
    q_star_ok = chain2.q_input == 1.0
    with num_threads(1):
        got = rmtchain.sample_lognorm(chain2, 2, rng=0)
    ref = [naive.lognorm(chain2, row, phi_pair=(lambda h: 2.0 * h, lambda h: 2.0 + 0 * h))
           for row in naive.draws_lognorm(chain2, 2, 0)]
    assert q_star_ok and np.allclose(got, ref, rtol=1e-12)


#: the analytic phi of (FP.2b): closed forms at complex h
ANALYTIC = ("tanh", "erf", "sigmoid", "selu", "gelu", "silu")
#: complex points with |h| <= 6 (selu: Re h < 0, its analytic piece), off the real axis
COMPLEX_POINTS = (0.3 + 0.2j, -1.7 + 0.05j, 2.5 - 0.4j, -0.2 - 0.01j, 5.5 + 0.3j, -4.0 + 0.7j)


@pytest.mark.parametrize("name", ANALYTIC)
def test_analytic_derivatives_against_mpmath(name):
    """phi' to phi'''' at complex h (theory/free.md (FP.2b)) against mpmath.diff of the
    independent mpmath phi at 30 digits. Tolerance: rounding of the closed forms, 1e-13
    relative to the largest of |f| and the function's unit scale."""
    nl = get_phi(name)
    f_mp = naive.phi_mpmath(name, 0.0)
    mp = mpmath.mp
    if name == "selu":  # the analytic h < 0 piece (complex h cannot be compared with 0)
        f_mp = lambda h: mp.mpf(naive.SELU_LAMBDA) * mp.mpf(naive.SELU_ALPHA) * (  # noqa: E731
            mp.exp(h) - 1)
    if name == "gelu":  # ncdf is real-only in mpmath: the same function through erf
        f_mp = lambda h: h * (1 + mp.erf(h / mp.sqrt(2))) / 2  # noqa: E731
    with mpmath.workdps(30):
        for h in COMPLEX_POINTS:
            if name == "selu" and h.real > 0:
                continue
            got = rmtchain.nonlinearities.analytic_derivatives(nl, h)
            # and the kernel's fourth derivative (the near-node limit of dx/dw, FP.2b)
            got = (*got, complex(rmtchain.nonlinearities._cderivs(nl.code, complex(h))[4]))
            hm = mpmath.mpc(h)
            for k in range(4):
                ref = complex(mpmath.diff(f_mp, hm, k + 1))
                assert abs(got[k] - ref) <= 1e-13 * max(abs(ref), 1.0), (name, k, h, got[k], ref)


@pytest.mark.parametrize("name", ANALYTIC)
def test_analytic_derivatives_equal_the_kernels_on_the_real_axis(name):
    """INVARIANT: at real h the complex closed forms are the numba kernels' phi', phi''
    (rounding: 1e-14 relative to max(|f|, 1))."""
    nl = get_phi(name)
    hs = np.linspace(-6.0, -0.01 if name == "selu" else 6.0, 41)
    for h, d1, d2 in zip(hs, nl.dphi(hs), nl.d2phi(hs)):
        got = rmtchain.nonlinearities.analytic_derivatives(nl, h)
        assert abs(got[0] - d1) <= 1e-14 * max(abs(d1), 1.0)
        assert abs(got[1] - d2) <= 1e-14 * max(abs(d2), 1.0)
        assert got[0].imag == 0.0 and got[1].imag == 0.0


@settings(max_examples=300, deadline=None)
@given(re=st.floats(0.0, 8.0), im=st.floats(-1.5, 1.5))
def test_complex_erfc_against_mpmath(re, im):
    """The numba erfc of the gelu closed form (power series up to |x| = 2.5, Laplace's
    continued fraction above, nonlinearities._cerfc) against mpmath.erfc at 30 digits on
    Re x >= 0, |Im x| <= 1.5 (the strip (FP.2b) uses). Tolerance: 1e-13 relative (the
    continued fraction and the series' rounding), plus 1e-14 absolute in the series region
    |x| <= 2.5 only (1 - erf there, whose largest term is ~30; near |x| = 2.5, erfc ~ 4e-4,
    this allows 2e-11 relative: measured 1.7e-12)."""
    x = complex(re, im)
    got = complex(rmtchain.nonlinearities._cerfc(x))
    with mpmath.workdps(30):
        ref = complex(mpmath.erfc(mpmath.mpc(x)))
    absolute = 1e-14 if abs(x) <= 2.5 else 0.0
    assert abs(got - ref) <= 1e-13 * abs(ref) + absolute, (x, got, ref)


@pytest.mark.parametrize("name", ["linear", "relu", "hardtanh", "leaky_relu"])
def test_analytic_derivatives_absent_for_kinked_and_user_phi(name):
    """The (FP.2b) subtraction is used only where complex evaluation exists."""
    assert rmtchain.nonlinearities.analytic_derivatives(get_phi(name), 0.1 + 0.1j) is None


@pytest.mark.parametrize("args, match", [(("nope", 0.1), "phi must be one of"),
                                         (("tanh", "0.1"), "h must be"),
                                         (("tanh", True), "h must be")])
def test_analytic_derivatives_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        rmtchain.nonlinearities.analytic_derivatives(*args)
