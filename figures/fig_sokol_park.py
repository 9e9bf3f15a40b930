"""Top Fisher eigenvalue sandwiched by the layer-to-output Jacobians (Sokol & Park 1810.03785).

Sokol and Park (arXiv:1810.03785) bound the largest eigenvalue of the Fisher information of a
deep network by a quadratic in the largest singular values of its input-output Jacobians,
and test it on 200-layer critical tanh networks of width 400 with q* in {1e-4, 1/64, 1/2, 8}
and orthogonal weights. This figure checks the rigorous version derived in
theory/hessian.md (H.14)-(H.17) on the same architecture (a linear readout to ``N_OUT``
outputs, loss "mse", so F = G by (H.7)):

    lower = max_{l,i} t_{l,i} / B  <=  lambda_max(F)  <=  upper = sum_{l,i} t_{l,i} / B,
    t_{l,i} = s_max(J_{L<-l,i})^2 (||x_{l-1,i}||^2 + 1),          (H.15), (H.16)

with J_{L<-l,i} = df(x_i)/dh_l the Jacobian from layer l's pre-activation to the output for
input i. Everything on the right is computed here by a plain NumPy forward/backward pass
(independent of rmtchain's kernels), and lambda_max(F) exactly as lambda_max(K)/B of the
(B n_L) x (B n_L) kernel matrix K = J_theta J_theta^T (H.14).

Agreement (``agreement``):

* the sandwich holds on every sampled network (slack 1e-12 relative: rounding of sums of
  <= L B positive terms);
* rmtchain's Fisher-vector product agrees with the NumPy kernel: v = J_theta^T u (u the top
  eigenvector of K, assembled here) satisfies ||F v - (mu/B) v|| <= 1e-9 ||(mu/B) v|| with
  F v from ``CurvatureOperator.matvec`` (rounding of two different summation orders over
  L layers; measured ~1e-14); in quick mode also ARPACK's top eigenvalue of rmtchain's
  operator (``top_eigenvalues``) equals mu/B to 1e-8 (ARPACK at tol=0 plus rounding);
* the bound is not vacuous: upper / lambda_max is reported per network (it can be at most
  L B); ``passed`` requires it below ``RATIO_MAX``.
"""

from __future__ import annotations

import math

import numpy as np

import rmtchain
from rmtchain.network import sample_network

SEED = 181003785
TITLE = "Sokol-Park: top Fisher eigenvalue vs the layer-to-output Jacobians (1810.03785)"
EQUATION = ("theory/hessian.md (H.14)-(H.16): max_{l,i} t_li / B <= lambda_max(F) <= "
            "sum_{l,i} t_li / B, t_li = s_max(J_{L<-l,i})^2 (||x_{l-1,i}||^2 + 1)")

Q_STARS = (1e-4, 1.0 / 64.0, 0.5, 8.0)
#: readout width n_L (a 10-class-like head; the paper's Fisher is over the outputs too)
N_OUT = 10
#: rounding slack of the sandwich (sums of <= L B positive terms, eigvalsh of K)
SANDWICH_RTOL = 1e-12
#: F v from rmtchain vs (mu / B) v built by NumPy: rounding over L layers
RAYLEIGH_RTOL = 1e-9
#: ARPACK (tol = 0) top eigenvalue vs the Gram eigenvalue: solver + rounding
ARPACK_RTOL = 1e-8
#: upper / lambda_max must stay below this for the bound to count as informative
#: (the worst case is L * B = 800 in the full run)
RATIO_MAX = 50.0

_QUICK = {"depth": 20, "width": 32, "n_out": 4, "batch": 4, "networks": 2,
          "weights": ("orthogonal",)}
_FULL = {"depth": 200, "width": 400, "n_out": N_OUT, "batch": 4, "networks": 1,
         "weights": ("orthogonal", "gaussian")}


def parameters(quick):
    """The sizes used by ``compute`` (recorded in the provenance JSON)."""
    p = dict(_QUICK if quick else _FULL)
    p["weights"] = list(p["weights"])
    p.update(q_stars=list(Q_STARS), phi="tanh", loss="mse", matrix="fisher",
             inputs="x_0 = tanh(h_0), ||h_0||^2 / n_0 = q*, uniformly random directions")
    return p


# ----------------------------------------------------------------------------- the bound


def chain_inputs(chain, batch, rng):
    """Rows x_0 = phi(h_0) with h_0 = sqrt(q_input n_0) g / ||g||, g ~ N(0, I): the chain's
    input convention (theory/README.md), so every layer sits at the fixed point q*."""
    g = rng.standard_normal((batch, chain.n_in))
    h0 = g * (math.sqrt(chain.q_input * chain.n_in) / np.linalg.norm(g, axis=1, keepdims=True))
    return chain.phi.phi(h0)


