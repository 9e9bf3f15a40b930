"""Random networks as functions: outputs, losses, gradients and exact curvature products.

A ``Network`` is the chain of ../shared/THEORY.md (Conventions) with a linear readout: for
l = 1..L, ``h_l = W_l x_{l-1} + b_l`` and ``x_l = phi(h_l)`` for l < L; the output is
``f = h_L``. The input ``x_0`` is the user's ``X`` as it is. Parameters are ordered
``[W_1, b_1, ..., W_L, b_L]``, each W row-major ``(n_l, n_{l-1})`` (theory/hessian.md (H.1)).

Losses (H.2): ``"mse"`` ``0.5 * mean_i ||f(x_i) - y_i||^2`` and ``"cross_entropy"``
``mean_i [logsumexp f(x_i) - f(x_i)_{y_i}]``. Products with the Hessian use Pearlmutter's
R-operator (forward-over-reverse, theory/hessian.md (H.3)-(H.5)); the Gauss-Newton matrix
``G = J^T H_out J`` (H.6) drops the second-order terms; the Fisher implemented is the
true Fisher with the model's predictive distribution, which equals G for both losses (H.7).

Kernels (``@njit``, below) take flat arrays and write into buffers the wrapper allocated;
``CurvatureOperator`` validates once, runs the forward and backward pass once, and then
applies H, G or F to as many vectors as wanted.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass, field

import numba
import numpy as np
from scipy.special import log_softmax, softmax
from tqdm.auto import tqdm

from ._config import FASTMATH
from ._rng import as_generator
from .nonlinearities import CUSTOM, Nonlinearity, _d2phi, _phi_dphi, get_phi

__all__ = ["Network", "CurvatureOperator", "sample_network", "LOSSES", "MATRICES",
           "DENSE_MAX_PARAMETERS"]

LOSSES = ("mse", "cross_entropy")
MATRICES = ("hessian", "gauss_newton", "fisher")
_MSE, _CE = 0, 1

#: ``Network.hessian`` / ``CurvatureOperator.dense`` refuse networks with more parameters
#: (a dense 4096 x 4096 float64 matrix is 128 MiB and takes 4096 products to build).
DENSE_MAX_PARAMETERS = 4096


# --------------------------------------------------------------------------------------
# kernels: no validation, no RNG; buffers are flat arrays, layer l (0-based) of a batch of
# B inputs at [aoff[l], aoff[l] + B * n_{l+1}) viewed as (B, n_{l+1}); parameters of layer
# l at poff[l]: W (n_{l+1}, n_l) row-major, then b (n_{l+1}).
# --------------------------------------------------------------------------------------

def _forward(code, a, widths, poff, aoff, theta, X, H, A, D, D2):
    """h_l = x_{l-1} W_l^T + b_l; x_l = phi(h_l), with phi', phi'' for l < L (H.1)."""
    B = X.shape[0]
    L = widths.shape[0] - 1
    for l in range(L):
        nin = widths[l]
        nout = widths[l + 1]
        p = poff[l]
        W = theta[p:p + nout * nin].reshape((nout, nin))
        b = theta[p + nout * nin:p + nout * nin + nout]
        s = aoff[l]
        h = H[s:s + B * nout].reshape((B, nout))
        if l == 0:
            np.dot(X, W.T, h)
        else:
            np.dot(A[aoff[l - 1]:aoff[l - 1] + B * nin].reshape((B, nin)), W.T, h)
        for i in range(B):
            for j in range(nout):
                h[i, j] += b[j]
        if l < L - 1:
            for k in range(s, s + B * nout):
                A[k], D[k] = _phi_dphi(code, a, H[k])
                D2[k] = _d2phi(code, a, H[k])


