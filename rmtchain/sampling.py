"""Monte Carlo: ``sample_spectrum`` and ``sample_lognorm`` (theory/sampling.md).

The wrappers validate, draw the standard normals (in sample order, so the numbers do not
depend on the thread count or on the path taken), and hand them to the kernels of
``rmtchain._kernels``.
"""

from __future__ import annotations

import numba
import numpy as np
from tqdm.auto import tqdm

from . import _kernels
from ._config import (DRAW_BUFFER, GRADED_CORE, GRADED_MARGIN, REORTH_LOG_BUDGET,
                      REORTH_TARGET, SMALL_WIDTH)
from ._graded import log_singular_values_of_factor
from ._rng import as_generator, check_count
from .chain import Chain
from .results import Spectrum

__all__ = ["sample_spectrum", "sample_lognorm"]

METHODS = {"auto": _kernels.AUTO, "plain": _kernels.PLAIN, "qr": _kernels.QR}


def _check_chain(chain):
    if not isinstance(chain, Chain):
        raise ValueError(f"chain must be an rmtchain.Chain, got {type(chain).__name__}")
    return chain


def _common(chain):
    """Positional kernel arguments shared by every kernel for ``chain``."""
    ens = _kernels.GAUSSIAN if chain.weights == "gaussian" else _kernels.ORTHOGONAL
    return (chain.phi.code, chain.phi.param, ens, chain.sigma_w, chain.sigma_b,
            chain.sigma_b > 0.0, chain.q_input)


def _layer_sizes(chain):
    w = chain.widths
    bias = chain.sigma_b > 0.0
    return [w[l + 1] * w[l] + (w[l + 1] if bias else 0) for l in range(chain.depth)]


def _progress(total, desc):
    return tqdm(total=total, desc=desc, unit="sample", delay=2.0, leave=False)


def _seed_repr(rng):
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return int(rng)
    return rng if rng is None else type(rng).__name__


def _budgets():
    """Numerical budgets from _config, passed to the kernels as arguments (S.4, S.6)."""
    return REORTH_TARGET, REORTH_LOG_BUDGET, GRADED_CORE, GRADED_MARGIN


def _parallel():
    return numba.get_num_threads() > 1


