"""``sample_spectrum`` / ``sample_lognorm``: kernels against naive twins on the same draws,
determinism (parallel = serial bitwise, same seed = same numbers at any thread count,
path independence), exact cases (orthogonal linear chains), stability at depth, the
Jacobian against finite differences of the sampled network, and input validation.

Tolerances used here (see helpers.py):
- rounding, RTOL_ROUNDING = 1e-12 relative on singular values (|d log s| for log values);
- the forward-error bound of a float64 product of L matrices, gamma * prod ||D_l W_l||
  (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., sec. 3.5), which the
  float64 naive product and the "plain" kernel both carry in absolute terms;
- finite differences: central differences with step 1e-5 have truncation error
  ~ step^2 |phi'''| ~ 1e-10 and rounding ~ eps / step ~ 1e-11 per entry, relative to ||J||.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from rmtchain import Chain, sample_lognorm, sample_spectrum
from rmtchain import _kernels, sampling

import naive
from helpers import EPS, MAX_THREADS, RTOL_ROUNDING, num_threads
from strategies import chains, seeds, smooth_chains

METHODS = ("auto", "plain", "qr")
needs_two_threads = pytest.mark.skipif(MAX_THREADS < 2, reason="needs NUMBA_NUM_THREADS >= 2")


def _finite_eq(a, b):
    """Same -inf pattern (exact zeros) in a and b."""
    return np.array_equal(np.isneginf(a), np.isneginf(b))


# ----------------------------------------------------------------------------------------
# kernels against the naive twins
# ----------------------------------------------------------------------------------------

@given(chains(), seeds, st.sampled_from(METHODS))
def test_spectrum_matches_float64_naive_twin(chain, seed, method):
    """Every method equals np.linalg.svd of the explicit float64 product on the same draws:
    relatively (rounding, 1e-12) wherever the naive product is accurate, and within the
    product's forward-error bound gamma * prod ||D_l W_l|| everywhere."""
    samples = 2
    spec = sample_spectrum(chain, samples, rng=seed, method=method)
    logs = spec.log_singular_values
    assert logs.shape == (samples, chain.rank_bound)
    assert not np.isnan(logs).any() and not np.isposinf(logs).any()
    assert np.all(logs[:, :-1] >= logs[:, 1:])                       # descending
    draws = naive.draws_spectrum(chain, samples, seed)
    for s in range(samples):
        _, _, ds, Ws = naive.network(chain, draws[s])
        prod_norm = math.prod(np.linalg.norm(d[:, None] * W, 2) for d, W in zip(ds, Ws))
        gamma = 4 * (chain.depth + 1) * max(chain.widths) * EPS
        ref = naive.singular_values(chain, draws[s])
        got = np.exp(logs[s])
        tol = RTOL_ROUNDING * ref + 2 * gamma * prod_norm
        assert np.all(np.abs(got - ref) <= tol), (got, ref, tol)


@given(chains(), seeds, st.sampled_from(("auto", "qr")))
def test_stable_methods_are_relatively_accurate(chain, seed, method):
    """"auto" and "qr" against the mpmath product of the same factors (exact to rounding of
    the inputs): every singular value to 1e-12 relative per re-orthogonalised block (the
    budget theory/sampling.md (S.4) documents), exact zeros as -inf.

    No restriction on how many decades phi'(h_l) spans within a layer: the kernel sorts the
    rows before each QR (row-wise backward stable, theory/sampling.md (S.3)); without the
    sort the error reached 3e-12 at a spread of e^4.9, see test_accuracy_with_graded_phi_prime.
    """
    samples = 2
    draws = naive.draws_spectrum(chain, samples, seed)
    logs = sample_spectrum(chain, samples, rng=seed, method=method).log_singular_values
    for s in range(samples):
        ref = naive.log_singular_values_mp(chain, draws[s])
        assert _finite_eq(logs[s], ref), (logs[s], ref)
        fin = np.isfinite(ref)
        np.testing.assert_allclose(logs[s][fin], ref[fin], rtol=0,
                                   atol=RTOL_ROUNDING * chain.depth)


#: chains whose phi'(h_l) spans many decades within one layer (gelu' ~ h phi(h) far out in
#: the left tail): (chain kwargs, seed, sample)
GRADED_D_CASES = [
    (dict(depth=2, width=4, phi="gelu", sigma_w=1.9, q0=2.206278155720303), 386752, 0),
    (dict(depth=5, width=3, phi="gelu", sigma_w=2.180615532118511, q0=1.1), 108, 1),
]


