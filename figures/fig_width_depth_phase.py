"""Width-depth phase diagram of the typical gradient norm, with the predicted boundary
n = c L / tau (Hanin arXiv:1801.03744; Hanin & Nica arXiv:1812.05994).

For three initialisations, on a grid of depths L and widths n (every layer of width n), the
sample median of log R, R = ||J u||^2 / ||u||^2 (``rmtchain.phase.phase_diagram``,
``scheduler="synchronous"``, theory/phase.md (PH.1)-(PH.4)), beside the prediction of
``rmtchain.finitewidth.predict_lognorm`` (PH.5):

* relu-He: relu, Gaussian, sigma_w^2 = 2, zero bias. Exact law (FW.2)-(FW.5), c = 5/2; at
  small n and large L the atom P(R = 0) exceeds 1/2 and the median is -inf.
* tanh-Xavier: tanh, Gaussian, sigma_w = 1, zero bias. The length map has no nonzero fixed
  point (q_l -> 0), so q_input = 1 and the median also drifts with the mean field. Leading-
  order normal law with mean-field fluctuations (FW.6), ``exact = False``.
* linear-orthogonal: linear, Haar, sigma_w = 1: R = 1 exactly (c = 0, a point law), every
  width is inside the boundary.

The boundary (PH.6) is drawn, as in the width-for-depth criterion (FW.7), for the gap
``median log R - log E R`` with ``log E R`` the predicted ``log_mean_ratio`` of the cell: a
cell is "inside" when |median log R - log E R| <= ``TAU`` = 1 (the typical norm is within a
factor e of the mean). For relu-He (log E R = log(1 - 2^-n)) and linear-orthogonal
(log E R = 0) this is PH.6's |median log R| <= tau up to 2^-n. For tanh-Xavier the mean-field
drift log E R = sum_l log mu_1(q_l) (q_l -> 0 like 1/(2l)) is itself -1.2 at L = 4 and would
put every cell outside |median log R| <= 1; the gap isolates the finite-width part, which
to leading order is -c L/n, i.e. the line n = c L / tau (c of the cell's normal law). The
heatmaps show this gap; the checks of the medians below do not depend on it.

Checks (``agreement``), per cell:

* Finite medians: |sampled - predicted| <= Z_MAX * SE + bias, SE = sqrt(p (1-p)/N) /
  f(median) with p = 1/2 and f the predicted density of log R at its median (the null
  standard error of a sample median, theory/phase.md (PH.3) with the density in place of the
  order-statistic spacing; the spacing SE ``median_se`` is reported). ``Z_MAX`` = 4: normal
  tail 6.3e-5 per cell, 108 cells (full 147): family-wise < 1%. ``bias``:
  - exact laws (relu-He): 0 (the inversion error ~1e-13 is negligible);
  - linear-orthogonal: a point law (f infinite, SE = 0): ``ROUNDING`` = 1e-9 (measured
    |log R| <= 7e-15 at L = 256: one rounding per layer);
  - tanh-Xavier: ``TANH_REL`` * |predicted median|, ``TANH_REL`` = 0.2. The normal law (FW.6)
    omits the O(L/n) second-order q-fluctuation terms and the x-v correlation (documented in
    theory/finitewidth.md (FW.6)). Measured on a 4 x 4 grid (L = 4..256, n = 8..512, 400
    samples): relative error 13% at n = 8, L = 16 (the worst), 3.5% at n = 8, L = 256, at
    most 8% for n >= 32; 0.2 leaves a margin of 1.5 over the worst.
* Medians at -inf (relu-He where P(R = 0) >= 1/2): the sampled fraction of R = 0 against
  the exact atom P(R = 0) (FW.3) within Z_MAX binomial standard errors plus 1/N (the
  discreteness of a fraction); a cell whose sampled and predicted medians disagree on being
  -inf is allowed only where the atom is within that tolerance of 1/2.
* Boundary: every cell classified differently (inside/outside) by the sampled and the
  predicted median must be ambiguous, i.e. its predicted |median| within the cell's
  tolerance of ``TAU``. The per-depth smallest inside widths (sampled and predicted,
  ``rmtchain.phase.predicted_boundary``) are reported.
"""

from __future__ import annotations

import math

import numpy as np

from rmtchain.chain import Chain
from rmtchain.finitewidth import predict_lognorm
from rmtchain.phase import phase_diagram

SEED = 181205994
TITLE = "Width-depth phase diagram of log ||Ju||^2 with the boundary n = cL/tau (Hanin-Nica)"
EQUATION = ("exact law of log R theory/finitewidth.md (FW.2)-(FW.5) (relu-He), normal law "
            "(FW.6) (tanh-Xavier), R = 1 (linear-orthogonal); boundary theory/phase.md (PH.6)")