def _backward(widths, poff, aoff, theta, X, A, D, Delta, GX, grad):
    """Backprop (H.3): Delta at layer L holds dl/dh_L on entry; fills Delta (dl/dh_l),
    GX (dl/dx_l, l < L) and grad (dl/dtheta)."""
    B = X.shape[0]
    L = widths.shape[0] - 1
    for l in range(L - 1, -1, -1):
        nin = widths[l]
        nout = widths[l + 1]
        p = poff[l]
        W = theta[p:p + nout * nin].reshape((nout, nin))
        delta = Delta[aoff[l]:aoff[l] + B * nout].reshape((B, nout))
        gW = grad[p:p + nout * nin].reshape((nout, nin))
        if l == 0:
            np.dot(delta.T, X, gW)
        else:
            np.dot(delta.T, A[aoff[l - 1]:aoff[l - 1] + B * nin].reshape((B, nin)), gW)
        gb = grad[p + nout * nin:p + nout * nin + nout]
        for j in range(nout):
            gb[j] = 0.0
        for i in range(B):
            for j in range(nout):
                gb[j] += delta[i, j]
        if l > 0:
            s = aoff[l - 1]
            gx = GX[s:s + B * nin].reshape((B, nin))
            np.dot(delta, W, gx)
            for k in range(s, s + B * nin):
                Delta[k] = GX[k] * D[k]


def _rop(widths, poff, aoff, theta, v, X, A, D, D2, Delta, GX, P, loss, gn, RH, RX, RD, out):
    """out = H v (gn = False, R-operator (H.4)-(H.5)) or G v (gn = True, (H.6)).

    Forward: R(h_l) = V_l x_{l-1} + W_l R(x_{l-1}) + c_l, R(x_l) = phi'(h_l) R(h_l).
    Backward: R(delta_L) = H_out R(f); R(dW_l) = R(delta_l)^T x_{l-1} + delta_l^T R(x_{l-1});
    R(dx_{l-1}) = R(delta_l) W_l + delta_l V_l;
    R(delta_{l-1}) = phi' R(dx_{l-1}) + phi'' dx_{l-1} R(h_{l-1}).
    """
    B = X.shape[0]
    L = widths.shape[0] - 1
    for l in range(L):
        nin = widths[l]
        nout = widths[l + 1]
        p = poff[l]
        W = theta[p:p + nout * nin].reshape((nout, nin))
        V = v[p:p + nout * nin].reshape((nout, nin))
        c = v[p + nout * nin:p + nout * nin + nout]
        s = aoff[l]
        rh = RH[s:s + B * nout].reshape((B, nout))
        if l == 0:
            np.dot(X, V.T, rh)
        else:
            s0 = aoff[l - 1]
            np.dot(A[s0:s0 + B * nin].reshape((B, nin)), V.T, rh)
            rh += np.dot(RX[s0:s0 + B * nin].reshape((B, nin)), W.T)
        for i in range(B):
            for j in range(nout):
                rh[i, j] += c[j]
        if l < L - 1:
            for k in range(s, s + B * nout):
                RX[k] = D[k] * RH[k]
    # R(delta_L) = H_out R(f) (H.2): MSE I/B, cross-entropy (diag p - p p^T)/B
    nL = widths[L]
    s = aoff[L - 1]
    rf = RH[s:s + B * nL].reshape((B, nL))
    rd = RD[s:s + B * nL].reshape((B, nL))
    for i in range(B):
        if loss == 0:
            for j in range(nL):
                rd[i, j] = rf[i, j] / B
        else:
            pr = 0.0
            for j in range(nL):
                pr += P[i, j] * rf[i, j]
            for j in range(nL):
                rd[i, j] = P[i, j] * (rf[i, j] - pr) / B
    for l in range(L - 1, -1, -1):
        nin = widths[l]
        nout = widths[l + 1]
        p = poff[l]
        W = theta[p:p + nout * nin].reshape((nout, nin))
        V = v[p:p + nout * nin].reshape((nout, nin))
        s = aoff[l]
        rd = RD[s:s + B * nout].reshape((B, nout))
        oW = out[p:p + nout * nin].reshape((nout, nin))
        if l == 0:
            np.dot(rd.T, X, oW)
        else:
            s0 = aoff[l - 1]
            np.dot(rd.T, A[s0:s0 + B * nin].reshape((B, nin)), oW)
            if not gn:
                delta = Delta[s:s + B * nout].reshape((B, nout))
                oW += np.dot(delta.T, RX[s0:s0 + B * nin].reshape((B, nin)))
        ob = out[p + nout * nin:p + nout * nin + nout]
        for j in range(nout):
            ob[j] = 0.0
        for i in range(B):
            for j in range(nout):
                ob[j] += rd[i, j]
        if l > 0:
            s0 = aoff[l - 1]
            rdp = RD[s0:s0 + B * nin].reshape((B, nin))
            np.dot(rd, W, rdp)
            if gn:
                for k in range(s0, s0 + B * nin):
                    RD[k] *= D[k]
            else:
                delta = Delta[s:s + B * nout].reshape((B, nout))
                rdp += np.dot(delta, V)
                for k in range(s0, s0 + B * nin):
                    RD[k] = RD[k] * D[k] + GX[k] * D2[k] * RH[k]