@pytest.mark.parametrize("method", ["qr", "auto"])
@pytest.mark.parametrize("case", range(len(GRADED_D_CASES)))
def test_accuracy_with_graded_phi_prime(case, method):
    kw, seed, s = GRADED_D_CASES[case]
    chain = Chain(**kw)
    draws = naive.draws_spectrum(chain, s + 1, seed)
    got = sample_spectrum(chain, s + 1, rng=seed, method=method).log_singular_values[s]
    ref = naive.log_singular_values_mp(chain, draws[s])
    assert _finite_eq(got, ref), (got, ref)
    fin = np.isfinite(ref)
    np.testing.assert_allclose(got[fin], ref[fin], rtol=0, atol=RTOL_ROUNDING * chain.depth)


def test_stable_methods_at_depth_beat_the_plain_product():
    """Gaussian linear n = 8, L = 40 (condition number ~ e^64): "auto" and "qr" match the
    mpmath product (200 digits) of the same 40 matrices to 1e-9 in log s; "plain" cannot
    (its small singular values drown in rounding), which shows the comparison can fail."""
    chain = Chain(40, 8, phi="linear")
    draws = naive.draws_spectrum(chain, 2, 2024)
    refs = [naive.log_singular_values_mp(chain, row, dps=200) for row in draws]
    assert min(r[0] - r[-1] for r in refs) > 30          # really ill-conditioned
    for method in ("auto", "qr"):
        got = sample_spectrum(chain, 2, rng=2024, method=method).log_singular_values
        for s in range(2):
            np.testing.assert_allclose(got[s], refs[s], rtol=0, atol=1e-9)
    plain = sample_spectrum(chain, 2, rng=2024, method="plain").log_singular_values
    assert max(np.max(np.abs(plain[s] - refs[s])) for s in range(2)) > 1e-3
    # the top singular value is fine in every method (norm-wise accurate)
    assert max(abs(plain[s][0] - refs[s][0]) for s in range(2)) < 1e-9


@given(smooth_chains(max_depth=4, max_width=8, bias=True), seeds)
def test_jacobian_equals_finite_differences_of_the_network(chain, seed):
    """J = dx_L/dx_0 of the network rebuilt from the same draws, by central differences,
    has the singular values sample_spectrum reports (finite-difference tolerance, 1e-6
    relative to ||J||, plus 1e-6 relative)."""
    draws = naive.draws_spectrum(chain, 1, seed)
    x0, f, _, _ = naive.network(chain, draws[0])
    step = 1e-5
    cols = []
    for j in range(chain.n_in):
        e = np.zeros(chain.n_in)
        e[j] = step
        cols.append((f(x0 + e) - f(x0 - e)) / (2 * step))
    J_fd = np.column_stack(cols)
    s_fd = np.linalg.svd(J_fd, compute_uv=False)[:chain.rank_bound]
    got = np.exp(sample_spectrum(chain, 1, rng=seed).log_singular_values[0])
    tol = 1e-6 * (s_fd + s_fd[0]) + 1e-12
    assert np.all(np.abs(got - s_fd) <= tol), (got, s_fd)


@given(chains(), seeds)
def test_lognorm_matches_naive_twin(chain, seed):
    """sample_lognorm (serial and parallel kernels) equals the full 2-frame construction on
    the same draws (rounding, 1e-12 relative to 1 + |log R|)."""
    assume(not _has_unit_orthogonal_layer(chain))   # see test_lognorm_width_one_orthogonal
    draws = naive.draws_lognorm(chain, 3, seed)
    ref = np.array([naive.lognorm(chain, row) for row in draws])
    with num_threads(1):
        serial = sample_lognorm(chain, 3, rng=seed)
    par = sample_lognorm(chain, 3, rng=seed)
    for got in (serial, par):
        assert np.array_equal(np.isneginf(got), np.isneginf(ref)), (got, ref)
        fin = np.isfinite(ref)
        assert np.all(np.abs(got[fin] - ref[fin]) <= RTOL_ROUNDING * (1 + np.abs(ref[fin])))


def _has_unit_orthogonal_layer(chain):
    w = chain.widths
    return chain.weights == "orthogonal" and any(max(a, b) == 1 for a, b in zip(w[:-1], w[1:]))


