"""Typical gradient and forward norms decay like exp(-c L / n): width must scale with depth
(Hanin arXiv:1801.03744; Hanin & Nica arXiv:1812.05994).

Two mean-preserving initialisations, both with E R = 1 for every depth and width
(theory/finitewidth.md (FW.3)):

* Xavier: linear phi, Gaussian weights, sigma_w = 1 (Glorot's variance 1/n_in);
  log R = sum_l log(chi^2_n / n), c = 1.
* He: relu, Gaussian weights, sigma_w^2 = 2; log R = sum_l log(2 chi^2_{K_l} / n),
  K_l ~ Binomial(n, 1/2), c = 5/2.

R is the gradient ratio ``||J u||^2 / ||u||^2`` (``rmtchain.sample_lognorm``) or the forward
ratio ``||x_L||^2 / ||x_0||^2`` (``rmtchain.finitewidth.sample_forward_lognorm``). Both have
the same exact law (theory/finitewidth.md (FW.8)); they are sampled from independent draws.
Two regimes: fixed width n (L/n grows with depth: the median of R falls like exp(-c L/n))
and width proportional to depth, n = L (L/n = 1: the median stays near exp(-c)).

Equations checked (``agreement``):

* The sampled median of log R against the median of the exact finite-width law
  ``predict_lognorm(chain, quantity).median`` (theory/finitewidth.md (FW.2), (FW.4), (FW.5);
  the Gil-Pelaez inversion is accurate to ~1e-13, negligible). Metric: z = (sampled -
  exact) / SE with SE = sqrt(p (1 - p) / N) / f(median), p = 1/2, f the exact density of
  log R at its median (``pdf``, which carries the factor 1 - P(R = 0)): the asymptotic
  standard error of a sample median of N iid draws under the null (the order-statistic
  binomial argument of theory/phase.md (PH.3), with the exact density in place of the
  spacing of order statistics, so the gate does not inherit the noise of an estimated SE).
  Threshold ``Z_MAX`` = 4: two-sided normal tail 6.3e-5 per comparison, times 40 (quick) or
  48 (full) comparisons, i.e. a family-wise false alarm below 0.3%. The type-7 median's
  bias is O(1/(N f)) / N, far below the SE. The distribution-free order-statistic SE
  (PH.3) is reported beside it.
* Not gated, reported: the leading-order median -c beta, beta = L/n (FW.6); its gap to the
  exact median is O(L/n^2) (measured 0.03 at L = 128, n = 32 for Xavier, 0.5 for He).

The plot draws exp(median log R) against depth, the exact median, exp(-c L/n), and the mean
E R = 1.
"""

from __future__ import annotations

import math

import numpy as np

import rmtchain
from rmtchain.finitewidth import predict_lognorm, sample_forward_lognorm
from rmtchain.phase import lognorm_quantiles

SEED = 18010374
TITLE = "Median gradient and forward norms vs depth: exp(-c L/n) (Hanin 1801.03744)"
EQUATION = ("exact finite-width law of log R, theory/finitewidth.md (FW.2)-(FW.5), (FW.8); "
            "leading order median log R = -c L/n (FW.6), c = 1 (Xavier linear), 5/2 (He relu)")

#: z threshold for the sampled median vs the exact median (see the module docstring)
Z_MAX = 4.0
SETTINGS = {
    "xavier": {"phi": "linear", "weights": "gaussian", "sigma_w": 1.0,
               "label": "Xavier: linear, Gaussian, $\\sigma_w^2 = 1$"},
    "he": {"phi": "relu", "weights": "gaussian", "sigma_w": math.sqrt(2.0),
           "label": "He: relu, Gaussian, $\\sigma_w^2 = 2$"},
}
REGIMES = ("fixed", "proportional")
QUANTITIES = ("gradient", "forward")

_QUICK = {"depths": (8, 16, 32, 64, 128), "fixed_width": 32, "ratio": 1, "samples": 400}
_FULL = {"depths": (8, 16, 32, 64, 128, 256), "fixed_width": 32, "ratio": 1, "samples": 2000}


