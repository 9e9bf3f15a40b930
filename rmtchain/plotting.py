"""Plots of rmtchain results: ``plot_*(result, *, ax=None) -> Axes``.

Plot functions draw on the given axes (or a new figure) and return the axes; they never save
files and never sample. Saving is the caller's business (``rmtchain.cli`` writes PNGs).
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_comparison", "plot_spectrum"]


def _new_axes(ax):
    if ax is not None:
        return ax, False
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    return ax, True


def _chain_title(chain, samples):
    w = chain.widths
    width = f"n={w[0]}" if len(set(w)) == 1 else f"n={w[0]}..{w[-1]}"
    return (f"L={chain.depth}, {width}, {chain.weights}, {chain.phi}, "
            f"$\\sigma_w$={chain.sigma_w:g}, $\\sigma_b$={chain.sigma_b:g} ({samples} samples)")


def plot_spectrum(spectrum, *, ax=None, log=True, bins=60, label=None, **hist_kwargs):
    """Histogram (density) of the sampled spectrum of J.

    Parameters
    ----------
    spectrum : Spectrum
        A result of ``rmtchain.sample_spectrum``.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made if omitted (and then titled with the chain).
    log : bool
        True: density of log s (natural log of the singular values of J, pooled over samples;
        finite at any depth). False: density of lambda = s^2, the eigenvalues of J J^T
        (values that overflow float64 are left out, and a ValueError is raised if none is
        finite).
    bins : int or sequence or str
        Passed to ``numpy.histogram_bin_edges``.
    label : str, optional
        Legend label; default "<samples> samples x <count> values".
    **hist_kwargs
        Passed to ``Axes.hist`` (e.g. ``histtype="step"``, ``color``).

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    Exact zeros of s (rank lost, log s = -inf) cannot appear on either axis; their count is
    given in the legend. A spectrum whose values are all equal (a linear orthogonal chain,
    s = sigma_w^L exactly) is drawn as a vertical line, as a histogram of a point mass has no
    meaningful height.
    """
    if not hasattr(spectrum, "log_singular_values") or not hasattr(spectrum, "chain"):
        raise ValueError(f"spectrum must be an rmtchain Spectrum, got {type(spectrum).__name__}")
    ls = np.asarray(spectrum.log_singular_values, dtype=float)
    samples, m = ls.shape
    zeros = int(np.count_nonzero(np.isneginf(ls)))
    if log:
        values = ls[np.isfinite(ls)]
        xlabel = r"$\log s$   ($s$: singular value of $J$)"
        ylabel = r"density of $\log s$"
    else:
        with np.errstate(over="ignore", under="ignore"):
            lam = np.exp(2.0 * ls)
        values = lam[np.isfinite(lam) & (lam > 0)]
        xlabel = r"$\lambda = s^2$   (eigenvalue of $J J^\top$)"
        ylabel = r"density of $\lambda$"
        if values.size == 0:
            raise ValueError("log=False: every lambda over- or underflows float64; use log=True")
    if values.size == 0:
        raise ValueError("spectrum has no finite log singular value to plot")
    ax, fresh = _new_axes(ax)
    if label is None:
        label = f"{samples} samples x {m} values"
        if zeros:
            label += f" ({zeros} exact zeros not shown)"
    lo, hi = float(values.min()), float(values.max())
    if hi - lo <= 1e-9 * max(1.0, abs(lo), abs(hi)):
        kw = {k: v for k, v in hist_kwargs.items() if k in ("color", "alpha", "linestyle", "lw")}
        ax.axvline(lo, label=f"{label}: all equal {lo:.6g}", **kw)
        ax.set_ylim(0.0, 1.0)
        ax.set_ylabel("point mass (no density)")
    else:
        edges = np.histogram_bin_edges(values, bins=bins)
        hist_kwargs.setdefault("alpha", 0.6 if hist_kwargs.get("histtype", "bar") == "bar" else 1.0)
        ax.hist(values, bins=edges, density=True, label=label, **hist_kwargs)
        ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    if fresh:
        ax.set_title(_chain_title(spectrum.chain, samples), fontsize="medium")
    ax.legend(fontsize="small")
    return ax


def plot_comparison(comparison, *, ax=None, log=True, bins=60, points=200):
    """Sampled spectrum (histogram) with the predicted density and atoms on top.

    Parameters
    ----------
    comparison : SpectrumComparison
        A result of ``rmtchain.compare.compare_spectrum``.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made if omitted (and then titled with the chain).
    log : bool
        True: density of log10 lambda; False: density of lambda (eigenvalues of J J^T).
    bins : int or sequence or str
        Passed to ``numpy.histogram_bin_edges`` (over the nonzero sampled values).
    points : int
        Number of points (>= 2) at which the predicted density is drawn.

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    Both curves are normalised like the pooled spectrum (theory/compare.md (CMP.1)): the
    histogram's area is the fraction of nonzero sampled eigenvalues, and the predicted
    density is that of the bulk (area = bulk mass), so an atom at 0 (relu, hardtanh) shows
    as missing area; its masses (predicted and sampled) are given in the legend. Positive
    atoms are vertical lines labelled with their mass. The predicted density of
    u = log10 lambda is ln(10) lambda rho(lambda).
    """
    from .compare import SpectrumComparison

    if not isinstance(comparison, SpectrumComparison):
        raise ValueError(
            f"comparison must be a SpectrumComparison, got {type(comparison).__name__}")
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < 2:
        raise ValueError(f"points must be an integer >= 2, got {points!r}")
    spec, pred = comparison.sampled, comparison.predicted
    t = 2.0 * np.asarray(spec.log_singular_values, dtype=float).ravel()
    total = comparison.samples * comparison.chain.n_out   # pooled count, zeros included
    t = t[np.isfinite(t)]
    with np.errstate(over="ignore", under="ignore"):
        x = t / np.log(10.0) if log else np.exp(t)
    x = x[np.isfinite(x) & ((x > 0) | log)]
    if x.size == 0:
        raise ValueError("no finite nonzero sampled eigenvalue to plot")
    ax, fresh = _new_axes(ax)
    lo, hi = float(x.min()), float(x.max())
    atoms = pred.atoms
    if comparison.distances_available:
        top = pred.max_eigenvalue
        hi_p = np.log10(top) if log else top
        hi = max(hi, hi_p)
    if hi - lo > 1e-9 * max(1.0, abs(lo), abs(hi)):
        edges = np.histogram_bin_edges(x, bins=bins, range=(lo, hi))
        counts, edges = np.histogram(x, bins=edges)
        dens = counts / (total * np.diff(edges))
        ax.stairs(dens, edges, fill=True, alpha=0.5, color="C0",
                  label=f"sampled ({comparison.samples} x {comparison.chain.n_out} eigenvalues)")
    else:
        ax.axvline(lo, color="C0", lw=3, alpha=0.5, label=f"sampled: all equal {lo:.6g}")
    if comparison.distances_available:
        lo_p = max(pred.support[0], 0.0)
        if log:
            start = lo if lo_p <= 0 else min(lo, np.log10(lo_p))
            u = np.linspace(start, hi_p, points)
            lam = 10.0 ** u
            y = np.log(10.0) * lam * np.asarray(pred.pdf(lam))
            ax.plot(u, y, color="k", lw=1.4, label="predicted density (n -> inf)")
        else:
            lam = np.linspace(lo_p, hi_p, points)
            y = np.asarray(pred.pdf(lam))
            ax.plot(lam, y, color="k", lw=1.4, label="predicted density (n -> inf)")
    for loc, m in atoms:
        if loc > 0:
            ax.axvline(np.log10(loc) if log else loc, color="C3", ls="--",
                       label=f"predicted atom {m:.3g} at lambda = {loc:.4g}")
    z0p, z0s = comparison.zero_fraction_predicted, comparison.zero_fraction_sampled
    if z0p > 0 or z0s > 0:
        ax.plot([], [], " ", label=f"lambda = 0: predicted {z0p:.3g}, sampled {z0s:.3g} (not drawn)")
    if comparison.distances_available:
        ax.plot([], [], " ", label=f"KS = {comparison.ks:.3g}, W1(log) = "
                                  f"{comparison.wasserstein_log:.3g}")
    ax.set_xlabel(r"$\log_{10}\lambda$" if log else r"$\lambda$ (eigenvalue of $J J^\top$)")
    ax.set_ylabel(r"density of $\log_{10}\lambda$" if log else r"density of $\lambda$")
    if fresh:
        ax.set_title(_chain_title(comparison.chain, comparison.samples), fontsize="medium")
    ax.legend(fontsize="small")
    return ax