_KERNELS = ("_forward", "_backward", "_rop")


def _build(namespace, cache):
    out = {}
    for name in _KERNELS:
        f = globals()[name]
        out[name[1:]] = numba.njit(cache=cache, fastmath=FASTMATH)(
            types.FunctionType(f.__code__, namespace, name))
    return types.SimpleNamespace(**out)


_BUILTIN = _build(dict(globals()), cache=True)
_CUSTOM_KERNELS = {}


def _kernels_for(nl):
    """Cached kernels for a built-in phi; kernels compiled for a user-registered one."""
    if nl.code != CUSTOM:
        return _BUILTIN
    if nl not in _CUSTOM_KERNELS:
        phi, dphi, d2phi = nl._funcs

        @numba.njit
        def custom_phi_dphi(code, a, h):
            return phi(h), dphi(h)

        @numba.njit
        def custom_d2phi(code, a, h):
            return d2phi(h)

        ns = dict(globals())
        ns["_phi_dphi"] = custom_phi_dphi
        ns["_d2phi"] = custom_d2phi
        _CUSTOM_KERNELS[nl] = _build(ns, cache=False)
    return _CUSTOM_KERNELS[nl]


# --------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------

def _check_choice(name, value, allowed):
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def _float_array(name, value, ndim):
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - ragged input and the like
        raise ValueError(f"{name} must be a {ndim}-d array of real numbers") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating)
                                   or np.issubdtype(arr.dtype, np.integer)
                                   or arr.dtype == bool):
        raise ValueError(f"{name} must be a {ndim}-d array of real numbers, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-d, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def _frozen(arr):
    arr = np.array(arr, dtype=np.float64, copy=True)
    arr.flags.writeable = False
    return arr


# --------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Network:
    """A fully connected network with a linear readout, h_L = f(x) (theory/hessian.md (H.1)).

    Build one with ``sample_network(chain)`` or ``Network.from_arrays(weights, biases, phi)``.

    Attributes
    ----------
    weights : tuple of (n_l, n_{l-1}) arrays
        W_1, ..., W_L (read-only copies).
    biases : tuple of (n_l,) arrays
        b_1, ..., b_L (zeros when the chain has sigma_b = 0).
    phi : Nonlinearity
        Applied to h_1, ..., h_{L-1}; the output h_L is linear.
    chain : Chain or None
        The specification the weights were drawn from (``sample_network``), else None.
    seed : object
        The ``rng`` argument of ``sample_network`` as given (int, None or "Generator").

    Notes
    -----
    Parameters are ordered ``[W_1, b_1, ..., W_L, b_L]``, each W flattened row-major
    (``parameters()``, theory/hessian.md (H.1)). X has shape ``(sample, n_0)`` and is fed
    to the first layer as it is. Curvature products (``hvp``, ``gnvp``, ``fvp``) are exact
    (Pearlmutter 1994, theory/hessian.md (H.4)-(H.7)); each call runs the forward and
    backward pass again, so for many products with the same data use
    ``curvature_operator``.
    """

    weights: tuple
    biases: tuple
    phi: Nonlinearity
    chain: object = None
    seed: object = None
    widths: tuple = field(init=False, repr=False)
    _theta: np.ndarray = field(init=False, repr=False)
    _poff: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        phi = get_phi(self.phi)
        if isinstance(self.weights, np.ndarray) or isinstance(self.biases, np.ndarray):
            raise ValueError("weights and biases must be sequences of arrays, one per layer")
        try:
            ws = list(self.weights)
            bs = list(self.biases)
        except TypeError:
            raise ValueError("weights and biases must be sequences of arrays, one per layer") from None
        if len(ws) < 1:
            raise ValueError("weights must hold at least one layer")
        if len(bs) != len(ws):
            raise ValueError(f"biases must have one entry per layer ({len(ws)}), got {len(bs)}")
        ws = [_float_array(f"weights[{l}]", w, 2) for l, w in enumerate(ws)]
        bs = [_float_array(f"biases[{l}]", b, 1) for l, b in enumerate(bs)]
        widths = [ws[0].shape[1]]
        for l, (w, b) in enumerate(zip(ws, bs)):
            if w.shape[0] < 1 or w.shape[1] < 1:
                raise ValueError(f"weights[{l}] must have shape (n_{l + 1}, n_{l}) with both >= 1, "
                                 f"got {w.shape}")
            if w.shape[1] != widths[-1]:
                raise ValueError(f"weights[{l}] must have {widths[-1]} columns (the width of "
                                 f"layer {l}), got shape {w.shape}")
            if b.shape != (w.shape[0],):
                raise ValueError(f"biases[{l}] must have shape ({w.shape[0]},), got {b.shape}")
            widths.append(w.shape[0])
        ws = tuple(_frozen(w) for w in ws)
        bs = tuple(_frozen(b) for b in bs)
        theta = np.concatenate([np.concatenate([w.ravel(), b]) for w, b in zip(ws, bs)])
        theta.flags.writeable = False
        sizes = [w.size + b.size for w, b in zip(ws, bs)]
        poff = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        for name, value in (("weights", ws), ("biases", bs), ("phi", phi),
                            ("widths", tuple(widths)), ("_theta", theta), ("_poff", poff)):
            object.__setattr__(self, name, value)

    @classmethod
    def from_arrays(cls, weights, biases, phi):
        """A network from the user's arrays.

        Parameters
        ----------
        weights : sequence of 2-d arrays
            W_l of shape (n_l, n_{l-1}), l = 1..L.
        biases : sequence of 1-d arrays, or None
            b_l of shape (n_l,); None means zero biases.
        phi : str or Nonlinearity

        Raises
        ------
        ValueError
            If shapes do not chain, an entry is not finite, or ``phi`` is unknown.
        """
        if biases is None:
            try:
                biases = [np.zeros(np.shape(w)[0]) for w in weights]
            except (TypeError, IndexError):
                raise ValueError("weights must be a sequence of 2-d arrays") from None
        try:
            weights, biases = tuple(weights), tuple(biases)
        except TypeError:
            raise ValueError("weights and biases must be sequences of arrays (one per layer), "
                             f"got {type(weights).__name__} and {type(biases).__name__}") from None
        return cls(weights, biases, phi)

    # ---- shape ------------------------------------------------------------------------
    @property
    def depth(self):
        """L, the number of layers."""
        return len(self.weights)

    @property
    def n_parameters(self):
        """P = sum_l n_l (n_{l-1} + 1)."""
        return self._theta.size

    def parameters(self):
        """Flat copy of [W_1, b_1, ..., W_L, b_L] (W row-major), shape (P,)."""
        return self._theta.copy()

    def with_parameters(self, theta):
        """A network of the same shape and phi with flat parameters ``theta`` (shape (P,))."""
        theta = self._check_vector("theta", theta)
        ws, bs = [], []
        for l in range(self.depth):
            nin, nout = self.widths[l], self.widths[l + 1]
            p = self._poff[l]
            ws.append(theta[p:p + nout * nin].reshape(nout, nin))
            bs.append(theta[p + nout * nin:p + nout * nin + nout])
        return Network(tuple(ws), tuple(bs), self.phi)

    # ---- validation -------------------------------------------------------------------
    def _check_vector(self, name, v):
        v = _float_array(name, v, 1)
        if v.shape[0] != self.n_parameters:
            raise ValueError(f"{name} must have length P = {self.n_parameters} (the number of "
                             f"parameters), got {v.shape[0]}")
        return v

    def _check_X(self, X):
        X = _float_array("X", X, 2)
        if X.shape[0] < 1 or X.shape[1] != self.widths[0]:
            raise ValueError(f"X must have shape (samples >= 1, n_0 = {self.widths[0]}), "
                             f"got {X.shape}")
        return X

    def _check_Y(self, Y, loss, samples):
        n_out = self.widths[-1]
        if loss == "mse":
            Y = _float_array("Y", Y, 2)
            if Y.shape != (samples, n_out):
                raise ValueError(f"Y must have shape (samples, n_L) = ({samples}, {n_out}) for "
                                 f"loss='mse', got {Y.shape}")
            return Y
        Y = np.asarray(Y)
        if Y.ndim != 1 or Y.shape[0] != samples:
            raise ValueError(f"Y must hold {samples} class indices (shape ({samples},)) for "
                             f"loss='cross_entropy', got shape {Y.shape}")
        if np.issubdtype(Y.dtype, np.floating):
            if not (np.isfinite(Y).all() and (Y == np.round(Y)).all()):
                raise ValueError("Y must hold integer class indices for loss='cross_entropy'")
        elif not np.issubdtype(Y.dtype, np.integer):
            raise ValueError(f"Y must hold integer class indices for loss='cross_entropy', "
                             f"got dtype {Y.dtype}")
        Y = Y.astype(np.int64)
        if ((Y < 0) | (Y >= n_out)).any():
            raise ValueError(f"Y class indices must be in [0, n_L) = [0, {n_out})")
        return Y

    # ---- evaluation -------------------------------------------------------------------
    def _layout(self, samples):
        aoff = np.concatenate([[0], np.cumsum([samples * n for n in self.widths[1:]])])
        return np.asarray(self.widths, dtype=np.int64), aoff[:-1].astype(np.int64), int(aoff[-1])

    def _run_forward(self, X):
        widths, aoff, size = self._layout(X.shape[0])
        H, A, D, D2 = (np.empty(size) for _ in range(4))
        _kernels_for(self.phi).forward(self.phi.code, self.phi.param, widths, self._poff, aoff,
                                       self._theta, X, H, A, D, D2)
        return widths, aoff, H, A, D, D2

    def forward(self, X):
        """Outputs f(x_i) = h_L for each row of X, shape (sample, n_L)."""
        X = self._check_X(X)
        widths, aoff, H, *_ = self._run_forward(X)
        return H[aoff[-1]:].reshape(X.shape[0], self.widths[-1]).copy()

    def curvature_operator(self, X, Y, *, loss="mse", matrix="hessian"):
        """The Hessian, Gauss-Newton or Fisher matrix of the loss at (X, Y), as an operator.

        Validates once and runs the forward and backward pass once; each ``matvec`` is then
        one R-operator pass (theory/hessian.md (H.4)-(H.7)).

        Parameters
        ----------
        X : (sample, n_0) array
        Y : (sample, n_L) array for ``loss="mse"``; (sample,) integer class indices for
            ``loss="cross_entropy"``
        loss : {"mse", "cross_entropy"}
        matrix : {"hessian", "gauss_newton", "fisher"}

        Returns
        -------
        CurvatureOperator
        """
        return CurvatureOperator(self, X, Y, loss=loss, matrix=matrix)

    def loss(self, X, Y, *, loss="mse"):
        """The mean loss over the rows of X (theory/hessian.md (H.2))."""
        return self.curvature_operator(X, Y, loss=loss).loss_value

    def gradient(self, X, Y, *, loss="mse"):
        """dl/dtheta, shape (P,), ordered as ``parameters()`` (backprop, (H.3))."""
        return self.curvature_operator(X, Y, loss=loss).gradient.copy()

    def hvp(self, X, Y, v, *, loss="mse"):
        """Exact Hessian-vector product H v (Pearlmutter's R-operator, (H.4)-(H.5))."""
        return self.curvature_operator(X, Y, loss=loss, matrix="hessian").matvec(v)

    def gnvp(self, X, Y, v, *, loss="mse"):
        """Gauss-Newton-vector product G v = J^T H_out J v (theory/hessian.md (H.6))."""
        return self.curvature_operator(X, Y, loss=loss, matrix="gauss_newton").matvec(v)

    def fvp(self, X, Y, v, *, loss="mse"):
        """Fisher-vector product F v, F the true Fisher with the model's predictive
        distribution (unit-variance Gaussian for "mse", softmax for "cross_entropy"); it
        equals G for both losses (theory/hessian.md (H.7)). Not the empirical Fisher."""
        return self.curvature_operator(X, Y, loss=loss, matrix="fisher").matvec(v)

    def hessian(self, X, Y, *, loss="mse", matrix="hessian"):
        """The dense (P, P) matrix, column j = product with e_j, symmetrised.

        Raises
        ------
        ValueError
            If P > ``DENSE_MAX_PARAMETERS`` (4096).
        """
        return self.curvature_operator(X, Y, loss=loss, matrix=matrix).dense()


@dataclass(frozen=True, eq=False)
class CurvatureOperator:
    """H, G or F of the loss at fixed data, applied to vectors (theory/hessian.md (H.4)-(H.7)).

    Attributes
    ----------
    network : Network
    X, Y : arrays
        The validated data.
    loss : str
    matrix : str
    loss_value : float
        The mean loss at (X, Y).
    gradient : (P,) array
        dl/dtheta (read-only).
    shape : (P, P)

    Notes
    -----
    ``matvec`` reuses internal buffers: one operator must not be used from two threads at
    once.
    """

    network: Network
    X: np.ndarray
    Y: np.ndarray
    loss: str = "mse"
    matrix: str = "hessian"
    loss_value: float = field(init=False)
    gradient: np.ndarray = field(init=False, repr=False)
    _state: tuple = field(init=False, repr=False)

    def __post_init__(self):
        net = self.network
        if not isinstance(net, Network):
            raise ValueError(f"network must be an rmtchain Network, got {type(net).__name__}")
        loss = _check_choice("loss", self.loss, LOSSES)
        matrix = _check_choice("matrix", self.matrix, MATRICES)
        X = net._check_X(self.X)
        Y = net._check_Y(self.Y, loss, X.shape[0])
        B, nL = X.shape[0], net.widths[-1]
        widths, aoff, H, A, D, D2 = net._run_forward(X)
        f = H[aoff[-1]:].reshape(B, nL)
        if loss == "mse":
            r = f - Y
            value = 0.5 * float(np.sum(r * r)) / B
            dl = r / B
            P = np.zeros((0, 0))
        else:
            logp = log_softmax(f, axis=1)
            value = -float(np.sum(logp[np.arange(B), Y])) / B
            P = softmax(f, axis=1)
            dl = P.copy()
            dl[np.arange(B), Y] -= 1.0
            dl /= B
        Delta = np.empty_like(H)
        GX = np.empty_like(H)
        Delta[aoff[-1]:] = dl.ravel()
        grad = np.empty(net.n_parameters)
        _kernels_for(net.phi).backward(widths, net._poff, aoff, net._theta, X, A, D, Delta, GX,
                                       grad)
        grad.flags.writeable = False
        work = (np.empty_like(H), np.empty_like(H), np.empty_like(H))
        state = (widths, aoff, A, D, D2, Delta, GX, np.ascontiguousarray(P),
                 _MSE if loss == "mse" else _CE, matrix != "hessian", work)
        for name, value_ in (("X", X), ("Y", Y), ("loss_value", value), ("gradient", grad),
                             ("_state", state), ("loss", loss), ("matrix", matrix)):
            object.__setattr__(self, name, value_)

    @property
    def shape(self):
        """(P, P)."""
        p = self.network.n_parameters
        return (p, p)

    @property
    def dtype(self):
        return np.dtype(np.float64)

    def _apply(self, v, out):
        """out = M v; v contiguous float64 (P,); out (P,), written in place."""
        widths, aoff, A, D, D2, Delta, GX, P, loss, gn, (RH, RX, RD) = self._state
        net = self.network
        res = out if out.flags.c_contiguous else np.empty(out.shape[0])
        _kernels_for(net.phi).rop(widths, net._poff, aoff, net._theta, v, self.X, A, D, D2,
                                  Delta, GX, P, loss, gn, RH, RX, RD, res)
        if res is not out:
            out[...] = res
        return out

    def matvec(self, v):
        """The product with v (shape (P,), finite): H v, G v or F v."""
        v = self.network._check_vector("v", v)
        return self._apply(v, np.empty_like(v))

    def _matvec_unchecked(self, v):
        """For the Lanczos loop: v already a finite contiguous float64 (P,) array."""
        return self._apply(v, np.empty_like(v))

    def as_linear_operator(self):
        """A ``scipy.sparse.linalg.LinearOperator`` (symmetric) for eigsh and friends."""
        from scipy.sparse.linalg import LinearOperator

        def mv(v):
            return self._matvec_unchecked(np.ascontiguousarray(np.ravel(v), dtype=np.float64))

        return LinearOperator(self.shape, matvec=mv, rmatvec=mv, dtype=np.float64)

    def dense(self):
        """The dense (P, P) matrix (columns = products with e_j), symmetrised
        (0.5 (M + M^T); the asymmetry is rounding, (H.4)).

        Raises
        ------
        ValueError
            If P > ``DENSE_MAX_PARAMETERS``.
        """
        p = self.network.n_parameters
        if p > DENSE_MAX_PARAMETERS:
            raise ValueError(f"the network has P = {p} parameters; dense curvature matrices are "
                             f"limited to P <= {DENSE_MAX_PARAMETERS} (use hvp or "
                             f"hessian_spectrum(method='slq'))")
        M = np.empty((p, p))
        e = np.zeros(p)
        for j in tqdm(range(p), desc=f"dense {self.matrix}", delay=2.0, leave=False):
            e[j] = 1.0
            self._apply(e, M[:, j])
            e[j] = 0.0
        return 0.5 * (M + M.T)


# --------------------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------------------

def _haar(z):
    """Haar orthogonal (orthonormal columns if m >= n, rows otherwise) from Gaussian z
    (m, n): QR with the signs of diag(R) folded into Q (THEORY.md, Conventions)."""
    m, n = z.shape
    if m >= n:
        q, r = np.linalg.qr(z)
        return q * np.where(np.diag(r) < 0.0, -1.0, 1.0)
    q, r = np.linalg.qr(z.T)
    return np.ascontiguousarray((q * np.where(np.diag(r) < 0.0, -1.0, 1.0)).T)


def sample_network(chain, *, rng=None):
    """Draw a network with the weights and biases a ``Chain`` specifies.

    Parameters
    ----------
    chain : Chain
        Depth, widths, ensemble, phi, sigma_w, sigma_b. ``q0`` plays no role: the network
        takes the user's inputs as they are.
    rng : None, int or numpy.random.Generator
        Keyword-only (SPEC 7); the same seed gives the same network.

    Returns
    -------
    Network
        Output h_L (linear readout), parameters [W_1, b_1, ..., W_L, b_L].

    Notes
    -----
    Draw order, layer by layer l = 1..L: ``z = rng.standard_normal((n_l, n_{l-1}))``, then
    (only when sigma_b > 0) ``rng.standard_normal(n_l)`` for b_l. Gaussian:
    ``W_l = sigma_w z / sqrt(n_{l-1})``; orthogonal: ``W_l = sigma_w Q`` with Q the
    sign-corrected QR factor of z (Haar; a Haar partial isometry when n_l != n_{l-1}).
    Biases N(0, sigma_b^2), zero arrays when sigma_b = 0 (theory/hessian.md (H.1)).

    Examples
    --------
    >>> from rmtchain.chain import Chain
    >>> net = sample_network(Chain(3, 4, phi="tanh", sigma_w=1.5), rng=0)
    >>> net.widths, net.n_parameters
    ((4, 4, 4, 4), 60)
    """
    from .chain import Chain

    if not isinstance(chain, Chain):
        raise ValueError(f"chain must be an rmtchain.Chain, got {type(chain).__name__}")
    seed = rng if (rng is None or isinstance(rng, (int, np.integer))) else type(rng).__name__
    gen = as_generator(rng)
    ws, bs = [], []
    for l in range(chain.depth):
        nin, nout = chain.widths[l], chain.widths[l + 1]
        z = gen.standard_normal((nout, nin))
        if chain.weights == "gaussian":
            ws.append(z * (chain.sigma_w / math.sqrt(nin)))
        else:
            ws.append(_haar(z) * chain.sigma_w)
        if chain.sigma_b > 0.0:
            bs.append(chain.sigma_b * gen.standard_normal(nout))
        else:
            bs.append(np.zeros(nout))
    seed = int(seed) if isinstance(seed, (int, np.integer)) else seed
    return Network(tuple(ws), tuple(bs), chain.phi, chain, seed)
