"""Order-to-chaos phase diagram of tanh networks in the (sigma_w^2, sigma_b^2) plane
(Poole et al. arXiv:1606.05340; Schoenholz et al. arXiv:1611.01232).

Mean field (THEORY.md; theory/meanfield.md (MF.1)-(MF.3d)): the length map
q -> sigma_w^2 E[tanh(sqrt(q) z)^2] + sigma_b^2 has a stable fixed point q*, and
chi1 = sigma_w^2 E[tanh'(sqrt(q*) z)^2] separates the ordered phase (chi1 < 1) from the
chaotic one (chi1 > 1). The critical line chi1 = 1 is drawn from ``rmtchain.critical_point``
(the exact parametrisation by q*, (MF.3d): sigma_w^2 = 1/mu_1(q*), sigma_b^2 =
q* - sigma_w^2 E[tanh^2]); the background is chi1 on a grid, with q* contours.

Grid values: q* by a vectorised fixed-point iteration of the length map followed by Newton
steps, expectations by probabilists' Gauss-Hermite quadrature (``numpy.polynomial.hermite_e``,
``GH_NODES`` nodes: tanh is entire, so the rule converges geometrically; 1e-12 relative
at q* <= 10, measured against mpmath).

Checks (``agreement``):

* mpmath: at ``MP_Q`` values of q*, the point returned by ``critical_point("tanh", q)``
  satisfies chi1 = 1 and f(q) = q with expectations by ``mpmath.quad`` at 30 digits, to
  ``MP_TOL`` = 1e-10 (quadrature tolerance of critical_point's adaptive quad, 1e-13, times
  the conditioning of sigma_b^2 = q - sigma_w^2 E[tanh^2] near sigma_b = 0).
* published value (THEORY.md, Poole et al.): tanh at sigma_b = 0.05 is critical at
  sigma_w = 1.1225 with q* = 0.1537 (4 decimals: tolerance 5e-5 for rounding).
* the grid's q* (Gauss-Hermite iteration) against ``rmtchain.meanfield.solve_q_star``
  (brentq on adaptive quadrature) at ``CHECK_POINTS``, 1e-8 relative (solver tolerances).
* the chi1 = 1 crossing of each grid row (linear interpolation in sigma_w^2 of chi1 - 1)
  lies on the critical line within ``CROSS_TOL`` = (grid step)^2 (the error of linear
  interpolation of a smooth function over one step, times a curvature of chi1 in
  sigma_w^2 that is O(1) on this range).
* sigma_b -> 0 limit: the line starts at sigma_w^2 = 1/tanh'(0)^2 = 1 (q* -> 0):
  |sigma_w^2(q = 1e-6) - 1| <= 3e-6 (mu_1(q) = 1 - 2q + O(q^2)).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
from numpy.polynomial.hermite_e import hermegauss

import rmtchain
from rmtchain.meanfield import solve_q_star

SEED = 160605340
TITLE = "Order-to-chaos phase diagram of tanh networks (Poole et al. 1606.05340)"
EQUATION = ("critical line chi1 = 1, theory/meanfield.md (MF.3a), (MF.3d); q* of the length "
            "map (MF.1)")

GH_NODES = 120
MP_Q = (0.01, 0.1537, 1.0, 5.0)
MP_TOL = 1e-10
PUBLISHED = {"sigma_b": 0.05, "sigma_w": 1.1225, "q_star": 0.1537, "tol": 5e-5}
CHECK_POINTS = ((1.5, 0.05), (3.0, 0.2), (0.8, 0.25), (2.2, 0.01))   # (sigma_w^2, sigma_b^2)

_FULL = {"sw2": (0.5, 4.0, 141), "sb2": (0.0025, 0.3, 120), "line_points": 400}
_QUICK = {"sw2": (0.5, 4.0, 36), "sb2": (0.0025, 0.3, 30), "line_points": 120}


def parameters(quick):
    """Grid and line sizes used by ``compute`` (recorded in the provenance JSON)."""
    p = _QUICK if quick else _FULL
    return {"phi": "tanh", "sigma_w2_grid": list(p["sw2"]), "sigma_b2_grid": list(p["sb2"]),
            "line_points": p["line_points"], "gh_nodes": GH_NODES}


# ----------------------------------------------------------------------------- grid


def grid_mean_field(sw2, sb2, iterations=300, newton=12):
    """q* and chi1 of tanh on arrays ``sw2``, ``sb2`` (same shape), vectorised.

    Fixed-point iteration of the length map from q = 1 (the rule (MF.2)), then Newton steps
    on f(q) - q with f'(q) = sigma_w^2 E[u tanh(u) tanh'(u)] / q (Stein, phi''-free).
    """
    z, w = hermegauss(GH_NODES)
    w = w / w.sum()
    q = np.ones(np.shape(sw2))

    def moments(q):
        u = np.sqrt(q)[..., None] * z
        t = np.tanh(u)
        dt = 1.0 - t * t
        return (t * t) @ w, (u * t * dt) @ w / q, (dt * dt) @ w

    for _ in range(iterations):
        q = sw2 * moments(q)[0] + sb2
    for _ in range(newton):
        e2, de2, _ = moments(q)
        q = q - (sw2 * e2 + sb2 - q) / (sw2 * de2 - 1.0)
    chi1 = sw2 * moments(q)[2]
    return q, chi1


def critical_line(points):
    """(q*, sigma_w^2, sigma_b^2) along chi1 = 1 from ``rmtchain.critical_point`` (MF.3d)."""
    qs = np.geomspace(1e-4, 300.0, points)
    sw2, sb2 = np.empty(points), np.empty(points)
    for i, q in enumerate(qs):
        sw, sb = rmtchain.critical_point("tanh", float(q))
        sw2[i], sb2[i] = sw * sw, sb * sb
    return qs, sw2, sb2


# ----------------------------------------------------------------------------- checks


def _mp_check(q):
    """|chi1 - 1| and |f(q) - q| / q at critical_point("tanh", q), expectations in mpmath."""
    sw, sb = rmtchain.critical_point("tanh", q)
    with mpmath.workdps(30):
        s = mpmath.sqrt(mpmath.mpf(q))
        g = lambda f: mpmath.quad(lambda x: f(s * x) * mpmath.exp(-x * x / 2),  # noqa: E731
                                  [-mpmath.inf, 0, mpmath.inf]) / mpmath.sqrt(2 * mpmath.pi)
        mu1 = g(lambda h: mpmath.sech(h) ** 4)
        e2 = g(lambda h: mpmath.tanh(h) ** 2)
        sw2 = mpmath.mpf(sw) ** 2
        chi = sw2 * mu1
        fq = sw2 * e2 + mpmath.mpf(sb) ** 2
        return float(abs(chi - 1)), float(abs(fq - q) / q)


def compute(quick, rng):
    """Phase-diagram data: grid of q* and chi1, the critical line, and the check values.

    Deterministic (``rng`` is not used: the mean field has no randomness).
    """
    p = _QUICK if quick else _FULL
    sw2 = np.linspace(*p["sw2"][:2], p["sw2"][2])
    sb2 = np.linspace(*p["sb2"][:2], p["sb2"][2])
    SW, SB = np.meshgrid(sw2, sb2)           # axes (sigma_b^2 row, sigma_w^2 column)
    q, chi1 = grid_mean_field(SW, SB)
    line_q, line_sw2, line_sb2 = critical_line(p["line_points"])
    mp = np.array([_mp_check(qq) for qq in MP_Q])
    pub_sw = rmtchain.critical_sigma_w("tanh", PUBLISHED["sigma_b"])
    pub_q = rmtchain.mean_field("tanh", pub_sw, PUBLISHED["sigma_b"]).q_star
    chk = []
    for a, b in CHECK_POINTS:
        qg, _ = grid_mean_field(np.array([a]), np.array([b]))
        chk.append((float(qg[0]), solve_q_star("tanh", math.sqrt(a), math.sqrt(b))))
    sw_small, _ = rmtchain.critical_point("tanh", 1e-6)
    return {"parameters_quick": bool(quick), "sigma_w2": sw2, "sigma_b2": sb2,
            "q_star": q, "chi1": chi1,
            "line_q": line_q, "line_sigma_w2": line_sw2, "line_sigma_b2": line_sb2,
            "mp_q": np.array(MP_Q), "mp_chi1_error": mp[:, 0], "mp_fixed_point_error": mp[:, 1],
            "published_sigma_w": pub_sw, "published_q_star": pub_q,
            "check_points": np.array(CHECK_POINTS), "check_q_grid": np.array(chk)[:, 0],
            "check_q_solve": np.array(chk)[:, 1],
            "small_q_sigma_w2": sw_small**2}


def _crossings(data):
    """Per grid row, sigma_w^2 where chi1 crosses 1 (linear interpolation), and the critical
    line's sigma_w^2 at that sigma_b^2 (interpolated along the line, monotone in q*)."""
    sw2 = np.asarray(data["sigma_w2"])
    out = []
    for i, b in enumerate(np.asarray(data["sigma_b2"])):
        c = np.asarray(data["chi1"])[i] - 1.0
        j = np.flatnonzero((c[:-1] < 0) & (c[1:] >= 0))
        if j.size != 1:
            continue
        j = int(j[0])
        x = sw2[j] + (sw2[j + 1] - sw2[j]) * (-c[j]) / (c[j + 1] - c[j])
        lb = np.asarray(data["line_sigma_b2"])
        lw = np.asarray(data["line_sigma_w2"])
        if not lb.min() <= b <= lb.max():
            continue
        out.append((float(b), float(x), float(np.interp(b, lb, lw))))
    return np.array(out).reshape(-1, 3)


