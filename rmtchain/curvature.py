"""Spectra of the loss curvature at initialization: exact, stochastic Lanczos quadrature
(SLQ), top eigenvalues and the Hutchinson trace (theory/hessian.md (H.8)-(H.12)).

SLQ follows Ghorbani, Krishnan and Xiao (arXiv:1901.10159) and Lin, Saad and Yang
(arXiv:1308.5467): Rademacher probes, m Lanczos steps with full re-orthogonalisation, nodes
and weights of the Gauss quadrature rule from the tridiagonal matrix
(``scipy.linalg.eigh_tridiagonal``), Gaussian smoothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh_tridiagonal
from scipy.linalg.blas import daxpy, ddot, dgemv, dnrm2
from scipy.sparse.linalg import eigsh
from scipy.special import ndtr
from tqdm.auto import tqdm

from ._rng import as_generator, check_count
from .network import CurvatureOperator, Network
from .results import Moments

__all__ = ["CurvatureSpectrum", "TraceEstimate", "gauss_quadrature", "hessian_spectrum",
           "rademacher_probes",
           "hutchinson_trace", "lanczos", "top_eigenvalues", "SMOOTHING"]

#: default Gaussian smoothing width of ``CurvatureSpectrum.pdf``, as a fraction of the
#: spread of the nodes (theory/hessian.md (H.11))
SMOOTHING = 0.01

_METHODS = ("slq", "exact")

#: Lanczos re-orthogonalisation: a second Gram-Schmidt pass when the first leaves less than
#: this fraction of the norm (DGKS criterion, theory/hessian.md (H.8))
_DGKS = 1.0 / np.sqrt(2.0)


def _operator(net, X, Y, loss, matrix):
    if not isinstance(net, Network):
        raise ValueError(f"net must be an rmtchain Network, got {type(net).__name__}")
    return CurvatureOperator(net, X, Y, loss=loss, matrix=matrix)


def _seed_repr(rng):
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return int(rng)
    return rng if rng is None else type(rng).__name__


def rademacher_probes(rng, probes, dim):
    """The (probes, dim) Rademacher matrix SLQ and Hutchinson use: one call
    ``rng.integers(0, 2, size=(probes, dim))``, mapped 0 -> -1, 1 -> +1."""
    return 2.0 * rng.integers(0, 2, size=(probes, dim)) - 1.0


# --------------------------------------------------------------------------------------
# Lanczos and Gauss quadrature
# --------------------------------------------------------------------------------------

def lanczos(matvec, start, steps):
    """Lanczos tridiagonalisation with full re-orthogonalisation (theory/hessian.md (H.8)).

    Parameters
    ----------
    matvec : callable
        v -> A v for a symmetric A of size dim (v a contiguous float64 (dim,) array).
    start : (dim,) array
        Starting vector (nonzero, finite); normalised here.
    steps : int
        Maximum number of steps m >= 1. Stops early, after j < m steps, when the Krylov
        space is invariant (beta_j <= 1e-12 times the largest |alpha|, beta seen), and after
        at most dim steps.

    Returns
    -------
    alpha : (j,) array
        Diagonal of T.
    beta : (j - 1,) array
        Off-diagonal of T.

    Notes
    -----
    Each new vector has the three-term recurrence removed and is then orthogonalised
    against all previous ones by classical Gram-Schmidt, with a second pass whenever the
    first removed more than 1 - 1/sqrt(2) of its norm (the DGKS criterion of Daniel,
    Gragg, Kaufman and Stewart 1976, "twice is enough"), so T is the exact tridiagonal
    matrix of the Krylov space to rounding, and the Gauss rule of (H.9) is exact for
    polynomials of degree <= 2j - 1 (H.10). The full passes read every stored vector
    and dominate the cost at large dim; the DGKS test usually skips the second one. The
    loop calls scipy's BLAS only (``scipy.linalg.blas``), the library Numba's ``np.dot``
    in the curvature kernels uses: alternating with numpy's separate OpenBLAS lets two
    thread pools spin against each other at 2+ threads (3 SLQ probes at P = 1e6, 2 threads:
    28 s with numpy's BLAS in this loop, 6.5 s without).
    """
    steps = check_count("steps", steps)
    q = np.array(start, dtype=np.float64).ravel()
    if not np.isfinite(q).all():
        raise ValueError("start must be finite")
    nrm = np.linalg.norm(q)
    if nrm == 0.0:
        raise ValueError("start must be a nonzero vector")
    return _lanczos(matvec, q / nrm, min(steps, q.size), None)


def _lanczos(matvec, q0, m, work):
    """Lanczos from the unit vector q0 for m steps; ``work`` is None or a float64 array of
    at least m * dim entries reused for the Krylov basis (``hessian_spectrum`` passes one
    buffer to all probes: a fresh (m, dim) array per probe costs page faults)."""
    dim = q0.size
    Q = np.empty((m, dim)) if work is None else work[:m * dim].reshape(m, dim)
    Q[0] = q0
    alpha = np.empty(m)
    beta = np.empty(max(m - 1, 0))
    scale = 0.0
    for j in range(m):
        w = np.asarray(matvec(Q[j]), dtype=np.float64)
        if w.shape != (dim,) or not np.isfinite(w).all():
            raise ValueError("matvec must return a finite vector of the same length as start")
        alpha[j] = ddot(Q[j], w)
        scale = max(scale, abs(alpha[j]))
        if j == m - 1:
            break
        w = w - alpha[j] * Q[j]                 # a new array: matvec's output is not modified
        if j > 0:
            w = daxpy(Q[j - 1], w, a=-beta[j - 1])
        b = dnrm2(w)
        Qt = Q[:j + 1].T                        # (dim, j + 1), Fortran order: no copy
        for _ in range(2):
            # classical Gram-Schmidt against q_1..q_{j+1}: w -= Q^T (Q w), in place
            w = dgemv(-1.0, Qt, dgemv(1.0, Qt, w, trans=1), beta=1.0, y=w, overwrite_y=True)
            before, b = b, dnrm2(w)
            if b >= _DGKS * before:
                break
        scale = max(scale, b)
        if b <= 1e-12 * scale:
            return alpha[:j + 1].copy(), beta[:j].copy()
        beta[j] = b
        np.divide(w, b, out=Q[j + 1])
    return alpha, beta


def gauss_quadrature(alpha, beta):
    """Nodes and weights of the Gauss rule of a Lanczos run (theory/hessian.md (H.9)).

    Nodes are the eigenvalues theta_i of the tridiagonal T(alpha, beta); weights are the
    squared first components tau_i^2 of its unit eigenvectors (they sum to 1).
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64)
    if alpha.ndim != 1 or alpha.size < 1 or beta.shape != (alpha.size - 1,):
        raise ValueError(f"alpha must be 1-d (m >= 1) and beta of length m - 1; got shapes "
                         f"{alpha.shape}, {beta.shape}")
    if alpha.size == 1:
        return alpha.copy(), np.ones(1)
    nodes, vecs = eigh_tridiagonal(alpha, beta)
    return nodes, vecs[0] ** 2


