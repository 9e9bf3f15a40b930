"""The Lyapunov crossover: log singular values of deep linear Gaussian chains from L/n = 0.01
(free probability) to L/n = 100 (Lyapunov exponents)
(Akemann, Burda, Kieburg arXiv:1809.05905; Liu, Wang, Wang arXiv:1810.00433;
Hanin & Nica arXiv:1812.05994; Pennington, Schoenholz, Ganguli arXiv:1711.04735).

J = W_L ... W_1, square n x n, entries N(0, 1/n) (phi linear, sigma_w = 1). The variable is
x = log s / L = log lambda / (2L) (``rmtchain.lyapunov.sample_lyapunov``'s ``per_sample``).

* n -> infinity first (small L/n): lambda follows the Fuss-Catalan law of order L,
  ``rmtchain.predict_spectrum(chain)`` (free probability, theory/free.md; closed form
  theory/laws.md (LAW.12)), so x has a continuous density.
* L -> infinity first (large L/n): log s_i / L -> lambda_i =
  (1/2)[log(2/n) + psi((n - i + 1)/2)] (``rmtchain.lyapunov.lyapunov_exponents``,
  theory/finitewidth.md (FW.10)), n separate points.

Checks (``agreement``):

* Small L/n (``FREE_GATED``: L/n <= 0.1): at p in ``LEVELS`` the sampled quantile Q_p of the
  pooled x against the free-probability cdf: |F_pred(Q_p) - p| <= KS_COEFF / sqrt(N) +
  KS_FINITE_WIDTH * L / n, the threshold of figures/fig_fuss_catalan.py: 1.63/sqrt(N) is the
  1% DKW critical value for N iid points (conservative: eigenvalues repel); 0.3 L/n the
  measured O(L/n) finite-width correction of the mean spectral cdf. Measured: 0.0026 at
  (n, L) = (400, 4), 0.005 at (100, 10); quick run 0.0030 at (200, 2), 0.0072 at (80, 8)
  (thresholds 0.061, 0.104). A Fuss-Catalan law of twice the depth fails (tests). The quantiles of the
  free law come from the closed form ``rmtchain.laws.FussCatalan`` (LAW.12), equal to
  ``predict_spectrum(chain).cdf`` to 1e-15 (checked in the tests); the gated cdf values at
  the sampled quantiles are ``predict_spectrum(chain).cdf``. The quantiles
  themselves (x_p sampled vs predicted) are reported.
* Large L/n (``LYAP_GATED``: L/n >= 10): the sorted log s_i / L, averaged over samples,
  against lambda_i: |mean_i - lambda_i| <= Z_MAX * stderr_i + (psi(n/2) - psi(1/2)) / L.
  stderr_i is ``sample_lyapunov``'s standard error (the O(L^{-1/2}) fluctuation of (FW.9)).
  The second term is the O(log(n)/L) bias of (FW.9): log s_1 exceeds log ||J u|| for a
  uniform unit u (whose mean is exactly L lambda_1, Bartlett) by -(1/2) log of the squared
  overlap of u with the top right singular vector, mean (1/2)(psi(n/2) - psi(1/2)); the
  allowance is twice that. Measured bias * L: at most 1.7 for n = 10 (allowance 3.5),
  3.0 for the smallest exponent at n = 4 (allowance 2.4, its 4 s.e. = 0.022 * L cover it).
  ``Z_MAX`` = 4 over 14 (quick) / 24 (full) exponents: family-wise < 0.1%. The metric is
  max_i |mean_i - lambda_i| / (Z_MAX stderr_i + allowance) <= 1 (measured 0.30-0.38).
  The free density is drawn where lambda = exp(2 L x) is a positive float (at L = 400 the
  Fuss-Catalan mass below the float range is about 17%).
* The crossover itself: the Wasserstein-1 distance of x to each prediction (to the
  Fuss-Catalan law: integral of |F_sample - F_pred| dx on a fine grid; to the Lyapunov
  spectrum: ``scipy.stats.wasserstein_distance`` against the n points lambda_i). At the
  smallest L/n the free prediction must be the closer, at the largest the Lyapunov one.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special, stats

import rmtchain
from rmtchain.laws import FussCatalan
from rmtchain.lyapunov import lyapunov_exponents, sample_lyapunov

SEED = 180905905
TITLE = "Lyapunov crossover of log singular values, L/n = 0.01 .. 100 (Akemann-Burda-Kieburg)"
EQUATION = ("free probability (Fuss-Catalan) theory/laws.md (LAW.12) at small L/n; Lyapunov "
            "exponents theory/finitewidth.md (FW.9)-(FW.10) at large L/n")

LEVELS = (0.1, 0.25, 0.5, 0.75, 0.9)
KS_COEFF = 1.63
KS_FINITE_WIDTH = 0.3
Z_MAX = 4.0
FREE_GATED = 0.1       # L/n <= this: free-probability quantiles gated
LYAP_GATED = 10.0      # L/n >= this: Lyapunov exponents gated

# (width n, depth L, samples) per panel, L/n = 0.01, 0.1, 1, 10, 100
_QUICK = ((200, 2, 4), (80, 8, 6), (32, 32, 20), (10, 100, 100), (4, 400, 100))
_FULL = ((800, 8, 3), (200, 20, 10), (64, 64, 40), (16, 160, 200), (8, 800, 200))


def parameters(quick):
    """The sizes used by ``compute`` (recorded in the provenance JSON)."""
    p = _QUICK if quick else _FULL
    return {"phi": "linear", "weights": "gaussian", "sigma_w": 1.0,
            "panels": [{"width": n, "depth": L, "samples": S} for n, L, S in p],
            "levels": list(LEVELS), "z_max": Z_MAX, "ks_coeff": KS_COEFF,
            "ks_finite_width": KS_FINITE_WIDTH}


def free_quantile(law, depth, p):
    """p-quantile of x = log(lambda)/(2L) under the free cdf ``law.cdf`` (FussCatalan or a
    SpectrumPrediction: continuous, no atoms for linear Gaussian chains), by brentq in
    log lambda."""
    pred = law
    f = lambda t: float(pred.cdf(math.exp(t))) - p  # noqa: E731
    hi = math.log(pred.support[1])
    lo = hi - 10.0
    while f(lo) > 0:
        lo -= 10.0
    return optimize.brentq(f, lo, hi, xtol=1e-12) / (2.0 * depth)


def w1_to_free(x, pred, depth, points=600):
    """W1 of the pooled x to the free law: integral of |F_sample - F_pred| over x."""
    x = np.sort(np.asarray(x, float).ravel())
    x = x[np.isfinite(x)]
    lo = min(x[0], free_quantile(pred, depth, 1e-4))
    hi = max(x[-1], math.log(pred.support[1]) / (2.0 * depth))
    grid = np.linspace(lo, hi, points)
    Fp = np.asarray(pred.cdf(np.exp(2.0 * depth * grid)), float)
    Fs = np.searchsorted(x, grid, side="right") / x.size
    return float(np.trapezoid(np.abs(Fs - Fp), grid))


def compute(quick, rng):
    """Sample log s_i / L on each panel; predicted free cdf (quantiles, density on a grid)
    and Lyapunov exponents."""
    from tqdm.auto import tqdm

    panels = _QUICK if quick else _FULL
    data = {"parameters_quick": bool(quick), "panels": np.arange(len(panels))}
    for k, (n, L, S) in enumerate(tqdm(panels, desc="fig_lyapunov_crossover", delay=2.0)):
        chain = rmtchain.Chain(L, n, phi="linear", weights="gaussian")
        ly = sample_lyapunov(chain, S, rng=rng)
        lam = lyapunov_exponents(chain).exponents
        pred = rmtchain.predict_spectrum(chain)
        # the closed form (LAW.12) of the same law for the many cdf evaluations of the
        # quantiles and W1 (predict_spectrum's cdf is a per-point contour solve; the two agree
        # to 1e-15 for linear Gaussian chains: tests/test_finitewidth_figures.py)
        fc = FussCatalan(L)
        x = ly.per_sample
        edge_x = math.log(pred.support[1]) / (2.0 * L)
        lo_x = min(float(x.min()), free_quantile(fc, L, 1e-3))
        grid = np.linspace(lo_x, edge_x, 400)
        lam_grid = np.exp(2.0 * L * grid)
        # density of x = log(lambda)/(2L): 2 L lambda rho(lambda)
        dens = 2.0 * L * lam_grid * np.asarray(pred.pdf(lam_grid), float)
        data[f"panel{k}"] = {
            "width": n, "depth": L, "samples": S,
            "x": x, "mean": ly.exponents, "stderr": ly.stderr,
            "lyapunov": lam,
            "free_quantiles": np.array([free_quantile(fc, L, p) for p in LEVELS]),
            "free_cdf_at_sample_quantiles": np.asarray(
                pred.cdf(np.exp(2.0 * L * np.quantile(x, LEVELS))), float),
            "w1_free": w1_to_free(x, fc, L),
            "grid": grid, "free_density": dens,
        }
    return data


def panel_checks(d):
    """Metrics of one panel: free quantile errors and thresholds, Lyapunov z with bias."""
    n, L = int(d["width"]), int(d["depth"])
    x = np.asarray(d["x"], float)
    N = x.size
    levels = np.asarray(LEVELS)
    cdf_err = np.asarray(d["free_cdf_at_sample_quantiles"], float) - levels
    free_thr = KS_COEFF / math.sqrt(N) + KS_FINITE_WIDTH * L / n
    lam = np.asarray(d["lyapunov"], float)
    mean = np.asarray(d["mean"], float)
    se = np.asarray(d["stderr"], float)
    bias = float(special.digamma(n / 2.0) - special.digamma(0.5)) / L
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(mean - lam) / (Z_MAX * se + bias)
    w1_lyap = float(stats.wasserstein_distance(x.ravel(), lam))
    return {"ratio": L / n, "cdf_err": cdf_err, "free_threshold": free_thr,
            "free_ok": bool(np.max(np.abs(cdf_err)) <= free_thr),
            "quantile_err": np.quantile(x, levels) - np.asarray(d["free_quantiles"], float),
            "lyap_z": z, "lyap_bias_allowance": bias, "lyap_ok": bool(np.max(z) <= 1.0),
            "w1_free": float(d["w1_free"]), "w1_lyapunov": w1_lyap}


def agreement(data):
    """Free-probability quantiles at small L/n, Lyapunov exponents at large L/n, and the
    crossover of the W1 distances."""
    keys = sorted((k for k in data if k.startswith("panel") and k != "panels"),
                  key=lambda k: int(k[5:]))
    out = {}
    ok = True
    parts = []
    checks = [panel_checks(data[k]) for k in keys]
    for k, c in zip(keys, checks):
        r = c["ratio"]
        out[f"{k}_L_over_n"] = r
        out[f"{k}_free_max_cdf_err"] = float(np.max(np.abs(c["cdf_err"])))
        out[f"{k}_free_threshold"] = c["free_threshold"]
        out[f"{k}_free_quantile_err"] = c["quantile_err"]
        out[f"{k}_lyapunov_max_err_over_tol"] = float(np.max(c["lyap_z"]))
        out[f"{k}_w1_free"] = c["w1_free"]
        out[f"{k}_w1_lyapunov"] = c["w1_lyapunov"]
        if r <= FREE_GATED:
            ok &= c["free_ok"]
            parts.append(f"L/n={r:g}: free |F(Q_p)-p| {out[f'{k}_free_max_cdf_err']:.4f} <= "
                         f"{c['free_threshold']:.4f}")
        if r >= LYAP_GATED:
            ok &= c["lyap_ok"]
            parts.append(f"L/n={r:g}: Lyapunov max |err|/tol "
                         f"{out[f'{k}_lyapunov_max_err_over_tol']:.2f} <= 1")
    first, last = checks[0], checks[-1]
    cross = first["w1_free"] < first["w1_lyapunov"] and last["w1_lyapunov"] < last["w1_free"]
    out["crossover_ok"] = bool(cross)
    ok &= cross
    parts.append(f"W1 free/Lyapunov: {first['w1_free']:.3g}/{first['w1_lyapunov']:.3g} at "
                 f"L/n={first['ratio']:g}, {last['w1_free']:.3g}/{last['w1_lyapunov']:.3g} at "
                 f"L/n={last['ratio']:g}")
    out["passed"] = bool(ok)
    out["summary"] = "; ".join(parts)
    return out


def plot(data):
    """One panel per L/n: histogram of log s / L, the free density and the Lyapunov exponents;
    last panel: W1 distance to each prediction against L/n."""
    import matplotlib.pyplot as plt

    met = agreement(data)
    keys = sorted((k for k in data if k.startswith("panel") and k != "panels"),
                  key=lambda k: int(k[5:]))
    fig, axes = plt.subplots(2, 3, figsize=(15.0, 8.4), layout="constrained")
    ratios, w1f, w1l = [], [], []
    for ax, k in zip(axes.flat, keys):
        d = data[k]
        n, L, S = int(d["width"]), int(d["depth"]), int(d["samples"])
        x = np.asarray(d["x"], float).ravel()
        c = panel_checks(d)
        ratios.append(c["ratio"])
        w1f.append(c["w1_free"])
        w1l.append(c["w1_lyapunov"])
        lam = np.asarray(d["lyapunov"], float)
        lo = min(np.quantile(x, 0.002), lam.min()) - 0.02
        hi = max(x.max(), float(np.asarray(d["grid"])[-1])) + 0.02
        ax.hist(x, bins=np.linspace(lo, hi, 70), density=True, color="C0", alpha=0.45,
                label=f"sampled log s/L (n = {n}, L = {L}, {S} samples)")
        ax.plot(d["grid"], d["free_density"], "k-", lw=1.3,
                label="free probability (Fuss-Catalan, $n\\to\\infty$)")
        for i, v in enumerate(lam):
            ax.axvline(v, color="C3", lw=0.8 if n > 20 else 1.4, alpha=0.5 if n > 20 else 0.9,
                       label="Lyapunov exponents $\\lambda_i$ ($L\\to\\infty$)" if i == 0 else None)
        ax.set_xlim(lo, hi)
        gated = ("free gated" if c["ratio"] <= FREE_GATED else
                 "Lyapunov gated" if c["ratio"] >= LYAP_GATED else "reported only")
        ax.set_title(f"L/n = {c['ratio']:g} ({gated})", fontsize="medium")
        note = (f"free: max|F(Q_p)-p| = {np.max(np.abs(c['cdf_err'])):.3f} "
                f"(thr {c['free_threshold']:.3f})\n"
                f"Lyapunov: max |err|/tol = {np.max(c['lyap_z']):.2f} (thr 1)")
        ax.text(0.02, 0.97, note, transform=ax.transAxes, va="top", fontsize="x-small")
        ax.set_xlabel(r"$\log s / L = \log\lambda / (2L)$")
        ax.set_ylabel("density")
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(0.0, 0.86))
    bx = axes.flat[len(keys)]
    bx.loglog(ratios, w1f, "ko-", label="to free probability (Fuss-Catalan)")
    bx.loglog(ratios, w1l, "s-", color="C3", label="to the Lyapunov spectrum")
    bx.set_xlabel("L / n")
    bx.set_ylabel("Wasserstein-1 distance of log s / L")
    bx.set_title("the crossover", fontsize="medium")
    bx.legend(fontsize="small")
    for ax in axes.flat[len(keys) + 1:]:
        ax.set_visible(False)
    verdict = "all checks passed" if met["passed"] else "a check FAILED"
    fig.suptitle("Log singular values of linear Gaussian chains $J = W_L\\cdots W_1$: free "
                 f"probability at small L/n, Lyapunov exponents at large L/n - {verdict}",
                 fontsize="medium")
    return fig
