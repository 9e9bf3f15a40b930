"""Numba kernels: no validation, no hidden RNG; draws arrive as standard normals.

Every kernel calls the nonlinearity through ``_phi_dphi(code, a, h)``. For built-in
nonlinearities the cached module-level kernels dispatch on ``code``; ``kernels_for`` compiles
fresh copies whose ``_phi_dphi`` is a user-registered function (same source, other globals).

Algorithm (theory/sampling.md): the product is kept as J = Q diag(exp(logd)) U with Q
orthonormal (held in ``M`` between re-orthogonalisations, times exp(c)), U upper trapezoidal
with rows of max-norm 1, and logd the row log-scales (S.2-S.3). A block of layers is
multiplied plainly and re-orthogonalised by QR when its conditioning budget is spent, when
a layer loses rank (phi' = 0 rows, a narrow layer), or every layer (``mode=QR``) (S.4).
"""

from __future__ import annotations

import math
import types

import numba
import numpy as np
from numba import prange

from ._config import FASTMATH
from ._graded import log_singular_values_of_factor
from .nonlinearities import CUSTOM, _phi_dphi

AUTO, PLAIN, QR = 0, 1, 2
GAUSSIAN, ORTHOGONAL = 0, 1
_NEVER = 2**62
_EXP_CAP = 700.0

_jit = dict(cache=True, fastmath=FASTMATH)


def _act(code, a, h, x, d):
    for i in range(h.shape[0]):
        x[i], d[i] = _phi_dphi(code, a, h[i])


def _input(code, a, q0, g):
    """x_0 = phi(h_0), h_0 = sqrt(q0 n_0) g / ||g|| (a uniform direction)."""
    n0 = g.shape[0]
    scale = math.sqrt(q0 * n0) / math.sqrt(np.dot(g, g))
    h = g * scale
    x = np.empty(n0)
    d = np.empty(n0)
    _act(code, a, h, x, d)
    return x


def _haar(z):
    """Haar matrix (orthonormal columns if m >= n, rows otherwise) from Gaussian z (m, n):
    QR with the signs of diag(R) folded into Q (THEORY.md, Conventions)."""
    m, n = z.shape
    if m >= n:
        q, r = np.linalg.qr(z)
        for j in range(n):
            if r[j, j] < 0.0:
                q[:, j] = -q[:, j]
        return q
    q, r = np.linalg.qr(np.ascontiguousarray(z.T))
    for j in range(m):
        if r[j, j] < 0.0:
            q[:, j] = -q[:, j]
    return np.ascontiguousarray(q.T)


def _weight(ens, sigma_w, z, n_out, n_in):
    """W_l (n_out, n_in) from n_out * n_in standard normals."""
    zz = z.reshape((n_out, n_in))
    if ens == GAUSSIAN:
        return zz * (sigma_w / math.sqrt(n_in))
    return _haar(zz) * sigma_w


def _reorth(M, d, U, logd, c):
    """QR of the active rows of M; fold R into (logd, U). Returns (Q embedded, U, logd, spread)."""
    n_out, r = M.shape
    n0 = U.shape[1]
    ka = 0
    for i in range(n_out):
        if d[i] != 0.0:
            ka += 1
    rows = np.empty(ka, dtype=np.int64)
    t = 0
    for i in range(n_out):
        if d[i] != 0.0:
            rows[t] = i
            t += 1
    if ka == 0 or r == 0:
        return np.zeros((n_out, 0)), np.zeros((0, n0)), np.zeros(0), math.inf
    # Rows sorted by decreasing norm: Householder QR is then row-wise backward stable
    # (Cox and Higham 1998), so rows scaled by phi' over many decades keep their relative
    # accuracy (S.4).
    nrm = np.empty(ka)
    for i in range(ka):
        nrm[i] = -np.dot(M[rows[i], :], M[rows[i], :])
    rows = rows[np.argsort(nrm, kind="mergesort")]
    A = np.empty((ka, r))
    for i in range(ka):
        A[i, :] = M[rows[i], :]
    q, R = np.linalg.qr(A)
    rp = q.shape[1]
    S = np.zeros((rp, r))
    dmax = 0.0
    dmin = math.inf
    for i in range(rp):
        ai = abs(R[i, i])
        dmax = max(dmax, ai)
        dmin = min(dmin, ai)
        for j in range(i, r):
            e = logd[j] - logd[i]
            if e > _EXP_CAP or math.isnan(e):
                e = _EXP_CAP
            S[i, j] = R[i, j] * math.exp(e)
    spread = math.log(dmax / dmin) if dmin > 0.0 else math.inf
    Un = np.dot(S, U)
    ln = np.empty(rp)
    for i in range(rp):
        rho = 0.0
        for j in range(n0):
            rho = max(rho, abs(Un[i, j]))
        if rho > 0.0:
            Un[i, :] /= rho
            ln[i] = logd[i] + math.log(rho) + c
        else:
            ln[i] = -math.inf
    Q = np.zeros((n_out, rp))
    for i in range(ka):
        Q[rows[i], :] = q[i, :]
    return Q, Un, ln, spread


