"""(e) Peak memory of sample_spectrum at L=1000, n=512 (1 sample), against L=100.

Layers are drawn and consumed in a stream, so memory should be O(n^2) (plus the draw
buffer, ``rmtchain._config.DRAW_BUFFER`` normals), not O(L n^2): storing every layer at
L=1000, n=512 would take 2 GiB. Each configuration runs in a fresh subprocess, which
imports rmtchain, warms the kernels up on a depth-2 chain of the same width, then records

* the tracemalloc peak (Python-level allocations, which include NumPy arrays such as the
  draw buffer; Numba's own allocations inside kernels are not traced), and
* the peak resident set size during the call: ``resource.getrusage`` ``ru_maxrss`` after
  the call minus the resident size just before it. On Linux the high-water mark is reset
  first (``/proc/self/clear_refs``), so the peak belongs to the call and not to the imports.

Criterion (ours; the issue sets no number): peak(L=1000) / peak(L=100) <= 2. Storing
every layer would give about 10; the slack absorbs allocator effects of the order of one
draw buffer (glibc raises its mmap threshold after the first buffer is freed, so later
buffers come from the heap and its high-water mark can hold one more).

    python benchmarks/bench_memory.py --threads 1
"""

import _common  # noqa: I001  (first: sets thread counts before numpy/numba load)

import importlib
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc

MiB = 1024.0 * 1024.0


def _current_rss():
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def _maxrss():
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb * (1 if sys.platform == "darwin" else 1024)       # bytes


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def child(depth, width, method, seed):
    """Measure one configuration in this (fresh) process; print one JSON line."""
    import numpy as np

    import rmtchain

    rng = np.random.default_rng(seed)
    rmtchain.sample_spectrum(rmtchain.Chain(2, width, phi="tanh"), 1, rng=rng, method=method)
    chain = rmtchain.Chain(depth, width, phi="tanh")

    tracemalloc.start()
    tracemalloc.reset_peak()
    traced0 = tracemalloc.get_traced_memory()[0]
    reset = _reset_peak()
    rss0 = _current_rss()
    maxrss0 = _maxrss()
    t0 = time.perf_counter()
    spec = rmtchain.sample_spectrum(chain, 1, rng=rng, method=method)
    dt = time.perf_counter() - t0
    maxrss1 = _maxrss()
    traced_peak = tracemalloc.get_traced_memory()[1] - traced0
    tracemalloc.stop()
    base = rss0 if (reset and rss0 is not None) else maxrss0
    print(json.dumps({
        "depth": depth, "width": width, "method": method, "seconds": dt,
        "hwm_reset": reset, "rss_before": rss0, "maxrss_before": maxrss0,
        "maxrss_after": maxrss1, "rss_peak_increase": maxrss1 - base,
        "tracemalloc_peak": traced_peak,
        "finite": bool(np.isfinite(spec.log_singular_values).all()),
    }), flush=True)


def run_child(depth, width, method, seed, threads):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--depth", str(depth),
           "--width", str(width), "--method", method, "--seed", str(seed)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"child {cmd} failed with code {out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--depths", type=int, nargs=2, default=[100, 1000],
                   metavar=("SHORT", "LONG"))
    p.add_argument("--method", default="auto", choices=["auto", "plain", "qr"])
    p.add_argument("--child", action="store_true", help=argparse_hidden())
    p.add_argument("--depth", type=int, default=None, help=argparse_hidden())
    args = p.parse_args(argv)
    if args.child:
        child(args.depth, args.width, args.method, args.seed)
        return
    if args.quick:
        # both depths must span several draw buffers (L n^2 >> DRAW_BUFFER), else the
        # whole chain is drawn at once and memory does grow with L up to the buffer size
        args.width, args.depths = min(args.width, 128), [500, 5000]
    info = _common.print_machine()
    n = args.width
    buffer = getattr(importlib.import_module("rmtchain._config"), "DRAW_BUFFER", None)
    if buffer is not None:
        print(f"draw buffer: {buffer} normals = {buffer * 8 / MiB:.0f} MiB; L n^2 = "
              + ", ".join(f"{L * n * n} (L={L})" for L in args.depths)
              + " normals per sample", flush=True)
    print(f"\n(e) peak memory of sample_spectrum(method={args.method!r}), n={n}, depths "
          f"{args.depths}, 1 sample, each in a fresh subprocess", flush=True)
    res = {}
    for L in args.depths:
        print(f"  [{time.strftime('%H:%M:%S')}] L={L} ...", flush=True)
        r = run_child(L, n, args.method, args.seed, args.threads)
        res[L] = r
        print(f"  L={L}: {r['seconds']:.1f} s, RSS peak increase "
              f"{r['rss_peak_increase'] / MiB:.1f} MiB (baseline RSS "
              f"{(r['rss_before'] or 0) / MiB:.0f} MiB, high-water reset: {r['hwm_reset']}), "
              f"tracemalloc peak {r['tracemalloc_peak'] / MiB:.1f} MiB; "
              f"all L x n^2 float64 would be {L * n * n * 8 / MiB:.0f} MiB", flush=True)
    s, l = args.depths
    rep = _common.Report("e", f"peak memory, n={n}, L={s} vs L={l}, 1 sample",
                         {"width": n, "depths": args.depths, "method": args.method,
                          "quick": args.quick})
    rep.add(f"RSS peak increase L={l} / L={s}",
            res[l]["rss_peak_increase"] / max(res[s]["rss_peak_increase"], 1), "x", "<= 2")
    rep.add(f"RSS peak increase L={l}", res[l]["rss_peak_increase"] / MiB, "MiB")
    rep.add(f"RSS peak increase L={s}", res[s]["rss_peak_increase"] / MiB, "MiB")
    rep.add(f"tracemalloc peak L={l}", res[l]["tracemalloc_peak"] / MiB, "MiB")
    rep.add(f"tracemalloc peak L={s}", res[s]["tracemalloc_peak"] / MiB, "MiB")
    rep.add(f"O(L n^2) storage at L={l} (for comparison)", l * n * n * 8 / MiB, "MiB")
    if buffer is not None:
        rep.add("draw buffer (DRAW_BUFFER float64)", buffer * 8 / MiB, "MiB")
        rep.add(f"RSS peak increase L={l} / draw buffer",
                res[l]["rss_peak_increase"] / (buffer * 8))
    rep.add("one n x n float64 matrix", n * n * 8 / MiB, "MiB")
    rep.add(f"time L={l}", res[l]["seconds"], "s")
    rep.finish(info)


def argparse_hidden():
    import argparse
    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
