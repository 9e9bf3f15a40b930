"""Tests for rmtchain.network: sampling, loss, gradient and exact curvature products.

References (independent of the package):
- a naive NumPy network with explicit backprop (below), written in complex-safe NumPy so that
  the complex-step derivative of its gradient, Im grad(theta + i t v) / t, gives H v to
  rounding (Squire & Trapp 1998; no subtractive cancellation);
- central finite differences of the gradient;
- the Fisher built from its definition, E_{y ~ model}[s s^T] with s = grad log p(y | x),
  from per-sample output Jacobians of the naive network;
- theory/hessian.md identities: G = H at zero residual for linear networks (H.6),
  tr H = tr G for piecewise-linear networks (H.13).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special

from helpers import RTOL_ROUNDING
from naive import haar
from rmtchain.chain import Chain
from rmtchain.network import DENSE_MAX_PARAMETERS, Network, sample_network
from strategies import seeds

#: norm-relative agreement of two float64 evaluations of the same curvature product by
#: different algorithms (R-operator vs complex step; rounding grows with depth and the
#: condition of the layer products, so looser than RTOL_ROUNDING)
RTOL_PRODUCT = 1e-10


# --------------------------------------------------------------------------------------
# naive twin: explicit backprop, complex-safe
# --------------------------------------------------------------------------------------

def _phi_pair(name):
    """(phi, phi') written with complex-safe NumPy (relu/leaky by the real part)."""
    if name == "linear":
        return (lambda h: h), (lambda h: np.ones_like(h))
    if name == "tanh":
        return np.tanh, (lambda h: 1.0 - np.tanh(h) ** 2)
    if name == "sigmoid":
        s = lambda h: 1.0 / (1.0 + np.exp(-h))  # noqa: E731
        return s, (lambda h: s(h) * (1.0 - s(h)))
    if name == "erf":
        return special.erf, (lambda h: 2.0 / math.sqrt(math.pi) * np.exp(-h * h))
    if name == "silu":
        s = lambda h: 1.0 / (1.0 + np.exp(-h))  # noqa: E731
        return (lambda h: h * s(h)), (lambda h: s(h) + h * s(h) * (1.0 - s(h)))
    if name == "relu":
        return (lambda h: np.where(h.real > 0, h, 0.0)), (lambda h: (h.real > 0) * 1.0)
    if name == "leaky_relu":
        return (lambda h: np.where(h.real > 0, h, 0.1 * h)), (lambda h: np.where(h.real > 0, 1.0, 0.1))
    raise KeyError(name)


NAIVE_PHIS = ("linear", "tanh", "sigmoid", "erf", "silu", "relu", "leaky_relu")


def _pkg_phi(name):
    return "leaky_relu(0.1)" if name == "leaky_relu" else name


def unflatten(theta, widths):
    Ws, bs, p = [], [], 0
    for nin, nout in zip(widths[:-1], widths[1:]):
        Ws.append(theta[p:p + nout * nin].reshape(nout, nin))
        p += nout * nin
        bs.append(theta[p:p + nout])
        p += nout
    assert p == theta.size
    return Ws, bs


def naive_forward(theta, widths, name, X):
    phi, dphi = _phi_pair(name)
    Ws, bs = unflatten(theta, widths)
    xs, hs = [X], []
    for l, (W, b) in enumerate(zip(Ws, bs)):
        hs.append(xs[-1] @ W.T + b)
        if l < len(Ws) - 1:
            xs.append(phi(hs[-1]))
    return Ws, xs, hs, dphi


def naive_backprop(theta, widths, name, X, G):
    """Gradient of sum(G * f(X)) w.r.t. theta (explicit chain rule)."""
    Ws, xs, hs, dphi = naive_forward(theta, widths, name, X)
    grads = []
    g = G
    for l in range(len(Ws) - 1, -1, -1):
        grads.append(np.concatenate([(g.T @ xs[l]).ravel(), g.sum(axis=0)]))
        if l > 0:
            g = (g @ Ws[l]) * dphi(hs[l - 1])
    return np.concatenate(grads[::-1])


def naive_loss_grad(theta, widths, name, X, Y, loss):
    _, _, hs, _ = naive_forward(theta, widths, name, X)
    f = hs[-1]
    B = X.shape[0]
    if loss == "mse":
        r = f - Y
        value = 0.5 * np.sum(r * r) / B
        G = r / B
    else:
        m = f.real.max(axis=1, keepdims=True)
        e = np.exp(f - m)
        s = e.sum(axis=1, keepdims=True)
        value = np.mean(m[:, 0] + np.log(s[:, 0]) - f[np.arange(B), Y])
        G = e / s
        G[np.arange(B), Y] -= 1.0
        G = G / B
    return value, naive_backprop(theta, widths, name, X, G)


def complex_step_hvp(theta, widths, name, X, Y, loss, v, t=1e-30):
    """H v = Im grad(theta + i t v) / t + O(t^2): exact to rounding for analytic phi."""
    _, g = naive_loss_grad(theta + 1j * t * v, widths, name, X, Y, loss)
    return g.imag / t


def make_problem(seed, widths, name, loss, *, samples=5, sigma_w=1.3, sigma_b=0.4):
    rng = np.random.default_rng(seed)
    chain = Chain(len(widths) - 1, list(widths), phi=_pkg_phi(name), sigma_w=sigma_w,
                  sigma_b=sigma_b)
    net = sample_network(chain, rng=rng)
    X = rng.standard_normal((samples, widths[0]))
    if loss == "mse":
        Y = rng.standard_normal((samples, widths[-1]))
    else:
        Y = rng.integers(0, widths[-1], size=samples)
    return net, X, Y, rng


def rel(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


# --------------------------------------------------------------------------------------
# sampling and construction
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("weights", ["gaussian", "orthogonal"])
@pytest.mark.parametrize("sigma_b", [0.0, 0.3])
def test_sample_network_matches_naive_draws(weights, sigma_b):
    """The documented draw order, rebuilt with NumPy (naive.haar for Haar layers)."""
    chain = Chain(3, [4, 6, 3, 5], weights=weights, phi="tanh", sigma_w=1.4, sigma_b=sigma_b)
    net = sample_network(chain, rng=7)
    g = np.random.default_rng(7)
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        nin, nout = chain.widths[l], chain.widths[l + 1]
        z = g.standard_normal((nout, nin))
        Wn = z * 1.4 / math.sqrt(nin) if weights == "gaussian" else 1.4 * haar(z)
        bn = sigma_b * g.standard_normal(nout) if sigma_b > 0 else np.zeros(nout)
        # rounding: the same QR / scaling done twice
        np.testing.assert_allclose(W, Wn, rtol=RTOL_ROUNDING, atol=1e-14)
        np.testing.assert_array_equal(b, bn)
    assert net.widths == chain.widths and net.chain is chain and net.seed == 7
    # parameters() is [W_1, b_1, ..., W_L, b_L] row-major
    flat = np.concatenate([np.concatenate([W.ravel(), b]) for W, b in zip(net.weights, net.biases)])
    np.testing.assert_array_equal(net.parameters(), flat)
    assert net.n_parameters == sum(n1 * (n0 + 1) for n0, n1 in zip(chain.widths, chain.widths[1:]))


def test_sample_network_same_seed_same_network():
    chain = Chain(2, 5, weights="orthogonal", phi="relu", sigma_w=1.2, sigma_b=0.1)
    a = sample_network(chain, rng=3).parameters()
    b = sample_network(chain, rng=np.random.default_rng(3)).parameters()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, sample_network(chain, rng=4).parameters())


def test_orthogonal_layers_are_scaled_isometries():
    """sigma_w * (partial) isometry: W^T W = sigma_w^2 I (tall) or W W^T (wide), rounding."""
    chain = Chain(3, [3, 7, 7, 2], weights="orthogonal", phi="tanh", sigma_w=0.8)
    for W in sample_network(chain, rng=1).weights:
        small = W.T @ W if W.shape[0] >= W.shape[1] else W @ W.T
        np.testing.assert_allclose(small, 0.64 * np.eye(small.shape[0]), atol=1e-14)


def test_orthogonal_layers_are_haar():
    """Sign-corrected QR is Haar: E Q_11 = 0 and E Q_11^2 = 1/n. A plain QR (LAPACK makes
    diag R negative here) would give E Q_11 = -E|Q_11| = -0.46 at n = 3, far outside the
    Monte Carlo tolerance (4 standard errors)."""
    chain = Chain(1, 3, weights="orthogonal", phi="linear")
    rng = np.random.default_rng(11)
    q11 = np.array([sample_network(chain, rng=rng).weights[0][0, 0] for _ in range(2000)])
    se = q11.std(ddof=1) / math.sqrt(q11.size)
    assert abs(q11.mean()) < 4 * se
    # E Q_11^2 = 1/3; Var(Q_11^2) = E Q^4 - 1/9 = 3/15 - 1/9 (Haar on S^2)
    assert abs(np.mean(q11**2) - 1 / 3) < 4 * math.sqrt(3 / 15 - 1 / 9) / math.sqrt(q11.size)


def test_from_arrays_round_trip_and_zero_biases():
    rng = np.random.default_rng(0)
    Ws = [rng.standard_normal((4, 3)), rng.standard_normal((2, 4))]
    net = Network.from_arrays(Ws, None, "tanh")
    assert net.widths == (3, 4, 2)
    assert all(np.array_equal(b, np.zeros(n)) for b, n in zip(net.biases, (4, 2)))
    theta = rng.standard_normal(net.n_parameters)
    back = net.with_parameters(theta)
    np.testing.assert_array_equal(back.parameters(), theta)
    assert not net.weights[0].flags.writeable  # frozen arrays
    Ws[0][0, 0] = 99.0  # the network holds copies
    assert net.weights[0][0, 0] != 99.0


# --------------------------------------------------------------------------------------
# loss and gradient against the naive twin
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAIVE_PHIS)
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_loss_gradient_forward_match_naive(name, loss):
    widths = (5, 7, 6, 4)
    net, X, Y, _ = make_problem(1, widths, name, loss, samples=9)
    value, grad = naive_loss_grad(net.parameters(), widths, name, X, Y, loss)
    # rounding: same formulas, different summation order / BLAS
    assert abs(net.loss(X, Y, loss=loss) - value) <= RTOL_ROUNDING * abs(value)
    assert rel(net.gradient(X, Y, loss=loss), grad) <= RTOL_ROUNDING
    _, _, hs, _ = naive_forward(net.parameters(), widths, name, X)
    assert rel(net.forward(X), hs[-1]) <= RTOL_ROUNDING


