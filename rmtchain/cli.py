"""The ``rmtchain`` command: ``sample``, ``spectrum``, ``meanfield``, ``demo``, ``figures``,
``phase`` and ``hessian``.

Errors in the input (a ``ValueError`` from the library, a bad flag) print one line
``rmtchain: error: <message>`` on stderr and exit with status 2, never a traceback;
Ctrl-C exits with status 130. ``rmtchain figures`` exits with 1 when a figure's
theory-vs-sample agreement check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import importlib.util
import io
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ._io import atomic_write as _atomic_write
from ._cli_hessian import add_parser as add_hessian_parser
from .phase import add_cli as add_phase_cli

__all__ = ["main"]

PROG = "rmtchain"
FIGURE_PREFIX = "fig_"


class UsageError(Exception):
    """Bad command-line input; reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise instead of printing usage and exiting."""

    def error(self, message):
        raise UsageError(message)


# ----------------------------------------------------------------------------- helpers


def _use_agg():
    import matplotlib

    matplotlib.use("Agg")


def _save_figure(fig, path, dpi=150):
    _atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi))


def _jsonable(x):
    """Convert numpy scalars/arrays (recursively) to JSON types; non-finite floats -> None."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    if x is None or isinstance(x, str):
        return x
    return str(x)


def _dumps(obj, indent=2):
    return json.dumps(_jsonable(obj), indent=indent, allow_nan=False)


def _parse_width(text):
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"width must be an int or comma-separated ints n_0,...,n_L, got {text!r}") from None
    return parts[0] if len(parts) == 1 else tuple(parts)


def _fresh_seed():
    return int(np.random.SeedSequence().entropy % (2**63))


def _log_ratio_m2_m1sq(ls):
    """Per-sample log(m_2 / m_1^2) from log singular values, overflow-free."""
    from scipy.special import logsumexp

    n = ls.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return logsumexp(4.0 * ls, axis=1) - 2.0 * logsumexp(2.0 * ls, axis=1) + math.log(n)


def _mean_se(x):
    x = np.asarray(x, dtype=float)
    se = x.std(ddof=1) / math.sqrt(x.size) if x.size > 1 else math.inf
    return float(x.mean()), float(se)


def _pm(mean, se, fmt):
    s = format(mean, fmt)
    return s if not math.isfinite(se) else f"{s} ± {format(se, fmt)}"


# ----------------------------------------------------------------------------- sample


def _chain_from_args(args):
    """The Chain the shared chain flags describe (``_add_chain_flags``)."""
    import rmtchain

    return rmtchain.Chain(args.depth, args.width, weights=args.weights, phi=args.phi,
                          sigma_w=args.sigma_w, sigma_b=args.sigma_b, q0=args.q0)


def _seed_from_args(args):
    seed = _fresh_seed() if args.seed is None else args.seed
    if seed < 0:
        raise UsageError(f"argument --seed: must be >= 0, got {seed}")
    return seed


def _plot_path(args):
    """``--plot FILE`` as a Path whose directory exists (checked before any work), or None."""
    if args.plot is None:
        return None
    return _output_path("--plot", args.plot)


def _output_path(flag, text):
    """An output file path whose directory exists and which is not itself a directory."""
    path = Path(text)
    if path.is_dir():
        raise UsageError(f"argument {flag}: {text!r} is a directory; give a file name")
    if not path.parent.is_dir():
        raise UsageError(f"argument {flag}: directory {str(path.parent)!r} does not exist")
    return path


def _cmd_sample(args):
    import rmtchain

    chain = _chain_from_args(args)
    if args.moments < 2:
        raise UsageError(f"argument --moments: must be >= 2, got {args.moments}")
    seed = _seed_from_args(args)
    plot_path = _plot_path(args)
    spec = rmtchain.sample_spectrum(chain, args.samples, rng=seed, method=args.method)
    with np.errstate(invalid="ignore", over="ignore"):  # m_k may overflow at depth: shown as inf
        mom = spec.moments(args.moments)
    ls = spec.log_singular_values
    ratio = np.exp(_log_ratio_m2_m1sq(ls))
    rmean, rse = _mean_se(ratio)
    top, bottom = ls[:, 0], ls[:, -1]

    if args.json:
        record = {
            "package": "rmtchain",
            "version": rmtchain.__version__,
            "chain": chain.describe(),
            "seed": seed,
            "method": args.method,
            "samples": spec.samples,
            "normalisation": "m_k = tr((J J^T)^k) / n_L per sample; lambda = s^2; "
                             "log_singular_values descending per sample, -inf (exact zero) as null",
            "log_singular_values": ls,
            "moments": {"k": mom.k, "mean": mom.mean, "stderr": mom.stderr,
                        "per_sample": mom.per_sample},
            "m2_over_m1_squared": {"per_sample": ratio, "mean": rmean, "stderr": rse},
        }
        print(_dumps(record, indent=None))
    else:
        print(_sample_table(chain, spec, seed, args.method, top, bottom, mom, ratio, rmean, rse))
    if plot_path is not None:
        from .plotting import plot_spectrum

        _write_chain_plot(plot_path, chain, spec.samples, seed, args.json,
                          lambda ax: plot_spectrum(spec, ax=ax, log=not args.plot_lambda))
    return 0


