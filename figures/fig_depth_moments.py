"""Variance and largest eigenvalue of J J^T against depth, at criticality, with the theory
lines (Pennington, Schoenholz, Ganguli arXiv:1711.04735, arXiv:1802.09979).

Settings: tanh at q* = 1/64 and 1/2 and relu (scale free), on the critical line chi1 = 1
(``Chain.critical``), orthogonal and Gaussian weights (tanh q* = 1/64 orthogonal only: its
Gaussian twin is nearly the linear Fuss-Catalan case of fig_fuss_catalan), depths
2, 4, ..., 128 (full) or 2..16 (quick), square width n.

Theory lines:

* normalised variance ``var = m_2/m_1^2 - 1`` from ``predict_spectrum(chain).moments(2)``
  (S-transform product, theory/free.md (FP.4)-(FP.7)), and, independently, the closed form
  ``var = L (mu_2/mu_1^2 - 1 + s_1)``, s_1 = 1 Gaussian, 0 orthogonal (THEORY.md; theory/
  free.md (FP.7)) with mu_k from ``rmtchain.mean_field`` (adaptive quadrature, a different
  route from the Gauss-Legendre nodes of free.py). The two must agree to 1e-8 relative
  (quadrature tolerance of both routes, measured ~1e-13).
* largest eigenvalue: ``predict_spectrum(chain).max_eigenvalue`` (upper edge of the bulk
  or the top atom, theory/free.md (FP.10), (FP.12)).

Sampled: per chain the ratio m_2/m_1^2 of its own normalised traces (THEORY.md: compare
per sample, the scale m_1 fluctuates at finite width) and lambda_max / m_1.

Checks (``agreement``):

* variance: |log(mean sampled var / var)| <= 4 s.e. (of the log of the sample mean, by the
  delta method) + ``VAR_FINITE_WIDTH * L / n``. The per-sample m_2/m_1^2 has a finite-width
  bias O(L/n) relative (the mean-field length q_l and the per-layer law of phi'(h)^2
  fluctuate by O(1/sqrt(n)), adding O(1/n) per layer to the normalised variance).
  ``VAR_FINITE_WIDTH`` = 2: measured |log ratio| at n = 64 (4 samples, L = 2..16, all five
  settings) is at most 1.3 L/n, statistical noise included (largest: tanh q* = 1/64
  orthogonal, where var itself is only ~0.002 L and the O(L/n) bias dominates).
* largest eigenvalue: |log(mean sampled lambda_max / m_1 over the prediction)| <=
  ``EDGE_COEFF`` (n^(-2/3) L + sqrt(L/n)): the top eigenvalue approaches the edge from below
  on the Tracy-Widom scale n^(-2/3), with a factor growing with L, and the log of the
  per-sample scale fluctuates by O(sqrt(L/n)) (THEORY.md, finite width). ``EDGE_COEFF`` = 1:
  measured log ratios at n = 64 (L = 2..16) are all negative (the edge is approached from
  below) and at most 0.62 of the tolerance.
"""

from __future__ import annotations

import math

import numpy as np

import rmtchain

SEED = 180209979
TITLE = "Variance and largest eigenvalue of JJ^T against depth at criticality (1711.04735)"
EQUATION = ("var = m_2/m_1^2 - 1 = L (mu_2/mu_1^2 - 1 + s_1), theory/free.md (FP.7); "
            "lambda_max = upper edge, theory/free.md (FP.10), (FP.12)")

K_SE = 4.0
VAR_FINITE_WIDTH = 2.0
EDGE_COEFF = 1.0
#: agreement of the two theory routes for var (quadrature tolerance)
THEORY_RTOL = 1e-8

SETTINGS = (("tanh", 1.0 / 64.0, "orthogonal"), ("tanh", 0.5, "orthogonal"),
            ("tanh", 0.5, "gaussian"), ("relu", 0.5, "orthogonal"), ("relu", 0.5, "gaussian"))
_FULL = {"width": 500, "depths": (2, 4, 8, 16, 32, 64, 128), "samples": 2}
_QUICK = {"width": 64, "depths": (2, 4, 8, 16), "samples": 4}


def parameters(quick):
    """The sizes used by ``compute`` (recorded in the provenance JSON)."""
    p = _QUICK if quick else _FULL
    return {"width": p["width"], "depths": list(p["depths"]), "samples": p["samples"],
            "settings": [f"{phi} q*={q:g} {w}" for phi, q, w in SETTINGS],
            "var_finite_width": VAR_FINITE_WIDTH, "edge_coeff": EDGE_COEFF, "k_se": K_SE}


def _key(phi, q, weights):
    return f"{phi}_q{q:.6g}_{weights}".replace(".", "p")


def closed_form_var(phi, sigma_w, sigma_b, q_star, weights, depth):
    """L (mu_2/mu_1^2 - 1 + s_1) with mu_k from ``rmtchain.mean_field`` (THEORY.md)."""
    mf = rmtchain.mean_field(phi, sigma_w, sigma_b, q_star=q_star, kmax=2)
    s1 = 1.0 if weights == "gaussian" else 0.0
    return depth * (mf.mu[1] / mf.mu[0] ** 2 - 1.0 + s1)