def test_gradient_matches_high_precision_finite_differences():
    """mpmath-free check of the gradient: Richardson-extrapolated central differences of the
    naive loss (truncation O(eps^4) ~ 1e-12, rounding ~1e-16/eps ~ 1e-13)."""
    widths = (3, 4, 2)
    net, X, Y, _ = make_problem(5, widths, "tanh", "mse")
    th = net.parameters()
    g = net.gradient(X, Y)
    fd = np.empty_like(th)
    for j in range(th.size):
        e = np.zeros_like(th)
        e[j] = 1.0

        def d(h):
            return (naive_loss_grad(th + h * e, widths, "tanh", X, Y, "mse")[0]
                    - naive_loss_grad(th - h * e, widths, "tanh", X, Y, "mse")[0]) / (2 * h)
        fd[j] = (4 * d(5e-4) - d(1e-3)) / 3
    assert rel(g, fd) < 1e-9  # finite differences: O(eps^4) truncation + rounding / eps


# --------------------------------------------------------------------------------------
# Hessian-vector products
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tanh", "sigmoid", "erf", "silu", "linear"])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_hvp_matches_complex_step(name, loss):
    widths = (4, 6, 5, 3)
    net, X, Y, rng = make_problem(2, widths, name, loss)
    v = rng.standard_normal(net.n_parameters)
    cs = complex_step_hvp(net.parameters(), widths, name, X, Y, loss, v)
    assert rel(net.hvp(X, Y, v, loss=loss), cs) <= RTOL_PRODUCT


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_hvp_matches_central_differences_of_gradient(loss):
    """(g(theta + e v) - g(theta - e v)) / 2e = H v + O(e^2): truncation ~1e-8 at e = 1e-4,
    rounding ~1e-16/1e-4 = 1e-12; acceptance 1e-6 relative."""
    widths = (5, 8, 8, 3)
    net, X, Y, rng = make_problem(3, widths, "tanh", loss)
    v = rng.standard_normal(net.n_parameters)
    v /= np.linalg.norm(v)
    th = net.parameters()
    e = 1e-4
    fd = (net.with_parameters(th + e * v).gradient(X, Y, loss=loss)
          - net.with_parameters(th - e * v).gradient(X, Y, loss=loss)) / (2 * e)
    assert rel(net.hvp(X, Y, v, loss=loss), fd) < 1e-6


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_dense_hessian_matches_complex_step(loss):
    widths = (3, 5, 4, 3)
    net, X, Y, _ = make_problem(4, widths, "tanh", loss)
    th = net.parameters()
    Hcs = np.column_stack([complex_step_hvp(th, widths, "tanh", X, Y, loss, e)
                           for e in np.eye(th.size)])
    H = net.hessian(X, Y, loss=loss)
    # rounding (RTOL_PRODUCT), relative to the largest entry
    assert np.abs(H - Hcs).max() <= RTOL_PRODUCT * np.abs(Hcs).max()
    np.testing.assert_array_equal(H, H.T)


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_gauss_newton_and_fisher_match_definitions(loss):
    """G = (1/B) sum_i J_i^T H_i J_i (H.6) and F = (1/B) sum_i E_{y ~ p(.|x_i)} s s^T (H.7),
    both built from the naive network's per-sample output Jacobians J_i."""
    widths = (3, 5, 4, 3)
    name = "tanh"
    net, X, Y, rng = make_problem(6, widths, name, loss)
    th = net.parameters()
    B, nL = X.shape[0], widths[-1]
    J = np.zeros((B, nL, th.size))
    for i in range(B):
        for k in range(nL):
            G = np.zeros((B, nL))
            G[i, k] = 1.0
            J[i, k] = naive_backprop(th, widths, name, X, G)
    f = naive_forward(th, widths, name, X)[2][-1]
    Gm = np.zeros((th.size, th.size))
    F = np.zeros_like(Gm)
    for i in range(B):
        if loss == "mse":
            Hi = np.eye(nL)
            F += J[i].T @ J[i]  # y ~ N(f, I): E (f - y)(f - y)^T = I
        else:
            p = special.softmax(f[i])
            Hi = np.diag(p) - np.outer(p, p)
            for c in range(nL):
                s = J[i].T @ (np.eye(nL)[c] - p)  # grad log p(c | x_i)
                F += p[c] * np.outer(s, s)
        Gm += J[i].T @ Hi @ J[i]
    Gm /= B
    F /= B
    v = rng.standard_normal(th.size)
    assert rel(net.gnvp(X, Y, v, loss=loss), Gm @ v) <= RTOL_PRODUCT
    assert rel(net.fvp(X, Y, v, loss=loss), F @ v) <= RTOL_PRODUCT
    assert np.abs(net.hessian(X, Y, loss=loss, matrix="gauss_newton") - Gm).max() \
        <= RTOL_PRODUCT * np.abs(Gm).max()