def _write_chain_plot(path, chain, samples, seed, quiet, draw):
    """``draw(ax)`` into a new figure titled by the chain, written atomically to ``path``."""
    _use_agg()
    import matplotlib.pyplot as plt

    from .plotting import _chain_title

    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    draw(ax)
    ax.set_title(_chain_title(chain, samples) + f", seed {seed}", fontsize="medium")
    _save_figure(fig, path)
    plt.close(fig)
    print(f"wrote {path}", file=sys.stderr if quiet else sys.stdout)


def _chain_line(chain):
    """The one-line chain description that heads every command's table."""
    d = chain.describe()
    return (f"chain: depth={d['depth']} width={d['width']} weights={d['weights']} phi={d['phi']} "
            f"sigma_w={d['sigma_w']:g} sigma_b={d['sigma_b']:g} q_input={d['q_input']:.6g}")


def _sample_table(chain, spec, seed, method, top, bottom, mom, ratio, rmean, rse):
    out = io.StringIO()
    print(_chain_line(chain), file=out)
    print(f"seed {seed}, method {method}, {spec.samples} samples x {chain.rank_bound} "
          f"singular values s of J; m_k = tr((J J^T)^k)/n_L", file=out)
    print(file=out)
    hdr = f"{'sample':>8}  {'max log s':>12}  {'min log s':>12}  {'m_1':>12}  {'m_2/m_1^2':>12}"
    print(hdr, file=out)
    print("-" * len(hdr), file=out)
    for i in range(spec.samples):
        print(f"{i:>8d}  {top[i]:>12.5f}  {bottom[i]:>12.5f}  {mom.per_sample[i, 0]:>12.5g}  "
              f"{ratio[i]:>12.5g}", file=out)
    print("-" * len(hdr), file=out)
    tm, ts = _mean_se(top)
    bm, bs = _mean_se(bottom)
    print(f"{'mean':>8}  {tm:>12.5f}  {bm:>12.5f}  {mom.mean[0]:>12.5g}  {rmean:>12.5g}", file=out)
    if spec.samples > 1:
        print(f"{'+/- se':>8}  {ts:>12.5f}  {bs:>12.5f}  {mom.stderr[0]:>12.3g}  {rse:>12.3g}",
              file=out)
    else:
        print("(one sample: no standard errors)", file=out)
    ks = ", ".join(f"m_{k} = {_pm(m, s, '.5g')}" for k, m, s in zip(mom.k, mom.mean, mom.stderr))
    print(f"\nmoments (mean ± standard error over samples): {ks}", file=out)
    if not np.all(np.isfinite(mom.per_sample)):
        print("(some m_k overflow float64; log singular values and m_2/m_1^2 are exact)", file=out)
    return out.getvalue().rstrip("\n")


# ----------------------------------------------------------------------------- spectrum


def _cmd_spectrum(args):
    import rmtchain
    from .compare import compare_spectrum

    chain = _chain_from_args(args)
    seed = _seed_from_args(args)
    plot_path = _plot_path(args)
    cmp = compare_spectrum(chain, args.samples, rng=seed, kmax=args.kmax, method=args.method,
                           cdf=args.cdf)
    if args.json:
        record = {"package": "rmtchain", "version": rmtchain.__version__, **cmp.summary(),
                  "seed": seed}
        print(_dumps(record, indent=None))
    else:
        print(_spectrum_table(cmp, seed))
    if plot_path is not None:
        from .plotting import plot_comparison

        _write_chain_plot(plot_path, chain, cmp.samples, seed, args.json,
                          lambda ax: plot_comparison(cmp, ax=ax, log=not args.plot_lambda))
    return 0


