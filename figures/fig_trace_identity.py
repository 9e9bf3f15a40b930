"""tr H = tr G for piecewise-linear networks, and not for tanh (theory/hessian.md (H.13)).

For linear, relu and leaky-relu networks each output is affine in any single parameter (a.e.),
so the residual term of H = G + sum r grad^2 f has a zero diagonal: diag H = diag G and
tr H = tr G, for either loss (THEORY.md, curvature at initialization). For tanh the diagonal
of the residual term is not zero.

Small random networks (depth 3, width 6, 4 inputs, sigma_b = 0.2, targets drawn at random so
the residuals are not small) for each phi and loss; H and G are rmtchain's dense matrices
(``Network.hessian``, column by column R-operator products, (H.4)-(H.6)).

Agreement (``agreement``):

* piecewise linear: max_j |H_jj - G_jj| <= 1e-10 max_j |H_jj| (rounding of two different
  product passes) on every network;
* tanh (negative control): |tr H - tr G| > 1e-3 |tr G| on every network;
* independent value of tr G (loss "mse"): tr G = (1/B) sum_{l,i} ||J_{L<-l,i}||_F^2
  (||x_{l-1,i}||^2 + 1) from a NumPy forward/backward pass (theory/hessian.md (H.14)), to 1e-10.
"""

from __future__ import annotations

import numpy as np

import rmtchain
from rmtchain.network import sample_network

SEED = 13131313
TITLE = "Trace identity tr H = tr G for piecewise-linear networks (theory/hessian.md (H.13))"
EQUATION = "theory/hessian.md (H.13): diag H = diag G for linear, relu, leaky relu; not for tanh"

PHIS = ("linear", "relu", "leaky_relu(0.2)", "tanh")
SIGMA_W = {"linear": 1.0, "relu": 2 ** 0.5, "leaky_relu(0.2)": 1.3, "tanh": 1.5}
LOSSES = ("mse", "cross_entropy")
DIAG_RTOL = 1e-10
TANH_MIN_REL = 1e-3
TWIN_RTOL = 1e-10

_QUICK = {"depth": 3, "width": 6, "batch": 4, "networks": 4}
_FULL = {"depth": 4, "width": 8, "batch": 8, "networks": 12}


def parameters(quick):
    """The sizes used by ``compute``."""
    p = dict(_QUICK if quick else _FULL)
    p.update(phis=list(PHIS), losses=list(LOSSES), sigma_b=0.2,
             sigma_w={k: float(v) for k, v in SIGMA_W.items()})
    return p


def trace_g_twin(net, X):
    """(1/B) sum_{l,i} ||df_i/dh_l||_F^2 (||x_{l-1,i}||^2 + 1), NumPy only (loss "mse")."""
    xs, ds = [X], []
    L = net.depth
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        h = xs[-1] @ W.T + b
        if l < L - 1:
            xs.append(net.phi.phi(h))
            ds.append(net.phi.dphi(h))
    B, nL = X.shape[0], net.widths[-1]
    J = np.broadcast_to(np.eye(nL), (B, nL, nL)).copy()
    total = np.sum(J * J, axis=(1, 2)) @ (np.sum(xs[-1] ** 2, axis=1) + 1)
    for l in range(L - 1, 0, -1):
        J = (J @ net.weights[l]) * ds[l - 1][:, None, :]
        total += np.sum(J * J, axis=(1, 2)) @ (np.sum(xs[l - 1] ** 2, axis=1) + 1)
    return float(total) / B