def _layer(code, a, ens, sigma_w, sigma_b, has_bias, n_in, n_out, draws, pos, x):
    """One layer's forward pass from ``draws[pos:]``: returns (W, x_l, phi'(h_l), new pos)."""
    W = _weight(ens, sigma_w, draws[pos:pos + n_out * n_in], n_out, n_in)
    pos += n_out * n_in
    h = np.dot(W, x)
    if has_bias:
        for i in range(n_out):
            h[i] += sigma_b * draws[pos + i]
        pos += n_out
    xn = np.empty(n_out)
    d = np.empty(n_out)
    _act(code, a, h, xn, d)
    return W, xn, d, pos


def _accumulate(W, d, M, c):
    """M <- D W M rescaled by its max-abs entry s (log s added to c), (S.2).

    Returns (M, c, number of nonzero phi', s)."""
    n_out = W.shape[0]
    r = M.shape[1]
    active = 0
    for i in range(n_out):
        if d[i] != 0.0:
            active += 1
    if r == 0:
        return np.zeros((n_out, 0)), c, active, 0.0
    P = np.dot(W, M)
    s = 0.0
    for i in range(n_out):
        for j in range(r):
            P[i, j] *= d[i]
            s = max(s, abs(P[i, j]))
    if s > 0.0:
        for i in range(n_out):
            for j in range(r):
                P[i, j] /= s
        c += math.log(s)
    return P, c, active, s


def _run_layers(code, a, ens, sigma_w, sigma_b, has_bias, widths, l0, l1, draws,
                x, M, U, logd, c, since, k, mode, target, budget):
    """Advance one chain through layers l0..l1-1 using ``draws`` (z_l then b_l per layer).

    AUTO (S.4): a block of k layers is multiplied plainly, k chosen so that the block's
    log-conditioning (spread of log|diag R|) is about ``target``; a block whose
    spread exceeds ``budget`` anyway is replayed from its start with a QR after every
    layer. A block also ends at a rank drop and at the end of this call (so a replay never
    needs draws from an earlier call).
    """
    pos = 0
    d = np.ones(M.shape[0])
    bpos, bl, bx, bM, bc = 0, l0, x, M, c  # block start, for a replay
    for l in range(l0, l1):
        W, x, d, pos = _layer(code, a, ens, sigma_w, sigma_b, has_bias,
                              widths[l], widths[l + 1], draws, pos, x)
        r = M.shape[1]
        M, c, active, s = _accumulate(W, d, M, c)
        since += 1
        if mode == PLAIN or r == 0:
            continue
        if mode == QR or since >= k or active < r or s == 0.0 or (mode == AUTO and l == l1 - 1):
            Mq, Uq, lq, spread = _reorth(M, d, U, logd, c)
            if mode == AUTO and since > 1 and spread > budget:
                M, c, xx, pp = bM, bc, bx, bpos
                for ll in range(bl, l + 1):
                    W2, xx, d2, pp = _layer(code, a, ens, sigma_w, sigma_b, has_bias,
                                            widths[ll], widths[ll + 1], draws, pp, xx)
                    M, c, act2, s2 = _accumulate(W2, d2, M, c)
                    M, U, logd, sp2 = _reorth(M, d2, U, logd, c)
                    c = 0.0
            else:
                M, U, logd = Mq, Uq, lq
            c = 0.0
            if mode == AUTO:
                rate = spread / since
                k = _NEVER if rate <= 0.0 else max(1, int(min(target / rate, 1e18)))
            since = 0
            bpos, bl, bx, bM, bc = pos, l + 1, x, M, c
    return x, d, M, U, logd, c, since, k


def _start(code, a, q0, g, mode):
    n0 = g.shape[0]
    x = _input(code, a, q0, g)
    k = _NEVER if mode == PLAIN else 1
    return x, np.eye(n0), np.eye(n0), np.zeros(n0), 0.0, 0, k


def _finish(d, M, U, logd, c, since):
    if since > 0:
        M, U, logd, spread = _reorth(M, d, U, logd, c)
    return U, logd


def _batch(code, a, ens, sigma_w, sigma_b, has_bias, q0, widths, draws, mode, target, budget,
           core, margin, out):
    """Many chains: sample s uses row s of ``draws`` (g then every layer's z_l, b_l); writes
    its log singular values, descending, into ``out[s]``."""
    n0 = widths[0]
    L = widths.shape[0] - 1
    for s in prange(draws.shape[0]):
        row = draws[s]
        x, M, U, logd, c, since, k = _start(code, a, q0, row[:n0], mode)
        x, d, M, U, logd, c, since, k = _run_layers(
            code, a, ens, sigma_w, sigma_b, has_bias, widths, 0, L, row[n0:],
            x, M, U, logd, c, since, k, mode, target, budget)
        U, logd = _finish(d, M, U, logd, c, since)
        log_singular_values_of_factor(logd, U, out[s], core, margin)


