"""(h) SLQ density of a network with about one million parameters: wall time and its parts.

``hessian_spectrum(net, X, Y, method="slq")`` at the library defaults (10 Rademacher probes,
80 Lanczos steps with full re-orthogonalisation, theory/hessian.md (H.8)-(H.11)) for a tanh
network of depth 16 and width 256 (P = 1,052,672 parameters), batch 16, loss "mse", the
Hessian. Reported: the total time (target < 30 s), the time in Hessian-vector products
(probes x steps products, timed separately on the same operator) and the rest, which is
the Lanczos re-orthogonalisation against up to 80 stored vectors of length P (memory-bound:
about steps^2/2 x P x 8 bytes read twice per probe). Checked: each probe's first quadrature
moment equals z^T H z / P for the same Rademacher probe z (H.10) to 1e-10.

    python benchmarks/bench_slq.py --threads 1
"""

import _common  # noqa: I001  (first: sets thread counts before numpy/numba load)

import time

import numpy as np

from rmtchain.chain import Chain
from rmtchain.curvature import hessian_spectrum, rademacher_probes
from rmtchain.network import sample_network

AGREE_RTOL = 1e-10


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--depth", type=int, default=16)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--probes", type=int, default=10)
    p.add_argument("--steps", type=int, default=80)
    args = p.parse_args(argv)
    if args.quick:
        args.depth, args.width, args.probes, args.steps = 4, 64, 3, 20
    repeats = args.repeats or 1
    info = _common.print_machine()
    rng = np.random.default_rng(args.seed)
    chain = Chain(args.depth, args.width, phi="tanh", sigma_w=1.0)
    net = sample_network(chain, rng=rng)
    X = rng.standard_normal((args.batch, args.width))
    Y = np.zeros((args.batch, args.width))
    P = net.n_parameters
    print(f"\n(h) SLQ: depth {args.depth}, width {args.width}, batch {args.batch}, P = {P:,}; "
          f"{args.probes} probes x {args.steps} steps; {repeats} timed run(s), best reported",
          flush=True)
    op = net.curvature_operator(X, Y, loss="mse", matrix="hessian")
    v = rng.standard_normal(P)
    m_mv = _common.measure(lambda: op.matvec(v), repeats=3)
    _common.show("one Hessian-vector product (cached operator)", m_mv)

    seed = args.seed + 1
    hessian_spectrum(net, X[:1], Y[:1], probes=1, steps=2, rng=seed)    # warm-up (compile)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        spec = hessian_spectrum(net, X, Y, loss="mse", matrix="hessian", probes=args.probes,
                                steps=args.steps, rng=seed)
        times.append(time.perf_counter() - t0)
        print(f"  hessian_spectrum(method='slq')                 {_common.fmt_time(times[-1])}",
              flush=True)
    total = min(times)
    products = args.probes * args.steps
    in_mv = products * m_mv["best"]

    Z = rademacher_probes(np.random.default_rng(seed), args.probes, P)
    quad = np.array([z @ op.matvec(z) / P for z in Z])
    m1 = spec.moments(1).per_sample[:, 0]
    err = float(np.max(np.abs(m1 - quad)) / np.max(np.abs(quad)))
    print(f"  first moment per probe vs z^T H z / P: max relative difference {err:.1e}")
    if err > AGREE_RTOL:
        raise SystemExit(f"SLQ moments disagree with the probes' quadratic forms: {err:.1e}")

    rep = _common.Report("h", f"SLQ density, P = {P:,} (depth {args.depth}, width "
                              f"{args.width}, batch {args.batch})",
                         {"depth": args.depth, "width": args.width, "batch": args.batch,
                          "parameters": P, "probes": args.probes, "steps": args.steps,
                          "quick": args.quick})
    rep.add(f"time of hessian_spectrum ({args.probes} probes x {args.steps} steps)", total, "s",
            target="<= 30")
    rep.add(f"  of which {products} Hessian-vector products", in_mv, "s",
            note=f"{100 * in_mv / total:.0f}%")
    rep.add("  of which Lanczos re-orthogonalisation and the rest", total - in_mv, "s",
            note=f"{100 * (total - in_mv) / total:.0f}%; moment check {err:.1e}")
    rep.finish(info)


if __name__ == "__main__":
    main()