# --------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CurvatureSpectrum:
    """The spectral density of a curvature matrix (``hessian_spectrum``).

    Attributes
    ----------
    nodes : (k,) array
        Quadrature nodes, all probes concatenated (``method="slq"``), or the eigenvalues
        (``"exact"``).
    weights : (k,) array
        Their weights; they sum to 1 (each probe's rule divided by ``probes``).
    probe : (k,) int array
        Which probe each node belongs to (all 0 for ``"exact"``).
    eigenvalues : (P,) array or None
        Ascending eigenvalues for ``"exact"``, else None.
    dim : int
        P, the number of parameters.
    matrix, loss, method : str
    probes, steps : int
        As requested (``steps`` is the maximum; a run stops early on an invariant subspace).
    width : float
        Default Gaussian smoothing width of ``pdf`` (H.11).
    seed : object
        The ``rng`` argument as given.
    """

    nodes: np.ndarray
    weights: np.ndarray
    probe: np.ndarray
    eigenvalues: object
    dim: int
    matrix: str
    loss: str
    method: str
    probes: int
    steps: int
    width: float
    seed: object = None

    def pdf(self, x, width=None):
        """Smoothed density sum_i w_i N(x; theta_i, width^2) (theory/hessian.md (H.11)).

        Parameters
        ----------
        x : array_like
        width : float, optional
            Standard deviation of the Gaussian kernel (> 0); default ``self.width``.
        """
        width = self.width if width is None else float(width)
        if not (np.isfinite(width) and width > 0):
            raise ValueError(f"width must be a finite number > 0, got {width}")
        x = np.asarray(x, dtype=np.float64)
        z = (x[..., None] - self.nodes) / width
        return (np.exp(-0.5 * z * z) @ self.weights) / (width * np.sqrt(2.0 * np.pi))

    def cdf(self, x, width=None):
        """The cdf of the smoothed density (``width=0`` gives the step function of the rule)."""
        width = self.width if width is None else float(width)
        if not (np.isfinite(width) and width >= 0):
            raise ValueError(f"width must be a finite number >= 0, got {width}")
        x = np.asarray(x, dtype=np.float64)
        d = x[..., None] - self.nodes
        k = (d >= 0).astype(float) if width == 0 else ndtr(d / width)
        return k @ self.weights

    def moments(self, kmax):
        """Normalised traces m_k = tr(A^k) / P, k = 1..kmax (H.10).

        Returns
        -------
        Moments
            ``per_sample`` has one row per probe (one row for ``"exact"``); ``stderr`` is the
            standard error over probes (0 for ``"exact"``, inf for one probe). SLQ gives each
            probe's q^T A^k q exactly for k <= 2 m - 1 (m = Lanczos steps run).
        """
        kmax = check_count("kmax", kmax)
        k = np.arange(1, kmax + 1)
        n = self.probes if self.method == "slq" else 1
        per = np.zeros((n, kmax))
        powers = self.nodes[:, None] ** k[None, :]
        np.add.at(per, self.probe, self.weights[:, None] * powers * n)
        mean = per.mean(axis=0)
        if self.method == "exact":
            stderr = np.zeros(kmax)
        elif n > 1:
            stderr = per.std(axis=0, ddof=1) / np.sqrt(n)
        else:
            stderr = np.full(kmax, np.inf)
        return Moments(k=k, mean=mean, stderr=stderr, per_sample=per)


