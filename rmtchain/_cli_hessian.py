"""``rmtchain hessian``: the spectral density of a random network's loss curvature.

Samples a network from the chain flags (``sample_network``), feeds it a batch of inputs at the
chain's input length, and estimates the density of the Hessian, Gauss-Newton or Fisher matrix
of the loss by stochastic Lanczos quadrature or exactly (``hessian_spectrum``,
theory/hessian.md (H.8)-(H.11)). Prints a summary table (or ``--json``) and optionally writes a
PNG of the smoothed density (``--plot FILE``).

Data (documented in ``--help`` and in the JSON record):

* inputs: ``x_0 = phi(h_0)`` for each of ``--batch`` rows, ``h_0 = sqrt(q_input n_0) g/||g||``
  with ``g ~ N(0, I)``: the chain's input convention (theory/README.md), so the first layer
  sees the length ``q_input`` (q* when the length map has a fixed point);
* targets: ``"mse"``: Y = 0, so the residual is the network's output f;
  ``"cross_entropy"``: class ``i mod n_L`` for row i (balanced, deterministic).

Random draws, in order, from one ``numpy.random.default_rng(seed)``: the network's weights and
biases, the input normals g, then the probes of ``hessian_spectrum``.

``cli.py`` wires it in with ``add_parser(subparsers)``.
"""

from __future__ import annotations

import io
import math
import sys

import numpy as np

__all__ = ["add_parser", "run", "network_inputs", "network_targets"]

#: moments m_1..m_KMAX of the curvature spectrum reported (normalised trace tr(A^k)/P)
KMAX = 4
#: "mass below 0" counts nodes below -NEGATIVE_RTOL * max |node|: the zero eigenvalues of a
#: PSD matrix (Gauss-Newton, Fisher) come out as +-1e-16 relative rounding, not negative mass
NEGATIVE_RTOL = 1e-10


def network_inputs(chain, batch, rng):
    """(batch, n_0) inputs x_0 = phi(h_0), ||h_0||^2 / n_0 = chain.q_input (one draw
    ``rng.standard_normal((batch, n_0))``)."""
    g = rng.standard_normal((batch, chain.n_in))
    nrm = np.linalg.norm(g, axis=1, keepdims=True)
    h0 = g * (math.sqrt(chain.q_input * chain.n_in) / nrm)
    return chain.phi.phi(h0)


def network_targets(chain, batch, loss):
    """Targets: zeros (batch, n_L) for "mse"; class indices i mod n_L for "cross_entropy"."""
    if loss == "mse":
        return np.zeros((batch, chain.n_out))
    return np.arange(batch, dtype=np.int64) % chain.n_out