def _spectrum_table(cmp, seed):
    out = io.StringIO()
    print(_chain_line(cmp.chain), file=out)
    print(f"seed {seed}, method {cmp.sampled.method}, {cmp.samples} samples x {cmp.chain.n_out} "
          f"eigenvalues lambda of J J^T; m_k = tr((J J^T)^k)/n_L; prediction: n -> inf", file=out)
    print(file=out)
    hdr = f"{'k':>3}  {'sampled m_k':>14}  {'+/- se':>10}  {'predicted m_k':>14}  {'z':>8}"
    print(hdr, file=out)
    print("-" * len(hdr), file=out)
    for k in range(cmp.kmax):
        print(f"{k + 1:>3}  {cmp.moments_sampled[k]:>14.6g}  {cmp.moments_stderr[k]:>10.3g}  "
              f"{cmp.moments_predicted[k]:>14.6g}  {cmp.moment_z[k]:>8.2f}", file=out)
    print("-" * len(hdr), file=out)
    print("z = (mean of m_k / m_k^pred - 1) / its standard error (Monte Carlo error only; "
          "no finite-width bias allowance)", file=out)
    pred = cmp.predicted
    if cmp.distances_available:
        print(f"KS distance on lambda        {cmp.ks:.5f}  (cdf error <= {cmp.ks_error:.1e}, "
              f"cdf {cmp.cdf_method})", file=out)
        print(f"W1 distance on log lambda    {cmp.wasserstein_log:.5f}  "
              f"(error <= {cmp.wasserstein_log_error:.1e})", file=out)
        lo, hi = pred.support
        print(f"predicted support            [{lo:.6g}, {hi:.6g}]", file=out)
        print(f"predicted max eigenvalue     {pred.max_eigenvalue:.6g}   "
              f"(sampled max {float(np.exp(2 * cmp.sampled.log_singular_values.max())):.6g})",
              file=out)
    else:
        print(f"distances: not available ({cmp.note})", file=out)
    atoms = ", ".join(f"{m:.4g} at {loc:.6g}" for loc, m in pred.atoms) or "none"
    print(f"predicted atoms              {atoms}", file=out)
    print(f"fraction lambda = 0          sampled {cmp.zero_fraction_sampled:.4g}, "
          f"predicted {cmp.zero_fraction_predicted:.4g}", file=out)
    print(f"agreement (theory/compare.md (CMP.6))  {'passed' if cmp.passed() else 'FAILED'}",
          file=out)
    return out.getvalue().rstrip("\n")


# ----------------------------------------------------------------------------- meanfield


def _cmd_meanfield(args):
    import rmtchain

    if args.kmax < 1:
        raise UsageError(f"argument --kmax: must be >= 1, got {args.kmax}")
    if args.critical:
        if args.sigma_w is not None:
            raise UsageError("argument --critical: solves for sigma_w; do not also give --sigma-w")
        sigma_w = rmtchain.critical_sigma_w(args.phi, args.sigma_b)
    else:
        if args.sigma_w is None:
            raise UsageError("argument --sigma-w is required (or --critical to solve for it)")
        sigma_w = args.sigma_w
    mf = rmtchain.mean_field(args.phi, sigma_w, args.sigma_b, q_star=args.q_star, kmax=args.kmax)
    dg = mf.diagnostics
    record = {
        "package": "rmtchain",
        "version": rmtchain.__version__,
        "phi": str(mf.phi.name if not mf.phi.param else f"{mf.phi.name}({mf.phi.param:g})"),
        "sigma_w": mf.sigma_w,
        "sigma_b": mf.sigma_b,
        "critical_solve": bool(args.critical),
        "q_star": mf.q_star,
        "chi1": mf.chi1,
        "chi_q": mf.chi_q,
        "c_star": mf.c_star,
        "chi_c": mf.chi_c,
        "xi_q": mf.xi_q,
        "xi_c": mf.xi_c,
        "phase": mf.phase,
        "mu": {"k": list(range(1, mf.kmax + 1)), "value": mf.mu, "error": dg.mu_error},
        "diagnostics": {
            "q_solver": dg.q_solver, "q_iterations": dg.q_iterations,
            "q_function_calls": dg.q_function_calls, "q_residual": dg.q_residual,
            "c_solver": dg.c_solver, "c_iterations": dg.c_iterations,
            "c_function_calls": dg.c_function_calls, "c_residual": dg.c_residual,
            "chi1_error": dg.chi1_error, "chi_q_error": dg.chi_q_error,
            "chi_c_error": dg.chi_c_error, "quad_failures": dg.quad_failures,
        },
        "infinite_depth_scales": [k for k in ("xi_q", "xi_c") if math.isinf(getattr(mf, k))],
    }
    if args.json:
        print(_dumps(record, indent=None))
        return 0
    out = io.StringIO()
    how = " (critical: solved chi1 = 1)" if args.critical else ""
    print(f"mean field: phi={record['phi']} sigma_w={mf.sigma_w:.10g}{how} "
          f"sigma_b={mf.sigma_b:g}   [theory/meanfield.md]", file=out)
    rows = [("q*", mf.q_star, "fixed point of the length map (MF.1)"),
            ("chi1", mf.chi1, f"sigma_w^2 E[phi'(h)^2]; phase {mf.phase} (MF.3a)"),
            ("chi_q", mf.chi_q, "slope of the length map at q* (MF.3c)"),
            ("c*", mf.c_star, "fixed point of the correlation map (MF.3b)"),
            ("chi_c", mf.chi_c, "slope of the correlation map at c* (MF.3b)"),
            ("xi_q", mf.xi_q, "depth scale -1/log chi_q (MF.3c)"),
            ("xi_c", mf.xi_c, "depth scale -1/log chi_c (MF.3c)")]
    for name, val, what in rows:
        print(f"  {name:<6} {val:>16.10g}   {what}", file=out)
    for k, (m, e) in enumerate(zip(mf.mu, dg.mu_error), start=1):
        print(f"  mu_{k:<3} {m:>16.10g}   E[phi'(h)^{2 * k}], quadrature error {e:.1e}", file=out)
    print(f"diagnostics: q* by {dg.q_solver} ({dg.q_iterations} iterations, "
          f"{dg.q_function_calls} calls, residual {dg.q_residual:.1e}); c* by {dg.c_solver} "
          f"({dg.c_iterations} iterations, residual {dg.c_residual:.1e}); chi1 error "
          f"{dg.chi1_error:.1e}; quadrature failures {dg.quad_failures}", file=out)
    print(out.getvalue().rstrip("\n"))
    return 0