def sample_spectrum(chain, samples, *, rng=None, method="auto"):
    """Sample the singular values of the input-output Jacobian J of a random chain.

    Parameters
    ----------
    chain : Chain
        The chain specification.
    samples : int
        Number of independent chains (>= 1).
    rng : None, int or numpy.random.Generator
        Source of randomness (SPEC 7). The same seed gives the same numbers whatever the
        thread count.
    method : {"auto", "plain", "qr"}
        Accumulation of the product (theory/sampling.md (S.4)): "auto" re-orthogonalises by
        QR whenever the conditioning of the current block of layers would cost more than
        ``exp(REORTH_LOG_BUDGET) * eps`` relative accuracy, or a layer loses rank, and is
        the plain product where the chain is well conditioned; "plain" multiplies without
        re-orthogonalising (rescaled, so it never overflows, but small singular values drown
        in rounding); "qr" re-orthogonalises after every layer. All end with a one-sided
        Jacobi SVD of the graded triangular factor (S.6).

    Returns
    -------
    Spectrum
        ``.eigenvalues`` (lambda = s^2, shape (sample, min(n_0, n_L))),
        ``.log_singular_values`` and ``.moments(kmax)``.

    Notes
    -----
    Memory is O(n^2) whatever the depth: layers are drawn and consumed in a stream.
    Normalisations: ../shared/THEORY.md, Conventions; algorithm: theory/sampling.md.

    Examples
    --------
    >>> import rmtchain
    >>> spec = rmtchain.sample_spectrum(rmtchain.Chain(20, 8, weights="orthogonal",
    ...                                 phi="linear", sigma_w=1.1), 2, rng=0)
    >>> bool(abs(spec.log_singular_values - 20 * np.log(1.1)).max() < 1e-12)
    True
    """
    chain = _check_chain(chain)
    samples = check_count("samples", samples)
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    seed = _seed_repr(rng)
    rng = as_generator(rng)
    kern = _kernels.kernels_for(chain.phi)
    common = _common(chain)
    mode = METHODS[method]
    widths = np.asarray(chain.widths, dtype=np.int64)
    n0, m = chain.n_in, chain.rank_bound
    sizes = _layer_sizes(chain)
    per = n0 + sum(sizes)
    out = np.empty((samples, m))
    with _progress(samples, "sample_spectrum") as bar:
        if per <= DRAW_BUFFER and max(chain.widths) <= SMALL_WIDTH:
            block = max(1, min(samples, DRAW_BUFFER // per))
            run = kern.batch_parallel if _parallel() else kern.batch_serial
            for start in range(0, samples, block):
                b = min(block, samples - start)
                draws = rng.standard_normal((b, per))
                run(*common, widths, draws, mode, *_budgets(), out[start:start + b])
                bar.update(b)
        else:
            for s in range(samples):
                out[s] = _stream_one(kern, common, widths, sizes, rng, mode)
                bar.update(1)
    return Spectrum(chain=chain, log_singular_values=out, method=method, seed=seed)


def _stream_one(kern, common, widths, sizes, rng, mode):
    """One chain, drawing layers in chunks of at most DRAW_BUFFER normals."""
    code, a, ens, sigma_w, sigma_b, has_bias, q0 = common
    n0 = int(widths[0])
    x, M, U, logd, c, since, k = kern.start(code, a, q0, rng.standard_normal(n0), mode)
    d = np.ones(n0)
    L = len(sizes)
    buf = np.empty(max(max(sizes), min(DRAW_BUFFER, sum(sizes))))  # one buffer, reused
    l0 = 0
    while l0 < L:
        l1, total = l0, 0
        while l1 < L and (l1 == l0 or total + sizes[l1] <= DRAW_BUFFER):
            total += sizes[l1]
            l1 += 1
        draws = buf[:total]
        rng.standard_normal(out=draws)
        x, d, M, U, logd, c, since, k = kern.run_layers(
            code, a, ens, sigma_w, sigma_b, has_bias, widths, l0, l1, draws,
            x, M, U, logd, c, since, k, mode, REORTH_TARGET, REORTH_LOG_BUDGET)
        l0 = l1
    U, logd = kern.finish(d, M, U, logd, c, since)
    out = np.empty(min(n0, int(widths[-1])))
    log_singular_values_of_factor(logd, U, out, GRADED_CORE, GRADED_MARGIN)
    return out


def sample_lognorm(chain, samples, *, rng=None):
    """Sample log(||J u||^2 / ||u||^2) for a uniformly random unit vector u per sample.

    The vector is propagated (never the matrix): per layer the weights are drawn only on the
    span of (x_{l-1}, J_{l-1} u), which has the exact law of the full draw for Gaussian and
    Haar weights (theory/sampling.md (S.7)). Cost O(L n) per sample.

    Parameters
    ----------
    chain : Chain
    samples : int
        >= 1.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    (samples,) array
        -inf where J u = 0 exactly (every unit of a layer inactive).

    Examples
    --------
    >>> import rmtchain
    >>> r = rmtchain.sample_lognorm(rmtchain.Chain(50, 4, weights="orthogonal",
    ...                             phi="linear", sigma_w=2.0), 3, rng=1)
    >>> bool(np.allclose(r, 100 * np.log(2.0), rtol=1e-12))
    True
    """
    chain = _check_chain(chain)
    samples = check_count("samples", samples)
    rng = as_generator(rng)
    kern = _kernels.kernels_for(chain.phi)
    w = chain.widths
    per = 2 * w[0] + sum(2 * max(w[l], w[l + 1]) + (w[l + 1] if chain.sigma_b > 0 else 0)
                         for l in range(chain.depth))
    widths = np.asarray(w, dtype=np.int64)
    out = np.empty(samples)
    block = max(1, min(samples, DRAW_BUFFER // per))
    run = kern.lognorm_parallel if _parallel() else kern.lognorm_serial
    with _progress(samples, "sample_lognorm") as bar:
        for start in range(0, samples, block):
            b = min(block, samples - start)
            run(*_common(chain), widths, rng.standard_normal((b, per)), out[start:start + b])
            bar.update(b)
    return out