def _lognorm_one(code, a, ens, sigma_w, sigma_b, has_bias, q0, widths, row):
    """log ||J u||^2 for a random unit u, propagating x and v = J_l u only.

    Per layer W_l is needed only on span(x, v): Gaussian W maps an orthonormal 2-frame to
    iid N(0, sigma_w^2/n_in) columns, Haar W to a Haar 2-frame (theory/sampling.md (S.7)).
    Draws per sample: g (n_0), u (n_0), then per layer G (max(n_in, n_out) x 2), b (n_out).
    The per-sample body is its own function: inside a ``prange`` body numba's parallel
    pass hoisted the per-layer ``np.empty`` buffers (whose size varies by layer) out of the
    loop, which corrupted chains with varying widths.
    """
    n0 = widths[0]
    L = widths.shape[0] - 1
    x = _input(code, a, q0, row[:n0])
    v = row[n0:2 * n0].copy()
    v /= math.sqrt(np.dot(v, v))
    pos = 2 * n0
    logr = 0.0
    for l in range(L):
        n_in = widths[l]
        n_out = widths[l + 1]
        m = max(n_in, n_out)
        G = row[pos:pos + 2 * m].reshape((m, 2))
        pos += 2 * m
        ax = math.sqrt(np.dot(x, x))
        cxv = 0.0
        if ax > 0.0:
            cxv = np.dot(x, v) / ax
            w = v - (cxv / ax) * x
        else:
            w = v.copy()
        bv = math.sqrt(np.dot(w, w))
        f1 = np.empty(n_out)
        f2 = np.empty(n_out)
        if ens == GAUSSIAN:
            sc = sigma_w / math.sqrt(n_in)
            for i in range(n_out):
                f1[i] = sc * G[i, 0]
                f2[i] = sc * G[i, 1]
        else:
            # Gram-Schmidt of the m x 2 Gaussian frame (positive diag(R): Haar)
            n1 = 0.0
            for i in range(m):
                n1 += G[i, 0] * G[i, 0]
            n1 = math.sqrt(n1)
            p = 0.0
            for i in range(m):
                p += G[i, 0] * G[i, 1]
            p /= n1
            n2 = 0.0
            for i in range(m):
                t = G[i, 1] - p * G[i, 0] / n1
                n2 += t * t
            n2 = math.sqrt(n2)
            # m = 1: no second direction exists (n2 = 0), and then bv = 0 too
            inv2 = sigma_w / n2 if n2 > 0.0 else 0.0
            for i in range(n_out):
                f1[i] = sigma_w * G[i, 0] / n1
                f2[i] = (G[i, 1] - p * G[i, 0] / n1) * inv2
        h = ax * f1
        if has_bias:
            for i in range(n_out):
                h[i] += sigma_b * row[pos + i]
            pos += n_out
        jv = cxv * f1 + bv * f2
        x = np.empty(n_out)
        d = np.empty(n_out)
        _act(code, a, h, x, d)
        v = d * jv
        nv = math.sqrt(np.dot(v, v))
        if nv == 0.0:
            logr = -math.inf
            break
        v /= nv
        logr += 2.0 * math.log(nv)
    return logr


def _lognorm(code, a, ens, sigma_w, sigma_b, has_bias, q0, widths, draws, out):
    """log ||J u||^2 for a random unit u per sample (row s of ``draws``), see ``_lognorm_one``."""
    for s in prange(draws.shape[0]):
        out[s] = _lognorm_one(code, a, ens, sigma_w, sigma_b, has_bias, q0, widths, draws[s])


_HELPERS = ("_act", "_input", "_haar", "_weight", "_reorth", "_layer", "_accumulate",
            "_run_layers", "_start", "_finish", "_lognorm_one")
_ENTRY = ("_batch", "_lognorm")


def _build(namespace, cache):
    """Compile the kernels into ``namespace`` (a globals dict); entries get serial/parallel twins."""
    opts = dict(cache=cache, fastmath=FASTMATH)
    for name in _HELPERS:
        f = globals()[name]
        namespace[name] = numba.njit(**opts)(types.FunctionType(f.__code__, namespace, name))
    out = {}
    for name in _ENTRY:
        f = globals()[name]
        for suffix, par in (("_serial", False), ("_parallel", True)):
            code = f.__code__.replace(co_name=name + suffix, co_qualname=name + suffix)
            out[name[1:] + suffix] = numba.njit(parallel=par, **opts)(
                types.FunctionType(code, namespace, name + suffix))
    for name in ("_start", "_run_layers", "_finish"):
        out[name[1:]] = namespace[name]
    return types.SimpleNamespace(**out)


_BUILTIN_NS = dict(globals())
BUILTIN = _build(_BUILTIN_NS, cache=True)
_CUSTOM_CACHE = {}


def kernels_for(nl):
    """The kernel namespace for nonlinearity ``nl`` (cached built-ins, or compiled for a custom one)."""
    if nl.code != CUSTOM:
        return BUILTIN
    if nl not in _CUSTOM_CACHE:
        phi, dphi = nl._funcs[0], nl._funcs[1]

        @numba.njit
        def custom_phi_dphi(code, a, h):
            return phi(h), dphi(h)

        ns = dict(globals())
        ns["_phi_dphi"] = custom_phi_dphi
        _CUSTOM_CACHE[nl] = _build(ns, cache=False)
    return _CUSTOM_CACHE[nl]