def test_hessian_is_gauss_newton_plus_residual_term():
    """For MSE, H - G = sum_{i,k} r_ik grad^2 f_ik / B (H.6): checked on a tanh net against
    complex-step Hessians of the individual outputs f_ik."""
    widths = (2, 3, 2)
    name = "tanh"
    net, X, Y, rng = make_problem(8, widths, name, "mse", samples=3)
    th = net.parameters()
    B, nL = X.shape[0], widths[-1]
    r = net.forward(X) - Y
    R = np.zeros((th.size, th.size))
    for i in range(B):
        for k in range(nL):
            G = np.zeros((B, nL))
            G[i, k] = 1.0
            Hik = np.column_stack([naive_backprop(th + 1e-30j * e, widths, name, X, G).imag / 1e-30
                                   for e in np.eye(th.size)])
            R += r[i, k] * Hik / B
    H = net.hessian(X, Y)
    Gm = net.hessian(X, Y, matrix="gauss_newton")
    assert np.abs(H - Gm - R).max() <= RTOL_PRODUCT * np.abs(H).max()


# --------------------------------------------------------------------------------------
# hypothesis properties
# --------------------------------------------------------------------------------------

@st.composite
def problems(draw, names=("tanh", "relu", "linear", "sigmoid", "leaky_relu"), max_depth=4,
             max_width=6, losses=("mse", "cross_entropy")):
    depth = draw(st.integers(1, max_depth))
    widths = draw(st.lists(st.integers(1, max_width), min_size=depth + 1, max_size=depth + 1))
    loss = draw(st.sampled_from(losses))
    if loss == "cross_entropy":
        widths[-1] = max(widths[-1], 2)
    name = draw(st.sampled_from(names))
    samples = draw(st.integers(1, 6))
    sigma_b = draw(st.sampled_from([0.0, 0.5]))
    net, X, Y, rng = make_problem(draw(seeds), tuple(widths), name, loss, samples=samples,
                                  sigma_w=draw(st.floats(0.5, 2.0)), sigma_b=sigma_b)
    return net, X, Y, loss, name, rng


