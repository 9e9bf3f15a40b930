"""Fuss-Catalan laws of products of Gaussian matrices at depths 1, 2, 4, 8 against samples.

A linear chain with Gaussian weights at sigma_w = 1, J = W_L ... W_1 (square n x n, entries
N(0, 1/n)), has in the large-width limit the Fuss-Catalan law of order L for lambda =
eigenvalue of J J^T: moments binom((L+1)k, k) / (Lk + 1), support [0, (L+1)^(L+1) / L^L]
(Penson & Zyczkowski arXiv:1103.3453; THEORY.md, free probability; theory/laws.md
(LAW.6)-(LAW.12), ``rmtchain.laws.FussCatalan``; Pennington, Schoenholz, Ganguli
arXiv:1711.04735 for the linear Gaussian chain).

Checks (``agreement``), per depth L:

* KS distance of the pooled sampled lambda to the closed-form Fuss-Catalan cdf (LAW.12).
  Threshold ``KS_COEFF / sqrt(N) + KS_FINITE_WIDTH * L / n``: 1.63/sqrt(N) is the 1%
  critical value of the Dvoretzky-Kiefer-Wolfowitz bound for N iid points (conservative:
  eigenvalues repel); the second term is the O(L/n) finite-width correction of the mean
  spectral cdf (one Wishart factor gives about 0.3/n near the hard edge at 0, measured for
  the Saxe figure; a product of L factors accumulates up to L of them, so
  ``KS_FINITE_WIDTH`` = 0.3). Measured KS at n = 200, L = 1, 2, 4, 8 (4 samples):
  0.0067, 0.0063, 0.0083, 0.0094, far below the DKW term alone (0.058).
* Largest eigenvalue against the edge (L+1)^(L+1)/L^L (LAW.7): the mean over samples of
  lambda_max / edge within ``EDGE_TOL`` of 1. The top eigenvalue of a product of Ginibre
  matrices sits below the edge by O(n^(-2/3)) (relative; Tracy-Widom scale) with a factor
  growing with L. ``EDGE_TOL`` = 3 sqrt(L) n^(-2/3): measured lambda_max/edge - 1 at
  n = 200 (mean of 4 samples), L = 1, 2, 4, 8: -0.018, -0.051, -0.047, -0.056, i.e. at most
  1.25 sqrt(L) n^(-2/3); 3 leaves a factor 2.4. A grossly wrong edge (the Marchenko-Pastur 4 at
  L = 2 instead of 6.75) fails at the quick size; at n = 1000 the tolerance is 0.03 sqrt(L)
  and a 10% edge error fails too. Measured at n = 128 (quick, 4 samples): -0.054, -0.036,
  -0.109, -0.140 for L = 1, 2, 4, 8.
"""

from __future__ import annotations

import math

import numpy as np

import rmtchain
from rmtchain.laws import FussCatalan

SEED = 110333453
TITLE = "Fuss-Catalan laws of products of Gaussian matrices (Penson & Zyczkowski 1103.3453)"
EQUATION = ("Fuss-Catalan cdf theory/laws.md (LAW.12) (KS) and edge (L+1)^(L+1)/L^L (LAW.7), "
            "linear Gaussian chains, depths 1, 2, 4, 8")

DEPTHS = (1, 2, 4, 8)
KS_COEFF = 1.63
KS_FINITE_WIDTH = 0.3
EDGE_COEFF = 3.0

_FULL = {"width": 1000, "samples": 2}
_QUICK = {"width": 128, "samples": 4}


def parameters(quick):
    """The sizes used by ``compute`` (recorded in the provenance JSON)."""
    p = _QUICK if quick else _FULL
    return {"depths": list(DEPTHS), "phi": "linear", "weights": "gaussian", "sigma_w": 1.0,
            "sigma_b": 0.0, "width": p["width"], "samples": p["samples"],
            "ks_coeff": KS_COEFF, "ks_finite_width": KS_FINITE_WIDTH, "edge_coeff": EDGE_COEFF}