@pytest.mark.parametrize("threads", [1, 2])
def test_lognorm_width_one_orthogonal(threads):
    chain = Chain(3, 1, weights="orthogonal", phi="linear", sigma_w=1.5)
    with num_threads(min(threads, MAX_THREADS)):
        got = sample_lognorm(chain, 4, rng=0)
    np.testing.assert_allclose(got, 6 * math.log(1.5), rtol=1e-12)


# ----------------------------------------------------------------------------------------
# determinism: parallel = serial, thread count, seeds, paths
# ----------------------------------------------------------------------------------------

@given(chains(), seeds, st.sampled_from(METHODS))
def test_parallel_and_serial_kernels_agree_bitwise(chain, seed, method):
    kern = _kernels.BUILTIN
    draws = naive.draws_spectrum(chain, 5, seed)
    widths = np.asarray(chain.widths, dtype=np.int64)
    args = (*sampling._common(chain), widths, draws, sampling.METHODS[method], *sampling._budgets())
    a = np.empty((5, chain.rank_bound))
    b = np.empty((5, chain.rank_bound))
    kern.batch_serial(*args, a)
    kern.batch_parallel(*args, b)
    assert np.array_equal(a, b)
    assert np.array_equal(a, sample_spectrum(chain, 5, rng=seed, method=method).log_singular_values)
    ldraws = naive.draws_lognorm(chain, 5, seed)
    if not _has_unit_orthogonal_layer(chain):
        la, lb = np.empty(5), np.empty(5)
        kern.lognorm_serial(*sampling._common(chain), widths, ldraws, la)
        kern.lognorm_parallel(*sampling._common(chain), widths, ldraws, lb)
        assert np.array_equal(la, lb)


@needs_two_threads
@given(chains(), seeds)
def test_same_seed_same_numbers_whatever_the_thread_count(chain, seed):
    with num_threads(1):
        a = sample_spectrum(chain, 7, rng=seed).log_singular_values
        la = sample_lognorm(chain, 7, rng=seed) if not _has_unit_orthogonal_layer(chain) else None
    with num_threads(2):
        b = sample_spectrum(chain, 7, rng=seed).log_singular_values
        lb = sample_lognorm(chain, 7, rng=seed) if not _has_unit_orthogonal_layer(chain) else None
    assert np.array_equal(a, b)
    assert la is None or np.array_equal(la, lb)


def test_rng_forms_and_sample_order():
    chain = Chain(3, [4, 6, 5, 3], phi="tanh", sigma_b=0.2)
    a = sample_spectrum(chain, 6, rng=11).log_singular_values
    b = sample_spectrum(chain, 6, rng=np.random.default_rng(11)).log_singular_values
    assert np.array_equal(a, b)                              # int seed == Generator(seed)
    c = sample_spectrum(chain, 3, rng=11).log_singular_values
    assert np.array_equal(a[:3], c)                          # samples are drawn in order
    g = np.random.default_rng(11)
    d1 = sample_spectrum(chain, 3, rng=g).log_singular_values
    d2 = sample_spectrum(chain, 3, rng=g).log_singular_values
    assert np.array_equal(np.vstack([d1, d2]), a)            # a Generator's stream continues
    assert not np.array_equal(a, sample_spectrum(chain, 6, rng=12).log_singular_values)
    assert sample_spectrum(chain, 2).log_singular_values.shape == (2, 3)    # rng=None
    assert sample_spectrum(chain, 2, rng=5).seed == 5
    la = sample_lognorm(chain, 6, rng=11)
    assert np.array_equal(la, sample_lognorm(chain, 6, rng=np.random.default_rng(11)))
    assert np.array_equal(la[:2], sample_lognorm(chain, 2, rng=11))