def layer_jacobians(net, X):
    """NumPy forward/backward pass (no rmtchain kernels).

    Returns
    -------
    xs : list of (B, n_{l-1}) arrays, l = 1..L
        The inputs x_{l-1} of each layer.
    Js : list of (B, n_L, n_l) arrays, l = 1..L
        J_{L<-l,i} = df(x_i)/dh_l (identity at l = L).
    """
    xs, ds = [np.asarray(X, dtype=float)], []
    L = net.depth
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        h = xs[-1] @ W.T + b
        if l < L - 1:
            xs.append(net.phi.phi(h))
            ds.append(net.phi.dphi(h))
    B, nL = X.shape[0], net.widths[-1]
    J = np.broadcast_to(np.eye(nL), (B, nL, nL)).copy()
    Js = [J]
    for l in range(L - 1, 0, -1):          # J_{L<-l} = J_{L<-l+1} W_{l+1} diag(phi'(h_l))
        J = (J @ net.weights[l]) * ds[l - 1][:, None, :]
        Js.append(J)
    return xs, Js[::-1]


def fisher_sandwich(net, X):
    """lambda_max(F) (loss "mse") and its bounds (theory/hessian.md (H.14)-(H.16)).

    Returns a dict: ``lam`` = lambda_max(K) / B, ``upper``, ``lower``, ``terms`` (L, B) of
    t_{l,i}, ``smax`` (L,) of max_i s_max(J_{L<-l,i}), ``u`` the top eigenvector of K as
    (B, n_L), ``xs``, ``Js``.
    """
    xs, Js = layer_jacobians(net, X)
    B, nL = X.shape[0], net.widths[-1]
    K = np.zeros((B * nL, B * nL))
    terms = np.empty((net.depth, B))
    smax = np.empty(net.depth)
    for l, (x, J) in enumerate(zip(xs, Js)):
        gram = x @ x.T + 1.0                                   # x~_i . x~_j, x~ = [x; 1]
        JJ = np.einsum("iac,jbc->iajb", J, J).reshape(B * nL, B * nL)
        K += JJ * np.repeat(np.repeat(gram, nL, axis=0), nL, axis=1)
        s = np.linalg.norm(J, ord=2, axis=(1, 2))               # s_max per input
        terms[l] = s ** 2 * (np.sum(x * x, axis=1) + 1.0)
        smax[l] = s.max()
    w, V = np.linalg.eigh(K)
    return {"lam": w[-1] / B, "upper": terms.sum() / B, "lower": terms.max() / B,
            "terms": terms, "smax": smax, "u": V[:, -1].reshape(B, nL), "xs": xs, "Js": Js}


def jtu(net, xs, Js, u):
    """v = J_theta^T u in rmtchain's parameter order [W_1, b_1, ..., W_L, b_L] (NumPy)."""
    parts = []
    for x, J in zip(xs, Js):
        g = np.einsum("iac,ia->ic", J, u)                     # (B, n_l): J_{L<-l,i}^T u_i
        parts.append((g.T @ x).ravel())
        parts.append(g.sum(axis=0))
    return np.concatenate(parts)


# ----------------------------------------------------------------------------- compute


def compute(quick, rng):
    """Sample critical tanh networks at each q* and evaluate the sandwich (seeded by ``rng``)."""
    p = parameters(quick)
    L, n, nL, B = p["depth"], p["width"], p["n_out"], p["batch"]
    widths = (n,) * L + (nL,)
    data = {"parameters_quick": bool(quick), "q_stars": np.array(Q_STARS),
            "depth": L, "width": n, "n_out": nL, "batch": B}
    for weights in p["weights"]:
        rows = {k: [] for k in ("lam", "upper", "lower", "rayleigh", "arpack", "sigma_w",
                                "sigma_b", "smax_profile", "s_io")}
        for q in Q_STARS:
            chain = rmtchain.Chain.critical(L, widths, phi="tanh", weights=weights, q_star=q)
            for _ in range(p["networks"]):
                net = sample_network(chain, rng=rng)
                X = chain_inputs(chain, B, rng)
                s = fisher_sandwich(net, X)
                op = net.curvature_operator(X, np.zeros((B, nL)), loss="mse", matrix="fisher")
                v = jtu(net, s["xs"], s["Js"], s["u"])
                ref = s["lam"] * v
                rows["rayleigh"].append(np.linalg.norm(op.matvec(v) - ref) / np.linalg.norm(ref))
                if quick:
                    from rmtchain.curvature import top_eigenvalues

                    top = top_eigenvalues(net, X, np.zeros((B, nL)), 1, loss="mse",
                                          matrix="fisher", rng=rng)[0]
                    rows["arpack"].append(abs(top - s["lam"]) / s["lam"])
                else:
                    rows["arpack"].append(np.nan)
                rows["lam"].append(s["lam"])
                rows["upper"].append(s["upper"])
                rows["lower"].append(s["lower"])
                rows["sigma_w"].append(chain.sigma_w)
                rows["sigma_b"].append(chain.sigma_b)
                rows["smax_profile"].append(s["smax"])
                rows["s_io"].append(s["smax"][0])
                del op, net, s
        data[weights] = {k: np.array(v) for k, v in rows.items()}
        data[weights]["q_star"] = np.repeat(np.array(Q_STARS), p["networks"])
    return data


# ----------------------------------------------------------------------------- agreement


def _weights_in(data):
    return [w for w in ("orthogonal", "gaussian") if w in data]