TAU = 1.0
Z_MAX = 4.0
TANH_REL = 0.2
ROUNDING = 1e-9
SETTINGS = {
    "relu_he": {"phi": "relu", "weights": "gaussian", "sigma_w": math.sqrt(2.0),
                "label": "relu-He (exact law, c = 5/2)"},
    "tanh_xavier": {"phi": "tanh", "weights": "gaussian", "sigma_w": 1.0,
                    "label": "tanh-Xavier (normal law FW.6)"},
    "linear_orthogonal": {"phi": "linear", "weights": "orthogonal", "sigma_w": 1.0,
                          "label": "linear-orthogonal (R = 1, c = 0)"},
}

_QUICK = {"depths": (4, 8, 16, 32, 64, 128), "widths": (8, 16, 32, 64, 128, 256),
          "samples": 150}
_FULL = {"depths": (4, 8, 16, 32, 64, 128, 256), "widths": (8, 16, 32, 64, 128, 256, 512),
         "samples": 1000}


def parameters(quick):
    """The sizes used by ``compute`` (recorded in the provenance JSON)."""
    p = _QUICK if quick else _FULL
    return {"depths": list(p["depths"]), "widths": list(p["widths"]), "samples": p["samples"],
            "settings": {k: {kk: vv for kk, vv in v.items() if kk != "label"}
                         for k, v in SETTINGS.items()},
            "tau": TAU, "z_max": Z_MAX, "tanh_rel": TANH_REL, "scheduler": "synchronous"}


def compute(quick, rng):
    """Run ``phase_diagram`` per setting (synchronous; cell seeds from one draw of ``rng``)
    and the per-cell predicted density at the median and atom at zero."""
    p = _QUICK if quick else _FULL
    data = {"parameters_quick": bool(quick), "depths": np.asarray(p["depths"]),
            "widths": np.asarray(p["widths"]), "samples": p["samples"], "tau": TAU}
    for s, cfg in SETTINGS.items():
        entropy = int(rng.integers(2**62))
        ds = phase_diagram(p["depths"], p["widths"], phi=cfg["phi"], weights=cfg["weights"],
                           sigma_w=cfg["sigma_w"], samples=p["samples"], rng=entropy,
                           scheduler="synchronous", progress=True)
        D, W = len(p["depths"]), len(p["widths"])
        pdf, atom, point = np.zeros((D, W)), np.zeros((D, W)), np.zeros((D, W), dtype=bool)
        lmr = np.zeros((D, W))
        for i, L in enumerate(p["depths"]):
            for j, n in enumerate(p["widths"]):
                pred = predict_lognorm(Chain(L, n, phi=cfg["phi"], weights=cfg["weights"],
                                             sigma_w=cfg["sigma_w"]))
                atom[i, j] = pred.atom_at_zero
                lmr[i, j] = pred.log_mean_ratio
                point[i, j] = pred.point[1] >= 1.0
                if math.isfinite(pred.median) and not point[i, j]:
                    pdf[i, j] = float(pred.pdf(pred.median))
        data[s] = {
            "median": ds["median"].values, "median_se": ds["median_se"].values,
            "pred_median": ds["pred_median"].values, "pred_c": ds["pred_c"].values,
            "zero_fraction": ds["zero_fraction"].values,
            "prediction_exact": ds["prediction_exact"].values,
            "pred_pdf_at_median": pdf, "pred_atom": atom, "pred_point_law": point,
            "pred_log_mean_ratio": lmr,
            "seed_entropy": np.int64(entropy),
            "prediction_source": str(ds.attrs["prediction_source"]),
        }
    return data


def cell_checks(d, samples):
    """Per-cell tolerance, error, agreement flag and the inside/outside classifications."""
    med = np.asarray(d["median"], float)
    pm = np.asarray(d["pred_median"], float)
    f = np.asarray(d["pred_pdf_at_median"], float)
    point = np.asarray(d["pred_point_law"], bool)
    exact = np.asarray(d["prediction_exact"], bool)
    N = int(samples)
    with np.errstate(divide="ignore"):
        se = np.where(point, 0.0, np.sqrt(0.25 / N) / f)
    bias = np.where(point, ROUNDING, np.where(exact, 0.0, TANH_REL * np.abs(pm)))
    tol = Z_MAX * se + bias
    both_finite = np.isfinite(med) & np.isfinite(pm)
    with np.errstate(invalid="ignore"):
        err = np.where(both_finite, med - pm, np.where(med == pm, 0.0, np.inf))
    ok_med = np.where(both_finite, np.abs(err) <= tol, True)
    # atoms: the sampled fraction of R = 0 against P(R = 0)
    a = np.asarray(d["pred_atom"], float)
    zf = np.asarray(d["zero_fraction"], float)
    atom_tol = Z_MAX * np.sqrt(a * (1.0 - a) / N) + 1.0 / N
    ok_atom = np.abs(zf - a) <= atom_tol
    mixed = np.isfinite(med) != np.isfinite(pm)
    ok_mixed = ~mixed | (np.abs(a - 0.5) <= atom_tol)
    lmr = np.asarray(d["pred_log_mean_ratio"], float)
    inside_s = np.abs(med - lmr) <= TAU
    inside_p = np.abs(pm - lmr) <= TAU
    with np.errstate(invalid="ignore"):
        ambiguous = np.abs(np.abs(pm - lmr) - TAU) <= tol
    ok_boundary = (inside_s == inside_p) | ambiguous
    ok = ok_med & ok_atom & ok_mixed & ok_boundary
    return {"se": se, "tol": tol, "err": err, "ok_median": ok_med, "ok_atom": ok_atom,
            "ok_mixed": ok_mixed, "ok_boundary": ok_boundary, "ok": ok,
            "inside_sampled": inside_s, "inside_predicted": inside_p}