@given(chains(max_depth=4), seeds, st.sampled_from(METHODS))
def test_streaming_path_equals_batch_path(chain, seed, method):
    """The per-sample streaming path (wide or very deep chains) and the draw blocks consume
    the Generator exactly like one batched call. Bitwise the same numbers for "plain" and
    "qr"; "auto" re-orthogonalises at the end of every streamed chunk of layers (so that a
    replayed block never needs earlier draws, theory/sampling.md (S.4)), which changes the
    rounding only (1e-12 relative)."""
    ref = sample_spectrum(chain, 4, rng=seed, method=method).log_singular_values
    per = naive.per_sample_spectrum(chain)
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(sampling, "SMALL_WIDTH", 0)        # every chain takes the streaming path
        mp.setattr(sampling, "DRAW_BUFFER", 40)       # and draws its layers in small chunks
        streamed = sample_spectrum(chain, 4, rng=seed, method=method).log_singular_values
        mp.setattr(sampling, "DRAW_BUFFER", per)      # whole samples: one chunk per sample
        streamed_whole = sample_spectrum(chain, 4, rng=seed, method=method).log_singular_values
        mp.setattr(sampling, "SMALL_WIDTH", 10**6)    # batched again, one sample per block
        blocked = sample_spectrum(chain, 4, rng=seed, method=method).log_singular_values
        mp.setattr(sampling, "DRAW_BUFFER", 40)
        lblocked = None
        if not _has_unit_orthogonal_layer(chain):
            lblocked = sample_lognorm(chain, 4, rng=seed)   # one sample per kernel call
    finally:
        mp.undo()
    assert np.array_equal(blocked, ref)
    assert np.array_equal(streamed_whole, ref)
    if method == "auto":
        # both are within the accuracy of "auto" (test_stable_methods_are_relatively_accurate):
        # 1e-12 relative per layer, and norm-wise 1e-12
        assert _finite_eq(streamed, ref)
        for s in range(4):
            if not np.isfinite(ref[s][0]):
                continue
            fin = np.isfinite(ref[s])
            np.testing.assert_allclose(streamed[s][fin], ref[s][fin], rtol=0,
                                       atol=RTOL_ROUNDING * chain.depth)
            np.testing.assert_allclose(np.exp(streamed[s] - ref[s][0]), np.exp(ref[s] - ref[s][0]),
                                       rtol=0, atol=RTOL_ROUNDING)
    else:
        assert np.array_equal(streamed, ref)
    if lblocked is not None:
        assert np.array_equal(lblocked, sample_lognorm(chain, 4, rng=seed))


# ----------------------------------------------------------------------------------------
# exact cases
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("depth, sigma_w", [(1, 0.7), (10, 1.3), (1000, 0.7), (1000, 1.3)])
def test_orthogonal_linear_square_is_an_isometry(depth, sigma_w, method):
    """Every singular value of sigma_w^L times a product of Haar matrices is sigma_w^L:
    log s = L log sigma_w to 1e-10 relative (rounding accumulated over up to 1000 layers)."""
    chain = Chain(depth, 16, weights="orthogonal", phi="linear", sigma_w=sigma_w)
    logs = sample_spectrum(chain, 2, rng=depth, method=method).log_singular_values
    np.testing.assert_allclose(logs, depth * math.log(sigma_w), rtol=0, atol=1e-10)


VALLEYS = [
    [12, 9, 5, 5, 8, 11],                     # n_0 > ... > n_k <= ... <= n_L
    [16] * 200 + [6] + [16] * 299,            # depth 500, one narrow layer
    [10, 4, 10],
    [7, 7, 3],
    [3, 7, 12],                               # only growing: an isometry of rank n_0
]


@pytest.mark.parametrize("method", ["auto", "qr"])
@pytest.mark.parametrize("widths", VALLEYS, ids=lambda w: f"L{len(w) - 1}-min{min(w)}")
def test_orthogonal_linear_partial_isometry(widths, method):
    """Co-isometries (narrowing layers) then isometries (widening layers) multiply to a
    partial isometry: min(widths) singular values equal sigma_w^L, the rest are exact
    zeros (-inf), up to min(n_0, n_L) values in all."""
    sigma_w = 1.1
    L = len(widths) - 1
    chain = Chain(L, widths, weights="orthogonal", phi="linear", sigma_w=sigma_w)
    logs = sample_spectrum(chain, 2, rng=3, method=method).log_singular_values
    rank = min(widths)
    assert logs.shape == (2, min(widths[0], widths[-1]))
    np.testing.assert_allclose(logs[:, :rank], L * math.log(sigma_w), rtol=0, atol=1e-10)
    assert np.all(np.isneginf(logs[:, rank:]))


@given(chains(max_width=10, names=("linear",), weights=("orthogonal",), bias=False), seeds)
def test_orthogonal_linear_chains_never_expand_beyond_sigma_w_to_the_L(chain, seed):
    """Any widths: a product of partial isometries is a contraction, so s <= sigma_w^L."""
    logs = sample_spectrum(chain, 2, rng=seed).log_singular_values
    assert np.all(logs <= chain.depth * math.log(chain.sigma_w) + 1e-10)


