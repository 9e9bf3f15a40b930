"""Singular values of a row-graded triangular factor with high relative accuracy.

The stable product ends with J = Q diag(exp(logd)) U (theory/sampling.md (S.3)). Its
singular values are those of diag(exp(logd)) L, U = L Q' (an LQ factorisation), a lower
triangular matrix whose rows are graded by exp(logd). One-sided Jacobi (LAPACK ``dgejsv``
with JOBA='C', called from numba through scipy's ``cython_lapack``) computes the singular
values of the column-graded transpose L^T diag(exp(logd)) to high relative accuracy
(Demmel & Veselic 1992; Drmac & Veselic 2008). When logd spans more than float64 can hold,
overlapping windows are solved separately (S.6): rows further than ``GRADED_MARGIN``
log-units away couple below rounding. Configuration values are arguments, never numba
globals, so that a cached kernel cannot hold a stale constant.
"""

import llvmlite.binding as ll
import numba
import numpy as np
from numba import types
from numba.extending import get_cython_function_address

from ._config import FASTMATH

__all__ = ["graded_log_sv", "log_singular_values_of_factor"]

ll.add_symbol("rmtchain_dgejsv", get_cython_function_address("scipy.linalg.cython_lapack", "dgejsv"))
_dgejsv = types.ExternalFunction("rmtchain_dgejsv", types.void(*([types.voidptr] * 19)))

# JOBA='C' (high relative accuracy for column-graded input), no vectors, no range
# restriction, no transposition heuristics, no perturbation of denormals.
_JOBS = np.array([ord(c) for c in "CNNNNN"], dtype=np.uint8)

_jit = dict(cache=True, fastmath=FASTMATH)


@numba.njit(**_jit)
def _jacobi_sv(B):
    """Singular values (unsorted) of the square C-ordered ``B`` by LAPACK dgejsv.

    LAPACK reads C-ordered ``B`` as its transpose; singular values are the same.
    """
    n = B.shape[0]
    A = B.copy()
    jobs = _JOBS.copy()
    dims = np.array([n, 1, max(2 * n + n, 4 * n + 1, 7), 0], dtype=np.int32)
    sva = np.empty(n)
    dummy = np.empty(1)
    work = np.empty(dims[2])
    iwork = np.empty(4 * n, dtype=np.int32)
    _dgejsv(jobs[0:].ctypes, jobs[1:].ctypes, jobs[2:].ctypes, jobs[3:].ctypes,
            jobs[4:].ctypes, jobs[5:].ctypes, dims[0:].ctypes, dims[0:].ctypes,
            A.ctypes, dims[0:].ctypes, sva.ctypes, dummy.ctypes, dims[1:].ctypes,
            dummy.ctypes, dims[1:].ctypes, work.ctypes, dims[2:].ctypes, iwork.ctypes,
            dims[3:].ctypes)
    if dims[3] != 0:
        raise RuntimeError("LAPACK dgejsv failed")
    return sva * (work[0] / work[1])


@numba.njit(**_jit)
def graded_log_sv(logd, Lm, core, margin):
    """Log singular values (descending) of diag(exp(logd)) @ Lm, Lm lower triangular (r, r).

    Windows span at most ``core`` log-units and overlap by ``margin`` (config GRADED_CORE,
    GRADED_MARGIN; passed in so that numba's cache never holds stale constants).
    """
    r = logd.shape[0]
    out = np.empty(r)
    c = 0
    while c < r:
        d = c + 1
        while d < r and logd[c] - logd[d] <= core:
            d += 1
        a = c
        while a > 0 and logd[a - 1] - logd[c] < margin:
            a -= 1
        b = d
        while b < r and logd[d - 1] - logd[b] < margin:
            b += 1
        top = logd[a:b].max()
        B = np.empty((b - a, b - a))
        for i in range(b - a):
            e = np.exp(max(logd[a + i] - top, -745.0))
            for j in range(b - a):
                B[i, j] = e * Lm[a + i, a + j]
        s = np.sort(_jacobi_sv(B))[::-1]
        for i in range(c, d):
            out[i] = np.log(s[i - a]) + top if s[i - a] > 0.0 else -np.inf
        c = d
    return np.sort(out)[::-1]


@numba.njit(**_jit)
def log_singular_values_of_factor(logd, U, out, core, margin):
    """Write the log singular values of diag(exp(logd)) U into ``out`` (descending).

    Parameters
    ----------
    logd : (r,) array
        Row log-scales; -inf marks a row lost to an exact zero.
    U : (r, n0) array
        Upper trapezoidal factor with O(1) rows.
    out : (m,) array
        Receives the r' finite values first, then -inf (exact zeros) up to m = min(n_0, n_L).
    """
    out[:] = -np.inf
    keep = np.isfinite(logd)
    rf = int(keep.sum())
    if rf == 0:
        return
    Ut = np.empty((U.shape[1], rf))
    ld = np.empty(rf)
    t = 0
    for i in range(logd.shape[0]):
        if keep[i]:
            Ut[:, t] = U[i, :]
            ld[t] = logd[i]
            t += 1
    _q, R = np.linalg.qr(Ut)
    Lm = np.ascontiguousarray(R.T)
    vals = graded_log_sv(ld, Lm, core, margin)
    out[:rf] = vals
