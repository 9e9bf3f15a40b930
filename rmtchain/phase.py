"""The width-depth phase diagram of log R on Dask, with a resumable per-cell store.

``phase_diagram`` samples ``log R``, ``R = ||J u||^2 / ||u||^2`` (``sample_lognorm``), on
every cell (depth, width) of a grid, summarises it by its sample median and quantiles with
standard errors, and sets it beside the finite-width prediction. Cells run as tasks on a
``dask.distributed`` cluster (a LocalCluster by default) or in this process
(``scheduler="synchronous"``). Each finished cell is written to ``store`` as one small
netCDF file, atomically, so an interrupted sweep resumes without recomputing finished cells.
Theory, estimators and the seeding rule: theory/phase.md (PH.1)-(PH.6).

xarray and dask are imported only when a sweep runs, so ``import rmtchain`` stays light.
The CLI subcommand ``rmtchain phase`` is ``add_cli(subparsers)`` + ``run_cli(args)``.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import time
from pathlib import Path

import numpy as np

from ._io import atomic_write
from ._rng import as_generator, check_count
from .chain import WEIGHTS, Chain

__all__ = ["phase_diagram", "lognorm_quantiles", "cell_seed", "predicted_boundary",
           "plot_phase", "add_cli", "run_cli"]

#: the store's format tag; a store with another tag is refused
STORE_FORMAT = "rmtchain.phase/1"
#: quantile levels reported beside the median (the median itself is p = 0.5)
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
#: "synchronous": every cell in this process, one after another (no Dask)
SYNCHRONOUS = "synchronous"

_META = "sweep.json"
_ASSEMBLED = "phase.nc"
_CELL_GLOB = "cell_d*_w*.nc"


# ----------------------------------------------------------------------------- validation


def _grid(name, values):
    """A sorted tuple of distinct ints >= 1 from a non-empty sequence (or one int)."""
    if isinstance(values, numbers.Integral) and not isinstance(values, bool):
        values = [values]
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be a non-empty sequence of integers >= 1, got {values!r}")
    try:
        values = list(values)
    except TypeError:
        raise ValueError(f"{name} must be a non-empty sequence of integers >= 1, "
                         f"got {values!r}") from None
    if not values:
        raise ValueError(f"{name} must be a non-empty sequence of integers >= 1, got an empty grid")
    out = [check_count(name, v) for v in values]
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat a value, got {values}")
    return tuple(sorted(out))


def _levels(quantiles):
    try:
        q = [float(p) for p in quantiles]
    except (TypeError, ValueError):
        raise ValueError(f"quantiles must be a sequence of numbers in (0, 1), "
                         f"got {quantiles!r}") from None
    if not q or any(not (0.0 < p < 1.0) for p in q) or len(set(q)) != len(q):
        raise ValueError(f"quantiles must be distinct numbers in (0, 1), got {quantiles!r}")
    if 0.5 not in q:
        q.append(0.5)
    return tuple(sorted(q))


def _root_entropy(rng, stored):
    """The sweep's root entropy (an int) from ``rng`` (PH.4).

    int -> the int itself; Generator -> one 63-bit draw from it; None -> the stored sweep's
    entropy when resuming, else fresh OS entropy.
    """
    if rng is None:
        return stored if stored is not None else int(np.random.SeedSequence().entropy)
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        as_generator(rng)  # validates (>= 0)
        return int(rng)
    gen = as_generator(rng)  # raises ValueError for other types
    return int(gen.integers(0, 2**63 - 1))


def cell_seed(entropy, depth, width):
    """The cell's ``SeedSequence``: keyed by (depth, width), never by completion order (PH.4).

    ``SeedSequence(entropy, spawn_key=(depth, width))`` is the child that spawning keyed by
    the cell gives: independent streams for distinct cells, the same numbers for one cell
    whatever the grid around it, the number of workers or the order the cells finish in.
    """
    if isinstance(entropy, bool) or not isinstance(entropy, numbers.Integral) or entropy < 0:
        raise ValueError(f"entropy must be an integer >= 0, got {entropy!r}")
    depth, width = check_count("depth", depth), check_count("width", width)
    return np.random.SeedSequence(int(entropy), spawn_key=(depth, width))


# ----------------------------------------------------------------------------- estimators


def lognorm_quantiles(x, levels):
    """Sample quantiles of log R and their order-statistic standard errors (PH.2), (PH.3).

    Parameters
    ----------
    x : (samples,) array
        Samples of log R; -inf (R = 0 exactly) is allowed, NaN and +inf are not.
    levels : sequence of float
        Quantile levels p in (0, 1).

    Returns
    -------
    q : (len(levels),) array
        Hyndman-Fan type 7 quantiles (numpy's default ``method="linear"``),
        ``x_(j) + g (x_(j+1) - x_(j))`` with ``h = (N-1) p``, ``j = floor(h)``, ``g = h - j``;
        -inf where ``x_(j)`` is -inf (PH.2).
    se : (len(levels),) array
        Distribution-free standard error: half the width of the order-statistic interval
        ``[x_(a), x_(b)]``, ``a, b = round(1 + (N-1) p -/+ sqrt(N p (1-p)))`` (one binomial
        standard deviation of the count below the quantile either side of Q(p)), i.e.
        ``(x_(b) - x_(a)) / 2`` (PH.3). inf when the interval reaches -inf or leaves the
        sample (N too small).

    Examples
    --------
    >>> q, se = lognorm_quantiles(np.arange(101.0), [0.5])
    >>> float(q[0]), float(se[0])
    (50.0, 5.0)
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size < 1:
        raise ValueError(f"x must be a non-empty 1-d array, got shape {x.shape}")
    if np.isnan(x).any() or np.isposinf(x).any():
        raise ValueError("x must not contain NaN or +inf (log R is finite or -inf)")
    p = np.asarray(levels, dtype=float)
    if p.ndim != 1 or np.any(~(p > 0.0) | ~(p < 1.0)):
        raise ValueError(f"levels must be numbers in (0, 1), got {levels!r}")
    s = np.sort(x)
    n = s.size
    j = np.floor((n - 1) * p).astype(np.intp)
    with np.errstate(invalid="ignore"):
        q = np.quantile(s, p, method="linear")
    q = np.where(np.isneginf(s[j]), -np.inf, q)
    half = np.sqrt(n * p * (1.0 - p))
    centre = (n - 1) * p  # 0-based position of Q(p)
    a = np.rint(centre - half).astype(np.intp)
    b = np.rint(centre + half).astype(np.intp)
    ok = (a >= 0) & (b <= n - 1) & (b > a)
    with np.errstate(invalid="ignore"):
        se = np.where(ok, 0.5 * (s[np.clip(b, 0, n - 1)] - s[np.clip(a, 0, n - 1)]), np.inf)
    se = np.where(np.isnan(se), np.inf, se)  # -inf - -inf: the interval is all zeros of R
    return q, se


# ----------------------------------------------------------------------------- prediction


def _leading_order(chain, levels):
    """Minimal stand-in until ``rmtchain.finitewidth`` lands (PH.5): linear phi, Gaussian
    weights, zero biases only; ``log R ~ N(L log sigma_w^2 - beta, 2 beta)``,
    ``beta = sum_l 1/n_l``. Raises NotImplementedError for every other setting."""
    from scipy.stats import norm

    if not (chain.phi.name == "linear" and chain.weights == "gaussian" and chain.sigma_b == 0.0):
        raise NotImplementedError("leading-order fallback covers linear Gaussian chains only")
    beta = sum(1.0 / n for n in chain.widths[1:])
    mean = chain.depth * math.log(chain.sigma_w**2) - beta
    var = 2.0 * beta
    q = norm.ppf(np.asarray(levels), loc=mean, scale=math.sqrt(var))
    return {"median": mean, "quantiles": q, "mean": mean, "var": var, "c": 1.0,
            "exact": False}


def _predict(chain, levels):
    """The prediction columns for one cell and where they come from (PH.5).

    ``rmtchain.finitewidth.predict_lognorm(chain)`` when that module exists; otherwise the
    minimal leading-order law for linear Gaussian chains. NotImplementedError (a setting the
    theory does not cover) gives NaN columns with ``available = False``.
    """
    nan = {"median": math.nan, "quantiles": np.full(len(levels), math.nan), "mean": math.nan,
           "var": math.nan, "c": math.nan, "exact": False}
    try:
        from .finitewidth import predict_lognorm
    except ImportError:
        source = "leading-order fallback, linear Gaussian only (rmtchain.phase)"
        try:
            return True, source, _leading_order(chain, levels)
        except NotImplementedError:
            return False, source, nan
    source = "rmtchain.finitewidth.predict_lognorm"
    try:
        pred = predict_lognorm(chain)
        cols = {"median": float(pred.median),
                "quantiles": np.array([float(pred.quantile(p)) for p in levels]),
                "mean": float(pred.mean), "var": float(pred.var),
                "c": float(getattr(pred, "c", math.nan)),
                "exact": bool(getattr(pred, "exact", False))}
    except NotImplementedError:
        return False, source, nan
    return True, source, cols


# ----------------------------------------------------------------------------- one cell


def _cell_task(params, depth, width, entropy, trace=None, numba_threads=None):
    """Sample and summarise one cell (PH.1)-(PH.5); runs on a worker. Pure: the result
    depends only on the arguments. Appends ``depth width pid`` to ``trace`` first."""
    if trace is not None:
        fd = os.open(trace, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{depth} {width} {os.getpid()}\n".encode())
        finally:
            os.close(fd)
    t0 = time.perf_counter()
    chain = Chain(depth, width, weights=params["weights"], phi=params["phi"],
                  sigma_w=params["sigma_w"], sigma_b=params["sigma_b"], q0=params["q0"])
    rng = np.random.default_rng(cell_seed(entropy, depth, width))
    if numba_threads is None:
        x = _sample(chain, params["samples"], rng)
    else:
        import numba

        old = numba.get_num_threads()
        numba.set_num_threads(min(numba_threads, numba.config.NUMBA_NUM_THREADS))
        try:
            x = _sample(chain, params["samples"], rng)
        finally:
            numba.set_num_threads(old)
    levels = tuple(params["quantiles"])
    q, se = lognorm_quantiles(x, levels)
    finite = x[np.isfinite(x)]
    available, source, pred = _predict(chain, levels)
    m = levels.index(0.5)
    return {
        "depth": int(depth), "width": int(width),
        "median": float(q[m]), "median_se": float(se[m]),
        "quantile_value": q, "quantile_se": se,
        "mean": float(finite.mean()) if finite.size else -math.inf,
        "var": float(finite.var(ddof=1)) if finite.size > 1 else math.nan,
        "zero_fraction": float(1.0 - finite.size / x.size),
        "prediction_available": bool(available), "prediction_exact": bool(pred["exact"]),
        "prediction_source": source,
        "pred_median": pred["median"], "pred_quantile": np.asarray(pred["quantiles"], float),
        "pred_mean": pred["mean"], "pred_var": pred["var"], "pred_c": pred["c"],
        "cell_seconds": time.perf_counter() - t0,
    }


def _sample(chain, samples, rng):
    from .sampling import sample_lognorm

    return sample_lognorm(chain, samples, rng=rng)


_SCALARS = ("median", "median_se", "mean", "var", "zero_fraction", "pred_median", "pred_mean",
            "pred_var", "pred_c", "cell_seconds")
_VECTORS = ("quantile_value", "quantile_se", "pred_quantile")
_FLAGS = ("prediction_available", "prediction_exact")


def _cell_bytes(rec, levels, fingerprint):
    """One cell record as netCDF3 bytes (scipy backend; no netCDF4/HDF5 library)."""
    import xarray as xr

    data = {k: ((), np.float64(rec[k])) for k in _SCALARS}
    data.update({k: (("quantile",), np.asarray(rec[k], np.float64)) for k in _VECTORS})
    for k in _FLAGS:
        data[k] = ((), np.int8(rec[k]))
    ds = xr.Dataset(data, coords={"quantile": np.asarray(levels, np.float64)},
                    attrs={"depth": np.int32(rec["depth"]), "width": np.int32(rec["width"]),
                           "prediction_source": rec["prediction_source"],
                           "sweep": fingerprint})
    return bytes(ds.to_netcdf(engine="scipy"))


def _read_cell(path, fingerprint):
    import xarray as xr

    try:
        with xr.open_dataset(path, engine="scipy") as ds:
            ds = ds.load()
    except Exception as exc:  # noqa: BLE001  (any unreadable file: name it)
        raise ValueError(f"store: cell file {str(path)!r} is unreadable ({exc}); "
                         "delete it to recompute that cell") from exc
    if ds.attrs.get("sweep") != fingerprint:
        raise ValueError(f"store: cell file {str(path)!r} belongs to another sweep")
    rec = {k: float(ds[k].values) for k in _SCALARS}
    rec.update({k: ds[k].values.astype(np.float64) for k in _VECTORS})
    rec.update({k: bool(ds[k].values) for k in _FLAGS})
    rec["prediction_source"] = str(ds.attrs["prediction_source"])
    rec["depth"], rec["width"] = int(ds.attrs["depth"]), int(ds.attrs["width"])
    return rec


# ----------------------------------------------------------------------------- the store


class _Store:
    """A directory: ``sweep.json`` (parameters), one ``cell_d{L}_w{n}.nc`` per finished
    cell (written with ``os.replace``), and ``phase.nc`` (the assembled Dataset)."""

    def __init__(self, path):
        self.path = Path(path)

    def cell_path(self, depth, width):
        return self.path / f"cell_d{depth}_w{width}.nc"

    def open(self, params, rng):
        """Create the store, or check that it holds this sweep; return the root entropy."""
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"store must be a directory, got the file {str(self.path)!r}")
        meta_path = self.path / _META
        stored = None
        if meta_path.exists():
            try:
                meta = json.loads(meta_path.read_text())
            except ValueError as exc:
                raise ValueError(f"store: {str(meta_path)!r} is not valid JSON ({exc})") from exc
            if meta.get("format") != STORE_FORMAT:
                raise ValueError(f"store {str(self.path)!r} has format {meta.get('format')!r}, "
                                 f"expected {STORE_FORMAT!r}")
            diff = sorted(k for k in set(params) | set(meta["parameters"])
                          if params.get(k) != meta["parameters"].get(k))
            if diff:
                shown = ", ".join(f"{k}: stored {meta['parameters'].get(k)!r}, "
                                  f"given {params.get(k)!r}" for k in diff)
                raise ValueError(f"store {str(self.path)!r} holds a sweep with other parameters "
                                 f"({shown}); use another store to change them")
            stored = int(meta["entropy"])
        entropy = _root_entropy(rng, stored)
        if stored is not None and entropy != stored:
            raise ValueError(f"rng gives root entropy {entropy}, but store {str(self.path)!r} "
                             f"was made with {stored}; pass rng=None or the same seed to resume")
        if stored is None:
            self.path.mkdir(parents=True, exist_ok=True)
            meta = {"format": STORE_FORMAT, "parameters": params, "entropy": str(entropy)}
            atomic_write(meta_path, lambda f: f.write(
                (json.dumps(meta, indent=1) + "\n").encode()))
        return entropy

    def finished(self, cells, fingerprint):
        return {c: _read_cell(self.cell_path(*c), fingerprint)
                for c in cells if self.cell_path(*c).exists()}

    def write_cell(self, rec, levels, fingerprint):
        blob = _cell_bytes(rec, levels, fingerprint)
        atomic_write(self.cell_path(rec["depth"], rec["width"]), lambda f: f.write(blob))

    def write_assembled(self, ds):
        atomic_write(self.path / _ASSEMBLED, lambda f: f.write(
            bytes(ds.to_netcdf(engine="scipy"))))


def _fingerprint(params, entropy):
    return json.dumps({"parameters": params, "entropy": str(entropy)}, sort_keys=True)


# ----------------------------------------------------------------------------- schedulers


@contextlib.contextmanager
def _client(scheduler, n_cells):
    """Yield a ``distributed.Client`` (or None for synchronous) for ``scheduler``."""
    if isinstance(scheduler, str) and scheduler == SYNCHRONOUS:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler is None:
        workers = max(1, min(os.cpu_count() or 1, n_cells))
        # ":0": a free port for the scheduler's HTTP server (None still tries 8787 and fails
        # when another cluster holds it)
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            yield client
        return
    if isinstance(scheduler, Client):
        yield scheduler
        return
    address = getattr(scheduler, "scheduler_address", scheduler)  # a LocalCluster, or a string
    if not isinstance(address, str) or not address:
        raise ValueError(f"scheduler must be None, {SYNCHRONOUS!r}, a dask.distributed address "
                         f"string, a Client or a cluster, got {scheduler!r}")
    try:
        client = Client(address)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ValueError(f"scheduler {address!r} is unreachable ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())}); stored cells are kept") from exc
    try:
        yield client
    finally:
        client.close()


def _run(client, todo, params, entropy, trace, on_done, bar):
    """Compute the cells ``todo``: in this process, or as Dask tasks (as they complete)."""
    if client is None:
        for depth, width in todo:
            on_done(_cell_task(params, depth, width, entropy, trace))
            bar.update(1)
        return
    from distributed import as_completed

    # the costliest cells (cost ~ L n) first, so that no big cell is left for the end;
    # the values do not depend on the order (PH.4)
    order = sorted(todo, key=lambda c: -c[0] * c[1])
    futures = [client.submit(_cell_task, params, d, w, entropy, trace, 1, pure=False,
                             priority=d * w) for d, w in order]
    try:
        for fut in as_completed(futures):
            on_done(fut.result())
            bar.update(1)
    finally:
        client.cancel([f for f in futures if not f.done()])


# ----------------------------------------------------------------------------- assembly


def _assemble(depths, widths, levels, records, params, entropy):
    import xarray as xr

    D, W, Q = len(depths), len(widths), len(levels)
    arr = {k: np.full((D, W), np.nan) for k in _SCALARS}
    vec = {k: np.full((D, W, Q), np.nan) for k in _VECTORS}
    flags = {k: np.zeros((D, W), dtype=bool) for k in _FLAGS}
    sources = set()
    for i, d in enumerate(depths):
        for j, w in enumerate(widths):
            rec = records[(d, w)]
            for k in _SCALARS:
                arr[k][i, j] = rec[k]
            for k in _VECTORS:
                vec[k][i, j] = rec[k]
            for k in _FLAGS:
                flags[k][i, j] = rec[k]
            sources.add(rec["prediction_source"])
    dims, dimq = ("depth", "width"), ("depth", "width", "quantile")
    doc = {
        "median": "sample median of log R, R = ||J u||^2/||u||^2 (theory/phase.md (PH.1)-(PH.2))",
        "median_se": "order-statistic standard error of the median (PH.3)",
        "quantile_value": "sample quantiles of log R, type 7 (PH.2)",
        "quantile_se": "order-statistic standard errors of the quantiles (PH.3)",
        "mean": "mean of the finite log R samples",
        "var": "variance (ddof=1) of the finite log R samples",
        "zero_fraction": "fraction of samples with R = 0 exactly (log R = -inf)",
        "pred_median": "predicted median of log R (PH.5); NaN where prediction_available is False",
        "pred_quantile": "predicted quantiles of log R (PH.5)",
        "pred_mean": "predicted mean of log R (PH.5)",
        "pred_var": "predicted variance of log R (PH.5)",
        "pred_c": "predicted rate constant c: median log R ~ -c L/n at criticality (PH.6)",
        "cell_seconds": "wall time of the cell's task (the one non-reproducible variable)",
    }
    data = {k: (dims, arr[k], {"description": doc[k]}) for k in _SCALARS}
    data.update({k: (dimq, vec[k], {"description": doc[k]}) for k in _VECTORS})
    data["prediction_available"] = (dims, flags["prediction_available"], {
        "description": "True where the prediction columns hold a prediction, False where the "
                       "theory does not cover the setting (NaN columns) (PH.5)"})
    data["prediction_exact"] = (dims, flags["prediction_exact"], {
        "description": "True where the prediction is an exact finite-width law, False for a "
                       "leading-order (normal) law or no prediction (PH.5)"})
    attrs = {f"param_{k}": ("none" if v is None else v) for k, v in params.items()
             if k != "quantiles"}
    attrs.update({"seed_entropy": str(entropy), "prediction_source": "; ".join(sorted(sources)),
                  "theory": "theory/phase.md (PH.1)-(PH.6)", "store_format": STORE_FORMAT})
    from . import __version__

    attrs["rmtchain_version"] = __version__
    return xr.Dataset(data, coords={"depth": np.asarray(depths, np.int32),
                                    "width": np.asarray(widths, np.int32),
                                    "quantile": np.asarray(levels, np.float64)}, attrs=attrs)


# ----------------------------------------------------------------------------- public


def phase_diagram(depths, widths, *, phi="linear", weights="gaussian", sigma_w=1.0,
                  sigma_b=0.0, samples=200, rng=None, scheduler=None, store=None, q0=None,
                  quantiles=QUANTILES, trace=None, progress=True):
    """Sample the width-depth phase diagram of log R beside its prediction.

    On every cell (depth L, width n) of the grid, draws ``samples`` values of
    ``log R = log(||J u||^2 / ||u||^2)`` with ``sample_lognorm`` for the chain
    ``Chain(L, n, phi=phi, weights=weights, sigma_w=sigma_w, sigma_b=sigma_b, q0=q0)``
    and reports the sample median and quantiles with standard errors, next to the
    finite-width prediction (theory/phase.md (PH.1)-(PH.6)).

    Parameters
    ----------
    depths, widths : sequence of int
        The grid: distinct integers >= 1 (sorted in the result). Every layer of a cell has
        the same width n.
    phi, weights, sigma_w, sigma_b, q0
        The chain parameters, as for ``rmtchain.Chain`` (validated there).
    samples : int
        Samples of log R per cell (>= 1).
    rng : None, int or numpy.random.Generator
        The root of every cell's seed: cell (L, n) draws from
        ``SeedSequence(entropy, spawn_key=(L, n))`` (PH.4), so the numbers do not depend on
        the scheduler, the number of workers, the order cells finish in, the rest of the
        grid or on resuming. None resumes a store's seed, else draws fresh entropy.
    scheduler : None, "synchronous", str, distributed.Client or cluster
        None starts a ``dask.distributed.LocalCluster`` (one single-threaded worker process
        per core, closed afterwards); "synchronous" runs every cell in this process (numba
        threads as set); an address such as ``"tcp://127.0.0.1:8786"``, a ``Client`` or a
        cluster object uses that scheduler. Dask tasks run numba with one thread each.
    store : None or path
        A directory. Holds ``sweep.json`` (the parameters and root entropy), one netCDF3 file
        per finished cell, written atomically when the cell finishes, and ``phase.nc`` (the
        assembled result). A sweep with the same store skips its finished cells; a store made
        with other parameters (or another seed) is refused. The grid may differ: cells
        depend only on the parameters and their own (L, n).
    quantiles : sequence of float
        Quantile levels in (0, 1) to report; 0.5 is always added.
    trace : None or path
        A file to which every cell task appends ``"L n pid"`` when it starts (an audit that no
        finished cell is computed twice).
    progress : bool
        tqdm bar over cells (shown after 2 s).

    Returns
    -------
    xarray.Dataset
        Dimensions (depth, width, quantile). Variables ``median``, ``median_se``,
        ``quantile_value``, ``quantile_se``, ``mean``, ``var``, ``zero_fraction``,
        ``pred_median``, ``pred_quantile``, ``pred_mean``, ``pred_var``, ``pred_c``,
        ``prediction_available`` (bool) and ``cell_seconds``; attrs carry the parameters,
        the root entropy and the prediction source.

    Raises
    ------
    ValueError
        Empty or invalid grids, non-positive sizes, a bad ``rng`` or ``scheduler``, an
        unreachable scheduler (stored cells are kept), or a store made with other parameters.

    Notes
    -----
    The prediction comes from ``rmtchain.finitewidth.predict_lognorm`` when that module is
    present, else from a minimal leading-order law for linear Gaussian chains; where neither
    covers the setting the prediction columns are NaN and ``prediction_available`` is False
    (PH.5). Sources: Hanin & Nica, arXiv:1812.05994; Hanin, arXiv:1801.03744.

    Examples
    --------
    Linear Haar chains have log R = 2 L log sigma_w exactly:

    >>> ds = phase_diagram([1, 4], [8, 16], weights="orthogonal", sigma_w=1.5, samples=50,
    ...                    rng=0, scheduler="synchronous", progress=False)
    >>> ds["median"].dims, ds["median"].values.round(10).tolist()
    (('depth', 'width'), [[0.8109302162, 0.8109302162], [3.2437208649, 3.2437208649]])
    """
    depths = _grid("depths", depths)
    widths = _grid("widths", widths)
    samples = check_count("samples", samples)
    levels = _levels(quantiles)
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}, got {weights!r}")
    # validate the chain parameters once, here (Chain raises ValueError naming the parameter)
    probe = Chain(depths[0], widths[0], weights=weights, phi=phi, sigma_w=sigma_w,
                  sigma_b=sigma_b, q0=q0)
    if not isinstance(phi, str):
        raise ValueError(f"phi must be a registered name (workers rebuild the chain from it), "
                         f"got {type(phi).__name__}")
    params = {"phi": phi, "weights": weights, "sigma_w": probe.sigma_w, "sigma_b": probe.sigma_b,
              "q0": None if q0 is None else float(q0), "samples": samples,
              "quantiles": list(levels)}
    if not (scheduler is None or isinstance(scheduler, str)
            or hasattr(scheduler, "submit") or hasattr(scheduler, "scheduler_address")):
        raise ValueError(f"scheduler must be None, {SYNCHRONOUS!r}, a dask.distributed address "
                         f"string, a Client or a cluster, got {type(scheduler).__name__}")
    if isinstance(scheduler, str) and scheduler != SYNCHRONOUS and "://" not in scheduler \
            and ":" not in scheduler:
        raise ValueError(f"scheduler must be {SYNCHRONOUS!r} or an address like "
                         f"'tcp://host:8786', got {scheduler!r}")
    if store is not None and not isinstance(store, (str, os.PathLike)):
        raise ValueError(f"store must be None or a directory path, got {type(store).__name__}")
    if trace is not None and not isinstance(trace, (str, os.PathLike)):
        raise ValueError(f"trace must be None or a file path, got {type(trace).__name__}")
    cells = [(d, w) for d in depths for w in widths]
    st = None if store is None else _Store(store)
    if st is not None:
        entropy = st.open(params, rng)
    else:
        entropy = _root_entropy(rng, None)
    fingerprint = _fingerprint(params, entropy)
    records = {} if st is None else st.finished(cells, fingerprint)
    todo = [c for c in cells if c not in records]

    def on_done(rec):
        if st is not None:
            st.write_cell(rec, levels, fingerprint)
            rec = _read_cell(st.cell_path(rec["depth"], rec["width"]), fingerprint)
        records[(rec["depth"], rec["width"])] = rec

    if todo:
        from tqdm.auto import tqdm

        with tqdm(total=len(cells), initial=len(cells) - len(todo), desc="phase_diagram",
                  unit="cell", delay=2.0, disable=not progress) as bar, \
                _client(scheduler, len(todo)) as client:
            _run(client, todo, params, entropy, None if trace is None else str(trace),
                 on_done, bar)
    ds = _assemble(depths, widths, levels, records, params, entropy)
    if st is not None:
        st.write_assembled(ds)
    return ds


