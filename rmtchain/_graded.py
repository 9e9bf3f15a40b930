"""Singular values of a row-graded triangular factor with high relative accuracy.

The stable product ends with J = Q diag(exp(logd)) U (theory/sampling.md (S.3)). Its
singular values are those of diag(exp(logd)) L, U = L Q' (an LQ factorisation), a lower
triangular matrix whose rows are graded by exp(logd). One-sided Jacobi (LAPACK ``dgejsv``
through scipy) computes the singular values of the column-graded transpose L^T diag(exp(logd))
to high relative accuracy (Demmel & Veselic 1992; Drmac & Veselic 2008). When logd spans more
than float64 can hold, overlapping windows are solved separately (S.6): blocks further than
``GRADED_MARGIN`` log-units away couple below rounding.
"""

import numpy as np
from scipy.linalg import lapack

from ._config import GRADED_CORE, GRADED_MARGIN

__all__ = ["graded_log_sv", "log_singular_values_of_factor"]


def _jacobi_sv(B):
    sva, _u, _v, work, _iwork, info = lapack.dgejsv(
        np.asfortranarray(B), joba=0, jobu=3, jobv=3, jobr=0, jobt=0, jobp=0)
    if info != 0:
        raise RuntimeError(f"LAPACK dgejsv failed (info={info})")
    return sva * (work[0] / work[1])


def graded_log_sv(logd, Lm):
    """Log singular values (descending) of diag(exp(logd)) @ Lm, Lm lower triangular (r, r)."""
    r = logd.shape[0]
    out = np.empty(r)
    c = 0
    while c < r:
        d = c + 1
        while d < r and logd[c] - logd[d] <= GRADED_CORE:
            d += 1
        a = c
        while a > 0 and logd[a - 1] - logd[c] < GRADED_MARGIN:
            a -= 1
        b = d
        while b < r and logd[d - 1] - logd[b] < GRADED_MARGIN:
            b += 1
        top = logd[a:b].max()
        B = np.exp(np.maximum(logd[a:b] - top, -745.0))[:, None] * Lm[a:b, a:b]
        with np.errstate(divide="ignore"):
            s = np.log(np.sort(_jacobi_sv(B.T))[::-1]) + top
        out[c:d] = s[c - a:d - a]
        c = d
    return np.sort(out)[::-1]


def log_singular_values_of_factor(logd, U, m):
    """Log singular values of diag(exp(logd)) U, padded with -inf (exact zeros) to length m.

    Parameters
    ----------
    logd : (r,) array
        Row log-scales; -inf marks a row lost to an exact zero.
    U : (r, n0) array
        Upper trapezoidal factor with O(1) rows.
    m : int
        Length of the result (min(n_0, n_L)).
    """
    out = np.full(m, -np.inf)
    keep = np.isfinite(logd)
    if not keep.any():
        return out
    logd = logd[keep]
    Lm = np.linalg.qr(U[keep].T, mode="r").T
    vals = graded_log_sv(logd, Lm)
    out[: vals.shape[0]] = vals
    return out