def agreement(data):
    """Sandwich on every network, rmtchain's F v vs the NumPy kernel, ratio upper/lambda."""
    out = {}
    ok = True
    parts = []
    for w in _weights_in(data):
        d = data[w]
        lam, up, lo = (np.asarray(d[k], dtype=float) for k in ("lam", "upper", "lower"))
        holds = bool(np.all(lo <= lam * (1 + SANDWICH_RTOL))
                     and np.all(lam <= up * (1 + SANDWICH_RTOL)))
        ratio = up / lam
        ray = float(np.max(d["rayleigh"]))
        arp = np.asarray(d["arpack"], dtype=float)
        arp = float(np.max(arp)) if np.isfinite(arp).any() else float("nan")
        out[f"{w}_sandwich_holds"] = holds
        out[f"{w}_upper_over_lambda"] = ratio
        out[f"{w}_lambda_over_lower"] = lam / lo
        out[f"{w}_max_upper_over_lambda"] = float(ratio.max())
        out[f"{w}_rayleigh_residual"] = ray
        out[f"{w}_arpack_rel_error"] = arp
        ok &= holds and ray <= RAYLEIGH_RTOL and float(ratio.max()) <= RATIO_MAX
        if math.isfinite(arp):
            ok &= arp <= ARPACK_RTOL
        parts.append(f"{w}: sandwich {'holds' if holds else 'FAILS'}, upper/lambda "
                     f"{ratio.min():.2f}-{ratio.max():.2f}, lambda/lower "
                     f"{(lam / lo).min():.2f}-{(lam / lo).max():.2f}, F v residual {ray:.1e}"
                     + (f", ARPACK {arp:.1e}" if math.isfinite(arp) else ""))
    out["passed"] = bool(ok)
    out["summary"] = "; ".join(parts)
    return out


# ----------------------------------------------------------------------------- plot


def plot(data):
    """Left: lambda_max(F) and its bounds against q*. Right: the profile of
    max_i s_max(J_{L<-l,i}) over layers l for each q*."""
    import matplotlib.pyplot as plt

    met = agreement(data)
    ws = _weights_in(data)
    fig, axes = plt.subplots(1, 3, figsize=(15.0, 4.6), layout="constrained")
    ax, bx, cx = axes
    marks = {"orthogonal": "o", "gaussian": "s"}
    for w in ws:
        d = data[w]
        q = np.asarray(d["q_star"])
        ax.plot(q, d["lam"], marks[w], color="k", mfc="k" if w == "orthogonal" else "w",
                label=f"$\\lambda_{{max}}(F)$, {w}")
        ax.plot(q, d["upper"], marks[w], color="C3", mfc="none", ms=9,
                label=f"upper (H.15), {w}")
        ax.plot(q, d["lower"], marks[w], color="C0", mfc="none", ms=9,
                label=f"lower (H.16), {w}")
        for qi, lo, up in zip(q, d["lower"], d["upper"]):
            ax.plot([qi, qi], [lo, up], color="C7", lw=0.8, zorder=0)
        cx.plot(q, np.asarray(d["upper"]) / np.asarray(d["lam"]), marks[w] + "-", color="C3",
                label=f"upper / $\\lambda_{{max}}$, {w}")
        cx.plot(q, np.asarray(d["lam"]) / np.asarray(d["lower"]), marks[w] + "--", color="C0",
                label=f"$\\lambda_{{max}}$ / lower, {w}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("$q^*$ (critical tanh, $\\chi_1 = 1$)")
    ax.set_ylabel("top eigenvalue of the Fisher (loss mse)")
    ax.set_title("sandwich (H.14)-(H.16) on every sampled network", fontsize="medium")
    ax.legend(fontsize="x-small")
    w0 = ws[0]
    d = data[w0]
    L = int(data["depth"])
    colors = {}
    for qi, prof in zip(d["q_star"], d["smax_profile"]):
        first = float(qi) not in colors
        c = colors.setdefault(float(qi), f"C{len(colors)}")
        bx.plot(np.arange(1, L + 1), prof, lw=1.2, color=c,
                label=f"$q^* = {qi:.3g}$" if first else None)
    bx.set_yscale("log")
    bx.set_xlabel("layer $l$")
    bx.set_ylabel("$\\max_i s_{max}(J_{L\\leftarrow l,i})$")
    bx.set_title(f"layer-to-output Jacobians ({w0})", fontsize="medium")
    bx.legend(fontsize="small")
    cx.axhline(1.0, color="k", lw=0.8, ls=":")
    cx.set_xscale("log")
    cx.set_yscale("log")
    cx.set_xlabel("$q^*$")
    cx.set_ylabel("ratio (1 = tight)")
    cx.set_title(f"tightness (worst case L B = {L * int(data['batch'])})", fontsize="medium")
    cx.legend(fontsize="x-small")
    verdict = "all checks passed" if met["passed"] else "a check FAILED"
    fig.suptitle(f"Sokol & Park 1810.03785: depth {L}, width {int(data['width'])}, "
                 f"{int(data['n_out'])} outputs, batch {int(data['batch'])}: " + verdict
                 + ("  [quick]" if data["parameters_quick"] else ""))
    return fig