# ----------------------------------------------------------------------------- CLI


def _int_list(text):
    import argparse

    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from None


def add_cli(subparsers):
    """Add the ``phase`` subcommand to the ``rmtchain`` parser's ``subparsers``."""
    p = subparsers.add_parser(
        "phase", help="width-depth phase diagram of log ||J u||^2 (Dask, resumable)",
        description="Sample log R = log(||J u||^2/||u||^2) on a (depth, width) grid, on a Dask "
        "LocalCluster (or --scheduler ADDRESS / synchronous), beside the finite-width "
        "prediction; write a heatmap PNG with the predicted boundary. With --store DIR, "
        "finished cells are kept and an interrupted sweep resumes.")
    p.add_argument("--depths", type=_int_list, required=True, help="comma-separated depths L >= 1")
    p.add_argument("--widths", type=_int_list, required=True, help="comma-separated widths n >= 1")
    p.add_argument("--phi", default="linear", help="nonlinearity (default linear)")
    p.add_argument("--weights", default="gaussian", help=f"one of {', '.join(WEIGHTS)}")
    p.add_argument("--sigma-w", dest="sigma_w", type=float, default=1.0, help="default 1")
    p.add_argument("--sigma-b", dest="sigma_b", type=float, default=0.0, help="default 0")
    p.add_argument("--samples", type=int, default=200, help="samples per cell (default 200)")
    p.add_argument("--seed", type=int, default=None,
                   help="root seed (default: the store's, else fresh entropy, printed)")
    p.add_argument("--scheduler", default=None,
                   help="'synchronous', or a dask.distributed address (default: a LocalCluster)")
    p.add_argument("--store", metavar="DIR", default=None, help="resumable per-cell store")
    p.add_argument("--threshold", type=float, default=1.0,
                   help="boundary: |median log R| = THRESHOLD (default 1)")
    p.add_argument("--out", metavar="FILE", default="rmtchain-phase.png",
                   help="heatmap PNG (default rmtchain-phase.png)")
    p.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    p.add_argument("--json", action="store_true", help="print the Dataset as JSON")
    p.set_defaults(func=run_cli)
    return p


