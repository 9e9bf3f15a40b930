"""(a) One wide chain: J for n=512, L=100, Gaussian tanh, 1 sample, against a NumPy floor.

The floor is measured in the same run: NumPy drawing the same normals the sampler draws
(512 for the input, then one 512 x 512 block per layer, drawn layer by layer with the same
PCG64 generator) plus L NumPy GEMMs 512 x 512 @ 512 x 512 (the product's floating-point
work). Reported:

* floor / time(method="plain")     target >= 0.8
* time(method="auto") / time(plain) target <= 1.5   (the accurate stable path, the default)
* time(method="qr") / time(plain)   (QR after every layer, for information)
* the machine's GEMM rate (numpy's BLAS and scipy's, which Numba's np.dot calls).

    python benchmarks/bench_chain_512.py --threads 1
"""

import _common  # noqa: I001  (first: sets thread counts before numpy/numba load)

import numpy as np

import rmtchain


def floor_draws(rng, n, depth):
    """The sampler's normals, drawn layer by layer: input (n,), then (n, n) per layer."""
    rng.standard_normal(n)
    for _ in range(depth):
        rng.standard_normal((n, n))


def floor_gemms(a, b, c, depth):
    for _ in range(depth):
        np.matmul(a, b, out=c)


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--depth", type=int, default=100)
    args = p.parse_args(argv)
    if args.quick:
        args.width, args.depth = min(args.width, 256), min(args.depth, 20)
    repeats = args.repeats or (2 if args.quick else 5)
    n, L = args.width, args.depth
    info = _common.print_machine()
    print(f"\n(a) chain n={n}, L={L}, Gaussian tanh, 1 sample; {repeats} timed repeats, "
          "best reported (warm-up call excluded)", flush=True)

    chain = rmtchain.Chain(L, n, phi="tanh")
    rng = np.random.default_rng(args.seed)
    a = rng.standard_normal((n, n))
    b = rng.standard_normal((n, n))
    c = np.empty((n, n))

    m_draw = _common.measure(lambda: floor_draws(rng, n, L), repeats=repeats, number=1)
    _common.show(f"floor: draw {n} + {L} x {n}x{n} normals", m_draw)
    m_gemm = _common.measure(lambda: floor_gemms(a, b, c, L), repeats=repeats, number=1)
    _common.show(f"floor: {L} numpy GEMMs {n}x{n} @ {n}x{n}", m_gemm)
    floor = m_draw["best"] + m_gemm["best"]

    times = {}
    for method in ("plain", "auto", "qr"):
        m = _common.measure(lambda: rmtchain.sample_spectrum(chain, 1, rng=rng, method=method),
                            repeats=repeats, number=1)
        _common.show(f'sample_spectrum(method="{method}")', m)
        times[method] = m

    rates = _common.gemm_rates(n, repeats=repeats)
    print(f"  GEMM {n}^3: numpy {rates['numpy_gflops']:.1f} GFLOP/s, "
          f"scipy (Numba's BLAS) {rates['scipy_gflops']:.1f} GFLOP/s", flush=True)

    plain = times["plain"]["best"]
    r = _common.Report("a", f"chain n={n} L={L} Gaussian tanh, 1 sample",
                       {"width": n, "depth": L, "repeats": repeats, "quick": args.quick})
    r.add("floor / time(plain)", floor / plain, "x", ">= 0.8")
    r.add("time(auto) / time(plain)", times["auto"]["best"] / plain, "x", "<= 1.5")
    r.add("time(qr) / time(plain)", times["qr"]["best"] / plain, "x")
    r.add("floor / time(auto)", floor / times["auto"]["best"], "x")
    r.add("time plain", plain, "s")
    r.add("time auto", times["auto"]["best"], "s")
    r.add("floor (draws + GEMMs)", floor, "s",
          note=f"draws {100 * m_draw['best'] / floor:.0f}% of floor")
    r.add("GEMM rate, numpy BLAS", rates["numpy_gflops"], "GFLOP/s")
    r.add("GEMM rate, scipy BLAS (Numba)", rates["scipy_gflops"], "GFLOP/s")
    r.finish(info)


if __name__ == "__main__":
    main()