def compute(quick, rng):
    """Dense H and G diagonals for each phi and loss (seeded by ``rng``)."""
    p = _QUICK if quick else _FULL
    L, n, B = p["depth"], p["width"], p["batch"]
    data = {"parameters_quick": bool(quick)}
    for phi in PHIS:
        chain = rmtchain.Chain(L, n, phi=phi, sigma_w=SIGMA_W[phi], sigma_b=0.2)
        for loss in LOSSES:
            rows = {"trH": [], "trG": [], "diag_err": [], "diag_scale": [], "twin": []}
            for _ in range(p["networks"]):
                net = sample_network(chain, rng=rng)
                X = rng.standard_normal((B, n))
                Y = (rng.standard_normal((B, n)) if loss == "mse"
                     else rng.integers(0, n, size=B))
                H = net.hessian(X, Y, loss=loss, matrix="hessian")
                G = net.hessian(X, Y, loss=loss, matrix="gauss_newton")
                dh, dg = np.diag(H), np.diag(G)
                rows["trH"].append(dh.sum())
                rows["trG"].append(dg.sum())
                rows["diag_err"].append(np.max(np.abs(dh - dg)))
                rows["diag_scale"].append(np.max(np.abs(dh)))
                rows["twin"].append(trace_g_twin(net, X) if loss == "mse" else np.nan)
            data[_key(phi, loss)] = {
                k: np.array(v) for k, v in rows.items()}
    return data


def _key(phi, loss):
    return f"{phi}__{loss}".replace("(", "_").replace(")", "").replace(".", "p")


def agreement(data):
    """Diagonal identity for piecewise-linear phi, its failure for tanh, tr G twin."""
    out, ok = {}, True
    worst_pl, worst_tanh, worst_twin = 0.0, np.inf, 0.0
    for phi in PHIS:
        for loss in LOSSES:
            d = data[_key(phi, loss)]
            trH, trG = np.asarray(d["trH"]), np.asarray(d["trG"])
            if phi == "tanh":
                rel = float(np.min(np.abs(trH - trG) / np.abs(trG)))
                worst_tanh = min(worst_tanh, rel)
                out[f"tanh_{loss}_min_rel_trace_gap"] = rel
            else:
                err = float(np.max(np.asarray(d["diag_err"]) / np.asarray(d["diag_scale"])))
                worst_pl = max(worst_pl, err)
                out[f"{_key(phi, loss)}_max_rel_diag_gap"] = err
            if loss == "mse":
                tw = np.asarray(d["twin"])
                worst_twin = max(worst_twin, float(np.max(np.abs(trG - tw) / tw)))
    ok = worst_pl <= DIAG_RTOL and worst_tanh > TANH_MIN_REL and worst_twin <= TWIN_RTOL
    out.update(piecewise_linear_max_rel_diag_gap=worst_pl, tanh_min_rel_trace_gap=worst_tanh,
               trace_g_twin_max_rel_error=worst_twin, passed=bool(ok))
    out["summary"] = (f"piecewise linear: max |H_jj - G_jj| / max |H_jj| = {worst_pl:.1e} "
                      f"(<= {DIAG_RTOL:g}); tanh: min |tr H - tr G| / |tr G| = {worst_tanh:.3g} "
                      f"(> {TANH_MIN_REL:g}); tr G vs NumPy twin {worst_twin:.1e}")
    return out


def plot(data):
    """tr H against tr G per network, one marker per phi, both losses."""
    import matplotlib.pyplot as plt

    met = agreement(data)
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.8), layout="constrained")
    for ax, loss in zip(axes, LOSSES):
        lo, hi = np.inf, -np.inf
        for c, phi in enumerate(PHIS):
            d = data[_key(phi, loss)]
            ax.plot(d["trG"], d["trH"], "os^v"[c], color=f"C{c}", mfc="none" if phi == "tanh"
                    else f"C{c}", ms=7, label=phi)
            lo = min(lo, np.min(d["trG"]), np.min(d["trH"]))
            hi = max(hi, np.max(d["trG"]), np.max(d["trH"]))
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, ls=":", label="tr H = tr G")
        ax.set_xlabel("tr G (Gauss-Newton)")
        ax.set_ylabel("tr H (Hessian)")
        ax.set_title(f"loss {loss}", fontsize="medium")
        ax.legend(fontsize="small")
    fig.suptitle("(H.13) tr H = tr G for piecewise-linear phi, not for tanh: "
                 + ("all checks passed" if met["passed"] else "a check FAILED")
                 + ("  [quick]" if data["parameters_quick"] else ""))
    return fig
