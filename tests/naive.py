"""Obviously-correct NumPy / mpmath references ("naive twins") for the rmtchain kernels.

Every twin consumes exactly the same standard-normal draws as the kernel it mirrors, so a
test can compare numbers sample by sample:

``sample_spectrum`` -- one row per sample (``draws_spectrum``)::

    [g (n_0)] then, for l = 1..L: [z_l (n_l * n_{l-1}, row-major n_l x n_{l-1})]
                                  [b_l (n_l)]            (only if sigma_b > 0)

``sample_lognorm`` -- one row per sample (``draws_lognorm``)::

    [g (n_0)] [u (n_0)] then, for l = 1..L: [G_l (m x 2 row-major, m = max(n_{l-1}, n_l))]
                                            [b_l (n_l)]   (only if sigma_b > 0)

The rows of all samples come from one ``rng.standard_normal((samples, per))`` call, which
consumes the Generator stream exactly as the kernels' wrappers do (block by block, or
per sample and layer by layer for wide chains).

Nothing here imports the package's numerical code: the nonlinearities are re-implemented
with NumPy/SciPy (``phi_numpy``) and with mpmath (``phi_mpmath``), the weights are formed
with ``np.linalg.qr``, the Jacobian with ``functools.reduce(np.matmul, ...)``.
"""

from __future__ import annotations

import functools
import math

import mpmath
import numpy as np
from scipy import special

SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717

#: names of the built-in nonlinearities, as the issue lists them
BUILTIN_PHIS = ("linear", "tanh", "hardtanh", "relu", "leaky_relu", "erf", "sigmoid", "selu",
                "gelu", "silu")
#: nonlinearities with a continuous phi' (finite differences / mpmath.diff apply everywhere)
SMOOTH_PHIS = ("linear", "tanh", "erf", "sigmoid", "gelu", "silu")


# --------------------------------------------------------------------------------------
# nonlinearities
# --------------------------------------------------------------------------------------

def phi_numpy(name, param=0.0):
    """(phi, phi') as vectorised NumPy functions, written independently of the package.

    At the kinks phi' takes the value the kernels use: relu'(0) = 0, hardtanh'(+-1) = 0,
    leaky_relu'(0) = slope, selu'(0) = lambda * alpha (ties have probability zero with
    Gaussian draws anyway).
    """
    if name == "linear":
        return (lambda h: np.array(h, dtype=float),
                lambda h: np.ones_like(h, dtype=float))
    if name == "tanh":
        return np.tanh, lambda h: 1.0 / np.cosh(h) ** 2
    if name == "hardtanh":
        return (lambda h: np.clip(h, -1.0, 1.0),
                lambda h: ((h > -1.0) & (h < 1.0)).astype(float))
    if name == "relu":
        return (lambda h: np.where(h > 0.0, h, 0.0),
                lambda h: (h > 0.0).astype(float))
    if name == "leaky_relu":
        a = float(param)
        return (lambda h: np.where(h > 0.0, h, a * h),
                lambda h: np.where(h > 0.0, 1.0, a))
    if name == "erf":
        return special.erf, lambda h: 2.0 / math.sqrt(math.pi) * np.exp(-np.square(h))
    if name == "sigmoid":
        return special.expit, lambda h: special.expit(h) * special.expit(-h)
    if name == "selu":
        lam, alp = SELU_LAMBDA, SELU_ALPHA
        return (lambda h: np.where(h > 0.0, lam * h, lam * alp * np.expm1(np.minimum(h, 0.0))),
                lambda h: np.where(h > 0.0, lam, lam * alp * np.exp(np.minimum(h, 0.0))))
    if name == "gelu":
        return (lambda h: h * special.ndtr(h),
                lambda h: special.ndtr(h) + h * np.exp(-0.5 * np.square(h)) / math.sqrt(2 * math.pi))
    if name == "silu":
        return (lambda h: h * special.expit(h),
                lambda h: special.expit(h) * (1.0 + h * special.expit(-h)))
    raise KeyError(name)


