"""(f) Free-probability density: 1000 points of rho(lambda) for L=1000, tanh, orthogonal.

The chain is ``Chain.critical(1000, 1000, phi="tanh", weights="orthogonal", q_star=1/64)``
(the dynamical-isometry setting of Pennington, Schoenholz, Ganguli arXiv:1711.04735). The
timed call is the whole prediction from the specification: ``predict_spectrum(chain)``
(layer lengths, law of phi'(h)^2, S-transform m_1), the density solver (upper edge,
continuation table, lower edge; theory/free.md (FP.9)-(FP.11)) and ``pdf`` at 1000 points
spread evenly over the support (midpoints of 1000 equal cells). The law-of-d cache is
cleared before every call, so nothing carries over between repeats. Target: < 1 s.

Accuracy is measured against a reference computed here at 30 digits, independently of the
code path: the law of d = tanh'(h)^2 is a 30-digit Gauss-Legendre rule in mpmath (its
nodes and tanh' written out here; the rule itself is checked against ``mpmath.quad``), and
for each lambda the equation (FP.9)

    L log(sigma_w^2 w) + (L - 1) log x + (1 - L) log(1 + x) = log lambda,  x = E[d/(w - d)],

is solved by ``mpmath.findroot`` started from the double-precision solution (w recovered
from the code's x by the same equation, explicit in w). The reference density is
-Im x / (pi lambda). Reported: the largest relative error over the points. Target: < 1e-8.

    python benchmarks/bench_density.py --threads 1
"""

import _common  # noqa: I001  (first: sets thread counts before numpy/numba load)

import math
import time

import mpmath
import numpy as np
from tqdm import tqdm

import rmtchain
from rmtchain import free

mp = mpmath.mp
#: |z| <= Z_CUT holds all but 2e-58 of the Gaussian mass (below the 30-digit reference)
Z_CUT = 16
#: Gauss-Legendre degree per unit panel in mpmath's numbering (3 * 2^(degree-1) nodes)
GL_DEGREE = 4