def agreement(data):
    """The five checks of the module docstring; ``passed`` if all hold."""
    out = {}
    mp = max(float(np.max(data["mp_chi1_error"])), float(np.max(data["mp_fixed_point_error"])))
    out["mpmath_max_error"] = mp
    pub_sw = abs(float(data["published_sigma_w"]) - PUBLISHED["sigma_w"])
    pub_q = abs(float(data["published_q_star"]) - PUBLISHED["q_star"])
    out["published_sigma_w_error"] = pub_sw
    out["published_q_star_error"] = pub_q
    rel = np.abs(np.asarray(data["check_q_grid"]) / np.asarray(data["check_q_solve"]) - 1.0)
    out["grid_q_star_rel_error"] = float(rel.max())
    cr = _crossings(data)
    step = float(np.diff(np.asarray(data["sigma_w2"]))[0])
    dev = float(np.max(np.abs(cr[:, 1] - cr[:, 2]))) if cr.size else float("inf")
    out["crossing_rows"] = int(cr.shape[0])
    out["crossing_max_deviation"] = dev
    out["crossing_tol"] = step**2
    small = abs(float(data["small_q_sigma_w2"]) - 1.0)
    out["small_q_sigma_w2_error"] = small
    ok = (mp <= MP_TOL and pub_sw <= PUBLISHED["tol"] and pub_q <= PUBLISHED["tol"]
          and rel.max() <= 1e-8 and cr.shape[0] >= len(data["sigma_b2"]) // 2
          and dev <= step**2 and small <= 3e-6)
    out["passed"] = bool(ok)
    out["summary"] = (f"mpmath chi1/fixed point {mp:.1e}; published sigma_w err {pub_sw:.1e}, "
                      f"q* err {pub_q:.1e}; grid q* vs solve_q_star {rel.max():.1e}; "
                      f"chi1=1 crossings ({cr.shape[0]} rows) within {dev:.1e} of the line "
                      f"(tol {step**2:.1e})")
    return out