def run_cli(args):
    """Run ``rmtchain phase``; returns the exit status (errors raise ValueError/UsageError)."""
    import sys

    from . import cli as _cli  # here: cli imports this module

    if not (args.threshold > 0 and math.isfinite(args.threshold)):
        raise _cli.UsageError(f"argument --threshold: must be a finite number > 0, "
                              f"got {args.threshold}")
    if args.seed is not None and args.seed < 0:
        raise _cli.UsageError(f"argument --seed: must be >= 0, got {args.seed}")
    out = Path(args.out) if args.no_plot else _cli._output_path("--out", args.out)
    ds = phase_diagram(args.depths, args.widths, phi=args.phi, weights=args.weights,
                       sigma_w=args.sigma_w, sigma_b=args.sigma_b, samples=args.samples,
                       rng=args.seed, scheduler=args.scheduler, store=args.store)
    msg = sys.stderr if args.json else sys.stdout
    if args.json:
        print(_cli._dumps(_to_record(ds, args.threshold), indent=None))
    else:
        print(_table(ds), file=msg)
    if not args.no_plot:
        _cli._use_agg()
        import matplotlib.pyplot as plt

        fig = plot_phase(ds, threshold=args.threshold)
        _cli._save_figure(fig, out)
        plt.close(fig)
        print(f"wrote {out}", file=msg)
    return 0