# ----------------------------------------------------------------------------- demo

DEMO_DEPTH = 50
DEMO_WIDTH = 200
DEMO_SAMPLES = 6
DEMO_SEED = 2024
DEMO_SIGMA_B = 0.05


def _cmd_demo(args):
    import rmtchain

    out_dir = Path(args.out) if args.out is not None else Path.cwd()
    if not out_dir.is_dir():
        raise UsageError(f"argument --out: directory {str(out_dir)!r} does not exist")
    target = out_dir / "rmtchain-demo.png"
    _use_agg()
    import matplotlib.pyplot as plt

    t0 = time.perf_counter()
    L, n, S = DEMO_DEPTH, DEMO_WIDTH, DEMO_SAMPLES
    sw_c = rmtchain.critical_sigma_w("tanh", DEMO_SIGMA_B)
    q_c = rmtchain.mean_field("tanh", sw_c, DEMO_SIGMA_B, kmax=1).q_star
    print(f"rmtchain demo: depth-{L} chains, width {n}, {S} samples each, seed {DEMO_SEED}")
    print(f"tanh edge of chaos at sigma_b = {DEMO_SIGMA_B}: sigma_w = {sw_c:.4f}, q* = {q_c:.4f} "
          f"(chi_1 = 1); relu at He init sigma_w = sqrt(2)")
    print("theory: free probability (n -> inf), m_2/m_1^2 = 1 + L (mu_2/mu_1^2 - 1 + s_1), "
          "s_1 = 1 gaussian, 0 orthogonal\n")
    setups = [("tanh", "orthogonal", sw_c, DEMO_SIGMA_B), ("tanh", "gaussian", sw_c, DEMO_SIGMA_B),
              ("relu", "orthogonal", math.sqrt(2.0), 0.0), ("relu", "gaussian", math.sqrt(2.0), 0.0)]
    hdr = (f"{'phi':<6}{'weights':<12}{'median log s':>13}{'min log s':>11}{'s = 0':>7}"
           f"{'m_1':>16}{'m_2/m_1^2':>18}{'theory':>9}")
    print(hdr)
    print("-" * len(hdr))
    rows = []
    ss = np.random.SeedSequence(DEMO_SEED)
    for (phi, weights, sw, sb), child in zip(setups, ss.spawn(len(setups))):
        chain = rmtchain.Chain(L, n, weights=weights, phi=phi, sigma_w=sw, sigma_b=sb)
        spec = rmtchain.sample_spectrum(chain, S, rng=np.random.default_rng(child))
        mom = spec.moments(1)
        ratio = np.exp(_log_ratio_m2_m1sq(spec.log_singular_values))
        rm, rs = _mean_se(ratio)
        # mu_k at the layers' length (q* for tanh; any q is fixed for relu at He init)
        mu1, mu2 = rmtchain.mean_field(phi, sw, sb, q_star=chain.q_input, kmax=2).mu
        theory = 1.0 + L * (mu2 / mu1**2 - 1.0 + (1.0 if weights == "gaussian" else 0.0))
        ls = spec.log_singular_values
        finite = ls[np.isfinite(ls)]
        zeros = 1.0 - finite.size / ls.size
        print(f"{phi:<6}{weights:<12}{np.median(finite):>13.3f}{finite.min():>11.2f}"
              f"{zeros:>7.0%}{_pm(mom.mean[0], mom.stderr[0], '.3f'):>16}"
              f"{_pm(rm, rs, '.3g'):>18}{theory:>9.3g}")
        rows.append((phi, weights, spec, rm, rs, theory, finite, zeros))

    fig, (a0, a1) = plt.subplots(1, 2, figsize=(11.5, 4.4), layout="constrained",
                                 gridspec_kw={"width_ratios": [1.6, 1]})
    colors = {"tanh orthogonal": "C0", "tanh gaussian": "C1", "relu orthogonal": "C2",
              "relu gaussian": "C3"}
    from .plotting import plot_spectrum

    lo = min(float(r[6].min()) for r in rows)
    hi = max(float(r[6].max()) for r in rows)
    edges = np.linspace(lo, hi, 90)
    for phi, weights, spec, *_, zeros in rows:
        label = f"{phi}, {weights}" + (f" ({zeros:.0%} of s exactly 0, not shown)" if zeros else "")
        plot_spectrum(spec, ax=a0, bins=edges, histtype="step", lw=1.6,
                      color=colors[f"{phi} {weights}"], label=label)
    a0.set_xlim(lo, hi)
    a0.set_yscale("log")
    a0.set_title(f"Jacobian spectra at depth {L}, width {n} ({S} samples each)", fontsize="medium")
    a0.legend(fontsize="small", loc="upper left")
    x = np.arange(len(rows))
    a1.bar(x - 0.2, [r[3] for r in rows], 0.4, yerr=[r[4] for r in rows], capsize=3,
           color=[colors[f"{r[0]} {r[1]}"] for r in rows], label="sampled")
    a1.bar(x + 0.2, [r[5] for r in rows], 0.4, color="none", edgecolor="k", hatch="//",
           label=r"free probability ($n\to\infty$)")
    a1.set_xticks(x, [f"{r[0]}\n{r[1]}" for r in rows])
    a1.axhline(1.0, color="k", lw=0.8, ls=":", label="isometry ($m_2/m_1^2 = 1$)")
    a1.set_yscale("log")
    a1.set_ylim(0.8, None)
    a1.set_ylabel(r"$m_2/m_1^2$ of $JJ^\top$ (1 = isometry)")
    a1.set_title("spread of the spectrum", fontsize="medium")
    a1.legend(fontsize="small")
    fig.suptitle(f"rmtchain demo: tanh at the edge of chaos ($\\sigma_w$={sw_c:.4f}, "
                 f"$\\sigma_b$={DEMO_SIGMA_B}) vs relu (He init), orthogonal vs Gaussian weights")
    _save_figure(fig, target)
    plt.close(fig)
    print(f"\northogonal tanh stays near isometry (dynamical isometry); Gaussian weights and relu "
          f"spread the spectrum over decades.\nwrote {target}  ({time.perf_counter() - t0:.1f} s)")
    return 0