def test_lognorm_orthogonal_linear_is_exact():
    """||J u||^2 = sigma_w^(2L) for isometries (square or widening): log R = 2 L log sigma_w."""
    for widths in ([5] * 51, [2, 3, 5, 8, 13], [4, 4, 9, 9, 20]):
        chain = Chain(len(widths) - 1, widths, weights="orthogonal", phi="linear", sigma_w=0.9)
        got = sample_lognorm(chain, 50, rng=1)
        np.testing.assert_allclose(got, 2 * chain.depth * math.log(0.9), rtol=0, atol=1e-12)


def test_l1_orthogonal_eigenvalues_are_sigma_w_squared():
    chain = Chain(1, 32, weights="orthogonal", phi="linear", sigma_w=1.7)
    ev = sample_spectrum(chain, 3, rng=0).eigenvalues
    np.testing.assert_allclose(ev, 1.7 ** 2, rtol=RTOL_ROUNDING)


# ----------------------------------------------------------------------------------------
# results API
# ----------------------------------------------------------------------------------------

def test_spectrum_result_fields_and_moments():
    chain = Chain(3, [5, 7, 6, 4], phi="relu", sigma_w=1.4, sigma_b=0.1)
    spec = sample_spectrum(chain, 9, rng=4)
    assert spec.chain is chain and spec.method == "auto" and spec.samples == 9
    assert spec.eigenvalues.shape == (9, 4)
    np.testing.assert_array_equal(spec.eigenvalues, np.exp(2 * spec.log_singular_values))
    m = spec.moments(3)
    lam = spec.eigenvalues
    per = np.stack([np.sum(lam ** k, axis=1) / chain.n_out for k in (1, 2, 3)], axis=1)
    np.testing.assert_allclose(m.per_sample, per, rtol=1e-13)
    np.testing.assert_allclose(m.mean, per.mean(0), rtol=1e-13)
    np.testing.assert_allclose(m.stderr, per.std(0, ddof=1) / 3, rtol=1e-12)
    np.testing.assert_array_equal(m.k, [1, 2, 3])
    one = sample_spectrum(chain, 1, rng=4).moments(2)
    assert np.all(np.isinf(one.stderr))
    with pytest.raises(ValueError, match="kmax"):
        spec.moments(0)


def test_moments_of_a_zero_jacobian_are_zero():
    """relu of width 1 without bias: half the samples have J = 0 (all log s = -inf)."""
    chain = Chain(2, 1, phi="relu")
    spec = sample_spectrum(chain, 20, rng=0)
    dead = np.isneginf(spec.log_singular_values[:, 0])
    assert dead.any() and (~dead).any()
    m = spec.moments(2)
    assert np.all(m.per_sample[dead] == 0.0) and np.all(np.isfinite(m.mean))


# ----------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------

GOOD = Chain(2, 3)


@pytest.mark.parametrize("func", [sample_spectrum, sample_lognorm])
@pytest.mark.parametrize("args, kwargs, name", [
    ((GOOD, 0), {}, "samples"),
    ((GOOD, -3), {}, "samples"),
    ((GOOD, 2.0), {}, "samples"),
    ((GOOD, "2"), {}, "samples"),
    ((GOOD, True), {}, "samples"),
    ((GOOD, None), {}, "samples"),
    ((GOOD, 2), dict(rng="seed"), "rng"),
    ((GOOD, 2), dict(rng=1.5), "rng"),
    ((GOOD, 2), dict(rng=-1), "rng"),
    ((GOOD, 2), dict(rng=np.random.RandomState(0)), "rng"),
    (("chain", 2), {}, "chain"),
    ((None, 2), {}, "chain"),
    (({"depth": 2, "width": 3}, 2), {}, "chain"),
])
def test_bad_input_raises_value_error_naming_the_parameter(func, args, kwargs, name):
    with pytest.raises(ValueError, match=name):
        func(*args, **kwargs)


@pytest.mark.parametrize("method", ["svd", "QR", None, 1])
def test_bad_method(method):
    with pytest.raises(ValueError, match="method"):
        sample_spectrum(GOOD, 2, method=method)


def test_numpy_integer_samples_are_accepted():
    assert sample_spectrum(GOOD, np.int64(2), rng=0).samples == 2
    assert sample_lognorm(GOOD, np.int32(3), rng=0).shape == (3,)


def test_numpy_integer_seed_is_recorded():
    assert sample_spectrum(GOOD, 1, rng=np.int64(5)).seed == 5


def test_generator_seed_is_recorded_as_its_type():
    assert sample_spectrum(GOOD, 1, rng=np.random.default_rng(0)).seed == "Generator"
    assert sample_spectrum(GOOD, 1).seed is None