@given(problems())
def test_property_symmetry(problem):
    net, X, Y, loss, _, rng = problem
    v, w = rng.standard_normal((2, net.n_parameters))
    for matrix in ("hessian", "gauss_newton"):
        op = net.curvature_operator(X, Y, loss=loss, matrix=matrix)
        Hv, Hw = op.matvec(v), op.matvec(w)
        scale = np.linalg.norm(v) * np.linalg.norm(Hw) + np.linalg.norm(w) * np.linalg.norm(Hv)
        assert abs(v @ Hw - w @ Hv) <= RTOL_PRODUCT * scale + 1e-300


@given(problems(), st.floats(-3, 3), st.floats(-3, 3))
def test_property_linearity(problem, a, b):
    net, X, Y, loss, _, rng = problem
    v, w = rng.standard_normal((2, net.n_parameters))
    op = net.curvature_operator(X, Y, loss=loss)
    lhs = op.matvec(a * v + b * w)
    rhs = a * op.matvec(v) + b * op.matvec(w)
    scale = abs(a) * np.linalg.norm(op.matvec(v)) + abs(b) * np.linalg.norm(op.matvec(w))
    assert np.linalg.norm(lhs - rhs) <= RTOL_PRODUCT * scale + 1e-300


@given(problems())
def test_property_gauss_newton_is_psd(problem):
    """v^T G v = ||J v||^2_{H_out} / B >= 0 for MSE and cross-entropy (H.6)."""
    net, X, Y, loss, _, rng = problem
    op = net.curvature_operator(X, Y, loss=loss, matrix="gauss_newton")
    for v in rng.standard_normal((3, net.n_parameters)):
        Gv = op.matvec(v)
        assert v @ Gv >= -RTOL_PRODUCT * np.linalg.norm(v) * np.linalg.norm(Gv)