# ----------------------------------------------------------------------------- figures


def figures_dir():
    """The ``figures/`` directory of the source checkout (beside the package)."""
    import rmtchain

    return Path(rmtchain.__file__).resolve().parents[1] / "figures"


def _available_figures(fdir):
    return sorted(p.stem for p in fdir.glob(f"{FIGURE_PREFIX}*.py"))


def _resolve_names(names, available):
    if not names:
        return list(available)
    chosen = []
    for name in names:
        stem = Path(name).name
        stem = stem[:-3] if stem.endswith(".py") else stem
        if not stem.startswith(FIGURE_PREFIX):
            stem = FIGURE_PREFIX + stem
        if stem not in available:
            raise UsageError(f"unknown figure {name!r}; available: {', '.join(available) or 'none'}")
        if stem not in chosen:
            chosen.append(stem)
    return chosen


def _load_module(path):
    spec = importlib.util.spec_from_file_location(f"rmtchain_figures.{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for attr in ("compute", "plot", "agreement", "SEED", "TITLE", "EQUATION"):
        if not hasattr(module, attr):
            raise ValueError(f"figure module {path.name} lacks {attr}")
    return module


def _git_revision(where):
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                             text=True, timeout=10)
        if rev.returncode != 0:
            return "unknown", None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=where, capture_output=True, text=True, timeout=10)
        if dirty.returncode != 0:
            return rev.stdout.strip(), None
        # figure outputs (fig_*.png/.npz/.json) are what a run rewrites, not its inputs
        changed = [line for line in dirty.stdout.splitlines()
                   if not _is_figure_output(line[3:].strip())]
        return rev.stdout.strip(), bool(changed)
    except (OSError, subprocess.SubprocessError):
        return "unknown", None