def _to_record(ds, threshold):
    rec = {"package": "rmtchain", "what": "phase diagram of log R = log(||J u||^2/||u||^2)",
           "theory": "theory/phase.md", "threshold": threshold, "attrs": dict(ds.attrs),
           "coords": {k: ds[k].values for k in ds.coords},
           "dims": {k: list(ds[k].dims) for k in ds.data_vars}}
    rec["variables"] = {k: ds[k].values for k in ds.data_vars}
    rec["boundary"] = predicted_boundary(ds, threshold)
    return rec


def predicted_boundary(ds, threshold=1.0):
    """Per depth, the smallest grid width whose predicted |median log R| <= threshold (PH.6).

    Returns a dict ``{depth: width or None}`` (None: no width of the grid qualifies, or no
    prediction).
    """
    out = {}
    pm = ds["pred_median"].values
    for i, d in enumerate(ds["depth"].values):
        ok = np.isfinite(pm[i]) & (np.abs(pm[i]) <= threshold)
        out[int(d)] = int(ds["width"].values[np.argmax(ok)]) if ok.any() else None
    return out


def _table(ds):
    lines = [f"median log R (sampled; predicted in brackets), seed entropy "
             f"{ds.attrs['seed_entropy']}, prediction: {ds.attrs['prediction_source']}"]
    corner = "L \\ n"
    lines.append(f"{corner:>8}" + "".join(f"{int(w):>20d}" for w in ds["width"].values))
    for i, d in enumerate(ds["depth"].values):
        row = "".join(f"{ds['median'].values[i, j]:>11.3f} [{ds['pred_median'].values[i, j]:>6.2f}]"
                      for j in range(ds.sizes["width"]))
        lines.append(f"{int(d):>8d}{row}")
    return "\n".join(lines)