def compute(quick, rng):
    """Sample linear Gaussian chains at depths 1, 2, 4, 8 (seeded by ``rng``)."""
    p = _QUICK if quick else _FULL
    n, S = p["width"], p["samples"]
    data = {"parameters_quick": bool(quick), "width": n, "samples": S,
            "depths": np.array(DEPTHS)}
    for L in DEPTHS:
        chain = rmtchain.Chain(L, n, phi="linear", weights="gaussian")
        lam = rmtchain.sample_spectrum(chain, S, rng=rng).eigenvalues
        law = FussCatalan(L)
        edge = law.support[1]
        # density of log10 lambda on a grid, ln(10) lam rho(lam)
        grid = np.geomspace(edge * 1e-6, edge, 600)
        data[f"L{L}"] = {
            "depth": L,
            "eigenvalues": lam,
            "ks": rmtchain.ks_distance(lam, law.cdf),
            "ks_threshold": KS_COEFF / math.sqrt(lam.size) + KS_FINITE_WIDTH * L / n,
            "edge": edge,
            "lambda_max": lam.max(axis=1),
            "edge_tol": EDGE_COEFF * math.sqrt(L) * n ** (-2.0 / 3.0),
            "grid": grid,
            "density_log10": math.log(10.0) * grid * np.asarray(law.pdf(grid)),
        }
    return data


def agreement(data):
    """KS and edge per depth; ``passed`` when every check holds."""
    out = {}
    ok = True
    for L in DEPTHS:
        d = data[f"L{L}"]
        ks, thr = float(d["ks"]), float(d["ks_threshold"])
        rel = float(np.mean(d["lambda_max"])) / float(d["edge"]) - 1.0
        out[f"ks_depth{L}"] = ks
        out[f"ks_threshold_depth{L}"] = thr
        out[f"edge_rel_error_depth{L}"] = rel
        out[f"edge_tol_depth{L}"] = float(d["edge_tol"])
        ok &= ks <= thr and abs(rel) <= float(d["edge_tol"])
    out["passed"] = bool(ok)
    out["summary"] = "; ".join(
        f"L={L}: KS {out[f'ks_depth{L}']:.4f} <= {out[f'ks_threshold_depth{L}']:.4f}, "
        f"lambda_max/edge - 1 = {out[f'edge_rel_error_depth{L}']:+.3f}" for L in DEPTHS)
    return out


def plot(data):
    """Density of log10 lambda, sampled (histogram) and Fuss-Catalan (line), per depth."""
    import matplotlib.pyplot as plt

    met = agreement(data)
    fig, axes = plt.subplots(1, len(DEPTHS), figsize=(14.0, 3.8), layout="constrained")
    n, S = int(data["width"]), int(data["samples"])
    for ax, L in zip(axes, DEPTHS):
        d = data[f"L{L}"]
        lam = np.asarray(d["eigenvalues"]).ravel()
        l10 = np.log10(lam[lam > 0])
        lo = max(l10.min(), math.log10(float(d["edge"])) - 6.0)
        h, e = np.histogram(l10, bins=np.linspace(lo, l10.max(), 45), density=True)
        h *= np.mean((l10 >= lo))
        ax.stairs(h, e, fill=True, alpha=0.4, color="C0", label=f"sampled (n = {n}, {S} samples)")
        ax.plot(np.log10(d["grid"]), d["density_log10"], "k", lw=1.3, label=f"Fuss-Catalan L={L}")
        ax.axvline(math.log10(float(d["edge"])), color="C3", ls="--", lw=1,
                   label="edge $(L+1)^{L+1}/L^L$")
        ax.set_xlim(lo, math.log10(float(d["edge"])) + 0.3)
        ax.set_title(f"L = {L}: KS {met[f'ks_depth{L}']:.4f} "
                     f"(<= {met[f'ks_threshold_depth{L}']:.4f})", fontsize="medium")
        ax.set_xlabel(r"$\log_{10}\lambda$")
        ax.set_ylabel(r"density of $\log_{10}\lambda$")
        ax.legend(fontsize="x-small", loc="upper left")
    verdict = "all checks passed" if met["passed"] else "a check FAILED"
    fig.suptitle("Eigenvalues of $JJ^\\top$, $J = W_L\\cdots W_1$ Gaussian ($\\sigma_w = 1$), "
                 f"against Fuss-Catalan - {verdict}", fontsize="medium")
    return fig
