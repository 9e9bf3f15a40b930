"""(c) Deep chain: L=10,000, n=128, Gaussian linear, stable log spectrum vs the plain product.

Times ``sample_spectrum(method="auto")`` (QR re-orthogonalisation whenever the conditioning
budget is spent, then a graded Jacobi SVD: every log singular value is accurate) against
``method="plain"`` (the rescaled plain product; same draws and GEMMs, but the small singular
values are lost to rounding) at the same size, 1 sample each. Target: auto / plain <= 2.

As a sanity check the stable log singular values divided by the depth are compared with
the Lyapunov exponents (1/2)[log(2/n) + digamma((n-i+1)/2)] (max |z| over i, one sample).

This takes minutes at full size; ``--depth`` (or ``--quick``) reduces it for smoke runs.
A short calibration run at depth ``--calibrate`` prints a time estimate first.

    python benchmarks/bench_deep_stable.py --threads 1
"""

import _common  # noqa: I001  (first: sets thread counts before numpy/numba load)

import math
import time

import numpy as np
from scipy.special import digamma, polygamma

import rmtchain


def lyapunov_z(log_sv, depth, n, sigma_w=1.0):
    """Max over i of |log s_i / L - mu_i| / se_i for one Gaussian linear sample."""
    i = np.arange(1, n + 1)
    k = (n - i + 1) / 2.0
    mu = 0.5 * (np.log(2.0 * sigma_w ** 2 / n) + digamma(k))
    se = np.sqrt(polygamma(1, k) / (4.0 * depth))
    return float(np.max(np.abs(log_sv / depth - mu) / se))


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--depth", type=int, default=10_000)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--calibrate", type=int, default=200,
                   help="depth of the short run that estimates the full time")
    p.add_argument("--with-qr", action="store_true",
                   help='also time method="qr" (QR after every layer)')
    args = p.parse_args(argv)
    if args.quick:
        args.depth, args.calibrate = min(args.depth, 300), min(args.calibrate, 50)
    repeats = args.repeats or 1
    n, L = args.width, args.depth
    info = _common.print_machine()
    methods = ("plain", "auto") + (("qr",) if args.with_qr else ())
    print(f"\n(c) Gaussian linear chain L={L}, n={n}, 1 sample; methods {methods}; "
          f"{repeats} timed repeat(s), best reported (warm-up excluded)", flush=True)

    rng = np.random.default_rng(args.seed)
    for method in methods:                       # warm-up: load/compile the kernels
        rmtchain.sample_spectrum(rmtchain.Chain(3, n, phi="linear"), 1, rng=rng, method=method)

    d0 = min(args.calibrate, L)
    small = rmtchain.Chain(d0, n, phi="linear")
    est = {}
    for method in methods:
        t0 = time.perf_counter()
        rmtchain.sample_spectrum(small, 1, rng=rng, method=method)
        est[method] = (time.perf_counter() - t0) * L / d0
    print("  calibration at depth {}: estimated full-depth time per call {}; total ~{:.0f} s"
          .format(d0, ", ".join(f"{m} {est[m]:.1f} s" for m in methods),
                  repeats * sum(est.values())), flush=True)

    chain = rmtchain.Chain(L, n, phi="linear")
    times, spectra = {}, {}
    for method in methods:
        best = math.inf
        for r in range(repeats):
            print(f"  [{time.strftime('%H:%M:%S')}] {method}: run {r + 1}/{repeats} "
                  f"(estimated {est[method]:.1f} s) ...", flush=True)
            t0 = time.perf_counter()
            spectra[method] = rmtchain.sample_spectrum(chain, 1, rng=rng, method=method)
            dt = time.perf_counter() - t0
            best = min(best, dt)
            print(f"  [{time.strftime('%H:%M:%S')}] {method}: {dt:.2f} s", flush=True)
        times[method] = best

    lsv = spectra["auto"].log_singular_values[0]
    finite = bool(np.all(np.isfinite(lsv)))
    z = lyapunov_z(lsv, L, n) if finite else math.inf
    print(f"  auto: log singular values finite: {finite}; per-depth vs Lyapunov exponents "
          f"max |z| = {z:.2f} over {n} exponents", flush=True)

    rep = _common.Report("c", f"deep Gaussian linear L={L} n={n}, 1 sample",
                         {"depth": L, "width": n, "repeats": repeats, "quick": args.quick})
    rep.add("time(auto) / time(plain)", times["auto"] / times["plain"], "x", "<= 2")
    if "qr" in times:
        rep.add("time(qr) / time(plain)", times["qr"] / times["plain"], "x")
    rep.add("time plain", times["plain"], "s")
    rep.add("time auto", times["auto"], "s")
    rep.add("time auto per layer", times["auto"] / L, "s")
    rep.add("auto: max |z| vs Lyapunov exponents", z,
            note="one sample, n exponents: a few is fine")
    rep.finish(info)


if __name__ == "__main__":
    main()