def compute(quick, rng):
    """Sample every setting at every depth (seeded by ``rng``) and evaluate the theory."""
    p = _QUICK if quick else _FULL
    n, S, depths = p["width"], p["samples"], p["depths"]
    data = {"parameters_quick": bool(quick), "width": n, "samples": S,
            "depths": np.array(depths), "settings": {}}
    for phi, q, weights in SETTINGS:
        var_s = np.empty((len(depths), S))
        top_s = np.empty((len(depths), S))
        var_t, var_c, top_t = (np.empty(len(depths)) for _ in range(3))
        for i, L in enumerate(depths):
            chain = rmtchain.Chain.critical(L, n, phi=phi, weights=weights, q_star=q)
            spec = rmtchain.sample_spectrum(chain, S, rng=rng)
            m = spec.moments(2).per_sample
            var_s[i] = m[:, 1] / m[:, 0] ** 2 - 1.0
            top_s[i] = spec.eigenvalues[:, 0] / m[:, 0]
            pred = rmtchain.predict_spectrum(chain)
            mt = pred.moments(2)
            var_t[i] = mt[1] / mt[0] ** 2 - 1.0
            top_t[i] = pred.max_eigenvalue / mt[0]
            var_c[i] = closed_form_var(phi, chain.sigma_w, chain.sigma_b, chain.q_input,
                                       weights, L)
        data["settings"][_key(phi, q, weights)] = {
            "phi": phi, "q_star": q, "weights": weights,
            "var_sampled": var_s, "var_theory": var_t, "var_closed_form": var_c,
            "lambda_max_sampled": top_s, "lambda_max_theory": top_t,
        }
    return data


def _log_mean_and_se(x):
    """log of the sample mean of x (axis -1) and its standard error (delta method)."""
    m = x.mean(axis=-1)
    se = x.std(axis=-1, ddof=1) / math.sqrt(x.shape[-1]) if x.shape[-1] > 1 else np.inf * m
    return np.log(m), se / m


def agreement(data):
    """Variance and lambda_max against theory per setting and depth; ``passed`` if all hold."""
    n = int(data["width"])
    depths = np.asarray(data["depths"], dtype=float)
    out = {"var_log_ratio": {}, "var_tol": {}, "lambda_max_log_ratio": {},
           "lambda_max_tol": {}, "theory_routes_rel_diff": {}}
    ok = True
    worst = 0.0
    for key, d in data["settings"].items():
        vs = np.asarray(d["var_sampled"], dtype=float)
        vt = np.asarray(d["var_theory"], dtype=float)
        vc = np.asarray(d["var_closed_form"], dtype=float)
        lv, sev = _log_mean_and_se(vs)
        rv = lv - np.log(vt)
        tolv = K_SE * sev + VAR_FINITE_WIDTH * depths / n
        ts = np.asarray(d["lambda_max_sampled"], dtype=float)
        tt = np.asarray(d["lambda_max_theory"], dtype=float)
        rt = np.log(ts.mean(axis=-1) / tt)
        tolt = EDGE_COEFF * (depths * n ** (-2.0 / 3.0) + np.sqrt(depths / n))
        routes = float(np.max(np.abs(vc / vt - 1.0)))
        out["var_log_ratio"][key] = rv.tolist()
        out["var_tol"][key] = tolv.tolist()
        out["lambda_max_log_ratio"][key] = rt.tolist()
        out["lambda_max_tol"][key] = tolt.tolist()
        out["theory_routes_rel_diff"][key] = routes
        ok &= bool(np.all(np.abs(rv) <= tolv) and np.all(np.abs(rt) <= tolt)
                   and routes <= THEORY_RTOL)
        worst = max(worst, float(np.max(np.abs(rv) / tolv)), float(np.max(np.abs(rt) / tolt)))
    out["worst_deviation_over_tol"] = worst
    out["passed"] = bool(ok)
    out["summary"] = (f"{len(data['settings'])} settings x {depths.size} depths; worst "
                      f"|log ratio|/tol = {worst:.2f}; theory routes agree to "
                      f"{max(out['theory_routes_rel_diff'].values()):.1e}")
    return out


def plot(data):
    """Two panels against depth (log-log): normalised variance and lambda_max / m_1."""
    import matplotlib.pyplot as plt

    met = agreement(data)
    depths = np.asarray(data["depths"], dtype=float)
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(12.5, 4.8), layout="constrained")
    for c, (key, d) in enumerate(data["settings"].items()):
        col = f"C{c}"
        label = f"{d['phi']} q*={float(d['q_star']):g} {d['weights']}"
        vs = np.asarray(d["var_sampled"])
        a0.plot(depths, np.asarray(d["var_theory"]), "-", color=col, lw=1.4)
        a0.plot(depths, np.asarray(d["var_closed_form"]), ":", color="k", lw=0.8)
        a0.errorbar(depths, vs.mean(axis=1), yerr=vs.std(axis=1, ddof=1) / math.sqrt(vs.shape[1]),
                    fmt="o", color=col, ms=4, capsize=2, label=label)
        ts = np.asarray(d["lambda_max_sampled"])
        a1.plot(depths, np.asarray(d["lambda_max_theory"]), "-", color=col, lw=1.4)
        a1.plot(depths, ts.mean(axis=1), "o", color=col, ms=4, label=label)
    a0.set_xscale("log", base=2)
    a0.set_yscale("log")
    a0.set_xlabel("depth L")
    a0.set_ylabel(r"$m_2/m_1^2 - 1$ of $JJ^\top$")
    a0.set_title(r"variance: lines free probability, dotted $L(\mu_2/\mu_1^2 - 1 + s_1)$",
                 fontsize="medium")
    a0.legend(fontsize="x-small")
    a1.set_xscale("log", base=2)
    a1.set_yscale("log")
    a1.set_xlabel("depth L")
    a1.set_ylabel(r"$\lambda_{max} / m_1$")
    a1.set_title("largest eigenvalue: lines predicted edge, dots sampled", fontsize="medium")
    verdict = "all checks passed" if met["passed"] else "a check FAILED"
    fig.suptitle(f"Spectra of $JJ^\\top$ against depth at criticality, n = {int(data['width'])}, "
                 f"{int(data['samples'])} samples per point - {verdict}", fontsize="medium")
    return fig
