"""(g) Exact Hessian-vector products: rmtchain's R-operator against torch double backward.

The reference is the approach of PyHessian (Yao et al. arXiv:1912.07145): build the graph of
the gradient once (``torch.autograd.grad(loss, params, create_graph=True)``), then each
Hessian-vector product is one more backward pass through it
(``torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)``). rmtchain's
counterpart is ``CurvatureOperator.matvec``: forward and backward pass once, then one
R-operator pass per product (theory/hessian.md (H.4)-(H.5)). Both are timed per product with
the forward pass cached, and also from scratch (``Network.hvp`` vs forward + gradient graph +
double backward). Same network (rmtchain's arrays copied into float64 torch tensors), same
inputs, loss "mse" (0.5/B sum of squared residuals), same vectors; agreement of the products
is checked to 1e-10 (relative to the largest entry) and printed.

Networks: tanh, Gaussian weights, sigma_w = 1, depth 20 width 256 batch 64, and depth 50
width 100 batch 64. Also shown: the **GEMM floor**, the six NumPy GEMMs per layer of the
same shapes that any exact HVP of this form performs (two forward: x V^T, R(x) W^T; four
backward: R(delta)^T x, delta^T R(x), R(delta) W, delta V); torch's double backward runs the
same six, so time(torch) / time(rmtchain) is bounded by about time(torch) / floor.
torch is an optional benchmark dependency, pinned exactly:

    pip install torch==2.13.0
    python benchmarks/bench_hvp.py --threads 1
"""

import _common  # noqa: I001  (first: sets thread counts before numpy/numba/torch load)

import numpy as np

from rmtchain.chain import Chain
from rmtchain.network import sample_network

TORCH_VERSION = "2.13.0"
AGREE_RTOL = 1e-10
CONFIGS = ((20, 256, 64), (50, 100, 64))


def torch_module():
    try:
        import torch
    except ImportError:
        raise SystemExit(f"bench_hvp needs torch=={TORCH_VERSION} (pip install "
                         f"torch=={TORCH_VERSION})") from None
    if torch.__version__.split("+")[0] != TORCH_VERSION:
        print(f"warning: torch {torch.__version__}, the benchmark pins {TORCH_VERSION}")
    if _common.THREADS is not None:
        torch.set_num_threads(_common.THREADS)
    return torch


class TorchHVP:
    """The same network and loss in torch; PyHessian-style double-backward products."""

    def __init__(self, torch, net, X, Y):
        self.torch = torch
        self.params = []
        for W, b in zip(net.weights, net.biases):
            self.params.append(torch.tensor(W, dtype=torch.float64, requires_grad=True))
            self.params.append(torch.tensor(b, dtype=torch.float64, requires_grad=True))
        self.X = torch.tensor(X, dtype=torch.float64)
        self.Y = torch.tensor(Y, dtype=torch.float64)
        self.shapes = [p.shape for p in self.params]
        self.sizes = [p.numel() for p in self.params]
        self.grads = None

    def loss(self):
        a = self.X
        L = len(self.params) // 2
        for l in range(L):
            h = a @ self.params[2 * l].T + self.params[2 * l + 1]
            a = self.torch.tanh(h) if l < L - 1 else h
        r = a - self.Y
        return 0.5 * (r * r).sum() / self.X.shape[0]

    def build(self):
        """Forward pass and the differentiable gradient (PyHessian's ``gradsH``)."""
        self.grads = self.torch.autograd.grad(self.loss(), self.params, create_graph=True)

    def split(self, v):
        t = self.torch.from_numpy(v)
        return [c.view(s) for c, s in zip(t.split(self.sizes), self.shapes)]

    def hvp(self, v_parts):
        """One product with the cached gradient graph."""
        out = self.torch.autograd.grad(self.grads, self.params, grad_outputs=v_parts,
                                       retain_graph=True)
        return out

    def hvp_fresh(self, v_parts):
        self.build()
        return self.hvp(v_parts)

    def flat(self, parts):
        return self.torch.cat([p.reshape(-1) for p in parts]).numpy()


