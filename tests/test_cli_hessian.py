"""``rmtchain hessian`` (rmtchain/_cli_hessian.py, theory/hessian.md (H.19)).

The subcommand is driven through a parser built exactly as cli.py builds its subcommands
(``add_parser(subparsers)``), and through ``cli.main`` once cli.py wires it in. References:
the closed form of a one-layer network's Gauss-Newton spectrum (rounding, 1e-12), the
chain's input length (rounding), Hutchinson's unbiasedness (Monte Carlo, 4 standard errors),
and determinism for a fixed seed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from rmtchain import _cli_hessian, cli
from rmtchain.chain import Chain

RTOL_ROUNDING = 1e-12
K_SE = 4.0


def parse(argv):
    p = cli._Parser(prog="rmtchain")
    sub = p.add_subparsers(dest="command")
    _cli_hessian.add_parser(sub)
    return p.parse_args(argv)


def run(argv, capsys):
    args = parse(argv)
    assert args.func(args) == 0
    return capsys.readouterr()


def run_json(argv, capsys):
    return json.loads(run([*argv, "--json"], capsys).out)


def test_exact_gauss_newton_of_one_layer_matches_closed_form(capsys):
    # f = W x + b: G = (1/B) sum_i x~_i x~_i^T (x) I_{n_1}, so its eigenvalues are those of
    # X~^T X~ / B (x~ = [x; 1]), each n_1 times, plus zeros
    rec = run_json(["hessian", "--depth", "1", "--width", "4,3", "--phi", "linear",
                    "--seed", "7", "--batch", "3", "--matrix", "gauss_newton",
                    "--method", "exact"], capsys)
    chain = Chain(1, (4, 3), phi="linear")
    gen = np.random.default_rng(7)
    gen.standard_normal((3, 4))                      # the network's weights (sigma_b = 0)
    X = _cli_hessian.network_inputs(chain, 3, gen)
    Xt = np.hstack([X, np.ones((3, 1))])
    small = np.linalg.eigvalsh(Xt.T @ Xt / 3)
    expected = np.sort(np.repeat(small, 3))
    nodes = np.sort(np.array(rec["nodes"]))
    assert nodes.size == rec["parameters"] == 15
    np.testing.assert_allclose(nodes, expected, rtol=0, atol=RTOL_ROUNDING * expected.max() * 10)
    assert rec["trace"] == pytest.approx(np.trace(Xt.T @ Xt) * 3 / 3, rel=RTOL_ROUNDING)
    assert rec["negative_mass"] == 0.0


def test_inputs_sit_at_the_chain_length():
    chain = Chain.critical(2, 8, phi="tanh", q_star=0.5)
    X = _cli_hessian.network_inputs(chain, 6, np.random.default_rng(0))
    h0 = np.arctanh(X)
    np.testing.assert_allclose(np.sum(h0 * h0, axis=1) / 8, 0.5, rtol=RTOL_ROUNDING)


def test_targets():
    chain = Chain(2, (3, 4, 3))
    assert np.array_equal(_cli_hessian.network_targets(chain, 5, "mse"), np.zeros((5, 3)))
    assert _cli_hessian.network_targets(chain, 5, "cross_entropy").tolist() == [0, 1, 2, 0, 1]


def test_slq_trace_is_unbiased_and_moments_per_probe(capsys):
    argv = ["hessian", "--depth", "2", "--width", "5", "--seed", "3", "--batch", "4",
            "--matrix", "hessian"]
    exact = run_json([*argv, "--method", "exact"], capsys)
    slq = run_json([*argv, "--probes", "12", "--steps", "6"], capsys)
    assert slq["parameters"] == exact["parameters"] == 60
    # Hutchinson (H.12): the SLQ trace estimate within 4 standard errors of the exact trace
    assert abs(slq["trace"] - exact["trace"]) <= K_SE * slq["trace_stderr"]
    assert slq["trace_stderr"] > 0
    # weights sum to 1; moments are the per-probe means
    assert sum(slq["weights"]) == pytest.approx(1.0, rel=RTOL_ROUNDING)
    per = np.array(slq["moments"]["per_sample"])
    assert per.shape == (12, _cli_hessian.KMAX)
    np.testing.assert_allclose(per.mean(axis=0), slq["moments"]["mean"], rtol=RTOL_ROUNDING)
    # the Ritz values lie inside the exact spectrum (interlacing), up to rounding
    lo, hi = exact["lambda_min"], exact["lambda_max"]
    tol = 1e-10 * max(abs(lo), abs(hi))
    assert lo - tol <= slq["lambda_min"] and slq["lambda_max"] <= hi + tol


def test_same_seed_same_output_and_table(capsys):
    argv = ["hessian", "--depth", "2", "--width", "6", "--seed", "11", "--batch", "3",
            "--probes", "2", "--steps", "5", "--loss", "cross_entropy"]
    a = run_json(argv, capsys)
    b = run_json(argv, capsys)
    assert a == b
    assert a["loss"] == "cross_entropy" and a["seed"] == 11
    out = run(argv, capsys).out
    assert "P = 84 parameters" in out and "seed 11" in out and "m_4" in out
    c = run_json([a_ if a_ != "11" else "12" for a_ in argv], capsys)   # another seed
    assert c["nodes"] != a["nodes"]


def test_plot_writes_png(tmp_path, capsys):
    target = tmp_path / "h.png"
    out = run(["hessian", "--depth", "2", "--width", "4", "--seed", "1", "--batch", "2",
               "--probes", "2", "--steps", "4", "--plot", str(target)], capsys).out
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in out


@pytest.mark.parametrize("argv, name", [
    (["--batch", "0"], "--batch"),
    (["--probes", "0"], "--probes"),
    (["--steps", "x"], "--steps"),
    (["--loss", "hinge"], "--loss"),
    (["--matrix", "ggn"], "--matrix"),
    (["--method", "lanczos"], "--method"),
])
def test_bad_flags_raise_usage_errors(argv, name):
    with pytest.raises(cli.UsageError, match=name):
        parse(["hessian", "--depth", "2", "--width", "4", *argv])


@pytest.mark.parametrize("argv, name", [
    (["--sigma-w", "-1"], "sigma_w"),
    (["--weights", "uniform"], "weights"),
    (["--phi", "nope"], "phi"),
])
def test_bad_values_raise_value_errors_naming_the_parameter(argv, name):
    args = parse(["hessian", "--depth", "2", "--width", "4", "--seed", "0", *argv])
    with pytest.raises(ValueError, match=name):
        args.func(args)


def test_exact_too_large_is_a_clear_error():
    args = parse(["hessian", "--depth", "2", "--width", "64", "--seed", "0", "--method", "exact"])
    with pytest.raises(ValueError, match="4096"):
        args.func(args)


def test_plot_directory_checked_before_work(tmp_path):
    args = parse(["hessian", "--depth", "2", "--width", "4", "--seed", "0", "--plot",
                  str(tmp_path / "missing" / "h.png")])
    with pytest.raises(cli.UsageError, match="--plot"):
        args.func(args)


def test_wired_into_main(capsys):
    choices = cli.build_parser()._subparsers._group_actions[0].choices
    if "hessian" not in choices:
        pytest.skip("cli.py does not register the hessian subcommand yet")
    assert cli.main(["hessian", "--depth", "2", "--width", "4", "--seed", "0", "--probes", "2",
                     "--steps", "3"]) == 0
    assert "hessian of the mse loss" in capsys.readouterr().out
    assert cli.main(["hessian", "--depth", "2", "--width", "4", "--batch", "0"]) == 2