def plot_phase(ds, *, threshold=1.0, ax=None):
    """Heatmap of the sampled median log R over (width, depth) with the sampled and predicted
    boundaries ``median log R = -threshold`` (and ``+threshold``) (PH.6). Returns the Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import SymLogNorm

    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 5.0), layout="constrained")
    else:
        fig = ax.figure
    n = ds["width"].values.astype(float)
    L = ds["depth"].values.astype(float)
    z = ds["median"].values
    finite = z[np.isfinite(z)]
    lim = max(float(np.abs(finite).max()) if finite.size else 1.0, 2.0 * threshold)
    # symmetric log colour scale, linear within |log R| < threshold; R = 0 (-inf) at -lim
    mesh = ax.pcolormesh(_edges(n), _edges(L), np.where(np.isfinite(z), z, -lim),
                         cmap="RdBu_r", norm=SymLogNorm(threshold, vmin=-lim, vmax=lim),
                         shading="flat")
    fig.colorbar(mesh, ax=ax, label="sampled median of log R (-inf at the bottom)")
    levels = [-threshold, threshold]
    if len(n) > 1 and len(L) > 1:
        with contextlib.suppress(ValueError):
            ax.contour(n, L, z, levels=levels, colors="k", linestyles="solid", linewidths=1.2)
        pm = ds["pred_median"].values
        if np.isfinite(pm).any():
            with contextlib.suppress(ValueError):
                ax.contour(n, L, pm, levels=levels, colors="k", linestyles="dashed",
                       linewidths=1.2)
    ax.plot([], [], "k-", label=f"sampled |median log R| = {threshold:g}")
    ax.plot([], [], "k--", label=f"predicted ({ds.attrs['prediction_source'][:40]})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width n")
    ax.set_ylabel("depth L")
    ax.set_title(f"{ds.attrs['param_phi']}, {ds.attrs['param_weights']}, "
                 f"sigma_w={ds.attrs['param_sigma_w']:g}, {ds.attrs['param_samples']} samples/cell",
                 fontsize="medium")
    ax.legend(fontsize="small", loc="lower right")
    return fig


def _edges(x):
    """Cell edges on a log axis: geometric midpoints, extended by half a step at the ends."""
    x = np.asarray(x, float)
    if x.size == 1:
        return np.array([x[0] / 1.5, x[0] * 1.5])
    lx = np.log(x)
    mid = 0.5 * (lx[1:] + lx[:-1])
    return np.exp(np.concatenate([[lx[0] - (mid[0] - lx[0])], mid, [lx[-1] + (lx[-1] - mid[-1])]]))