class Reference:
    """The density of an orthogonal tanh chain at 30 digits (see the module docstring)."""

    def __init__(self, chain, dps=30):
        self.dps = dps
        with mp.workdps(dps):
            self.L = chain.depth
            self.log_s2 = 2 * mp.log(mp.mpf(chain.sigma_w))
            sq = mp.sqrt(mp.mpf(chain.q_input))
            self.sq = sq
            gl = mpmath.calculus.quadrature.GaussLegendre(mp)
            d, p = [], []
            for a in range(-Z_CUT, Z_CUT):
                for z, wt in gl.get_nodes(mp.mpf(a), mp.mpf(a + 1), GL_DEGREE, mp.prec):
                    d.append(self.dphi2(sq * z))
                    p.append(wt * mp.npdf(z))
            self.d, self.p = d, p
            self.mass_error = abs(mp.fsum(p) - 1)

    @staticmethod
    def dphi2(h):
        """tanh'(h)^2 = cosh(h)^-4, written out here."""
        return 1 / mp.cosh(h) ** 4

    def m_transform(self, w):
        """x = E[d / (w - d)] by the 30-digit rule."""
        return mp.fsum(pi * di / (w - di) for pi, di in zip(self.p, self.d))

    def m_transform_quad(self, w):
        """The same by mpmath.quad (adaptive tanh-sinh), to check the rule."""
        sq = self.sq
        return mp.quad(lambda z: self.dphi2(sq * z) / (w - self.dphi2(sq * z)) * mp.npdf(z),
                       [-mp.inf, -8, 0, 8, mp.inf])

    def equation(self, w, t):
        x = self.m_transform(w)
        L = self.L
        return L * (self.log_s2 + mp.log(w)) + (L - 1) * mp.log(x) + (1 - L) * mp.log(1 + x) - t

    def w_from_x(self, x, t):
        """w from the code's x, by (FP.9) solved for log w (explicit)."""
        L = self.L
        return complex(mp.exp((t - (L - 1) * mp.log(x) - (1 - L) * mp.log(1 + x)) / L
                              - self.log_s2))

    def density(self, lam, x0):
        """(rho(lam), w) at 30 digits, findroot started from the double solution x0."""
        with mp.workdps(self.dps):
            t = mp.log(mp.mpf(lam))
            w0 = mp.mpc(self.w_from_x(mp.mpc(x0), t))
            w = mp.findroot(lambda v: self.equation(v, t), w0, tol=mp.mpf(10) ** (-2 * self.dps + 4))
            if not mp.im(w) > 0 or abs(w - w0) > 1e-6 * abs(w0):
                raise RuntimeError(f"findroot left the bulk branch at lambda={lam}: {w0} -> {w}")
            x = self.m_transform(w)
            return -mp.im(x) / (mp.pi * mp.mpf(lam)), w


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--depth", type=int, default=1000)
    p.add_argument("--points", type=int, default=1000)
    p.add_argument("--q-star", type=float, default=1 / 64)
    p.add_argument("--ref-every", type=int, default=1,
                   help="compute the mpmath reference at every k-th point (default: all)")
    args = p.parse_args(argv)
    if args.quick:
        args.points = min(args.points, 200)
        args.ref_every = max(args.ref_every, 10)
    repeats = args.repeats or (3 if args.quick else 7)
    info = _common.print_machine()

    chain = rmtchain.Chain.critical(args.depth, 1000, phi="tanh", weights="orthogonal",
                                    q_star=args.q_star)
    print(f"\n(f) density of tanh, orthogonal, L={chain.depth}, q*={chain.q_input:g}, "
          f"sigma_w={chain.sigma_w:.10g}, sigma_b={chain.sigma_b:.10g}; {args.points} points; "
          f"{repeats} timed repeats, best reported (warm-up excluded)", flush=True)
    pred = free.predict_spectrum(chain)
    lo, hi = pred.support
    lam = lo + (hi - lo) * (np.arange(args.points) + 0.5) / args.points

    def run():
        free._derivative_law_cached.cache_clear()
        return free.predict_spectrum(chain).pdf(lam)

    m = _common.measure(run, repeats=repeats, number=1)
    _common.show(f"predict_spectrum + pdf at {args.points} points", m)
    got = run()

    # the 30-digit reference
    t0 = time.perf_counter()
    ref = Reference(chain)
    sol = pred._need_solver()
    idx = np.arange(0, args.points, args.ref_every)
    x0 = sol.solve_t(np.log(lam[idx]))
    probe = [idx[0], idx[len(idx) // 2], idx[-1]]
    rule_err = 0.0
    rel = np.empty(len(idx))
    for j, i in enumerate(tqdm(idx, desc="mpmath reference", delay=2)):
        want, w = ref.density(lam[i], x0[j])
        rel[j] = abs(got[i] - float(want)) / float(want)
        if i in probe:  # the 30-digit rule against adaptive quadrature at this root
            with mp.workdps(ref.dps):
                rule_err = max(rule_err, float(abs(ref.m_transform(w) - ref.m_transform_quad(w))
                                                / abs(ref.m_transform(w))))
    t_ref = time.perf_counter() - t0
    worst = int(idx[int(np.argmax(rel))])
    print(f"  reference: {len(idx)} points in {t_ref:.1f} s; rule mass error "
          f"{float(ref.mass_error):.1e}, rule vs mpmath.quad {rule_err:.1e}")
    print(f"  max relative error {rel.max():.3e} at lambda = {lam[worst]:.6g} "
          f"(support [{lo:.6g}, {hi:.6g}]); median {np.median(rel):.3e}", flush=True)
    assert rule_err < 1e-20 and float(ref.mass_error) < 1e-25, "the reference rule is not exact"

    rep = _common.Report("f", "free-probability density, L=1000 tanh orthogonal",
                         {"depth": args.depth, "points": args.points, "q_star": args.q_star,
                          "sigma_w": chain.sigma_w, "sigma_b": chain.sigma_b,
                          "repeats": repeats, "quick": args.quick, "ref_every": args.ref_every})
    rep.add(f"time of predict_spectrum + pdf ({args.points} points)", m["best"], "s",
            target="<= 1.0", note=f"median {_common.fmt_time(m['median'])}")
    rep.add("max relative error vs 30-digit mpmath", float(rel.max()), target="<= 1e-8",
            note=f"{len(idx)} reference points")
    rep.finish(info)


if __name__ == "__main__":
    main()
