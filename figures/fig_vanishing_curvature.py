"""Vanishing curvature: at fixed width the Hessian of a deep random network flattens with
depth; at width proportional to depth it does not (Orvieto et al. 2106.03763).

Deep linear networks with Gaussian weights (sigma_w = 1, Xavier), one scalar output, one
input x_0 with ||x_0||^2 = n_0, loss "mse" with target 0 (so the residual is the output f).
At each depth L two width rules: fixed width n (``FIXED_WIDTH``) and width n = 2 L.

Quantities (all from rmtchain: ``Network.gradient`` and ``top_eigenvalues``):

* per-layer spectral mass of the weights, m_l = tr of the W_l block of G = ||dl/dW_l||^2 / f^2
  (one input, scalar output: G = J_theta^T J_theta and dl/dtheta = f J_theta);
* the spectral mass tr H (tr H = tr G for linear networks, (H.13)) and the top Hessian
  eigenvalue lambda_max(H) (ARPACK), both divided by their mean-field scale
  E tr G = L (||x_0||^2 + 1) (H.18), which does not depend on the draw.

The exact law checked (theory/hessian.md (H.18)): m_l / ||x_0||^2 is a product of L - 1
independent chi^2_n / n factors (l - 1 from the forward pass, L - l from the backward
pass), for every l. So E m_l = ||x_0||^2 at every depth and width, while

    E log(m_l / ||x_0||^2) = (L - 1) [digamma(n/2) + log(2/n)]  ~  -(L - 1)/n,
    Var log(m_l / ||x_0||^2) = (L - 1) trigamma(n/2)             ~  2 (L - 1)/n,

so the typical curvature vanishes like exp(-(L - 1)/n) at fixed n and stays O(1) at
n proportional to L (THEORY.md, finite width; Orvieto et al. 2106.03763), although the
mean E tr G = L (||x_0||^2 + 1) is the same in both.

Agreement (``agreement``):

* exact law: at every (L, n) the mean over networks of the per-network average over layers of
  log(m_l / ||x_0||^2) is within 4 standard errors (sample standard deviation over
  networks) of the exact (L - 1)[digamma(n/2) + log(2/n)];
* vanishing vs not (the law's consequence for the top eigenvalue, which has no exact law
  here): the median of lambda_max(H) / (L (||x_0||^2 + 1)) falls by more than ``DROP_MIN``
  from the shallowest to the deepest network at fixed width, and changes by less than a
  factor ``KEEP_MAX`` at n = 2 L (the typical per-layer mass exp(E log m_l) changes by
  exp(-(L_max - L_min)/n): 1/57 in the quick run, 1/3000 in the full one, at fixed width;
  by less than exp(-1/2) at n = 2 L).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import digamma, polygamma

import rmtchain
from rmtchain.curvature import top_eigenvalues
from rmtchain.network import sample_network

SEED = 210603763
TITLE = ("Vanishing curvature at fixed width, none at width proportional to depth "
         "(Orvieto et al. 2106.03763)")
EQUATION = ("theory/hessian.md (H.18): m_l / ||x_0||^2 = product of L - 1 independent "
            "chi^2_n / n; E log = (L - 1)[digamma(n/2) + log(2/n)]; (H.13) tr H = tr G")

Z_MAX = 4.0
#: at fixed width the median of lambda_max(H)/scale must fall by more than this factor
#: (measured with the figure's seed: 6.8 quick (L = 2 -> 16, n = 4), 35 full (L = 2 -> 64,
#: n = 8)) ...
DROP_MIN = 4.0
#: ... and at width 2 L change by less than this factor either way (measured 0.95 quick,
#: 1.3 full)
KEEP_MAX = 2.5

_QUICK = {"depths": (2, 4, 8, 16), "fixed_width": 4, "networks": 24}
_FULL = {"depths": (2, 4, 8, 16, 32, 64), "fixed_width": 8, "networks": 30}


def parameters(quick):
    """The sizes used by ``compute`` (recorded in the provenance JSON)."""
    p = _QUICK if quick else _FULL
    return {"depths": list(p["depths"]), "fixed_width": p["fixed_width"],
            "proportional_width": "2 L", "networks": p["networks"], "phi": "linear",
            "weights": "gaussian", "sigma_w": 1.0, "sigma_b": 0.0, "n_out": 1, "batch": 1,
            "loss": "mse (target 0)", "input": "||x_0||^2 = n_0, random direction"}


def exact_log_mass(depth, width):
    """Exact mean and variance of log(m_l / ||x_0||^2) (H.18)."""
    k = depth - 1
    return (k * (float(digamma(width / 2.0)) + math.log(2.0 / width)),
            k * float(polygamma(1, width / 2.0)))


def scale(depth, width):
    """E tr G = L (||x_0||^2 + 1) with ||x_0||^2 = n_0 = width (H.18): every layer's
    E ||J_{L<-l}||^2 = 1 and E ||x_{l-1}||^2 = ||x_0||^2."""
    return depth * (width + 1.0)


def layer_masses(net, x0):
    """Per-layer weight mass m_l = ||dl/dW_l||^2 / f^2 and tr G = ||dl/dtheta||^2 / f^2
    (one input, scalar output, target 0: dl/dtheta = f J_theta)."""
    X = x0[None, :]
    Y = np.zeros((1, 1))
    f = float(net.forward(X)[0, 0])
    g = net.gradient(X, Y, loss="mse")
    m = np.empty(net.depth)
    p = 0
    for l in range(net.depth):
        nout, nin = net.weights[l].shape
        m[l] = np.sum(g[p:p + nout * nin] ** 2) / f ** 2
        p += nout * nin + nout
    return m, float(np.sum(g * g)) / f ** 2


def compute(quick, rng):
    """Sample networks at each (depth, width rule) (seeded by ``rng``)."""
    p = _QUICK if quick else _FULL
    data = {"parameters_quick": bool(quick), "depths": np.array(p["depths"]),
            "fixed_width": p["fixed_width"]}
    for rule in ("fixed", "proportional"):
        for L in p["depths"]:
            n = p["fixed_width"] if rule == "fixed" else 2 * L
            chain = rmtchain.Chain(L, (n,) * L + (1,), phi="linear", weights="gaussian")
            logm, trace, top = [], [], []
            for _ in range(p["networks"]):
                net = sample_network(chain, rng=rng)
                g = rng.standard_normal(n)
                x0 = g * (math.sqrt(n) / np.linalg.norm(g))        # ||x_0||^2 = n_0
                m, trG = layer_masses(net, x0)
                logm.append(np.log(m / n))
                trace.append(trG)
                top.append(top_eigenvalues(net, x0[None, :], np.zeros((1, 1)), 1, loss="mse",
                                           matrix="hessian", rng=rng)[0])
            mean, var = exact_log_mass(L, n)
            data[f"{rule}_L{L}"] = {"depth": L, "width": n, "log_mass": np.array(logm),
                                    "trace_H": np.array(trace), "top_H": np.array(top),
                                    "exact_mean": mean, "exact_var": var}
    return data


def _stats(data, rule):
    out = []
    for L in np.asarray(data["depths"]).tolist():
        d = data[f"{rule}_L{L}"]
        per_net = np.asarray(d["log_mass"]).mean(axis=1)
        se = per_net.std(ddof=1) / math.sqrt(per_net.size)
        z = (per_net.mean() - float(d["exact_mean"])) / se
        n = int(d["width"])
        out.append({"L": L, "n": n, "z": float(z),
                    "mean": float(per_net.mean()), "exact": float(d["exact_mean"]),
                    "top_median": float(np.median(np.asarray(d["top_H"]) / scale(L, n))),
                    "trace_median": float(np.median(np.asarray(d["trace_H"]) / scale(L, n)))})
    return out


def agreement(data):
    """Exact-law z-scores at every point; the fixed-width drop and the proportional plateau."""
    out = {}
    ok = True
    zs = []
    for rule in ("fixed", "proportional"):
        st = _stats(data, rule)
        for s in st:
            out[f"{rule}_L{s['L']}_z"] = s["z"]
            out[f"{rule}_L{s['L']}_top_median_scaled"] = s["top_median"]
            zs.append(abs(s["z"]))
        change = st[0]["top_median"] / st[-1]["top_median"]
        out[f"{rule}_top_median_shallow_over_deep"] = change
        if rule == "fixed":
            ok &= change > DROP_MIN
        else:
            ok &= 1.0 / KEEP_MAX < change < KEEP_MAX
    out["max_abs_z"] = max(zs)
    ok &= out["max_abs_z"] <= Z_MAX
    out["passed"] = bool(ok)
    out["summary"] = (f"exact law (H.18): max |z| = {out['max_abs_z']:.2f} <= {Z_MAX:g}; "
                      f"median lambda_max(H)/(L(n_0+1)) shallow/deep: fixed width "
                      f"{out['fixed_top_median_shallow_over_deep']:.3g} (> {DROP_MIN:g}), "
                      f"width 2L {out['proportional_top_median_shallow_over_deep']:.3g} "
                      f"(within {KEEP_MAX:g}x)")
    return out


def plot(data):
    """Left: log per-layer mass vs depth with the exact mean; right: lambda_max(H)/L and
    tr H / L (medians, quartiles) vs depth, both width rules."""
    import matplotlib.pyplot as plt

    met = agreement(data)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12.5, 4.8), layout="constrained")
    nfix = int(data["fixed_width"])
    colors = {"fixed": "C3", "proportional": "C0"}
    labels = {"fixed": f"fixed width n = {nfix}", "proportional": "width n = 2L"}
    for rule in ("fixed", "proportional"):
        Ls = np.asarray(data["depths"])
        per = [np.asarray(data[f"{rule}_L{L}"]["log_mass"]).mean(axis=1) for L in Ls]
        ax.errorbar(Ls, [p.mean() for p in per],
                    yerr=[Z_MAX * p.std(ddof=1) / math.sqrt(p.size) for p in per], fmt="o",
                    color=colors[rule], capsize=3,
                    label=f"sampled, {labels[rule]} (mean $\\pm$ {Z_MAX:g} s.e.)")
        Lg = np.unique(np.geomspace(Ls.min(), Ls.max(), 60).round().astype(int))
        ax.plot(Lg, [exact_log_mass(L, nfix if rule == "fixed" else 2 * L)[0] for L in Lg],
                color=colors[rule], lw=1.2, label="exact (H.18)" if rule == "fixed" else None)
        for key, ls, what in (("top_H", "-", "$\\lambda_{max}(H)$"), ("trace_H", "--", "tr $H$")):
            vals = [np.asarray(data[f"{rule}_L{L}"][key])
                    / scale(L, int(data[f"{rule}_L{L}"]["width"])) for L in Ls]
            med = [np.median(v) for v in vals]
            bx.plot(Ls, med, "o" + ls, color=colors[rule], label=f"median {what}, {labels[rule]}")
            bx.fill_between(Ls, [np.quantile(v, 0.25) for v in vals],
                            [np.quantile(v, 0.75) for v in vals], color=colors[rule], alpha=0.12)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("depth L")
    ax.set_ylabel("mean over layers of log($m_l / \\|x_0\\|^2$)")
    ax.set_title("per-layer weight mass: typical value $\\approx e^{-(L-1)/n}$, "
                 "mean 1", fontsize="medium")
    ax.legend(fontsize="small")
    bx.set_xscale("log", base=2)
    bx.set_yscale("log")
    bx.set_xlabel("depth L")
    bx.axhline(1.0, color="k", lw=0.8, ls=":")
    bx.set_ylabel("divided by $E\\,\\mathrm{tr}\\,G = L(\\|x_0\\|^2+1)$ (quartile band)")
    bx.set_title("top Hessian eigenvalue and spectral mass (mse, target 0)", fontsize="medium")
    bx.legend(fontsize="small")
    verdict = "all checks passed" if met["passed"] else "a check FAILED"
    fig.suptitle("Vanishing curvature (Orvieto et al. 2106.03763), deep linear Gaussian "
                 "networks, scalar output: " + verdict
                 + ("  [quick]" if data["parameters_quick"] else ""))
    return fig
