"""(d) Haar-orthogonal sampling: rmtchain's sign-corrected QR vs scipy.stats.ortho_group.

For each n, rmtchain's cost is the draw of n x n standard normals (NumPy, as the sampler
draws them) plus the Numba kernel ``_haar`` (QR with the signs of diag(R) folded into Q)
on the pre-drawn normals; both parts are also shown separately. The reference is
``scipy.stats.ortho_group.rvs(n, random_state=rng)`` with the same kind of Generator.
Reported: time(scipy) / time(rmtchain) per matrix (> 1 means rmtchain is faster).
Both draw n^2 normals and run one LAPACK QR (geqrf + orgqr); differences come from the
Python-level overhead, ``Generator.normal`` vs ``standard_normal``, the in-place sign fix
and the two BLAS/LAPACK builds (numpy's and scipy's, which Numba calls).

    python benchmarks/bench_haar.py --threads 1
"""

import _common  # noqa: I001  (first: sets thread counts before numpy/numba load)

import numpy as np
from scipy.stats import ortho_group

from rmtchain import _kernels


def haar_kernel():
    """The compiled sign-corrected QR used for orthogonal layers: (m, n) normals -> Q."""
    return _kernels._BUILTIN_NS["_haar"]


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 512])
    args = p.parse_args(argv)
    if args.quick:
        args.sizes = [n for n in args.sizes if n <= 256] or [64]
    repeats = args.repeats or (3 if args.quick else 7)
    info = _common.print_machine()
    print(f"\n(d) Haar sampling, sizes {args.sizes}; {repeats} timed repeats (each at least "
          "0.2 s of calls), best reported (warm-up excluded)", flush=True)

    haar = haar_kernel()
    rng = np.random.default_rng(args.seed)
    # correctness: orthogonal, and the sign convention gives diag(R) > 0
    z = rng.standard_normal((8, 8))
    q = haar(z)
    assert np.allclose(q.T @ q, np.eye(8), atol=1e-12)
    assert np.all(np.diag(q.T @ z) > 0)

    rep = _common.Report("d", "Haar sampling vs scipy.stats.ortho_group",
                         {"sizes": args.sizes, "repeats": repeats, "quick": args.quick})
    for n in args.sizes:
        zn = rng.standard_normal((n, n))
        m_draw = _common.measure(lambda: rng.standard_normal((n, n)), repeats=repeats)
        m_kern = _common.measure(lambda: haar(zn), repeats=repeats)
        m_both = _common.measure(lambda: haar(rng.standard_normal((n, n))), repeats=repeats)
        m_scipy = _common.measure(lambda: ortho_group.rvs(n, random_state=rng), repeats=repeats)
        _common.show(f"n={n}: draw normals", m_draw)
        _common.show(f"n={n}: _haar kernel on pre-drawn normals", m_kern)
        _common.show(f"n={n}: draw + _haar", m_both)
        _common.show(f"n={n}: scipy.stats.ortho_group.rvs", m_scipy)
        rep.add(f"n={n}: time(scipy) / time(rmtchain draw + QR)",
                m_scipy["best"] / m_both["best"], "x")
        rep.add(f"n={n}: time rmtchain draw + QR", m_both["best"], "s",
                note=f"draw {100 * m_draw['best'] / m_both['best']:.0f}%, "
                     f"kernel {fmt(m_kern['best'])}")
    rep.finish(info)


def fmt(t):
    return _common.fmt_time(t)


if __name__ == "__main__":
    main()