def _is_figure_output(path):
    name = Path(path).name
    return name.startswith(FIGURE_PREFIX) and Path(name).suffix in (".png", ".npz", ".json")


def _flatten(data, prefix=""):
    """Nested dict of arrays/scalars/strings -> flat {"a/b": ndarray} for ``np.savez``."""
    flat = {}
    for key, value in data.items():
        key = f"{prefix}{key}"
        if "/" in key[len(prefix):]:
            raise ValueError(f"figure data key {key!r} must not contain '/'")
        if isinstance(value, dict):
            flat.update(_flatten(value, key + "/"))
        else:
            arr = np.asarray(value)
            if arr.dtype == object:
                raise ValueError(f"figure data {key!r} is not a plain array or scalar")
            flat[key] = arr
    return flat


def _unflatten(flat):
    data = {}
    for key, arr in flat.items():
        parts = key.split("/")
        d = data
        for p in parts[:-1]:
            d = d.setdefault(p, {})
        d[parts[-1]] = arr.item() if arr.ndim == 0 else arr
    return data


def load_figure_data(path):
    """Read a figure's saved ``.npz`` data back into the nested dict ``plot`` accepts."""
    with np.load(path, allow_pickle=False) as z:
        return _unflatten({k: z[k] for k in z.files})


def _versions():
    import matplotlib
    import numba
    import scipy

    return {"python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "scipy": scipy.__version__,
            "matplotlib": matplotlib.__version__, "platform": platform.platform()}


def _file_sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _params(module, quick):
    if hasattr(module, "parameters"):
        return _jsonable(module.parameters(quick))
    return {}


def _is_current(paths, module_path, module, quick, params):
    """The stored provenance record if every output exists and it matches this run's inputs
    (seed, quick flag, parameters, figure source hash); otherwise None."""
    if not all(p.exists() for p in paths.values()):
        return None
    try:
        prov = json.loads(paths["json"].read_text())
    except (OSError, ValueError):
        return None
    same = (prov.get("seed") == _jsonable(module.SEED) and prov.get("quick") == quick
            and prov.get("parameters") == params
            and prov.get("source_sha256") == _file_sha256(module_path))
    return prov if same else None


def _run_figure(stem, fdir, out, quick, force, replot):
    import rmtchain

    module_path = fdir / f"{stem}.py"
    module = _load_module(module_path)
    params = _params(module, quick)
    paths = {"png": out / f"{stem}.png", "data": out / f"{stem}.npz", "json": out / f"{stem}.json"}
    prov = None if force else _is_current(paths, module_path, module, quick, params)
    import matplotlib.pyplot as plt

    if prov is not None and not replot:
        print(f"{stem}: up to date ({'quick' if quick else 'full'}), skipped "
              f"(--force to recompute); agreement {'passed' if prov.get('passed') else 'FAILED'}")
        return bool(prov.get("passed"))
    if prov is not None and replot:
        data = load_figure_data(paths["data"])
        fig = module.plot(data)
        _save_figure(fig, paths["png"])
        plt.close(fig)
        print(f"{stem}: replotted from {paths['data'].name}")
        return bool(prov.get("passed"))
    if replot:
        print(f"{stem}: no current data to replot; computing")
    print(f"{stem}: computing ({'quick' if quick else 'full'}, seed {module.SEED}) ...", flush=True)
    rev, dirty = _git_revision(fdir)
    # the provenance record marks a finished figure: drop a stale one before replacing outputs
    with contextlib.suppress(FileNotFoundError):
        paths["json"].unlink()
    t0 = time.perf_counter()
    data = module.compute(quick, np.random.default_rng(module.SEED))
    runtime = time.perf_counter() - t0
    agreement = _jsonable(module.agreement(data))
    if "passed" not in agreement:
        raise ValueError(f"{stem}.agreement must return a dict with 'passed'")
    passed = bool(agreement["passed"])
    flat = _flatten(data)
    _atomic_write(paths["data"], lambda f: np.savez_compressed(f, **flat))
    fig = module.plot(data)
    _save_figure(fig, paths["png"])
    plt.close(fig)
    record = {
        "figure": stem,
        "title": module.TITLE,
        "equation": module.EQUATION,
        "package": "rmtchain",
        "version": rmtchain.__version__,
        "git_revision": rev,
        "git_dirty": dirty,
        "seed": module.SEED,
        "quick": quick,
        "parameters": params,
        "agreement": agreement,
        "passed": passed,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "runtime_seconds": round(runtime, 3),
        "source_sha256": _file_sha256(module_path),
        "versions": _versions(),
        "files": {k: p.name for k, p in paths.items() if k != "json"},
    }
    _atomic_write(paths["json"], lambda f: f.write((_dumps(record) + "\n").encode()))
    metrics = agreement.get("summary") or ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in agreement.items() if not isinstance(v, (dict, list)))
    print(f"{stem}: {'passed' if passed else 'FAILED'} in {runtime:.1f} s ({metrics}); "
          f"wrote {paths['png'].name}, {paths['data'].name}, {paths['json'].name}")
    return passed