@dataclass(frozen=True)
class TraceEstimate:
    """Hutchinson's estimate of tr(A) (theory/hessian.md (H.12)).

    Attributes
    ----------
    trace : float
        Mean of z^T A z over Rademacher probes z.
    stderr : float
        Its standard error (inf for one probe).
    per_probe : (probes,) array
    matrix, loss : str
    seed : object
    """

    trace: float
    stderr: float
    per_probe: np.ndarray
    matrix: str
    loss: str
    seed: object = None


# --------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------

def _default_width(nodes):
    lo, hi = float(nodes.min()), float(nodes.max())
    scale = hi - lo if hi > lo else max(abs(lo), abs(hi))
    return SMOOTHING * scale if scale > 0 else SMOOTHING


def hessian_spectrum(net, X, Y, *, loss="mse", matrix="hessian", method="slq", probes=10,
                     steps=80, rng=None):
    """Spectral density of the Hessian, Gauss-Newton or Fisher matrix of the loss.

    Parameters
    ----------
    net : Network
    X : (sample, n_0) array
    Y : (sample, n_L) array (``"mse"``) or (sample,) class indices (``"cross_entropy"``)
    loss : {"mse", "cross_entropy"}
    matrix : {"hessian", "gauss_newton", "fisher"}
    method : {"slq", "exact"}
        ``"slq"``: stochastic Lanczos quadrature; ``"exact"``: dense eigendecomposition
        (P <= ``rmtchain.network.DENSE_MAX_PARAMETERS``).
    probes : int
        Number of Rademacher probes (>= 1), SLQ only.
    steps : int
        Lanczos steps per probe (>= 1; at most P are run), SLQ only.
    rng : None, int or numpy.random.Generator
        Probes are ``rademacher_probes(rng, probes, P)`` (one draw).

    Returns
    -------
    CurvatureSpectrum

    Notes
    -----
    theory/hessian.md (H.8)-(H.11): each probe's Gauss rule reproduces q^T A^k q for
    k <= 2m - 1, so ``moments`` are unbiased estimates of tr(A^k)/P up to that order.
    References: Ghorbani, Krishnan, Xiao arXiv:1901.10159; Lin, Saad, Yang arXiv:1308.5467.
    """
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    probes = check_count("probes", probes)
    steps = check_count("steps", steps)
    gen = as_generator(rng)  # validated for both methods; "exact" draws nothing
    op = _operator(net, X, Y, loss, matrix)
    dim = op.shape[0]
    if method == "exact":
        eig = np.linalg.eigh(op.dense())[0]
        return CurvatureSpectrum(eig.copy(), np.full(dim, 1.0 / dim), np.zeros(dim, dtype=np.int64),
                                 eig, dim, op.matrix, op.loss, method, probes, steps,
                                 _default_width(eig), _seed_repr(rng))
    Z = rademacher_probes(gen, probes, dim)
    m = min(steps, dim)
    work = np.empty(m * dim)
    nodes, weights, which = [], [], []
    for i in tqdm(range(probes), desc="SLQ probes", delay=2.0, leave=False):
        a, b = _lanczos(op._matvec_unchecked, Z[i] / np.sqrt(dim), m, work)
        t, w = gauss_quadrature(a, b)
        nodes.append(t)
        weights.append(w / probes)
        which.append(np.full(t.size, i, dtype=np.int64))
    nodes = np.concatenate(nodes)
    return CurvatureSpectrum(nodes, np.concatenate(weights), np.concatenate(which), None, dim,
                             op.matrix, op.loss, method, probes, steps, _default_width(nodes),
                             _seed_repr(rng))


