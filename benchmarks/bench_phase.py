"""(f) Phase diagram: a 10 x 10 (depth, width) sweep on a Dask LocalCluster vs one process.

The sweep is ``rmtchain.phase.phase_diagram`` over depths and widths geometric in 2..256
(relu, Gaussian weights at He init, 200 samples of log R per cell). Timed:

- one process: ``scheduler="synchronous"`` (cells one after another in this process; numba
  uses the threads set by ``--threads`` inside each cell);
- LocalCluster, cold: ``scheduler=None`` (one single-threaded worker process per core, started
  and closed by the call), including cluster start-up and each worker's first import of
  rmtchain and load of its numba kernels from the cache;
- LocalCluster, warm: the same cluster, already started and warmed by a one-cell-per-worker
  sweep, passed as a Client (the steady-state throughput);
- the store: one process again with ``store=`` (one netCDF3 file per cell, atomic).

Reported: speed-up = time(one process) / time(LocalCluster) (cold and warm; on 2 cores
expect <= 2x), per-cell cost, worker start-up + first-cell load, store overhead per cell. All
runs use the same seed and are checked to give the same sampled numbers.

    python benchmarks/bench_phase.py --threads 1
"""

import _common  # noqa: I001  (first: sets thread counts before numpy/numba load)

import os
import tempfile
import time

import numpy as np

from rmtchain.phase import phase_diagram

SAMPLED = ["median", "median_se", "quantile_value", "quantile_se", "mean", "var",
           "zero_fraction"]


def grid(lo, hi, k):
    return sorted({int(round(v)) for v in np.geomspace(lo, hi, k)})


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=10, help="grid points per axis")
    p.add_argument("--max-size", type=int, default=256, help="largest depth and width")
    p.add_argument("--samples", type=int, default=200, help="samples of log R per cell")
    p.add_argument("--workers", type=int, default=None, help="LocalCluster workers (default: CPUs)")
    args = p.parse_args(argv)
    if args.quick:
        args.cells, args.max_size, args.samples = 4, 64, 50
    info = _common.print_machine()
    depths = grid(2, args.max_size, args.cells)
    widths = grid(2, args.max_size, args.cells)
    workers = args.workers or os.cpu_count() or 1
    kw = dict(phi="relu", weights="gaussian", sigma_w=2 ** 0.5, samples=args.samples,
              rng=args.seed, progress=False)
    ncell = len(depths) * len(widths)
    print(f"\n(f) phase diagram {len(depths)} x {len(widths)} = {ncell} cells, depths {depths}, "
          f"widths {widths}, {args.samples} samples/cell; LocalCluster with {workers} "
          "single-threaded workers", flush=True)

    from distributed import Client, LocalCluster

    # warm this process's numba kernels (loaded from the cache) outside every timing
    phase_diagram([2], [2], scheduler="synchronous", **kw)
    time.sleep(0.5)
    one, t_one = timed(lambda: phase_diagram(depths, widths, scheduler="synchronous", **kw))
    print(f"  one process (synchronous)                       {_common.fmt_time(t_one)}",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        stored, t_store = timed(lambda: phase_diagram(depths, widths, scheduler="synchronous",
                                                      store=os.path.join(tmp, "s"), **kw))
    print(f"  one process, with store                         {_common.fmt_time(t_store)}",
          flush=True)
    cold, t_cold = timed(lambda: phase_diagram(depths, widths, scheduler=None, **kw))
    print(f"  LocalCluster (cold: start-up + first loads)     {_common.fmt_time(t_cold)}",
          flush=True)
    t0 = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        t_start = time.perf_counter() - t0
        # one tiny cell per worker: the first task of a worker imports rmtchain and loads
        # the numba kernels from the cache
        _, t_first = timed(lambda: phase_diagram([1], list(range(2, 2 + workers)),
                                                 scheduler=client, **kw))
        warm, t_warm = timed(lambda: phase_diagram(depths, widths, scheduler=client, **kw))
    print(f"  LocalCluster start-up                           {_common.fmt_time(t_start)}")
    print(f"  first cell per worker (import + numba load)     {_common.fmt_time(t_first)}")
    print(f"  LocalCluster (warm)                             {_common.fmt_time(t_warm)}",
          flush=True)

    for name, ds in (("store", stored), ("cold", cold), ("warm", warm)):
        for v in SAMPLED:  # the seeding rule (PH.4): same numbers whatever the scheduler
            assert np.array_equal(ds[v].values, one[v].values, equal_nan=True), (name, v)
    cell = one["cell_seconds"].values
    rep = _common.Report("f", "phase diagram on a Dask LocalCluster vs one process",
                         {"depths": depths, "widths": widths, "samples": args.samples,
                          "workers": workers, "phi": "relu", "quick": args.quick})
    rep.add(f"speed-up, warm ({workers} workers)", t_one / t_warm, "x", ">= 1.3",
            note="time(one process) / time(LocalCluster); 2 cores: <= 2x")
    rep.add("speed-up, cold (incl. cluster start-up)", t_one / t_cold, "x")
    rep.add("one process: whole sweep", t_one, "s")
    rep.add("one process: per-cell cost, mean", t_one / ncell, "s")
    rep.add("per-cell cost, largest cell (L, n max)", float(cell.max()), "s")
    rep.add("LocalCluster: per-cell wall, warm", t_warm / ncell, "s")
    rep.add("LocalCluster start-up", t_start, "s")
    rep.add("first cell per worker (import + numba cache load)", t_first, "s")
    rep.add("store overhead per cell (netCDF3 write + read)", (t_store - t_one) / ncell, "s")
    rep.finish(info)


if __name__ == "__main__":
    main()
