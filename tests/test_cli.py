"""The ``rmtchain`` command line: sample / demo / figures, errors, provenance, resumption.

Subprocess tests run ``rmtchain.cli.main`` in a fresh interpreter, as the ``rmtchain`` entry
point does, so that exit codes and stderr are those a user sees. Tolerance used: rounding (1e-12
relative) for the orthogonal linear chain, whose singular values are exactly sigma_w^L.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import rmtchain
from rmtchain import cli

REPO = Path(__file__).resolve().parents[1]
RTOL_ROUNDING = 1e-12


def run_cli(*args, cwd=None, timeout=600):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    # what the ``rmtchain`` console script runs; ``python -m rmtchain.cli`` would also work
    # but warns (runpy) once the package imports rmtchain.cli itself (rmtchain.phase does)
    entry = "import sys; from rmtchain.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", entry, *args], capture_output=True,
                          text=True, cwd=cwd or REPO, env=env, timeout=timeout)


def error_lines(stderr):
    """stderr minus progress-bar noise (none is expected on errors)."""
    return [ln for ln in stderr.splitlines() if ln.strip()]


# ----------------------------------------------------------------------------- sample


def test_sample_json_parses_and_is_exact_for_orthogonal_linear():
    r = run_cli("sample", "--depth", "3", "--width", "8", "--weights", "orthogonal",
                "--phi", "linear", "--sigma-w", "1.1", "--samples", "3", "--seed", "1", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["seed"] == 1 and d["method"] == "auto" and d["samples"] == 3
    assert d["chain"] == rmtchain.Chain(3, 8, weights="orthogonal", phi="linear",
                                        sigma_w=1.1).describe()
    ls = np.array(d["log_singular_values"], dtype=float)
    assert ls.shape == (3, 8)
    np.testing.assert_allclose(ls, 3 * math.log(1.1), rtol=RTOL_ROUNDING)
    assert d["moments"]["k"] == [1, 2, 3, 4]
    np.testing.assert_allclose(d["moments"]["mean"], [1.1 ** (6 * k) for k in (1, 2, 3, 4)],
                               rtol=1e-11)
    np.testing.assert_allclose(d["m2_over_m1_squared"]["mean"], 1.0, rtol=1e-11)


def test_sample_same_seed_same_numbers_and_table():
    args = ("sample", "--depth", "4", "--width", "6,7,8,7,6", "--phi", "tanh",
            "--sigma-w", "1.2", "--sigma-b", "0.1", "--samples", "2", "--seed", "7")
    a, b = run_cli(*args, "--json"), run_cli(*args, "--json")
    assert a.returncode == 0 and b.returncode == 0
    assert json.loads(a.stdout)["log_singular_values"] == json.loads(b.stdout)["log_singular_values"]
    t = run_cli(*args)
    assert t.returncode == 0
    for word in ("max log s", "min log s", "m_1", "m_2/m_1^2", "mean", "seed 7"):
        assert word in t.stdout


def test_sample_plot_writes_png(tmp_path):
    target = tmp_path / "hist.png"
    r = run_cli("sample", "--depth", "5", "--width", "16", "--samples", "2", "--seed", "3",
                "--plot", str(target))
    assert r.returncode == 0, r.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp"))


BAD = [
    (["sample", "--depth", "0", "--width", "4"], "depth"),
    (["sample", "--depth", "3", "--width", "4", "--phi", "nope"], "phi"),
    (["sample", "--depth", "3", "--width", "4", "--sigma-w", "-1"], "sigma_w"),
    (["sample", "--depth", "3", "--width", "4", "--sigma-w", "nan"], "sigma_w"),
    (["sample", "--depth", "3", "--width", "3,4"], "width"),
    (["sample", "--depth", "3", "--width", "4,x"], "width"),
    (["sample", "--depth", "3", "--width", "0"], "width"),
    (["sample", "--depth", "3", "--width", "4", "--sigma-b", "-0.5"], "sigma_b"),
    (["sample", "--depth", "3", "--width", "4", "--weights", "uniform"], "weights"),
    (["sample", "--depth", "3", "--width", "4", "--samples", "0"], "samples"),
    (["sample", "--depth", "two", "--width", "4"], "depth"),
    (["sample", "--width", "4"], "depth"),
    (["sample", "--depth", "3", "--width", "4", "--method", "svd"], "method"),
    (["figures", "no_such_figure"], "no_such_figure"),
    (["spectrum", "--depth", "0", "--width", "4"], "depth"),
    (["spectrum", "--depth", "2", "--width", "4", "--samples", "1"], "samples"),
    (["spectrum", "--depth", "2", "--width", "4", "--kmax", "0"], "kmax"),
    (["spectrum", "--depth", "2", "--width", "4", "--cdf", "fast"], "cdf"),
    (["spectrum", "--depth", "2", "--width", "4", "--seed", "-3"], "seed"),
    (["spectrum", "--depth", "2", "--width", "4", "--plot", "/no/such/dir/x.png"], "plot"),
    (["meanfield", "--phi", "tanh", "--sigma-w", "0.9"], "fixed point"),
    (["meanfield", "--phi", "nope", "--sigma-w", "1.2"], "phi"),
    (["meanfield", "--phi", "tanh"], "sigma-w"),
    (["meanfield", "--phi", "tanh", "--sigma-w", "-1"], "sigma_w"),
    (["meanfield", "--phi", "tanh", "--critical", "--sigma-w", "1.1"], "critical"),
    (["meanfield", "--phi", "relu", "--critical", "--sigma-b", "0.1"], "critical"),
    (["meanfield", "--phi", "tanh", "--sigma-w", "1.2", "--kmax", "0"], "kmax"),
    (["nonsense"], "nonsense"),
]


@pytest.mark.parametrize("argv,name", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_one_line_exit_2(argv, name, capsys):
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    lines = error_lines(err)
    assert out == ""
    assert len(lines) == 1, err
    assert lines[0].startswith("rmtchain: error: ")
    assert name in lines[0]


def test_bad_input_subprocess_has_no_traceback():
    r = run_cli("sample", "--depth", "3", "--width", "3,4")
    assert r.returncode == 2
    assert error_lines(r.stderr) == [
        "rmtchain: error: width must have depth + 1 = 4 entries n_0..n_L, got 2"]
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_keyboard_interrupt_exit_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_sample", interrupted)
    assert cli.main(["sample", "--depth", "2", "--width", "3"]) == 130
    assert len(error_lines(capsys.readouterr().err)) == 1


def test_no_command_runs_demo(monkeypatch):
    called = []
    monkeypatch.setattr(cli, "_cmd_demo", lambda args: called.append(args.out) or 0)
    assert cli.main([]) == 0
    assert called == [None]


# ----------------------------------------------------------------------------- spectrum


def test_spectrum_json_parses_and_matches_library():
    """The CLI prints compare_spectrum's numbers: same seed, same chain -> identical values."""
    from rmtchain.compare import compare_spectrum

    args = ("spectrum", "--depth", "1", "--width", "12", "--phi", "linear", "--sigma-w", "1.2",
            "--samples", "3", "--seed", "4", "--kmax", "3")
    r = run_cli(*args, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    ref = compare_spectrum(rmtchain.Chain(1, 12, phi="linear", sigma_w=1.2), 3, rng=4, kmax=3)
    assert d["seed"] == 4 and d["samples"] == 3 and d["moments"]["k"] == [1, 2, 3]
    assert d["ks"] == ref.ks and d["wasserstein_log"] == ref.wasserstein_log
    assert d["moments"]["z"] == ref.moment_z.tolist()
    # MP(1, 1.44) moments: 1.44^k Narayana (1, 2, 5), rounding
    np.testing.assert_allclose(d["moments"]["predicted"], 1.44 ** np.arange(1, 4) * [1, 2, 5],
                               rtol=RTOL_ROUNDING)
    assert d["support"][0] == 0.0 and d["support"][1] == pytest.approx(4 * 1.44, rel=1e-9)
    assert d["atoms"] == [] and d["distances_available"] is True


def test_spectrum_table_and_plot(tmp_path):
    target = tmp_path / "cmp.png"
    r = run_cli("spectrum", "--depth", "2", "--width", "10", "--phi", "relu", "--sigma-w",
                "1.41421356", "--samples", "2", "--seed", "3", "--plot", str(target))
    assert r.returncode == 0, r.stderr
    for word in ("sampled m_k", "predicted m_k", "KS distance", "W1 distance",
                 "predicted support", "max eigenvalue", "predicted atoms", "0.5 at 0", "seed 3"):
        assert word in r.stdout, word
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp"))


def test_spectrum_bad_input_leaves_no_file(tmp_path, capsys):
    target = tmp_path / "never.png"
    assert cli.main(["spectrum", "--depth", "2", "--width", "4", "--sigma-w", "nan",
                     "--plot", str(target)]) == 2
    assert len(error_lines(capsys.readouterr().err)) == 1
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- meanfield


def test_meanfield_table_and_json_match_library():
    r = run_cli("meanfield", "--phi", "tanh", "--sigma-w", "1.2", "--sigma-b", "0.05", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    mf = rmtchain.mean_field("tanh", 1.2, 0.05, kmax=4)
    for key in ("q_star", "chi1", "chi_q", "c_star", "chi_c", "xi_q", "xi_c"):
        assert d[key] == getattr(mf, key), key
    assert d["mu"]["value"] == mf.mu.tolist() and d["phase"] == "chaotic"
    assert d["diagnostics"]["quad_failures"] == 0
    t = run_cli("meanfield", "--phi", "tanh", "--sigma-w", "1.2", "--sigma-b", "0.05")
    assert t.returncode == 0
    for word in ("q*", "chi1", "c*", "xi_q", "xi_c", "mu_1", "mu_4", "diagnostics"):
        assert word in t.stdout, word


def test_meanfield_critical_solves_chi1_one():
    """--critical: THEORY.md's example, tanh at sigma_b = 0.05: sigma_w ~ 1.1225, q* ~ 0.1537;
    chi1 = 1 to the solver's tolerance (1e-10), xi_c infinite (JSON null)."""
    r = run_cli("meanfield", "--phi", "tanh", "--sigma-b", "0.05", "--critical", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["sigma_w"] == pytest.approx(1.1225, abs=5e-5)
    assert d["q_star"] == pytest.approx(0.1537, abs=5e-5)
    assert abs(d["chi1"] - 1.0) < 1e-10 and d["xi_c"] is None and d["phase"] == "critical"
    assert d["sigma_w"] == rmtchain.critical_sigma_w("tanh", 0.05)


def test_meanfield_no_fixed_point_is_one_line_subprocess():
    r = run_cli("meanfield", "--phi", "tanh", "--sigma-w", "0.9")
    assert r.returncode == 2 and r.stdout == ""
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and lines[0].startswith("rmtchain: error: ") and "q*" in lines[0]
    assert "Traceback" not in r.stderr


def test_demo_uses_library_mean_field():
    """The private _mu/_critical_sigma_w duplicates are gone (replaced by rmtchain.meanfield)."""
    assert not hasattr(cli, "_mu") and not hasattr(cli, "_critical_sigma_w")


# ----------------------------------------------------------------------------- figures


def test_figures_quick_writes_outputs_and_resumes(tmp_path):
    r = run_cli("figures", "--quick", "--out", str(tmp_path), "saxe_products")
    assert r.returncode == 0, r.stdout + r.stderr
    stem = tmp_path / "fig_saxe_products"
    png, data, prov = (Path(f"{stem}.{ext}") for ext in ("png", "npz", "json"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rec = json.loads(prov.read_text())
    assert rec["passed"] is True and rec["agreement"]["passed"] is True
    for key in ("version", "git_revision", "seed", "parameters", "quick", "timestamp",
                "versions", "title", "equation", "source_sha256"):
        assert key in rec
    assert rec["quick"] is True and rec["version"] == rmtchain.__version__
    assert rec["agreement"]["orthogonal_max_abs_log_s"] < 1e-10
    loaded = cli.load_figure_data(data)
    assert loaded["L1"]["gaussian_log_s"].shape == (20, 100)
    assert not list(tmp_path.glob(".*.tmp"))

    # a second run finds the outputs current and skips (nothing rewritten)
    mtimes = {p: p.stat().st_mtime_ns for p in (png, data, prov)}
    r2 = run_cli("figures", "--quick", "--out", str(tmp_path), "fig_saxe_products")
    assert r2.returncode == 0 and "skipped" in r2.stdout
    assert {p: p.stat().st_mtime_ns for p in (png, data, prov)} == mtimes

    # an interrupted run leaves no provenance record: the figure is recomputed
    prov.unlink()
    r3 = run_cli("figures", "--quick", "--out", str(tmp_path), "saxe_products")
    assert r3.returncode == 0 and "skipped" not in r3.stdout
    assert json.loads(prov.read_text())["passed"] is True
    # same seed: the same data
    again = cli.load_figure_data(data)
    np.testing.assert_array_equal(again["L10"]["gaussian_log_s"], loaded["L10"]["gaussian_log_s"])


FAKE = '''
import numpy as np
SEED = 5
TITLE = "fake"
EQUATION = "none"
def parameters(quick):
    return {{"n": 3 if quick else 30}}
def compute(quick, rng):
    return {{"x": rng.standard_normal(parameters(quick)["n"]), "meta": {{"label": "a"}}}}
def plot(data):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot(data["x"])
    return fig
def agreement(data):
    return {{"metric": float(np.abs(data["x"]).max()), "passed": {passed}}}
'''


@pytest.fixture
def fake_figures(tmp_path, monkeypatch):
    fdir = tmp_path / "figures"
    fdir.mkdir()
    (fdir / "fig_good.py").write_text(textwrap.dedent(FAKE.format(passed=True)))
    (fdir / "fig_bad.py").write_text(textwrap.dedent(FAKE.format(passed=False)))
    monkeypatch.setattr(cli, "figures_dir", lambda: fdir)
    return fdir


def test_figures_exit_1_when_agreement_fails(fake_figures, capsys):
    assert cli.main(["figures", "--quick", "good"]) == 0
    assert (fake_figures / "fig_good.json").exists()  # default --out: the figures directory
    assert cli.main(["figures", "--quick"]) == 1
    assert json.loads((fake_figures / "fig_bad.json").read_text())["passed"] is False
    # a skipped figure keeps its recorded verdict
    assert cli.main(["figures", "--quick", "bad"]) == 1
    assert "skipped" in capsys.readouterr().out


def test_figures_parameter_change_recomputes(fake_figures, capsys):
    assert cli.main(["figures", "--quick", "good"]) == 0
    assert cli.main(["figures", "good"]) == 0  # full mode: other parameters, recomputed
    rec = json.loads((fake_figures / "fig_good.json").read_text())
    assert rec["quick"] is False and rec["parameters"] == {"n": 30}
    assert cli.load_figure_data(fake_figures / "fig_good.npz")["x"].shape == (30,)
    assert cli.main(["figures", "good", "--force"]) == 0
    assert "skipped" not in capsys.readouterr().out.splitlines()[-1]


def test_missing_figures_dir_is_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "figures_dir", lambda: tmp_path / "absent")
    assert cli.main(["figures"]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "figures directory not found" in lines[0]


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def boom(f):
        f.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cli._atomic_write(target, boom)
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


# ----------------------------------------------------------------------------- plotting


def test_plot_spectrum_returns_axes_and_never_saves(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rmtchain.plotting import plot_spectrum

    monkeypatch.chdir(tmp_path)
    spec = rmtchain.sample_spectrum(rmtchain.Chain(3, 8, phi="linear"), 4, rng=0)
    ax = plot_spectrum(spec)
    assert ax.get_xlabel().startswith("$\\log s$")
    ax2 = plot_spectrum(spec, log=False)
    assert "lambda" in ax2.get_xlabel()
    orth = rmtchain.sample_spectrum(rmtchain.Chain(3, 8, phi="linear", weights="orthogonal"), 2, rng=0)
    plot_spectrum(orth)  # a point mass is drawn as a line, not a histogram
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="spectrum"):
        plot_spectrum(np.zeros(3))
    plt.close("all")


# ----------------------------------------------------------------------------- demo


@pytest.mark.slow
def test_demo_writes_png(tmp_path):
    r = run_cli("demo", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "rmtchain-demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "tanh" in r.stdout and "orthogonal" in r.stdout


def test_git_dirty_ignores_figure_outputs_but_not_sources(tmp_path):
    """Provenance: regenerating committed figure outputs must not mark the run dirty, while
    an edited source must (the git CLI is the independent reference)."""
    import shutil
    import subprocess

    from rmtchain.cli import _git_revision

    if shutil.which("git") is None:
        pytest.skip("git not installed")

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "fig_a.png").write_bytes(b"old")
    (tmp_path / "figures" / "fig_a.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    assert _git_revision(tmp_path / "figures")[1] is False
    (tmp_path / "figures" / "fig_a.png").write_bytes(b"new")
    assert _git_revision(tmp_path / "figures")[1] is False
    (tmp_path / "figures" / "fig_a.py").write_text("x = 2\n")
    assert _git_revision(tmp_path / "figures")[1] is True


@pytest.mark.parametrize("args", [
    ("hessian", "--depth", "2", "--width", "4", "--seed", "1", "--plot"),
    ("phase", "--depths", "2", "--widths", "4", "--scheduler", "synchronous", "--out"),
])
def test_output_path_that_is_a_directory_fails_before_any_work(args, tmp_path):
    res = run_cli(*args, str(tmp_path))
    assert res.returncode == 2
    lines = error_lines(res.stderr)
    assert len(lines) == 1 and "is a directory" in lines[0], res.stderr
    assert list(tmp_path.iterdir()) == []