def top_eigenvalues(net, X, Y, k=1, *, loss="mse", matrix="hessian", which="LA", tol=0.0,
                    rng=None):
    """The k extreme eigenvalues by implicitly restarted Lanczos (ARPACK ``eigsh``).

    Parameters
    ----------
    k : int
        How many (1 <= k < P).
    which : {"LA", "SA", "LM"}
        Largest algebraic, smallest algebraic, or largest magnitude.
    tol : float
        ARPACK relative accuracy (0 = machine precision).
    rng : None, int or Generator
        Draws ARPACK's starting vector (``rng.standard_normal(P)``) so results are
        reproducible.

    Returns
    -------
    (k,) array, in descending order ("LA", "LM" by value) or ascending ("SA").
    """
    k = check_count("k", k)
    if which not in ("LA", "SA", "LM"):
        raise ValueError(f"which must be one of ('LA', 'SA', 'LM'), got {which!r}")
    if not (isinstance(tol, (int, float)) and np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    op = _operator(net, X, Y, loss, matrix)
    dim = op.shape[0]
    if k >= dim:
        raise ValueError(f"k must be < P = {dim} for Lanczos (use hessian_spectrum(method="
                         f"'exact') for all eigenvalues), got {k}")
    v0 = as_generator(rng).standard_normal(dim)
    vals = eigsh(op.as_linear_operator(), k=k, which=which, tol=tol, v0=v0,
                 return_eigenvectors=False)
    return np.sort(vals) if which == "SA" else np.sort(vals)[::-1]


def hutchinson_trace(net, X, Y, *, loss="mse", matrix="hessian", probes=100, rng=None):
    """Hutchinson's estimator tr(A) ~ mean_i z_i^T A z_i over Rademacher z_i (H.12).

    Probes are ``rademacher_probes(rng, probes, P)``. Returns a ``TraceEstimate``.
    """
    probes = check_count("probes", probes)
    op = _operator(net, X, Y, loss, matrix)
    Z = rademacher_probes(as_generator(rng), probes, op.shape[0])
    per = np.array([z @ op._matvec_unchecked(z)
                    for z in tqdm(Z, desc="Hutchinson", delay=2.0, leave=False)])
    stderr = per.std(ddof=1) / np.sqrt(probes) if probes > 1 else np.inf
    return TraceEstimate(float(per.mean()), float(stderr), per, op.matrix, op.loss,
                         _seed_repr(rng))
