"""``rmtchain.phase``: the width-depth phase diagram on Dask with a resumable store.

What each test checks against (theory/phase.md):
- the quantile estimator (PH.2) against a naive type-7 formula written out here, and its
  standard error (PH.3) against the spread of the median over independent replicates;
- the pipeline's columns against exact finite-width laws: linear orthogonal chains have
  log R = 2 L log sigma_w exactly (rounding tolerance); linear Gaussian chains have
  log R = sum of L iid log(chi^2_n / n), so for L = 1 the quantiles are chi2.ppf and for any
  L the mean and variance are L (digamma(n/2) + log(2/n)) and L trigamma(n/2) (Monte Carlo
  tolerance: K_SE standard errors);
- the prediction plumbing (PH.5) against the closed-form leading-order law and fake
  ``finitewidth`` modules;
- resumption and reproducibility (PH.4) against a real dask scheduler + worker, a client
  killed with SIGKILL midway, a trace of every computed cell, and a one-process run.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from scipy.special import digamma, erfinv, polygamma

from helpers import K_SE, RTOL_ROUNDING

from rmtchain import phase
from rmtchain.phase import cell_seed, lognorm_quantiles, phase_diagram

xr = pytest.importorskip("xarray")

REPO = Path(__file__).resolve().parents[1]
SYNC = "synchronous"


def run(depths, widths, **kw):
    kw.setdefault("scheduler", SYNC)
    kw.setdefault("progress", False)
    return phase_diagram(depths, widths, **kw)


#: the sampled columns (the rest are the prediction and the wall time)
SAMPLED = ["median", "median_se", "quantile_value", "quantile_se", "mean", "var",
           "zero_fraction"]


def same_data(a, b, only=None):
    """Every reproducible variable equal, bitwise (cell_seconds is wall time); ``only``:
    just those variables."""
    a, b = a.drop_vars("cell_seconds"), b.drop_vars("cell_seconds")
    if only is not None:
        a, b = a[only], b[only]
    xr.testing.assert_equal(a, b)


@pytest.fixture(autouse=True)
def leading_order_prediction(request, monkeypatch):
    """In-process runs use the minimal fallback prediction (PH.5), so that these tests do not
    depend on the state of rmtchain.finitewidth (tests marked ``finitewidth`` use the real
    module). Dask workers are separate processes and import the real module: Dask tests
    compare the SAMPLED columns only."""
    if "real_finitewidth" not in request.fixturenames:
        monkeypatch.setitem(sys.modules, "rmtchain.finitewidth", None)  # import -> ImportError


@pytest.fixture
def real_finitewidth():
    return pytest.importorskip("rmtchain.finitewidth")


def read_trace(path):
    if not Path(path).exists():
        return []
    return [tuple(int(t) for t in ln.split()[:2]) for ln in Path(path).read_text().splitlines()]


def stored_cells(store):
    out = set()
    for p in Path(store).glob("cell_d*_w*.nc"):
        d, w = p.stem[len("cell_d"):].split("_w")
        out.add((int(d), int(w)))
    return out


# ----------------------------------------------------------------------------- estimator


def naive_type7(x, p):
    """Hyndman-Fan type 7 written out: x_(j) + g (x_(j+1) - x_(j)), -inf propagating."""
    s = sorted(x)
    h = (len(s) - 1) * p
    j = int(math.floor(h))
    g = h - j
    if s[j] == -math.inf or g == 0.0 or j + 1 >= len(s):
        return s[j]
    return s[j] + g * (s[j + 1] - s[j])


levels_st = st.lists(st.floats(0.01, 0.99), min_size=1, max_size=5, unique=True)


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300), levels=levels_st,
       zeros=st.floats(0.0, 1.0))
def test_quantiles_match_naive_type7_with_minus_inf(seed, n, levels, zeros):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * 3.0
    x[rng.random(n) < zeros] = -np.inf
    q, se = lognorm_quantiles(x, levels)
    expect = np.array([naive_type7(x, p) for p in levels])
    assert np.array_equal(np.isneginf(q), np.isneginf(expect))
    fin = np.isfinite(expect)
    # rounding: numpy's lerp and the naive formula differ in the order of operations
    np.testing.assert_allclose(q[fin], expect[fin], rtol=RTOL_ROUNDING, atol=1e-13)
    assert np.all((se >= 0) & ~np.isnan(se))


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 200), levels=levels_st,
       a=st.floats(0.1, 10.0), b=st.floats(-50.0, 50.0))
def test_quantiles_affine_equivariant_monotone_permutation_invariant(seed, n, levels, a, b):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    q, se = lognorm_quantiles(x, levels)
    q2, se2 = lognorm_quantiles(a * x[::-1] + b, levels)
    # rounding of a*x+b and of the interpolation, relative to the largest magnitude involved
    tol = 1e-12 * (abs(b) + a * np.abs(x).max() + 1.0)
    np.testing.assert_allclose(q2, a * q + b, rtol=0, atol=tol)
    fin = np.isfinite(se)
    np.testing.assert_allclose(se2[fin], a * se[fin], rtol=0, atol=tol)
    assert np.array_equal(np.isinf(se), np.isinf(se2))
    order = np.argsort(levels)
    assert np.all(np.diff(q[order]) >= 0)


def test_quantile_se_matches_spread_of_replicates():
    """(PH.3): the mean order-statistic SE equals the standard deviation of the sample median
    over 4000 replicates of N = 400 normals, and the asymptotic sqrt(p(1-p)/N)/f(x_p).
    Tolerance 6%: Monte Carlo error of a standard deviation from 4000 replicates (1.1%, 4 SE =
    4.5%) plus the O(1/sqrt(N p (1-p))) discreteness of the order-statistic interval (~1%)."""
    rng = np.random.default_rng(11)
    N, R = 400, 4000
    for p in (0.5, 0.1):
        xs = rng.standard_normal((R, N))
        qs, ses = zip(*(lognorm_quantiles(x, [p]) for x in xs))
        spread = np.std(np.concatenate(qs), ddof=1)
        asym = math.sqrt(p * (1 - p) / N) / stats.norm.pdf(stats.norm.ppf(p))
        mean_se = float(np.mean(np.concatenate(ses)))
        assert abs(spread / asym - 1) < 0.06, (p, spread, asym)
        assert abs(mean_se / asym - 1) < 0.06, (p, mean_se, asym)


def test_quantiles_small_and_degenerate_samples():
    q, se = lognorm_quantiles([2.0], [0.1, 0.5, 0.9])
    assert np.all(q == 2.0) and np.all(np.isinf(se))  # one sample: no standard error
    q, se = lognorm_quantiles(np.full(50, -1.5), [0.5])
    assert q[0] == -1.5 and se[0] == 0.0
    q, se = lognorm_quantiles(np.full(50, -np.inf), [0.5])
    assert q[0] == -np.inf and se[0] == np.inf
    for bad in ([], [np.nan], [np.inf], [[1.0, 2.0]]):
        with pytest.raises(ValueError, match="x must"):
            lognorm_quantiles(bad, [0.5])
    for bad in ([0.0], [1.0], [1.5]):
        with pytest.raises(ValueError, match="levels"):
            lognorm_quantiles([1.0, 2.0], bad)


# ----------------------------------------------------------------------------- seeding


@given(entropy=st.integers(0, 2**64), d=st.integers(1, 10**4), w=st.integers(1, 10**4))
def test_cell_seed_keyed_by_cell(entropy, d, w):
    a = cell_seed(entropy, d, w).generate_state(4)
    assert np.array_equal(a, cell_seed(entropy, d, w).generate_state(4))
    assert not np.array_equal(a, cell_seed(entropy, d + 1, w).generate_state(4))
    assert not np.array_equal(a, cell_seed(entropy, w + 1, d).generate_state(4))
    assert not np.array_equal(a, cell_seed(entropy + 1, d, w).generate_state(4))


def test_cell_seed_validates():
    for args, match in (((-1, 2, 3), "entropy"), ((1.5, 2, 3), "entropy"),
                        ((1, 0, 3), "depth"), ((1, 2, -3), "width")):
        with pytest.raises(ValueError, match=match):
            cell_seed(*args)


def test_cell_values_do_not_depend_on_the_rest_of_the_grid():
    big = run([1, 3, 5], [4, 9, 16], samples=40, rng=3)
    small = run([5, 3], [16], samples=40, rng=3)
    same_data(big.sel(depth=[3, 5], width=[16]), small)


def test_seed_forms():
    a = run([2], [6], samples=30, rng=5)
    b = run([2], [6], samples=30, rng=np.random.default_rng(9))
    c = run([2], [6], samples=30, rng=np.random.default_rng(9))
    same_data(b, c)  # the same Generator state gives the same sweep
    assert a.attrs["seed_entropy"] == "5"
    assert not np.array_equal(a["quantile_value"].values, b["quantile_value"].values)


# ----------------------------------------------------------------------------- exact laws


def test_linear_orthogonal_is_exact():
    """log R = 2 L log sigma_w for every sample (rounding tolerance per layer)."""
    ds = run([1, 7, 40], [3, 16], weights="orthogonal", sigma_w=1.3, samples=25, rng=1)
    expect = 2 * ds["depth"].values[:, None] * math.log(1.3)
    tol = RTOL_ROUNDING * ds["depth"].values[:, None]
    assert np.all(np.abs(ds["median"].values - expect) <= tol * np.abs(expect))
    assert np.all(np.abs(ds["quantile_value"].values - expect[..., None])
                  <= tol[..., None] * np.abs(expect[..., None]))
    assert np.all(ds["quantile_se"].values <= 1e-12 * np.abs(expect[..., None]))
    assert np.all(ds["zero_fraction"].values == 0)


def test_linear_gaussian_single_layer_quantiles_are_chi2():
    """L = 1: log R = log(chi^2_n / n) exactly. Monte Carlo tolerance: K_SE order-statistic
    standard errors plus the O(1/N) bias of the type-7 quantile (bounded by the spacing of
    order statistics, 2/(N f), here < 0.01)."""
    widths = [2, 5, 20]
    ds = run([1], widths, samples=4000, rng=2)
    for j, n in enumerate(widths):
        p = ds["quantile"].values
        exact = np.log(stats.chi2.ppf(p, n) / n)
        got = ds["quantile_value"].values[0, j]
        se = ds["quantile_se"].values[0, j]
        assert np.all(np.abs(got - exact) <= K_SE * se + 0.01), (n, got, exact, se)


def test_linear_gaussian_mean_and_var_exact_law():
    """E log R = L (digamma(n/2) + log(2/n)), Var log R = L trigamma(n/2) (Hanin & Nica):
    Monte Carlo, K_SE standard errors of the mean (and of the variance, normal approx.)."""
    depths, widths, N = [2, 6], [4, 12], 3000
    ds = run(depths, widths, samples=N, rng=4)
    for i, L in enumerate(depths):
        for j, n in enumerate(widths):
            m = L * (digamma(n / 2) + math.log(2 / n))
            v = L * float(polygamma(1, n / 2))
            assert abs(ds["mean"].values[i, j] - m) <= K_SE * math.sqrt(v / N), (L, n)
            # SE of a sample variance: v sqrt(2/(N-1)) (normal) inflated 2x for the skewed law
            assert abs(ds["var"].values[i, j] - v) <= K_SE * 2 * v * math.sqrt(2 / (N - 1))


# ----------------------------------------------------------------------------- prediction


def test_prediction_fallback_leading_order():
    """Without rmtchain.finitewidth: log R ~ N(L log sigma_w^2 - L/n, 2 L/n) for linear
    Gaussian chains (PH.5), checked against the closed form with erfinv; NaN + flag False for
    other settings."""
    ds = run([3, 8], [4, 32], sigma_w=1.1, samples=20, rng=0)
    L = ds["depth"].values[:, None]
    n = ds["width"].values[None, :]
    beta = L / n
    mu = 2 * L * math.log(1.1) - beta
    np.testing.assert_allclose(ds["pred_median"].values, mu, rtol=RTOL_ROUNDING)
    np.testing.assert_allclose(ds["pred_var"].values, 2 * beta, rtol=RTOL_ROUNDING)
    p = ds["quantile"].values
    z = math.sqrt(2) * erfinv(2 * p - 1)
    np.testing.assert_allclose(ds["pred_quantile"].values,
                               mu[..., None] + np.sqrt(2 * beta)[..., None] * z, rtol=1e-10)
    assert bool(ds["prediction_available"].all())
    assert "fallback" in ds.attrs["prediction_source"]
    relu = run([3], [4], phi="relu", sigma_w=math.sqrt(2), samples=20, rng=0)
    assert not bool(relu["prediction_available"].any())
    for k in ("pred_median", "pred_quantile", "pred_mean", "pred_var"):
        assert np.isnan(relu[k].values).all()


def _fake_finitewidth(monkeypatch, predict):
    mod = types.ModuleType("rmtchain.finitewidth")
    mod.predict_lognorm = predict
    monkeypatch.setitem(sys.modules, "rmtchain.finitewidth", mod)


def test_prediction_from_finitewidth_and_not_implemented(monkeypatch):
    class Pred:
        def __init__(self, chain):
            self.median, self.mean, self.var, self.c = -chain.depth, 0.5, 2.0, 1.5

        def quantile(self, p):
            return self.median + p

    def predict(chain):
        if chain.width == 5:
            raise NotImplementedError("not covered")
        return Pred(chain)

    _fake_finitewidth(monkeypatch, predict)
    ds = run([2, 3], [4, 5], phi="tanh", sigma_w=1.2, samples=10, rng=0)
    assert ds.attrs["prediction_source"] == "rmtchain.finitewidth.predict_lognorm"
    assert ds["prediction_available"].values.tolist() == [[True, False], [True, False]]
    assert ds["pred_median"].values[:, 0].tolist() == [-2.0, -3.0]
    np.testing.assert_array_equal(ds["pred_quantile"].values[1, 0], -3.0 + ds["quantile"].values)
    assert ds["pred_c"].values[0, 0] == 1.5
    assert np.isnan(ds["pred_median"].values[:, 1]).all()


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize("kw, match", [
    (dict(depths=[]), "depths"), (dict(widths=[]), "widths"),
    (dict(depths=[0, 2]), "depths"), (dict(widths=[-3]), "widths"),
    (dict(depths=[2, 2]), "depths"), (dict(widths=[1.5]), "widths"),
    (dict(depths="12"), "depths"), (dict(widths=None), "widths"),
    (dict(samples=0), "samples"), (dict(samples=2.0), "samples"),
    (dict(sigma_w=-1.0), "sigma_w"), (dict(sigma_b=-0.1), "sigma_b"),
    (dict(weights="uniform"), "weights"), (dict(phi="nope"), "phi"),
    (dict(rng=-1), "rng"), (dict(rng="seed"), "rng"),
    (dict(quantiles=[0.0]), "quantiles"), (dict(quantiles=[1.2]), "quantiles"),
    (dict(scheduler=3), "scheduler"), (dict(scheduler="localhost"), "scheduler"),
    (dict(store=5), "store"), (dict(trace=1.0), "trace"),
])
def test_bad_input_raises_value_error_naming_parameter(kw, match, tmp_path):
    args = dict(depths=[1, 2], widths=[4], samples=5, rng=0, scheduler=SYNC, progress=False)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        phase_diagram(args.pop("depths"), args.pop("widths"), **args)


def test_store_refuses_other_parameters_and_resumes_with_rng_none(tmp_path):
    store = tmp_path / "s"
    trace = tmp_path / "t1"
    first = run([1, 2], [4, 6], samples=15, rng=8, store=store, trace=trace)
    assert sorted(read_trace(trace)) == sorted(stored_cells(store))
    assert (store / "phase.nc").exists()
    for kw, match in ((dict(samples=16), "samples"), (dict(sigma_w=1.5), "sigma_w"),
                      (dict(phi="tanh"), "phi"), (dict(rng=9), "rng")):
        args = dict(samples=15, rng=8) | kw
        with pytest.raises(ValueError, match=match):
            run([1, 2], [4, 6], store=store, **args)
    # rng=None resumes the stored seed; a larger grid computes only the new cells
    trace2 = tmp_path / "t2"
    more = run([1, 2, 3], [4, 6], samples=15, rng=None, store=store, trace=trace2)
    assert sorted(read_trace(trace2)) == [(3, 4), (3, 6)]
    xr.testing.assert_equal(more.sel(depth=[1, 2]), first)  # includes cell_seconds: read back
    same_data(more, run([1, 2, 3], [4, 6], samples=15, rng=8))  # no store: same numbers
    disk = xr.open_dataset(store / "phase.nc", engine="scipy")
    with disk:
        xr.testing.assert_identical(disk.load(), more)
    (store / "cell_d1_w4.nc").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="store: cell file"):
        run([1], [4], samples=15, rng=8, store=store)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="store must be a directory"):
        run([1], [4], samples=15, rng=8, store=tmp_path / "file")


# ----------------------------------------------------------------------------- Dask


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CLIENT = textwrap.dedent("""
    import os, signal, sys
    from rmtchain import phase

    address, store, trace, kill_after = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    written = []
    original = phase._Store.write_cell

    def write_then_die(self, rec, levels, fingerprint):
        original(self, rec, levels, fingerprint)
        written.append(1)
        if len(written) == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)   # the sweep dies midway, like a crash

    phase._Store.write_cell = write_then_die
    phase.phase_diagram([1, 3], [4, 8, 16], samples=30, rng=7, scheduler=address, store=store,
                        trace=trace, progress=False)