def plot(data):
    """chi1 on the (sigma_w^2, sigma_b^2) plane (log colour, diverging at 1), q* contours,
    and the critical line."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    met = agreement(data)
    sw2, sb2 = np.asarray(data["sigma_w2"]), np.asarray(data["sigma_b2"])
    chi1, q = np.asarray(data["chi1"]), np.asarray(data["q_star"])
    fig, ax = plt.subplots(figsize=(8.0, 6.0), layout="constrained")
    lc = np.log(chi1)
    lim = float(np.max(np.abs(lc)))
    im = ax.pcolormesh(sw2, sb2, lc, cmap="RdBu_r", shading="auto",
                       norm=TwoSlopeNorm(0.0, -lim, lim))
    fig.colorbar(im, ax=ax, label=r"$\log \chi_1$")
    cs = ax.contour(sw2, sb2, q, levels=[0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0],
                    colors="k", linewidths=0.7, linestyles="dotted")
    ax.clabel(cs, fmt=lambda v: f"q*={v:g}", fontsize="x-small")
    m = np.asarray(data["line_sigma_b2"]) <= sb2.max()
    ax.plot(np.asarray(data["line_sigma_w2"])[m], np.asarray(data["line_sigma_b2"])[m], "k-",
            lw=2.0, label=r"$\chi_1 = 1$ (critical_point, MF.3d)")
    ax.plot(PUBLISHED["sigma_w"] ** 2, PUBLISHED["sigma_b"] ** 2, "y*", ms=12, mec="k",
            label=r"published: $\sigma_b$ = 0.05, $\sigma_w$ = 1.1225")
    ax.text(0.6, 0.27, "ordered\n($\\chi_1 < 1$)", fontsize="large", color="navy")
    ax.text(3.2, 0.03, "chaotic\n($\\chi_1 > 1$)", fontsize="large", color="darkred")
    ax.set_xlim(sw2.min(), sw2.max())
    ax.set_ylim(0.0, sb2.max())
    ax.set_xlabel(r"$\sigma_w^2$")
    ax.set_ylabel(r"$\sigma_b^2$")
    ax.legend(loc="upper right", fontsize="small")
    verdict = "all checks passed" if met["passed"] else "a check FAILED"
    ax.set_title(f"tanh: order-to-chaos transition and fixed point q* - {verdict}",
                 fontsize="medium")
    return fig