def phi_mpmath(name, param=0.0):
    """phi as an mpmath function (differentiate it with ``mpmath.diff`` away from kinks)."""
    mp = mpmath.mp
    if name == "linear":
        return lambda h: mp.mpf(h)
    if name == "tanh":
        return mp.tanh
    if name == "hardtanh":
        return lambda h: max(mp.mpf(-1), min(mp.mpf(1), mp.mpf(h)))
    if name == "relu":
        return lambda h: mp.mpf(h) if h > 0 else mp.mpf(0)
    if name == "leaky_relu":
        a = mp.mpf(param)
        return lambda h: mp.mpf(h) if h > 0 else a * h
    if name == "erf":
        return mp.erf
    if name == "sigmoid":
        return lambda h: 1 / (1 + mp.exp(-h))
    if name == "selu":
        lam, alp = mp.mpf(SELU_LAMBDA), mp.mpf(SELU_ALPHA)
        return lambda h: lam * h if h > 0 else lam * alp * (mp.exp(h) - 1)
    if name == "gelu":
        return lambda h: h * mp.ncdf(h)
    if name == "silu":
        return lambda h: h / (1 + mp.exp(-h))
    raise KeyError(name)


def kinks_of(name):
    """Points where phi' is discontinuous (phi'' has a delta there)."""
    return {"hardtanh": (-1.0, 1.0), "relu": (0.0,), "leaky_relu": (0.0,), "selu": (0.0,)}.get(name, ())


def _phi_pair(chain, phi_pair=None):
    if phi_pair is not None:
        return phi_pair
    return phi_numpy(chain.phi.name, chain.phi.param)


# --------------------------------------------------------------------------------------
# draws and weights
# --------------------------------------------------------------------------------------

def per_sample_spectrum(chain):
    """Standard normals one sample of ``sample_spectrum`` consumes."""
    w = chain.widths
    bias = chain.sigma_b > 0
    return w[0] + sum(w[l + 1] * w[l] + (w[l + 1] if bias else 0) for l in range(chain.depth))


def per_sample_lognorm(chain):
    """Standard normals one sample of ``sample_lognorm`` consumes."""
    w = chain.widths
    bias = chain.sigma_b > 0
    return 2 * w[0] + sum(2 * max(w[l], w[l + 1]) + (w[l + 1] if bias else 0)
                          for l in range(chain.depth))


def draws_spectrum(chain, samples, seed):
    """The (samples, per) normals ``sample_spectrum(chain, samples, rng=seed)`` uses."""
    return np.random.default_rng(seed).standard_normal((samples, per_sample_spectrum(chain)))


def draws_lognorm(chain, samples, seed):
    """The (samples, per) normals ``sample_lognorm(chain, samples, rng=seed)`` uses."""
    return np.random.default_rng(seed).standard_normal((samples, per_sample_lognorm(chain)))


def haar(z):
    """Haar orthogonal (m >= n: orthonormal columns; m < n: orthonormal rows) from Gaussian
    z (m, n): QR with the signs of diag(R) folded into Q (Mezzadri, math-ph/0609050)."""
    m, n = z.shape
    if m >= n:
        q, r = np.linalg.qr(z)
        return q * np.where(np.diag(r) < 0.0, -1.0, 1.0)
    q, r = np.linalg.qr(z.T)
    return (q * np.where(np.diag(r) < 0.0, -1.0, 1.0)).T


def haar_frame(G):
    """The Haar 2-frame (m x 2, orthonormal columns) of a Gaussian G (m x 2): the first
    two columns of a Haar matrix. For m = 1 the Haar "matrix" is the single entry +-1 and
    is returned in both columns (whichever coordinate of ``span_basis`` carries the
    vector, W = +-1)."""
    q, r = np.linalg.qr(G)
    q = q * np.where(np.diag(r) < 0.0, -1.0, 1.0)
    if q.shape[1] == 1:
        q = np.hstack([q, q])
    return q


def span_basis(x, v):
    """E (n x 2) with E E^T acting as the identity on span(x, v), E[:, 0] = x / ||x||.

    Gaussian and Haar W restricted to span(x, v) are F E^T with F the 2-frame. Degenerate
    cases as the kernel treats them: x = 0 puts v on the second column (the span is then
    one-dimensional, and either frame column has the right law); in one dimension with
    x != 0 the second column is unused (0).
    """
    n = x.shape[0]
    E = np.zeros((n, 2))
    nx = np.linalg.norm(x)
    if nx == 0.0:
        E[:, 1] = v / np.linalg.norm(v)
    elif n == 1:
        E[:, 0] = np.sign(x)
    else:
        q, r = np.linalg.qr(np.column_stack([x, v]))
        E[:] = q * np.where(np.diag(r) < 0.0, -1.0, 1.0)
    return E