def _boundary(inside, widths):
    """Per depth, the smallest width inside, or 0 if none."""
    return np.asarray([int(widths[np.argmax(row)]) if row.any() else 0 for row in inside])


def agreement(data):
    """Per-cell median, atom and boundary checks for every setting."""
    out = {}
    ok = True
    parts = []
    widths = np.asarray(data["widths"])
    for s in SETTINGS:
        c = cell_checks(data[s], data["samples"])
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(np.isfinite(c["err"]) & (c["tol"] > 0), np.abs(c["err"]) / c["tol"],
                             np.where(c["err"] == 0, 0.0, np.inf))
        worst = float(np.max(ratio))
        out[f"{s}_worst_error_over_tolerance"] = worst
        out[f"{s}_cells_failed"] = int(np.sum(~c["ok"]))
        out[f"{s}_boundary_mismatched_cells"] = int(np.sum(c["inside_sampled"]
                                                           != c["inside_predicted"]))
        out[f"{s}_boundary_sampled"] = _boundary(c["inside_sampled"], widths)
        out[f"{s}_boundary_predicted"] = _boundary(c["inside_predicted"], widths)
        out[f"{s}_passed"] = bool(c["ok"].all())
        ok &= out[f"{s}_passed"]
        parts.append(f"{s}: max |err|/tol = {worst:.2f}, {out[f'{s}_cells_failed']} cells "
                     f"failed, boundary differs in {out[f'{s}_boundary_mismatched_cells']} "
                     f"(ambiguous) cells")
    out["passed"] = bool(ok)
    out["summary"] = "; ".join(parts)
    return out


def _dataset(data, s):
    import xarray as xr

    d = data[s]
    cfg = SETTINGS[s]
    dims = ("depth", "width")
    lmr = np.asarray(d["pred_log_mean_ratio"], float)
    return xr.Dataset(
        {"median": (dims, np.asarray(d["median"], float) - lmr),
         "pred_median": (dims, np.asarray(d["pred_median"], float) - lmr)},
        coords={"depth": np.asarray(data["depths"]), "width": np.asarray(data["widths"])},
        attrs={"prediction_source": str(d["prediction_source"]), "param_phi": cfg["phi"],
               "param_weights": cfg["weights"], "param_sigma_w": float(cfg["sigma_w"]),
               "param_samples": int(data["samples"])})


def plot(data):
    """Three heatmaps (``rmtchain.phase.plot_phase``) with the line n = c L / tau and the
    cells that fail a check crossed out."""
    import matplotlib.pyplot as plt

    from rmtchain.phase import plot_phase

    met = agreement(data)
    fig, axes = plt.subplots(1, 3, figsize=(18.0, 5.4), layout="constrained")
    depths = np.asarray(data["depths"], float)
    widths = np.asarray(data["widths"], float)
    for ax, s in zip(axes, SETTINGS):
        plot_phase(_dataset(data, s), threshold=TAU, ax=ax)
        d = data[s]
        c = float(np.nanmedian(np.asarray(d["pred_c"], float)))
        Ls = np.geomspace(depths[0] / 1.5, depths[-1] * 1.5, 50)
        if c > 0:
            ax.plot(c * Ls / TAU, Ls, color="C2", lw=1.8,
                    label=f"leading order n = cL/$\\tau$ (c = {c:.2f})")
        else:
            ax.plot([], [], " ", label="c = 0: no boundary, every cell inside")
        chk = cell_checks(d, data["samples"])
        bad = ~chk["ok"]
        if bad.any():
            ii, jj = np.nonzero(bad)
            ax.plot(widths[jj], depths[ii], "x", color="m", ms=12, mew=2, label="check failed")
        ax.set_xlim(widths[0] / 1.5, widths[-1] * 1.5)
        ax.set_ylim(depths[0] / 1.5, depths[-1] * 1.5)
        ax.set_title(f"{SETTINGS[s]['label']}: worst |err|/tol = "
                     f"{met[f'{s}_worst_error_over_tolerance']:.2f}", fontsize="medium")
        ax.legend(fontsize="x-small", loc="lower right")
    verdict = "all checks passed" if met["passed"] else "a check FAILED"
    fig.suptitle(f"median log R - log E R, R = $\\|Ju\\|^2/\\|u\\|^2$, over (width, depth), "
                 f"{int(data['samples'])} samples per cell; boundary |median| = {TAU:g} "
                 f"(solid sampled, dashed predicted) - {verdict}", fontsize="medium")
    return fig