def _positive_int(text):
    """argparse type: an integer >= 1 (argparse reports "argument --flag: ...")."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def add_parser(subparsers):
    """Add the ``hessian`` subcommand to ``subparsers`` (the Chain flags are cli.py's)."""
    from .chain import WEIGHTS
    from .cli import add_network_flags  # here: cli imports this module
    from .curvature import _METHODS
    from .network import LOSSES, MATRICES

    h = subparsers.add_parser(
        "hessian", help="spectral density of a random network's loss Hessian / Gauss-Newton / "
                        "Fisher",
        description="Sample a network from the chain flags (linear readout f = h_L), feed it "
                    "--batch inputs x_0 = phi(h_0) with ||h_0||^2/n_0 = q_input (random "
                    "directions), targets Y = 0 (mse: the residual is f) or class i mod n_L "
                    "(cross_entropy), and estimate the eigenvalue density of the chosen "
                    "curvature matrix by stochastic Lanczos quadrature or exactly "
                    "(theory/hessian.md (H.8)-(H.11)).")
    add_network_flags(h, WEIGHTS)
    h.add_argument("--seed", type=int, default=None,
                   help="random seed (default: fresh entropy, printed so the run can be repeated)")
    h.add_argument("--batch", type=_positive_int, default=16,
                   help="number of inputs B >= 1 (default 16)")
    h.add_argument("--loss", choices=list(LOSSES), default="mse", help="loss (default mse)")
    h.add_argument("--matrix", choices=list(MATRICES), default="hessian",
                   help="curvature matrix (default hessian; fisher = gauss_newton, (H.7))")
    h.add_argument("--method", choices=list(_METHODS), default="slq",
                   help="slq (stochastic Lanczos quadrature) or exact (dense, P <= 4096); "
                        "default slq")
    h.add_argument("--probes", type=_positive_int, default=10,
                   help="SLQ: Rademacher probes (default 10)")
    h.add_argument("--steps", type=_positive_int, default=80,
                   help="SLQ: Lanczos steps per probe (default 80)")
    h.add_argument("--json", action="store_true",
                   help="print machine-readable JSON instead of a table")
    h.add_argument("--plot", metavar="FILE", default=None,
                   help="write a PNG of the smoothed eigenvalue density")
    h.set_defaults(func=run)
    return h


def _compute(args):
    from .cli import _chain_from_args, _seed_from_args
    from .curvature import hessian_spectrum
    from .network import sample_network

    chain = _chain_from_args(args)
    seed = _seed_from_args(args)
    gen = np.random.default_rng(seed)
    net = sample_network(chain, rng=gen)
    X = network_inputs(chain, args.batch, gen)
    Y = network_targets(chain, args.batch, args.loss)
    op = net.curvature_operator(X, Y, loss=args.loss, matrix=args.matrix)
    spec = hessian_spectrum(net, X, Y, loss=args.loss, matrix=args.matrix, method=args.method,
                            probes=args.probes, steps=args.steps, rng=gen)
    return chain, seed, net, op, spec


def _summary(spec):
    mom = spec.moments(KMAX)
    P = spec.dim
    cut = -NEGATIVE_RTOL * float(np.abs(spec.nodes).max())
    negative = float(spec.weights[spec.nodes < cut].sum())
    return {
        "dimension": P,
        "lambda_min": float(spec.nodes.min()),
        "lambda_max": float(spec.nodes.max()),
        "trace": float(P * mom.mean[0]),
        "trace_stderr": float(P * mom.stderr[0]),
        "negative_mass": negative,
        "moments": {"k": mom.k, "mean": mom.mean, "stderr": mom.stderr,
                    "per_sample": mom.per_sample},
    }


def run(args):
    """Run ``rmtchain hessian``; returns the exit status (0)."""
    import rmtchain
    from .cli import _dumps, _plot_path

    plot_path = _plot_path(args)
    chain, seed, net, op, spec = _compute(args)
    summ = _summary(spec)
    if args.json:
        record = {
            "package": "rmtchain",
            "version": rmtchain.__version__,
            "chain": chain.describe(),
            "seed": seed,
            "parameters": net.n_parameters,
            "batch": args.batch,
            "loss": spec.loss,
            "matrix": spec.matrix,
            "method": spec.method,
            "probes": spec.probes,
            "steps": spec.steps,
            "data": "x_0 = phi(h_0), ||h_0||^2/n_0 = q_input, random directions; targets "
                    + ("Y = 0 (residual = output f)" if spec.loss == "mse"
                       else "class i mod n_L"),
            "normalisation": "moments m_k = tr(A^k)/P (SLQ: mean over probes, exact for "
                             "k <= 2 steps - 1 per probe); weights sum to 1",
            "loss_value": op.loss_value,
            "gradient_norm": float(np.linalg.norm(op.gradient)),
            **summ,
            "nodes": spec.nodes,
            "weights": spec.weights,
            "probe": spec.probe,
            "smoothing_width": spec.width,
        }
        print(_dumps(record, indent=None))
    else:
        print(_table(chain, seed, net, op, spec, summ))
    if plot_path is not None:
        _write_plot(chain, seed, spec, plot_path)
        print(f"wrote {plot_path}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _table(chain, seed, net, op, spec, summ):
    from .cli import _chain_line

    out = io.StringIO()
    print(_chain_line(chain), file=out)
    print(f"network: P = {net.n_parameters} parameters (linear readout, n_L = {chain.n_out} "
          f"outputs); seed {seed}", file=out)
    tgt = "Y = 0 (residual = output)" if spec.loss == "mse" else "class i mod n_L"
    print(f"data: batch {op.X.shape[0]}, x_0 = phi(h_0) at q_input; targets {tgt}", file=out)
    how = (f"SLQ, {spec.probes} probes x {spec.steps} Lanczos steps" if spec.method == "slq"
           else "exact (dense eigendecomposition)")
    print(f"matrix: {spec.matrix} of the {spec.loss} loss; {how}", file=out)
    print(file=out)
    rows = [("loss", f"{op.loss_value:.6g}"),
            ("||gradient||", f"{np.linalg.norm(op.gradient):.6g}"),
            ("lambda_max" + (" (largest Ritz value)" if spec.method == "slq" else ""),
             f"{summ['lambda_max']:.6g}"),
            ("lambda_min" + (" (smallest Ritz value)" if spec.method == "slq" else ""),
             f"{summ['lambda_min']:.6g}"),
            ("trace = P m_1", _pm(summ["trace"], summ["trace_stderr"], spec.method)),
            ("mass below 0 (beyond rounding)", f"{summ['negative_mass']:.4g}")]
    mom = summ["moments"]
    for k, m, s in zip(mom["k"], mom["mean"], mom["stderr"]):
        rows.append((f"m_{k} = tr(A^{k})/P", _pm(m, s, spec.method)))
    for name, val in rows:
        print(f"  {name:<34} {val}", file=out)
    if spec.method == "slq":
        print("(± = standard error over probes)", file=out)
    return out.getvalue().rstrip("\n")


def _pm(mean, se, method):
    if method == "exact" or not math.isfinite(se):
        return f"{mean:.6g}"
    return f"{mean:.6g} ± {se:.2g}"


def _write_plot(chain, seed, spec, path):
    from .cli import _save_figure, _use_agg

    _use_agg()
    import matplotlib.pyplot as plt

    lo, hi = float(spec.nodes.min()), float(spec.nodes.max())
    pad = 4.0 * spec.width
    x = np.linspace(lo - pad, hi + pad, 1500)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    ax.plot(x, spec.pdf(x), color="C0", lw=1.4,
            label=f"smoothed density (Gaussian width {spec.width:.3g})")
    ax.plot(spec.nodes, np.zeros_like(spec.nodes), "|", color="k", ms=8, alpha=0.5,
            label="quadrature nodes" if spec.method == "slq" else "eigenvalues")
    ax.set_yscale("symlog", linthresh=1e-3 * max(float(spec.pdf(x).max()), 1e-300))
    ax.set_xlabel(f"eigenvalue of the {spec.matrix.replace('_', '-')} ({spec.loss} loss)")
    ax.set_ylabel("density")
    d = chain.describe()
    ax.set_title(f"depth {d['depth']}, width {d['width']}, {d['phi']}, {d['weights']}, "
                 f"P = {spec.dim}, seed {seed}", fontsize="medium")
    ax.legend(fontsize="small")
    _save_figure(fig, path)
    plt.close(fig)