def _cmd_figures(args):
    fdir = figures_dir()
    if not fdir.is_dir():
        raise UsageError(f"figures directory not found at {fdir}: figure scripts ship with the "
                         "source checkout (clone the repository and pip install -e .)")
    available = _available_figures(fdir)
    if args.list:
        for stem in available:
            mod = _load_module(fdir / f"{stem}.py")
            print(f"{stem}: {mod.TITLE} [checks {mod.EQUATION}]")
        return 0
    names = _resolve_names(args.names, available)
    if not names:
        raise UsageError(f"no figure scripts ({FIGURE_PREFIX}*.py) in {fdir}")
    out = Path(args.out) if args.out is not None else fdir
    if not out.is_dir():
        raise UsageError(f"argument --out: directory {str(out)!r} does not exist")
    _use_agg()
    failed = [stem for stem in names
              if not _run_figure(stem, fdir, out, args.quick, args.force, args.replot)]
    if failed:
        print(f"agreement FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


# ----------------------------------------------------------------------------- parser


_PHI_HELP = "nonlinearity, e.g. tanh, relu, linear, leaky_relu(0.2) (default tanh)"


def _add_chain_flags(p, methods, weights):
    """The flags that define a Chain and its sampling, shared by ``sample`` and ``spectrum``."""
    add_network_flags(p, weights)
    p.add_argument("--samples", type=int, default=10, help="number of sampled chains (default 10)")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed (default: fresh entropy, printed so the run can be repeated)")
    p.add_argument("--method", choices=sorted(methods), default="auto",
                   help="accumulation of the product (default auto)")


def add_network_flags(p, weights):
    """The flags that define a Chain (``--depth --width --weights --phi --sigma-w --sigma-b
    --q0``), shared by every command that builds one."""
    p.add_argument("--depth", type=int, required=True, help="number of layers L >= 1")
    p.add_argument("--width", type=_parse_width, required=True,
                   help="one width for every layer, or depth+1 comma-separated widths n_0,...,n_L")
    p.add_argument("--weights", default="gaussian", help=f"one of {', '.join(weights)} (default gaussian)")
    p.add_argument("--phi", default="tanh", help=_PHI_HELP)
    p.add_argument("--sigma-w", dest="sigma_w", type=float, default=1.0, help="weight scale > 0 (default 1)")
    p.add_argument("--sigma-b", dest="sigma_b", type=float, default=0.0, help="bias std >= 0 (default 0)")
    p.add_argument("--q0", type=float, default=None,
                   help="input length ||h_0||^2/n_0 (default: the fixed point q*, else 1)")


def _add_output_flags(p, plot_help, plot_lambda_help):
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")
    p.add_argument("--plot", metavar="FILE", default=None, help=plot_help)
    p.add_argument("--plot-lambda", action="store_true", help=plot_lambda_help)


def build_parser():
    """The argument parser of the ``rmtchain`` command."""
    from . import __version__
    from .chain import WEIGHTS
    from .compare import CDF_METHODS
    from .sampling import METHODS

    p = _Parser(prog=PROG, description="Random-matrix theory of deep neural chains: sample "
                "Jacobian spectra, run the demo, regenerate the theory figures. "
                "With no command, runs the demo.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{sample,spectrum,meanfield,demo,figures,phase,hessian}")

    s = sub.add_parser("sample", help="sample the singular values of a chain's Jacobian J",
                       description="Sample J = D_L W_L ... D_1 W_1 and summarise its spectrum "
                       "(lambda = s^2, eigenvalues of J J^T).")
    _add_chain_flags(s, METHODS, WEIGHTS)
    s.add_argument("--moments", type=int, default=4, metavar="KMAX",
                   help="report normalised-trace moments m_1..m_KMAX (default 4)")
    _add_output_flags(s, "write a PNG histogram of the spectrum",
                      "with --plot: histogram of lambda = s^2 instead of log s")
    s.set_defaults(func=_cmd_sample)

    c = sub.add_parser("spectrum", help="sample, predict and compare a chain's Jacobian spectrum",
                       description="Sample the spectrum of J J^T, predict it in the large-width "
                       "limit (free probability) and compare: moments with z-scores, "
                       "Kolmogorov-Smirnov distance on lambda, W1 distance on log lambda "
                       "(theory/compare.md).")
    _add_chain_flags(c, METHODS, WEIGHTS)
    c.add_argument("--kmax", type=int, default=4,
                   help="compare the moments m_1..m_KMAX (default 4)")
    c.add_argument("--cdf", choices=list(CDF_METHODS), default="auto",
                   help="evaluation of the predicted cdf: exact at every sampled value, on an "
                   "adaptive grid, or auto (default)")
    _add_output_flags(c, "write a PNG: sampled histogram with the predicted density",
                      "with --plot: density of lambda instead of log10 lambda")
    c.set_defaults(func=_cmd_spectrum)

    m = sub.add_parser("meanfield", help="mean field: q*, chi1, c*, depth scales, mu_k",
                       description="The mean field of a deep random chain at its fixed point "
                       "(theory/meanfield.md): q*, chi1, c*, xi_q, xi_c, mu_1..mu_k.")
    m.add_argument("--phi", default="tanh", help=_PHI_HELP)
    m.add_argument("--sigma-w", dest="sigma_w", type=float, default=None,
                   help="weight scale > 0 (required unless --critical)")
    m.add_argument("--sigma-b", dest="sigma_b", type=float, default=0.0, help="bias std >= 0 (default 0)")
    m.add_argument("--critical", action="store_true",
                   help="solve for the sigma_w with chi1 = 1 at this sigma_b (edge of chaos)")
    m.add_argument("--q-star", dest="q_star", type=float, default=None,
                   help="use this fixed point (where every q is one, e.g. relu at sigma_w^2 = 2)")
    m.add_argument("--kmax", type=int, default=4, help="report mu_1..mu_KMAX (default 4)")
    m.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")
    m.set_defaults(func=_cmd_meanfield)

    d = sub.add_parser("demo", help="a short showcase (under a minute once compiled); writes a PNG",
                       description="Depth-50 chains: tanh at the edge of chaos and relu, orthogonal "
                       "vs Gaussian weights; prints a table and writes rmtchain-demo.png.")
    d.add_argument("--out", metavar="DIR", default=None, help="directory for rmtchain-demo.png (default .)")
    d.set_defaults(func=_cmd_demo)

    f = sub.add_parser("figures", help="regenerate the theory figures with provenance",
                       description="Run figures/fig_<slug>.py: writes fig_<slug>.png, .npz data and "
                       ".json provenance (with the agreement check); exit 1 if a check fails. "
                       "Figures whose outputs are current are skipped.")
    f.add_argument("names", nargs="*", metavar="NAME",
                   help="figures to run (fig_<slug> or <slug>; default all)")
    f.add_argument("--quick", action="store_true", help="small sizes (seconds, for CI)")
    f.add_argument("--out", metavar="DIR", default=None, help="output directory (default: figures/)")
    f.add_argument("--force", action="store_true", help="recompute even if outputs are current")
    f.add_argument("--replot", action="store_true",
                   help="redraw PNGs from the saved data where it is current (no resampling)")
    f.add_argument("--list", action="store_true", help="list the figures and exit")
    f.set_defaults(func=_cmd_figures)
    add_phase_cli(sub)
    add_hessian_parser(sub)
    return p


def _one_line(exc):
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv=None):
    """Run the ``rmtchain`` command; returns the exit status."""
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help / --version
            return exc.code if isinstance(exc.code, int) else 0
        if args.command is None:
            args = parser.parse_args(["demo"])
        return args.func(args)
    except (UsageError, ValueError) as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