@given(problems(names=("linear",), losses=("mse",)))
def test_property_linear_zero_residual_hessian_is_gauss_newton(problem):
    """Linear network, Y = f(X): residuals vanish, so H = G (H.6)."""
    net, X, _, _, _, rng = problem
    Y = net.forward(X)
    v = rng.standard_normal(net.n_parameters)
    Gv = net.gnvp(X, Y, v)
    assert np.linalg.norm(net.hvp(X, Y, v) - Gv) <= RTOL_PRODUCT * (np.linalg.norm(Gv) + 1e-300) \
        + 1e-13 * np.linalg.norm(v)  # rounding of f - Y, which is O(eps |f|) instead of 0


@given(problems(names=("linear", "relu", "leaky_relu"), max_width=5))
def test_property_trace_identity_piecewise_linear(problem):
    """tr H = tr G for linear / relu networks: each f_k is affine in every single parameter,
    so grad^2 f_k has a zero diagonal (H.13)."""
    net, X, Y, loss, _, _ = problem
    H = net.hessian(X, Y, loss=loss)
    G = net.hessian(X, Y, loss=loss, matrix="gauss_newton")
    assert abs(np.trace(H) - np.trace(G)) <= RTOL_PRODUCT * (np.abs(np.diag(H)).sum() + 1e-300)


def test_trace_identity_fails_for_tanh():
    """Negative control for the test above: with tanh the residual term has a diagonal."""
    net, X, Y, _ = make_problem(1, (4, 5, 5, 3), "tanh", "mse")
    H, G = net.hessian(X, Y), net.hessian(X, Y, matrix="gauss_newton")
    assert abs(np.trace(H) - np.trace(G)) > 1e-3 * abs(np.trace(G))