def build_network(chain, row):
    """(h_0, weights [W_1..W_L], biases [b_1..b_L] or Nones) from one draw row."""
    w = chain.widths
    n0 = w[0]
    g = row[:n0]
    h0 = math.sqrt(chain.q_input * n0) * g / np.linalg.norm(g)
    pos = n0
    Ws, bs = [], []
    for l in range(chain.depth):
        n_in, n_out = w[l], w[l + 1]
        z = row[pos:pos + n_out * n_in].reshape(n_out, n_in)
        pos += n_out * n_in
        if chain.weights == "gaussian":
            Ws.append(z * (chain.sigma_w / math.sqrt(n_in)))
        else:
            Ws.append(chain.sigma_w * haar(z))
        if chain.sigma_b > 0:
            bs.append(chain.sigma_b * row[pos:pos + n_out])
            pos += n_out
        else:
            bs.append(None)
    assert pos == row.shape[0], "draw layout mismatch"
    return h0, Ws, bs


def forward(chain, Ws, bs, x0, phi_pair=None):
    """x_L and the list of D_l = phi'(h_l) vectors for input x_0."""
    phi, dphi = _phi_pair(chain, phi_pair)
    x = np.asarray(x0, dtype=float)
    ds = []
    for W, b in zip(Ws, bs):
        h = W @ x
        if b is not None:
            h = h + b
        ds.append(np.asarray(dphi(h), dtype=float))
        x = np.asarray(phi(h), dtype=float)
    return x, ds


def network(chain, row, phi_pair=None):
    """(x_0, forward map x_0 -> x_L, [D_l], [W_l]) of the sampled network in ``row``."""
    phi, _ = _phi_pair(chain, phi_pair)
    h0, Ws, bs = build_network(chain, row)
    x0 = np.asarray(phi(h0), dtype=float)
    _, ds = forward(chain, Ws, bs, x0, phi_pair)
    return x0, (lambda x: forward(chain, Ws, bs, x, phi_pair)[0]), ds, Ws


def jacobian(chain, row, phi_pair=None):
    """J = D_L W_L ... D_1 W_1 formed explicitly in float64."""
    _, _, ds, Ws = network(chain, row, phi_pair)
    factors = [d[:, None] * W for d, W in zip(ds, Ws)]
    return functools.reduce(lambda acc, f: f @ acc, factors[1:], factors[0])


def singular_values(chain, row, phi_pair=None):
    """Singular values of J (descending, min(n_0, n_L) of them) by np.linalg.svd.

    Accurate to about eps * s_max in absolute terms: use for shallow, moderately
    conditioned chains only.
    """
    return np.linalg.svd(jacobian(chain, row, phi_pair), compute_uv=False)


def structural_rank(chain, row, phi_pair=None):
    """rank of J almost surely: min(n_0, n_1 .. n_L, number of nonzero phi'(h_l) per layer).

    The factors are generic given the active sets (continuous weight laws), so the product
    has exactly this rank; its other singular values are exact zeros.
    """
    _, _, ds, _ = network(chain, row, phi_pair)
    return min([chain.widths[0]] + [int(np.count_nonzero(d)) for d in ds])


def singular_values_mp(chain, row, dps=60, phi_pair=None):
    """Singular values of J (descending, as mpf) with the product and the SVD in mpmath.

    The factors D_l W_l are the float64 numbers of the sampled network; only the product
    and the SVD are exact to ``dps`` digits, so small singular values are relatively
    accurate whatever the conditioning (up to about 10^(-dps) * s_max).
    """
    _, _, ds, Ws = network(chain, row, phi_pair)
    with mpmath.workdps(dps):
        J = None
        for d, W in zip(ds, Ws):
            F = mpmath.matrix((d[:, None] * W).tolist())
            J = F if J is None else F * J
        if J.rows < J.cols:
            J = J.T
        s = mpmath.svd_r(J, compute_uv=False)
        vals = sorted((s[i] for i in range(s.rows)), reverse=True)
    return vals