def parameters(quick):
    """The sizes used by ``compute`` (recorded in the provenance JSON)."""
    p = _QUICK if quick else _FULL
    return {"depths": list(p["depths"]), "fixed_width": p["fixed_width"],
            "proportional_width": f"n = {p['ratio']} * L", "samples": p["samples"],
            "settings": {k: {kk: vv for kk, vv in v.items() if kk != "label"}
                         for k, v in SETTINGS.items()},
            "z_max": Z_MAX}


def widths_for(regime, depths, p):
    """Widths per depth: the fixed width, or ratio * L."""
    if regime == "fixed":
        return np.full(len(depths), p["fixed_width"], dtype=int)
    return np.asarray([p["ratio"] * L for L in depths], dtype=int)


def compute(quick, rng):
    """Sample log R (gradient and forward) on every (setting, regime, depth); exact laws."""
    from tqdm.auto import tqdm

    p = _QUICK if quick else _FULL
    depths = np.asarray(p["depths"], dtype=int)
    N = p["samples"]
    data = {"parameters_quick": bool(quick), "depths": depths, "samples": N}
    jobs = [(s, r) for s in SETTINGS for r in REGIMES]
    with tqdm(total=len(jobs) * len(depths), desc="fig_norm_decay", delay=2.0) as bar:
        for s, r in jobs:
            cfg = SETTINGS[s]
            widths = widths_for(r, depths, p)
            rec = {"widths": widths, "c": np.empty(len(depths)), "beta": np.empty(len(depths)),
                   "log_mean_ratio": np.empty(len(depths))}
            for q in QUANTITIES:
                rec[f"{q}_log_r"] = np.empty((N, len(depths)))
                rec[f"{q}_pred_median"] = np.empty(len(depths))
                rec[f"{q}_pred_pdf_at_median"] = np.empty(len(depths))
                rec[f"{q}_pred_atom"] = np.empty(len(depths))
            for j, (L, n) in enumerate(zip(depths, widths)):
                chain = rmtchain.Chain(int(L), int(n), phi=cfg["phi"], weights=cfg["weights"],
                                       sigma_w=cfg["sigma_w"])
                rec["gradient_log_r"][:, j] = rmtchain.sample_lognorm(chain, N, rng=rng)
                rec["forward_log_r"][:, j] = sample_forward_lognorm(chain, N, rng=rng)
                for q in QUANTITIES:
                    pred = predict_lognorm(chain, q)
                    rec[f"{q}_pred_median"][j] = pred.median
                    rec[f"{q}_pred_pdf_at_median"][j] = (
                        float(pred.pdf(pred.median)) if math.isfinite(pred.median) else 0.0)
                    rec[f"{q}_pred_atom"][j] = pred.atom_at_zero
                rec["c"][j], rec["beta"][j] = pred.c, pred.beta
                rec["log_mean_ratio"][j] = pred.log_mean_ratio
                bar.update()
            data[f"{s}_{r}"] = rec
    return data


def _median_checks(data):
    """Per (setting, regime, quantity): sampled median, SEs, z against the exact median."""
    N = int(data["samples"])
    out = {}
    for s in SETTINGS:
        for r in REGIMES:
            rec = data[f"{s}_{r}"]
            for q in QUANTITIES:
                x = np.asarray(rec[f"{q}_log_r"], dtype=float)
                med, se_os = np.empty(x.shape[1]), np.empty(x.shape[1])
                for j in range(x.shape[1]):
                    m, e = lognorm_quantiles(x[:, j], (0.5,))
                    med[j], se_os[j] = m[0], e[0]
                pm = np.asarray(rec[f"{q}_pred_median"], dtype=float)
                f = np.asarray(rec[f"{q}_pred_pdf_at_median"], dtype=float)
                with np.errstate(divide="ignore"):
                    se = np.sqrt(0.25 / N) / f
                with np.errstate(invalid="ignore"):
                    z = np.where(med == pm, 0.0, (med - pm) / se)
                out[(s, r, q)] = {"median": med, "se_order_stat": se_os, "se": se, "z": z}
    return out