@given(problems(names=("tanh", "relu"), losses=("mse",)))
def test_property_hvp_matches_complex_step(problem):
    net, X, Y, loss, name, rng = problem
    v = rng.standard_normal(net.n_parameters)
    cs = complex_step_hvp(net.parameters(), net.widths, name, X, Y, loss, v)
    hv = net.hvp(X, Y, v, loss=loss)
    assert np.linalg.norm(hv - cs) <= RTOL_PRODUCT * (np.linalg.norm(cs) + 1e-300) + 1e-14


# --------------------------------------------------------------------------------------
# custom nonlinearity and bad input
# --------------------------------------------------------------------------------------

def test_custom_phi_matches_builtin():
    """A user-registered tanh compiles its own kernels and gives the built-in's numbers."""
    import rmtchain.nonlinearities as nl

    custom = nl.register_phi("_test_network_tanh", lambda h: math.tanh(h),
                             lambda h: 1.0 - math.tanh(h) ** 2,
                             lambda h: -2.0 * math.tanh(h) * (1.0 - math.tanh(h) ** 2))
    try:
        net, X, Y, rng = make_problem(9, (3, 4, 2), "tanh", "mse")
        twin = Network.from_arrays(net.weights, net.biases, custom)
        v = rng.standard_normal(net.n_parameters)
        # rounding: tanh' as 1 - tanh^2 vs the built-in's exp form
        assert rel(twin.hvp(X, Y, v), net.hvp(X, Y, v)) <= RTOL_PRODUCT
    finally:
        nl._CUSTOM.pop("_test_network_tanh", None)


def test_bad_input_raises_naming_the_parameter():
    net, X, Y, _ = make_problem(0, (3, 4, 2), "tanh", "mse")
    v = np.ones(net.n_parameters)
    with pytest.raises(ValueError, match="X must have shape"):
        net.loss(X[:, :2], Y)
    with pytest.raises(ValueError, match="Y must have shape"):
        net.loss(X, Y[:3])
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="X must be finite"):
        net.gradient(Xn, Y)
    with pytest.raises(ValueError, match="v must have length P"):
        net.hvp(X, Y, v[:-1])
    with pytest.raises(ValueError, match="v must be finite"):
        net.hvp(X, Y, np.full(net.n_parameters, np.inf))
    with pytest.raises(ValueError, match="loss must be one of"):
        net.loss(X, Y, loss="hinge")
    with pytest.raises(ValueError, match="matrix must be one of"):
        net.curvature_operator(X, Y, matrix="jacobian")
    with pytest.raises(ValueError, match="class indices"):
        net.loss(X, np.array([0, 1, 2, 0, 1]), loss="cross_entropy")  # 2 is not < n_L = 2
    with pytest.raises(ValueError, match="class indices"):
        net.loss(X, np.array([0.5, 1, 0, 0, 1]), loss="cross_entropy")
    with pytest.raises(ValueError, match="X must be 2-d"):
        net.forward(X[0])
    with pytest.raises(ValueError, match=r"weights\[1\] must have 4 columns"):
        Network.from_arrays([np.ones((4, 3)), np.ones((2, 5))], None, "tanh")
    with pytest.raises(ValueError, match=r"biases\[0\] must have shape"):
        Network.from_arrays([np.ones((4, 3))], [np.ones(3)], "tanh")
    with pytest.raises(ValueError, match="phi must be one of"):
        Network.from_arrays([np.ones((4, 3))], None, "nope")
    with pytest.raises(ValueError, match="chain must be an rmtchain.Chain"):
        sample_network("chain")


def test_dense_limit_is_a_clear_error():
    chain = Chain(1, [DENSE_MAX_PARAMETERS, 1], phi="linear")  # P = DENSE_MAX + 1
    net = sample_network(chain, rng=0)
    X = np.zeros((1, DENSE_MAX_PARAMETERS))
    with pytest.raises(ValueError, match="limited to P <= 4096"):
        net.hessian(X, np.zeros((1, 1)))


def test_from_arrays_rejects_non_sequence_biases():
    with pytest.raises(ValueError, match="biases"):
        Network.from_arrays([np.ones((3, 2))], 5, "tanh")