def gemm_floor(widths, B, rng):
    """A callable running the six GEMMs per layer of one exact HVP, with NumPy."""
    mats = []
    for nin, nout in zip(widths[:-1], widths[1:]):
        mats.append((rng.standard_normal((B, nin)), rng.standard_normal((B, nout)),
                     rng.standard_normal((nout, nin)), np.empty((B, nout)),
                     np.empty((nout, nin)), np.empty((B, nin))))

    def run():
        for x, d, W, oh, oW, ox in mats:
            np.dot(x, W.T, oh)
            np.dot(x, W.T, oh)
            np.dot(d.T, x, oW)
            np.dot(d.T, x, oW)
            np.dot(d, W, ox)
            np.dot(d, W, ox)
    return run


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    torch = torch_module()
    info = _common.print_machine()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads; "
          f"{repeats} timed repeats (each at least 0.2 s of calls), best reported", flush=True)
    configs = ((4, 64, 16), (10, 32, 16)) if args.quick else CONFIGS
    rep = _common.Report("g", "Hessian-vector products vs torch double backward",
                         {"configs": [list(c) for c in configs], "repeats": repeats,
                          "quick": args.quick, "torch": torch.__version__})
    rng = np.random.default_rng(args.seed)
    for L, n, B in configs:
        chain = Chain(L, n, phi="tanh", sigma_w=1.0)
        net = sample_network(chain, rng=rng)
        X = rng.standard_normal((B, n))
        Y = rng.standard_normal((B, n))
        v = rng.standard_normal(net.n_parameters)
        op = net.curvature_operator(X, Y, loss="mse", matrix="hessian")
        th = TorchHVP(torch, net, X, Y)
        th.build()
        vp = th.split(v)
        ours = op.matvec(v)
        ref = th.flat(th.hvp(vp))
        err = float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))
        fresh_err = float(np.max(np.abs(net.hvp(X, Y, v) - ref)) / np.max(np.abs(ref)))
        print(f"\nL={L} n={n} B={B}: P = {net.n_parameters}; max |rmtchain - torch| / max |Hv| "
              f"= {err:.2e} (cached), {fresh_err:.2e} (fresh)", flush=True)
        if max(err, fresh_err) > AGREE_RTOL:
            raise SystemExit(f"HVPs disagree: {max(err, fresh_err):.2e} > {AGREE_RTOL:g}")
        m_ours = _common.measure(lambda: op.matvec(v), repeats=repeats)
        m_torch = _common.measure(lambda: th.hvp(vp), repeats=repeats)
        m_ours_f = _common.measure(lambda: net.hvp(X, Y, v), repeats=repeats)
        m_torch_f = _common.measure(lambda: th.hvp_fresh(vp), repeats=repeats)
        m_floor = _common.measure(gemm_floor(net.widths, B, rng), repeats=repeats)
        _common.show("rmtchain CurvatureOperator.matvec (cached)", m_ours)
        _common.show("torch double backward (cached graph)", m_torch)
        _common.show("rmtchain Network.hvp (fresh)", m_ours_f)
        _common.show("torch forward + grad graph + backward", m_torch_f)
        _common.show("GEMM floor: 6 NumPy GEMMs per layer", m_floor)
        rep.add(f"L={L} n={n} B={B}: time(torch) / time(rmtchain), cached",
                m_torch["best"] / m_ours["best"], "x", target=">= 2")
        rep.add(f"L={L} n={n} B={B}: time(torch) / time(rmtchain), fresh",
                m_torch_f["best"] / m_ours_f["best"], "x")
        rep.add(f"L={L} n={n} B={B}: GEMM floor / time(rmtchain), cached",
                m_floor["best"] / m_ours["best"], "x")
        rep.add(f"L={L} n={n} B={B}: rmtchain HVP (cached)", m_ours["best"], "s",
                note=f"agreement {max(err, fresh_err):.1e}")
    rep.finish(info)


if __name__ == "__main__":
    main()