""")


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as c:
        yield c


def test_dask_kill_midway_resume_no_cell_computed_twice(cluster, tmp_path):
    """Acceptance: a real scheduler + worker process; the client is SIGKILLed after 2 of 6
    cells are stored; an unreachable scheduler loses nothing; the resumed sweep computes
    exactly the 4 missing cells and equals a one-process run bitwise."""
    import dask

    store, t1, t2 = tmp_path / "store", tmp_path / "trace1", tmp_path / "trace2"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", CLIENT, cluster.scheduler_address, str(store),
                           str(t1), "2"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    done = stored_cells(store)
    assert len(done) == 2 and not (store / "phase.nc").exists()
    assert done <= set(read_trace(t1))
    before = {p.name: p.read_bytes() for p in store.iterdir()}

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), \
            pytest.raises(ValueError, match="scheduler .* unreachable"):
        run([1, 3], [4, 8, 16], samples=30, rng=7, store=store,
            scheduler=f"tcp://127.0.0.1:{_free_port()}")
    assert {p.name: p.read_bytes() for p in store.iterdir()} == before  # nothing lost

    resumed = run([1, 3], [4, 8, 16], samples=30, rng=None, store=store,
                  scheduler=cluster.scheduler_address, trace=t2)
    again = read_trace(t2)
    allcells = {(d, w) for d in (1, 3) for w in (4, 8, 16)}
    assert sorted(again) == sorted(allcells - done)  # each missing cell once, no finished one
    same_data(resumed, run([1, 3], [4, 8, 16], samples=30, rng=7), only=SAMPLED)
    assert json.loads((store / "sweep.json").read_text())["entropy"] == "7"


@pytest.mark.slow
def test_default_local_cluster_matches_synchronous(tmp_path):
    """scheduler=None (LocalCluster, one worker per core) gives the one-process numbers."""
    a = phase_diagram([2, 5, 9], [3, 10], samples=60, rng=21, progress=False)
    b = run([2, 5, 9], [3, 10], samples=60, rng=21)
    same_data(a, b, only=SAMPLED)


@pytest.mark.slow
def test_dask_client_object_and_two_workers(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as c, \
            distributed.Client(c) as client:
        a = phase_diagram([1, 4, 16], [8, 64], phi="tanh", sigma_w=1.1, sigma_b=0.05,
                          samples=80, rng=5, scheduler=client, progress=False)
    same_data(a, run([1, 4, 16], [8, 64], phi="tanh", sigma_w=1.1, sigma_b=0.05, samples=80,
                     rng=5), only=SAMPLED)


# ----------------------------------------------------------------------------- CLI


def _cli(argv):
    from rmtchain import cli

    parser = cli._Parser(prog="rmtchain")
    sub = parser.add_subparsers(dest="command")
    phase.add_cli(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_png_and_json(tmp_path, capsys):
    png = tmp_path / "p.png"
    code = _cli(["phase", "--depths", "1,4,16", "--widths", "4,16,64", "--samples", "40",
                 "--seed", "3", "--scheduler", SYNC, "--out", str(png), "--json",
                 "--store", str(tmp_path / "s")])
    assert code == 0 and png.stat().st_size > 1000
    rec = json.loads(capsys.readouterr().out)
    assert rec["coords"]["depth"] == [1, 4, 16] and rec["attrs"]["seed_entropy"] == "3"
    ref = run([1, 4, 16], [4, 16, 64], samples=40, rng=3)
    np.testing.assert_array_equal(np.array(rec["variables"]["median"]), ref["median"].values)
    # boundary: smallest width with predicted |median log R| <= 1 (prediction: L/n-like)
    b = rec["boundary"]
    assert set(b) == {"1", "4", "16"} and b["1"] == 4
    code = _cli(["phase", "--depths", "1,2", "--widths", "8", "--samples", "10", "--seed", "1",
                 "--scheduler", SYNC, "--no-plot"])
    assert code == 0 and "median log R" in capsys.readouterr().out


def test_cli_errors_are_one_line():
    from rmtchain import cli

    with pytest.raises(cli.UsageError, match="--threshold"):
        _cli(["phase", "--depths", "1", "--widths", "4", "--threshold", "0",
              "--scheduler", SYNC])
    with pytest.raises(cli.UsageError, match="--out"):
        _cli(["phase", "--depths", "1", "--widths", "4", "--out", "/nonexistent/x.png",
              "--scheduler", SYNC])
    with pytest.raises(ValueError, match="widths"):
        _cli(["phase", "--depths", "1", "--widths", "0", "--scheduler", SYNC, "--no-plot"])


@pytest.mark.slow
@pytest.mark.parametrize("phi, sigma_w", [("linear", 1.0), ("relu", math.sqrt(2.0))])
def test_sampled_quantiles_match_exact_finitewidth_law(real_finitewidth, phi, sigma_w):
    """Integration with rmtchain.finitewidth: where its law is exact (zero-bias linear and
    relu, Hanin & Nica arXiv:1812.05994), the sampled quantiles agree with the predicted ones.
    Monte Carlo tolerance: K_SE order-statistic SEs (PH.3) plus 0.01 for the O(1/N) bias of
    the type-7 quantile (PH.2)."""
    ds = run([4, 16], [8, 32], phi=phi, sigma_w=sigma_w, samples=4000, rng=12)
    assert bool(ds["prediction_exact"].all())
    diff = np.abs(ds["quantile_value"] - ds["pred_quantile"])
    assert bool((diff <= K_SE * ds["quantile_se"] + 0.01).all()), diff.values