def log_singular_values_mp(chain, row, dps=60, phi_pair=None, max_dps=2000):
    """Log singular values of J (descending, float64) from ``singular_values_mp``.

    The ``structural_rank`` nonzero ones are returned as logs, the exact zeros of a
    rank-deficient J as -inf. The precision is raised until the smallest nonzero value is
    above 10^(-dps/2) * s_max, i.e. many digits above the product's rounding floor.
    """
    rank = structural_rank(chain, row, phi_pair)
    out = np.full(chain.rank_bound, -np.inf)
    if rank == 0:
        return out
    while True:
        vals = singular_values_mp(chain, row, dps, phi_pair)
        with mpmath.workdps(dps):
            if vals[rank - 1] > vals[0] * mpmath.mpf(10) ** (-(dps // 2)) or dps >= max_dps:
                out[:rank] = [float(mpmath.log(v)) for v in vals[:rank]]
                return out
        dps *= 2


# --------------------------------------------------------------------------------------
# sample_lognorm twin
# --------------------------------------------------------------------------------------

def lognorm(chain, row, phi_pair=None):
    """log(||J u||^2) for one lognorm draw row, by the full 2-frame construction.

    Per layer the weight matrix is only needed on span(x_{l-1}, v), v = J_{l-1} u / ||.||:
    with E = [e_1, e_2] an orthonormal basis of that span (e_1 = x / ||x||), the layer uses
    W = F E^T, where F (n_l x 2) is sigma_w / sqrt(n_{l-1}) times the first n_l rows of G
    (Gaussian) or sigma_w times the first n_l rows of the Haar 2-frame Q of G = Q R
    (orthogonal; ``haar_frame``). W x and W v are exactly those of a full Gaussian / Haar
    draw. The full n_l x n_{l-1} matrix W is formed and applied with ``@``.
    """
    phi, dphi = _phi_pair(chain, phi_pair)
    w = chain.widths
    n0 = w[0]
    g, u = row[:n0], row[n0:2 * n0]
    x = np.asarray(phi(math.sqrt(chain.q_input * n0) * g / np.linalg.norm(g)), dtype=float)
    v = u / np.linalg.norm(u)
    pos = 2 * n0
    logr = 0.0
    for l in range(chain.depth):
        n_in, n_out = w[l], w[l + 1]
        m = max(n_in, n_out)
        G = row[pos:pos + 2 * m].reshape(m, 2)
        pos += 2 * m
        if chain.weights == "gaussian":
            F = chain.sigma_w / math.sqrt(n_in) * G[:n_out]
        else:
            F = chain.sigma_w * haar_frame(G)[:n_out]
        E = span_basis(x, v)
        W = F @ E.T
        h = W @ x
        if chain.sigma_b > 0:
            h = h + chain.sigma_b * row[pos:pos + n_out]
            pos += n_out
        v = np.asarray(dphi(h), dtype=float) * (W @ v)
        x = np.asarray(phi(h), dtype=float)
        nv = np.linalg.norm(v)
        if nv == 0.0:
            return -np.inf
        logr += 2.0 * math.log(nv)
        v = v / nv
    return logr


# --------------------------------------------------------------------------------------
# mean field (independent of rmtchain.meanfield)
# --------------------------------------------------------------------------------------

_GL_X, _GL_W = np.polynomial.legendre.leggauss(200)


def gaussian_expectation_np(f, q, kinks=(), zmax=12.0):
    """E[f(sqrt(q) z)] by Gauss-Legendre on [-zmax, zmax] split at the kinks of f.

    The Gaussian tail beyond 12 carries < 1e-32 of the mass; each smooth piece gets 200
    nodes, so the rule is exact to rounding for the nonlinearities here.
    """
    s = math.sqrt(q)
    cuts = sorted(k / s for k in kinks if -zmax < k / s < zmax)
    edges = [-zmax, *cuts, zmax]
    total = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        z = 0.5 * (b - a) * _GL_X + 0.5 * (a + b)
        total += 0.5 * (b - a) * np.sum(_GL_W * f(s * z) * np.exp(-0.5 * z * z))
    return total / math.sqrt(2.0 * math.pi)


def length_map_np(name, param, sigma_w, sigma_b, q):
    phi, _ = phi_numpy(name, param)
    return sigma_w ** 2 * gaussian_expectation_np(lambda h: phi(h) ** 2, q, kinks_of(name)) + sigma_b ** 2


def length_map_mp(name, param, sigma_w, sigma_b, q, dps=30):
    """The length map sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2 by mpmath quadrature."""
    with mpmath.workdps(dps):
        phi = phi_mpmath(name, param)
        s = mpmath.sqrt(mpmath.mpf(q))
        # split at the kinks and where the Gaussian weight lives (tanh-sinh on a long
        # piece such as [-1/sqrt(q), 1/sqrt(q)] for small q would miss the mass near 0)
        cuts = {mpmath.mpf(k) / s for k in kinks_of(name)} | {mpmath.mpf(c) for c in (-12, -6, -2, 0, 2, 6, 12)}
        pts = [-mpmath.inf, *sorted(cuts), mpmath.inf]
        val = mpmath.quad(lambda z: phi(s * z) ** 2 * mpmath.exp(-z * z / 2), pts)
        return mpmath.mpf(sigma_w) ** 2 * val / mpmath.sqrt(2 * mpmath.pi) + mpmath.mpf(sigma_b) ** 2