def agreement(data):
    """z of every sampled median against its exact finite-width median; passed if all
    |z| <= Z_MAX."""
    checks = _median_checks(data)
    out = {}
    worst, worst_key = 0.0, ""
    for (s, r, q), c in checks.items():
        key = f"{s}_{r}_{q}"
        out[f"z_{key}"] = c["z"]
        out[f"median_{key}"] = c["median"]
        out[f"se_{key}"] = c["se"]
        out[f"se_order_stat_{key}"] = c["se_order_stat"]
        zmax = float(np.max(np.abs(np.nan_to_num(c["z"], nan=np.inf))))
        if zmax >= worst:
            worst, worst_key = zmax, key
    for s in SETTINGS:
        rec = data[f"{s}_fixed"]
        pm = np.asarray(rec["gradient_pred_median"], float)
        lead = -np.asarray(rec["c"], float) * np.asarray(rec["beta"], float)
        out[f"leading_order_gap_{s}_fixed"] = pm - lead
    out["z_max"] = Z_MAX
    out["worst_abs_z"] = worst
    out["passed"] = bool(worst <= Z_MAX)
    ex = {s: float(np.exp(np.asarray(data[f"{s}_fixed"]["gradient_pred_median"])[-1]))
          for s in SETTINGS}
    Lmax = int(np.asarray(data["depths"])[-1])
    out["summary"] = (f"sampled vs exact median of log R: max |z| = {worst:.2f} "
                      f"({worst_key}) <= {Z_MAX:g} over "
                      f"{len(checks) * len(np.asarray(data['depths']))} medians; "
                      f"exact median R at L = {Lmax}, n = "
                      f"{int(np.asarray(data['xavier_fixed']['widths'])[-1])}: "
                      + ", ".join(f"{s} {v:.2e}" for s, v in ex.items()) + " (mean 1)")
    return out


def plot(data):
    """Median of R against depth, fixed width and width = depth, per initialisation."""
    import matplotlib.pyplot as plt

    met = agreement(data)
    checks = _median_checks(data)
    depths = np.asarray(data["depths"], dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(13.0, 5.0), layout="constrained")
    colors = {"fixed": "C0", "proportional": "C1"}
    markers = {"gradient": "o", "forward": "s"}
    for ax, s in zip(axes, SETTINGS):
        for r in REGIMES:
            rec = data[f"{s}_{r}"]
            widths = np.asarray(rec["widths"])
            ratio = widths[0] / depths[0]
            lab = (f"fixed width n = {int(widths[0])}" if r == "fixed"
                   else "width n = L" if ratio == 1 else f"width n = {ratio:g} L")
            for k, q in enumerate(QUANTITIES):
                c = checks[(s, r, q)]
                off = 1.0 + (0.04 if k else -0.04)
                lo = np.exp(c["median"] - 2 * c["se"])
                hi = np.exp(c["median"] + 2 * c["se"])
                y = np.exp(c["median"])
                ax.errorbar(depths * off, y, yerr=[y - lo, hi - y], fmt=markers[q],
                            color=colors[r], mfc="w" if q == "forward" else colors[r], ms=5,
                            capsize=2, lw=1,
                            label=f"{lab}: sampled {q} median ($\\pm$2 s.e.)")
            ax.plot(depths, np.exp(np.asarray(rec["gradient_pred_median"], float)), "-",
                    color=colors[r], lw=1.4, label=f"{lab}: exact finite-width median")
            cb = np.asarray(rec["c"], float) * np.asarray(rec["beta"], float)
            ax.plot(depths, np.exp(-cb), "--", color=colors[r], lw=1.0,
                    label=f"{lab}: $e^{{-cL/n}}$, c = {float(np.asarray(rec['c'])[0]):g}")
        ax.axhline(1.0, color="k", ls=":", lw=1.0, label="mean $E\\,R = 1$")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("depth L")
        ax.set_ylabel(r"median of $R$  ($R = \|Ju\|^2/\|u\|^2$ or $\|x_L\|^2/\|x_0\|^2$)")
        ax.set_title(SETTINGS[s]["label"], fontsize="medium")
        ax.legend(fontsize="x-small", loc="lower left")
    verdict = "all medians agree" if met["passed"] else "a check FAILED"
    fig.suptitle(f"Typical norms vanish like exp(-cL/n) while E R = 1 "
                 f"(N = {int(data['samples'])} per point; max |z| = {met['worst_abs_z']:.2f} "
                 f"<= {Z_MAX:g}) - {verdict}", fontsize="medium")
    return fig
