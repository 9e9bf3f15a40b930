"""Jacobian spectra at criticality: orthogonal vs Gaussian weights (Pennington, Schoenholz,
Ganguli 1711.04735, their figure of the spectral density of J J^T against depth).

Settings: phi in {tanh, hardtanh, relu} on the critical line chi1 = 1 with mean-field fixed
point q* in {1/64, 1/2} (``Chain.critical``; relu is scale free, so its law does not depend on
q* and it is drawn once, at q* = 1/2), orthogonal and Gaussian weights, square width n,
depths L in {2, 8, 32, 128} (full) or {2, 8} (quick: tanh q* = 1/2 and relu, n = 96).

Equation checked (``agreement``): the large-width density of lambda = eigenvalue of J J^T,
``rmtchain.predict_spectrum(chain)`` (theory/free.md (FP.8)-(FP.12); THEORY.md, free
probability), against the pooled sampled eigenvalues (``rmtchain.sample_spectrum``).

Metric, per setting: Kolmogorov-Smirnov distance of the *nonzero* sampled eigenvalues to the
predicted law conditioned on lambda > 0, ``ks_nonzero``. The exact zeros (relu, and hardtanh at
q* = 1/2, where phi' = 0 on a set of positive probability) are checked apart, because their
finite-width count is not the n -> infinity atom: the rank of J is min_l K_l, where K_l is
the number of active units of layer l, so the zero fraction is 1 - min_l K_l / n, whose mean
exceeds the atom P(d = 0) by about sqrt(p(1-p)/n) E[max of L normals] (0.04 at n = 1000,
L = 128). For relu, K_l ~ Binomial(n, 1/2) independently (the signs of W x are symmetric
and independent given x, for Gaussian and for Haar W), so the law of the zero fraction is
exact: P(min_l K_l >= k) = P(K >= k)^L. ``zero_z`` is the z-score of the sampled mean zero
fraction against that exact mean (gated at |z| <= 4 for relu; for hardtanh, whose
p_l = P(|h_l| < 1) fluctuates with the finite-width length q_l, it is reported, not gated).

KS threshold: ``KS_COEFF / sqrt(N) + KS_FINITE_WIDTH * L / n``. N is the number of pooled
nonzero eigenvalues. 1.63/sqrt(N) is the 1% critical value of the Dvoretzky-Kiefer-Wolfowitz
bound for N independent points, conservative here because eigenvalues repel (their
counting function fluctuates far less than that of N iid points). The second term covers
the finite-width bias of the mean spectral cdf: the per-sample scale of J J^T fluctuates
(log m_1 has variance O(L/n): THEORY.md, finite width) and the bulk shifts by O(L/n) in
log lambda. ``KS_FINITE_WIDTH`` = 0.5: measured KS at n = 128-256, L = 2..32 (one or two
samples, every setting) stays below 1.63/sqrt(N) + 0.25 L/n; 0.5 doubles that margin. At the
full size (n = 1000, L <= 128) the allowance is at most 0.064.

The predicted cdf is evaluated on a grid in s = sqrt(log(edge) - log(lambda)) (the variable
in which theory/free.md (FP.11) integrates the density; the cdf is smooth in s, including at
the square-root edge) and interpolated by a monotone cubic (PCHIP); the interpolation error
is measured against direct ``cdf`` evaluations at the grid midpoints and recorded
(``cdf_interp_error``); it is below 1e-4, far under the KS threshold.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import interpolate, stats

import rmtchain

SEED = 171104735
TITLE = ("Jacobian spectra at criticality, orthogonal vs Gaussian weights "
         "(Pennington, Schoenholz, Ganguli 1711.04735)")
EQUATION = ("free-probability density of J J^T, theory/free.md (FP.8)-(FP.12) "
            "(predict_spectrum), KS on the nonzero eigenvalues; exact finite-width zero "
            "fraction 1 - min_l K_l/n for relu")

KS_COEFF = 1.63
#: finite-width allowance per unit L/n (module docstring: measured 0.25, doubled)
KS_FINITE_WIDTH = 0.25
Z_MAX = 4.0
#: grid points of the predicted cdf (in s = sqrt(t_edge - log lambda))
CDF_GRID = 121

#: (phi, q*) rows; relu once (scale free)
PHIS = (("tanh", 1.0 / 64.0), ("tanh", 0.5), ("hardtanh", 1.0 / 64.0), ("hardtanh", 0.5),
        ("relu", 0.5))
WEIGHTS = ("orthogonal", "gaussian")

_FULL = {"width": 1000, "depths": (2, 8, 32, 128), "samples": 1, "phis": PHIS}
_QUICK = {"width": 96, "depths": (2, 8), "samples": 2,
          "phis": (("tanh", 0.5), ("relu", 0.5))}


#: the plot's x-range starts at this quantile of the sampled log10 lambda (display only)
X_QUANTILE = 0.01

def parameters(quick):
    """The sizes used by ``compute`` (recorded in the provenance JSON)."""
    p = _QUICK if quick else _FULL
    return {"width": p["width"], "depths": list(p["depths"]), "samples": p["samples"],
            "settings": [f"{phi} q*={q:g}" for phi, q in p["phis"]],
            "weights": list(WEIGHTS), "ks_coeff": KS_COEFF, "ks_finite_width": KS_FINITE_WIDTH}


def _key(phi, q, weights, L):
    return f"{phi}_q{q:.6g}_{weights}_L{L}".replace(".", "p")


# ----------------------------------------------------------------------------- theory


class PredictedCdf:
    """Monotone interpolant of the predicted cdf ``pred.cdf`` (bulk plus atoms).

    F(lam) = sum of the atoms <= lam (theory/free.md (FP.12)) + the bulk cdf (FP.11), the
    latter interpolated by PCHIP on a grid in s = sqrt(t_edge - log lam) from the upper edge
    down to ``lam_min`` (below it, the value at ``lam_min``: bulk mass below the smallest
    sampled positive eigenvalue is then assigned to it, a conservative choice for KS).
    The KS distance is ``rmtchain.ks_distance(lam, pcdf.cdf, atoms=pcdf.atoms)``.
    """

    def __init__(self, pred, lam_min):
        self.atoms = [(float(a), float(m)) for a, m in pred.atoms]
        self.zero_mass = sum(m for a, m in self.atoms if a == 0.0)
        try:
            lo, hi = pred.support
            bulk = True
        except NotImplementedError:
            # the atoms carry all but a rounding-level mass (hardtanh at q* = 1/64 with
            # orthogonal weights: bulk mass L erfc(1/sqrt(2 q*)) ~ 1e-13): no bulk to solve
            bulk = False
        self.bulk = bulk and 1.0 - sum(m for _, m in self.atoms) > 1e-12
        self.interp_error = 0.0
        if not self.bulk:
            return
        t_edge = math.log(hi)
        floor = max(lo, hi * 1e-300)
        t_min = math.log(max(lam_min, floor)) if lam_min > 0 else math.log(floor)
        s_max = math.sqrt(max(t_edge - t_min, 1e-12)) * 1.0000001
        s = np.linspace(0.0, s_max, CDF_GRID)
        lam = np.exp(t_edge - s * s)
        bulk_cdf = np.asarray(pred.cdf(lam), dtype=float) - self._atoms_upto(lam)
        self.t_edge, self.s_max = t_edge, s_max
        self._f = interpolate.PchipInterpolator(s, bulk_cdf)
        # interpolation error, measured at 12 cell midpoints against direct evaluation
        mid = 0.5 * (s[1:] + s[:-1])
        lm = np.exp(t_edge - mid[np.linspace(0, mid.size - 1, 12).astype(int)] ** 2)
        direct = np.asarray(pred.cdf(lm)) - self._atoms_upto(lm)
        self.interp_error = float(np.max(np.abs(self._f(np.sqrt(t_edge - np.log(lm))) - direct)))

    def _atoms_upto(self, lam):
        lam = np.asarray(lam, dtype=float)
        out = np.zeros(lam.shape)
        for a, m in self.atoms:
            out += m * (lam >= a)
        return out

    def cdf(self, lam):
        """P(lambda <= lam), atoms included."""
        lam = np.asarray(lam, dtype=float)
        out = self._atoms_upto(lam)
        if self.bulk:
            pos = lam > 0
            s = np.sqrt(np.clip(self.t_edge - np.log(np.where(pos, lam, 1.0)), 0.0, None))
            out = out + np.where(pos, self._f(np.minimum(s, self.s_max)), 0.0)
        return np.clip(out, 0.0, 1.0)


def zero_fraction(n, L, p):
    """Exact mean and sd of 1 - min_l K_l / n, K_l iid Binomial(n, p) (module docstring)."""
    k = np.arange(n + 1)
    surv = stats.binom.sf(k - 1, n, p) ** L          # P(min >= k)
    pmf = surv - np.append(surv[1:], 0.0)
    frac = 1.0 - k / n
    mean = float(np.dot(pmf, frac))
    sd = float(math.sqrt(max(np.dot(pmf, (frac - mean) ** 2), 0.0)))
    return mean, sd


# ----------------------------------------------------------------------------- compute


def compute(quick, rng):
    """Sample every setting and evaluate the prediction (seeded by ``rng``).

    Returns per setting the pooled eigenvalues (sample, index), the predicted density on a
    grid in log10 lambda, the atoms, and the per-setting KS / zero-fraction metrics.
    """
    p = _QUICK if quick else _FULL
    n, S = p["width"], p["samples"]
    data = {"parameters_quick": bool(quick), "width": n, "samples": S,
            "depths": np.array(p["depths"]), "settings": {}}
    for phi, q in p["phis"]:
        for weights in WEIGHTS:
            for L in p["depths"]:
                chain = rmtchain.Chain.critical(L, n, phi=phi, weights=weights, q_star=q)
                spec = rmtchain.sample_spectrum(chain, S, rng=rng)
                lam = spec.eigenvalues
                pred = rmtchain.predict_spectrum(chain)
                pos = lam[lam > 0]
                pcdf = PredictedCdf(pred, float(pos.min()) if pos.size else 0.0)
                # all eigenvalues, exact zeros counted at the atom at 0 (ks_distance snaps
                # points within 1e-9 relative of an atom onto it)
                ks = rmtchain.ks_distance(lam, pcdf.cdf, atoms=pcdf.atoms)
                N = lam.size
                zero = (lam <= 0).mean(axis=1)
                if phi == "relu":
                    zmean, zsd = zero_fraction(n, L, 0.5)
                elif pcdf.zero_mass > 0.0:
                    # hardtanh: approximate, p_l fluctuates with q_l at finite width
                    zmean, zsd = zero_fraction(n, L, 1.0 - pcdf.zero_mass)
                else:
                    zmean, zsd = 0.0, 0.0
                # expected excess of exact zeros over the atom (module docstring)
                excess = max(zmean - pcdf.zero_mass, 0.0) + Z_MAX * zsd / math.sqrt(S)
                # density curve on log10 lambda (density of log10 lambda = ln10 lam rho(lam))
                if pcdf.bulk:
                    lo, hi = pred.support
                    lo_plot = max(lo, float(pos.min()) if pos.size else hi * 1e-12, hi * 1e-300)
                    grid = np.geomspace(lo_plot * 0.5, hi, 400)
                    dens = math.log(10.0) * grid * np.asarray(pred.pdf(grid))
                else:
                    grid, dens = np.array([1.0]), np.array([0.0])
                thr = KS_COEFF / math.sqrt(N) + KS_FINITE_WIDTH * L / n + excess
                data["settings"][_key(phi, q, weights, L)] = {
                    "phi": phi, "q_star": q, "weights": weights, "depth": L, "width": n,
                    "sigma_w": chain.sigma_w, "sigma_b": chain.sigma_b,
                    "eigenvalues": lam,
                    "atoms": np.array(pcdf.atoms, dtype=float).reshape(-1, 2),
                    "grid": grid, "density_log10": dens,
                    "ks": ks, "ks_points": N, "ks_threshold": thr, "zero_excess": excess,
                    "cdf_interp_error": pcdf.interp_error,
                    "zero_fraction": zero, "zero_fraction_exact": zmean,
                    "zero_fraction_exact_sd": zsd,
                    "moments_ratio_sampled": _ratio(spec), "moments_ratio_theory":
                        _theory_ratio(pred),
                }
    return data


def _ratio(spec):
    m = spec.moments(2).per_sample
    return float(np.mean(m[:, 1] / m[:, 0] ** 2))


def _theory_ratio(pred):
    m = pred.moments(2)
    return float(m[1] / m[0] ** 2)


# ----------------------------------------------------------------------------- agreement


def agreement(data):
    """KS (nonzero eigenvalues) and zero fraction per setting; ``passed`` if all hold."""
    out = {"ks": {}, "ks_threshold": {}, "zero_z": {}}
    ok = True
    worst = (0.0, "")
    for key, d in data["settings"].items():
        ks, thr = float(d["ks"]), float(d["ks_threshold"])
        out["ks"][key] = ks
        out["ks_threshold"][key] = thr
        ok &= bool(ks <= thr) and float(d["cdf_interp_error"]) < 1e-3
        if ks / thr > worst[0]:
            worst = (ks / thr, key)
        zf = np.asarray(d["zero_fraction"], dtype=float)
        sd = float(d["zero_fraction_exact_sd"])
        if sd > 0:
            z = (float(zf.mean()) - float(d["zero_fraction_exact"])) / (sd / math.sqrt(zf.size))
            out["zero_z"][key] = z
            if str(d["phi"]) == "relu":
                ok &= abs(z) <= Z_MAX
    out["worst_ks_over_threshold"] = worst[0]
    out["worst_setting"] = worst[1]
    out["max_cdf_interp_error"] = max(float(d["cdf_interp_error"])
                                      for d in data["settings"].values())
    out["passed"] = bool(ok)
    zr = [abs(v) for k, v in out["zero_z"].items() if k.startswith("relu")]
    out["summary"] = (f"{len(data['settings'])} settings; worst KS/threshold = {worst[0]:.2f} "
                      f"({worst[1]}); relu zero-fraction max |z| = "
                      f"{max(zr) if zr else float('nan'):.2f}")
    return out


# ----------------------------------------------------------------------------- plot


def plot(data):
    """Grid of panels (rows: phi and q*; columns: weights): density of log10 lambda, sampled
    (histogram of the nonzero eigenvalues) and predicted (lines), one colour per depth."""
    import matplotlib.pyplot as plt

    met = agreement(data)
    sets = data["settings"]
    rows = []
    for d in sets.values():
        r = (str(d["phi"]), float(d["q_star"]))
        if r not in rows:
            rows.append(r)
    depths = [int(L) for L in np.atleast_1d(data["depths"])]
    fig, axes = plt.subplots(len(rows), 2, figsize=(11.0, 2.6 * len(rows) + 0.8),
                             layout="constrained", squeeze=False)
    for i, (phi, q) in enumerate(rows):
        for j, weights in enumerate(WEIGHTS):
            ax = axes[i, j]
            lines = []
            xlo, xhi = math.inf, -math.inf
            for c, L in enumerate(depths):
                d = sets[_key(phi, q, weights, L)]
                lam = np.asarray(d["eigenvalues"]).ravel()
                pos = lam[lam > 0]
                col = f"C{c}"
                zero = 1.0 - pos.size / lam.size
                if pos.size:
                    l10 = np.log10(pos)
                    # the x-range starts at the 1st percentile: the lowest eigenvalues of deep
                    # Gaussian chains reach 1e-300 and would squeeze the bulk into one pixel
                    lo, hi = np.quantile(l10, X_QUANTILE), l10.max()
                    xlo, xhi = min(xlo, lo), max(xhi, hi)
                    if hi - lo < 1e-6:
                        ax.axvline(hi, color=col, lw=3, alpha=0.4)
                    else:
                        cnt, e = np.histogram(l10, bins=np.linspace(lo, hi, 41))
                        # absolute density: mass in the window over all eigenvalues, zeros included
                        ax.stairs(cnt / (lam.size * np.diff(e)), e, color=col, alpha=0.35, fill=True)
                dens = np.asarray(d["density_log10"])
                grid = np.asarray(d["grid"])
                for a, m in np.asarray(d["atoms"]).reshape(-1, 2):
                    if a > 0:
                        ax.axvline(math.log10(a), color=col, ls="--", lw=1.2)
                if dens.max() > 0:
                    ax.plot(np.log10(grid), dens, color=col, lw=1.3)
                lines.append(f"L={L}: KS {float(d['ks']):.3f} / {float(d['ks_threshold']):.3f}")
            if xhi > xlo:
                pad = 0.05 * max(xhi - xlo, 0.2)
                ax.set_xlim(xlo - pad, xhi + pad)
            ax.text(0.02, 0.97, "\n".join(lines), transform=ax.transAxes, va="top", ha="left",
                    fontsize="x-small", family="monospace")
            d0 = sets[_key(phi, q, weights, depths[0])]
            ax.set_title(f"{phi}, q* = {q:g}, {weights} "
                         f"($\\sigma_w$={float(d0['sigma_w']):.4g}, "
                         f"$\\sigma_b$={float(d0['sigma_b']):.3g})", fontsize="small")
            ax.set_xlabel(r"$\log_{10}\lambda$,  $\lambda$ = eigenvalue of $JJ^\top$")
            ax.set_ylabel(r"density of $\log_{10}\lambda$")
    handles = [plt.Line2D([], [], color=f"C{c}", lw=2, label=f"L = {L}")
               for c, L in enumerate(depths)]
    handles += [plt.Line2D([], [], color="k", lw=1.3, label="free probability (predict_spectrum)"),
                plt.matplotlib.patches.Patch(color="k", alpha=0.35,
                                             label=f"sampled, n = {int(data['width'])}"),
                plt.Line2D([], [], color="k", ls="--", label="predicted atom")]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize="small")
    verdict = "all KS checks passed" if met["passed"] else "a check FAILED"
    fig.suptitle(f"Spectra of $JJ^\\top$ at criticality ($\\chi_1 = 1$), nonzero eigenvalues "
                 f"(histogram mass = nonzero fraction; x from the 1st percentile) - {verdict}", fontsize="medium")
    return fig
