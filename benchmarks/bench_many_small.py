"""(b) Many small chains: 10,000 chains n=16, L=50, Gaussian tanh, against a NumPy loop.

The reference is the obvious accurate per-sample NumPy code (``naive_log_sv``): draw the
input and each W_l, run the forward pass, accumulate the Jacobian as Q R with one
``np.linalg.qr`` per layer, and end with ``np.linalg.svd`` of the accumulated R product.
It is timed on a subset (``--naive``, default 500 samples) and scaled linearly to
``--chains`` (it is a loop of independent samples, so its cost is linear in their number).
It draws the same normals in the same order as ``rmtchain.sample_spectrum``, so the two are
also compared number by number on that subset.

Reported: naive loop time (scaled) / sample_spectrum time (target >= 10), and the floor of
drawing the normals alone.

    python benchmarks/bench_many_small.py --threads 1
"""

import _common  # noqa: I001  (first: sets thread counts before numpy/numba load)

import math

import numpy as np

import rmtchain
from rmtchain._config import DRAW_BUFFER


def naive_log_sv(chain, samples, rng):
    """(samples, n) log singular values of J, one sample at a time in plain NumPy."""
    assert chain.weights == "gaussian" and chain.sigma_b == 0.0 and str(chain.phi) == "tanh"
    widths = chain.widths
    n0 = widths[0]
    out = np.empty((samples, chain.rank_bound))
    for s in range(samples):
        g = rng.standard_normal(n0)
        x = np.tanh(g * (math.sqrt(chain.q_input * n0) / np.linalg.norm(g)))
        Q = np.eye(n0)
        R = np.eye(n0)
        for l in range(chain.depth):
            W = rng.standard_normal((widths[l + 1], widths[l])) * (chain.sigma_w / math.sqrt(widths[l]))
            x = np.tanh(W @ x)
            Q, Rl = np.linalg.qr((1.0 - x * x)[:, None] * (W @ Q))
            R = Rl @ R
        out[s] = np.log(np.linalg.svd(R, compute_uv=False))
    return out


def draw_floor(chains, per, rng):
    """Draw the normals the sampler draws, in the same blocks."""
    block = max(1, min(chains, DRAW_BUFFER // per))
    for start in range(0, chains, block):
        rng.standard_normal((min(block, chains - start), per))


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--chains", type=int, default=10_000)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--depth", type=int, default=50)
    p.add_argument("--naive", type=int, default=500, help="samples the NumPy loop is timed on")
    args = p.parse_args(argv)
    if args.quick:
        args.chains, args.naive = min(args.chains, 1000), min(args.naive, 100)
    repeats = args.repeats or (2 if args.quick else 3)
    n, L, N, k = args.width, args.depth, args.chains, min(args.naive, args.chains)
    info = _common.print_machine()
    print(f"\n(b) {N} chains n={n}, L={L}, Gaussian tanh; naive loop on {k} samples scaled "
          f"x{N / k:g}; {repeats} timed repeats, best reported (warm-up excluded)", flush=True)

    chain = rmtchain.Chain(L, n, phi="tanh")
    per = n + L * n * n

    m_pkg = _common.measure(lambda: rmtchain.sample_spectrum(chain, N, rng=args.seed),
                            repeats=repeats, number=1)
    _common.show(f"sample_spectrum({N} chains)", m_pkg)
    m_draw = _common.measure(lambda: draw_floor(N, per, np.random.default_rng(args.seed)),
                             repeats=repeats, number=1)
    _common.show(f"floor: draw {N} x {per} normals", m_draw)
    m_naive = _common.measure(lambda: naive_log_sv(chain, k, np.random.default_rng(args.seed)),
                              repeats=max(1, repeats - 1), warmup=1, number=1)
    _common.show(f"naive NumPy loop ({k} samples)", m_naive)
    naive_full = m_naive["best"] * N / k

    # Same seed, same draw order: the loop reproduces the package's first k samples.
    # The loop re-orthogonalises every layer, as method="qr" does; "auto" (the default,
    # timed above) re-orthogonalises when its conditioning budget is spent.
    ref = naive_log_sv(chain, k, np.random.default_rng(args.seed))
    diff = {}
    for method in ("auto", "qr"):
        got = rmtchain.sample_spectrum(chain, k, rng=args.seed, method=method)
        err = np.abs(ref - got.log_singular_values)
        diff[method] = float(err.max())
        print(f'  check: max |log s (naive) - log s (method="{method}")| over {k} samples = '
              f"{diff[method]:.2e} (at singular value index {int(err.max(0).argmax())} of {n})",
              flush=True)

    t = m_pkg["best"]
    r = _common.Report("b", f"{N} chains n={n} L={L} Gaussian tanh",
                       {"chains": N, "width": n, "depth": L, "naive_subset": k,
                        "repeats": repeats, "quick": args.quick})
    r.add("naive NumPy loop / sample_spectrum", naive_full / t, "x", ">= 10",
          note=f"loop timed on {k} samples, scaled x{N / k:g}")
    r.add("time sample_spectrum", t, "s")
    r.add("time naive loop (scaled)", naive_full, "s")
    r.add("draw floor", m_draw["best"], "s",
          note=f"{100 * m_draw['best'] / t:.0f}% of sample_spectrum")
    r.add("draw floor / sample_spectrum", m_draw["best"] / t, "x")
    r.add('max |log s| difference, naive vs method="auto"', diff["auto"])
    r.add('max |log s| difference, naive vs method="qr"', diff["qr"])
    r.finish(info)


if __name__ == "__main__":
    main()
