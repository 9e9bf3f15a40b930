"""Numba kernel of the M-transform of d = phi'(h)^2 and its pole subtraction.

theory/free.md (FP.2) (the node sums) and (FP.2b) (the roots of phi'(s z)^2 = w near the real
z axis, whose pole terms are subtracted node by node and added back integrated exactly).
The kernel is dumb: ``DerivativeLaw.m_transform_1p`` (free.py) validates and passes the
law's arrays and the thresholds; the complex derivatives are ``nonlinearities._cderivs``.
Tested against mpmath (tests/test_free.py: test_m_transform_near_the_support_against_mpmath,
test_m_transform_at_a_zero_of_phi_prime_against_mpmath,
test_m_transform_with_a_node_next_to_a_pole_against_mpmath) and by the property that the
subtraction adds nothing where the nodes resolve the poles.
"""

import cmath
import math

import numba
import numpy as np

from .nonlinearities import _INV_SQRT_2PI, _cderivs

#: node sums are accumulated in blocks of this many nodes
_BLOCK = 32
#: a node closer than this (in z) to a root gets the regular limit of (FP.2b): there the
#: rounding of w - d_i (eps |w| / (D' |z_i - z*|) relative) exceeds the O(|z_i - z*|)
#: error of the limit
_NEAR_NODE = 5e-6
#: at most this many roots are subtracted per w (FP.2b: a handful near any w in practice)
_MAX_ROOTS = 64


@numba.njit(cache=True, error_model="numpy")
def _newton_root(code, s, w, zi, za, zb):
    """Complex Newton for phi'(s z)^2 = w from zi: (True, root), or (False, _) if it did not
    converge within 1 of the real segment [za, zb] (FP.2b)."""
    for _ in range(40):
        if abs(zi.imag) > 2.0 or not za - 2.0 < zi.real < zb + 2.0:
            return False, zi  # wandered off: roots kept are within 1 of the real segment
        ok, p1, p2, _, _ = _cderivs(code, s * zi)
        d1 = 2.0 * s * p1 * p2
        if not ok or d1 == 0 or not cmath.isfinite(d1) or not cmath.isfinite(p1):
            return False, zi
        step = (p1 * p1 - w) / d1
        if abs(step) > 1.0:
            step = step / abs(step)
        zi = zi - step
        # quadratic convergence: a step of 1e-10 leaves an error ~1e-20
        if abs(step) <= 1e-10 * (1.0 + abs(zi)):
            good = (zi.imag != 0.0 or w.imag == 0.0) and za - 1.0 < zi.real < zb + 1.0 \
                and abs(zi.imag) < 1.0
            return good, zi
    return False, zi


@numba.njit(cache=True)
def _add_root(roots, n, r):
    """Append r to roots[:n] unless it is already there; the new count."""
    for k in range(n):
        if abs(r - roots[k]) <= 1e-8 * (1.0 + abs(r)):
            return n
    if n < roots.size:
        roots[n] = r
        n += 1
    return n


@numba.njit(cache=True, error_model="numpy")
def _zero_pair(code, s, w, zc, za, zb, roots, n):
    """The two roots of phi'(s z)^2 = w next to the simple zero zc of phi' (gelu, silu):
    phi'(s z) = +-sqrt(w), each a simple root (slope s phi'' != 0), by Newton on phi' itself,
    so the pair stays resolved however close it is (theory/free.md (FP.2b), zeros of
    phi'). Appends both to roots[:n] if they converge and are distinct; the new count."""
    sw = cmath.sqrt(w)
    found = np.empty(2, dtype=np.complex128)
    for k in range(2):
        target = sw if k == 0 else -sw
        zi = complex(zc, 0.0)
        done = False
        for _ in range(60):
            ok, p1, p2, _, _ = _cderivs(code, s * zi)
            g1 = s * p2
            if not ok or g1 == 0 or not cmath.isfinite(g1) or not cmath.isfinite(p1):
                return n
            step = (p1 - target) / g1
            if abs(step) > 1.0:
                step = step / abs(step)
            zi = zi - step
            if done:
                break  # one more step after convergence: the pair may be ~1e-12 apart
            done = abs(step) <= 1e-13 * (1.0 + abs(zi))
        if not done or not (za - 1.0 < zi.real < zb + 1.0 and abs(zi.imag) < 1.0):
            return n
        found[k] = zi
    if abs(found[0] - found[1]) <= 1e-12 * (1.0 + abs(zc)) or n + 2 > roots.size:
        return n  # w within ~1e-24 of 0: the pair carries no mass the node sum misses
    roots[n] = found[0]
    roots[n + 1] = found[1]
    return n + 2


@numba.njit(cache=True)
def _zero_between(zeros, lo, hi):
    """Whether one of the law's zeros of phi' lies in [lo, hi]."""
    for z0 in zeros:
        if lo <= z0 <= hi:
            return True
    return False


@numba.njit(cache=True, error_model="numpy")
def _roots(code, s, z, za, zb, d, spacing, zeros, slopes, a, w, near, pair_gap, roots):
    """The roots z* of phi'(s z)^2 = w near the real z axis (FP.2b), written to ``roots``;
    returns their count. ``a`` = |w - d_i| over the nodes: complex Newton from each local
    minimum of a that is within ``near`` spacings. First, at each zero ``zeros[k]`` of phi'
    (gelu, silu; ``slopes[k]`` = |s phi''| there), the pair phi' = +-sqrt(w) by
    ``_zero_pair`` while it lies within ~1 of the zero in z; the starts that follow cannot
    take one of its roots (duplicates are dropped). At any other local extremum of d the two
    roots z_c +- sqrt(2 (w - d_c) / d'') of the parabola through three
    nodes are both started, and the pair is skipped if either fails or they are closer than
    ``pair_gap`` (w within ~1e-8 of a maximum of d: residues ~1/gap cancel and the
    subtraction would be rounding noise)."""
    m = z.size
    n = 0
    for k in range(zeros.size):
        # the pair at a zero of phi', while it lies within ~1 of it in z (|phi'| = |w|^1/2)
        if abs(cmath.sqrt(w)) < slopes[k]:
            n = _zero_pair(code, s, w, zeros[k], za, zb, roots, n)
    for i in range(m):
        if not a[i] < near * spacing[i]:
            continue
        if (i > 0 and a[i] > a[i - 1]) or (i < m - 1 and a[i] > a[i + 1]):
            continue
        extremum = 0 < i < m - 1 and (d[i + 1] - d[i]) * (d[i] - d[i - 1]) <= 0.0
        if extremum:
            if _zero_between(zeros, z[i - 1], z[i + 1]):
                continue  # a zero of phi' between the neighbours: its pair is found above
            h0, h1 = z[i] - z[i - 1], z[i + 1] - z[i]
            s0, s1 = (d[i] - d[i - 1]) / h0, (d[i + 1] - d[i]) / h1
            c = (s1 - s0) / (h0 + h1)
            b = (s0 * h1 + s1 * h0) / (h0 + h1)
            if c != 0.0:
                zc = z[i] - b / (2.0 * c)
                delta = cmath.sqrt((w - (d[i] - b * b / (4.0 * c))) / c)
                ok1, r1 = _newton_root(code, s, w, zc + delta, za, zb)
                ok2, r2 = _newton_root(code, s, w, zc - delta, za, zb)
                if ok1 and ok2 and abs(r1 - r2) >= pair_gap:
                    n = _add_root(roots, n, r1)
                    n = _add_root(roots, n, r2)
                continue
        ok, r = _newton_root(code, s, w, complex(z[i], 0.0), za, zb)
        if ok:
            n = _add_root(roots, n, r)
    return n


@numba.njit(cache=True, error_model="numpy")
def _pole_terms(code, s, z, u, p, norm, za, zb, w, roots, n, owner):
    """What the node sums of x = M_D(w), 1 + x and dx/dw miss (FP.2b): for each root z*, the
    pole terms of the integrand subtracted node by node and added back integrated exactly
    over [za, zb]. A node within _NEAR_NODE of z* (owner[i] == k: left out of the node
    sums, whose w - d_i cancels catastrophically there) contributes the regular limit of
    its integrand minus the pole terms: -(g' - g D''/(2 D'))/D' at z* for x and 1 + x, and
    for dx/dw -(g''/2 - 2 a g' + (3 a^2 - 2 b) g)/D'^2 with a = D''/(2 D'), b = D'''/(6 D').
    Returns (dx, d(1 + x), d(dx/dw))."""
    cx = 0j
    cx1 = 0j
    cdx = 0j
    sw = cmath.sqrt(w)
    for k in range(n):
        zs = roots[k]
        _, p1, p2, p3, p4 = _cderivs(code, s * zs)
        # at the root phi' = +-sqrt(w) exactly; the closed form loses relative precision
        # where phi' is small (gelu's Phi(h) + h phi(h) near its zero: 3e-11 at w = 2e-12)
        p1 = sw if abs(p1 - sw) <= abs(p1 + sw) else -sw
        d1 = 2.0 * s * p1 * p2
        d2 = 2.0 * s * s * (p2 * p2 + p1 * p3)
        d3 = 2.0 * s * s * s * (3.0 * p2 * p3 + p1 * p4)
        rho = norm * cmath.exp(-0.5 * zs * zs) * _INV_SQRT_2PI
        # x: g/f with g = rho D, f = w - D: residue r = -rho w / D1
        r = -rho * w / d1
        g1 = rho * (-zs * w + d1)
        g2 = rho * ((zs * zs - 1.0) * w - 2.0 * zs * d1 + d2)
        regular = -(g1 - rho * w * d2 / (2.0 * d1)) / d1
        # dx/dw = -int g / f^2: Laurent A/e^2 + B/e, A = g/D1^2, B = (g' - g D2/D1)/D1^2,
        # and the regular limit of -g/f^2 + A/e^2 + B/e with a = D2/(2 D1), b = D3/(6 D1)
        big_a = rho * w / (d1 * d1)
        big_b = (g1 - rho * w * d2 / d1) / (d1 * d1)
        ca = d2 / (2.0 * d1)
        cb = d3 / (6.0 * d1)
        regular_dx = -(0.5 * g2 - 2.0 * ca * g1 + (3.0 * ca * ca - 2.0 * cb) * rho * w) / (
            d1 * d1)
        s1 = 0j
        s2 = 0j
        fix = 0j
        fixd = 0j
        pfix = 0.0
        for i in range(z.size):
            if owner[i] == k:
                # a node next to this root (left out of the node sums): the regular limit of
                # its integrand minus this root's pole terms
                fix += u[i] * regular
                fixd += u[i] * regular_dx
                pfix += p[i]
                continue
            inv = 1.0 / (z[i] - zs)
            ui = u[i] * inv
            s1 += ui
            s2 += ui * inv
        i1 = cmath.log(zb - zs) - cmath.log(za - zs) - s1
        i2 = 1.0 / (za - zs) - 1.0 / (zb - zs) - s2
        cx += r * i1 + fix
        cx1 += r * i1 + fix + pfix  # 1 + x: its node term is p_i + the node term of x
        cdx += -(big_a * i2 + big_b * i1) + fixd
    return cx, cx1, cdx


@numba.njit(cache=True, error_model="numpy")
def _node_sums(wk, values, probs, n_atoms, spacing, near, subtract, owner, a):
    """The node sums (x, sum p_i/(w - d_i), dx/dw) of (FP.2) at one w, leaving out the
    continuous nodes with owner >= 0; with ``subtract``, a = |w - d_i| and whether any is
    within ``near`` spacings (FP.2b). Real arithmetic, one real division per node; sums in
    blocks of _BLOCK nodes (two-level, like numpy's pairwise sum: the rounding of 1 + x
    stays ~1e-16 relative, which a depth-1000 equation multiplies by L)."""
    nv = values.size
    wr, wi = wk.real, wk.imag
    sxr = sxi = sgr = sgi = sdr = sdi = 0.0
    close = False
    for i0 in range(0, nv, _BLOCK):
        bxr = bxi = bgr = bgi = bdr = bdi = 0.0
        for i in range(i0, min(i0 + _BLOCK, nv)):
            v = values[i]
            dr = wr - v
            den = dr * dr + wi * wi
            normal = 1e-290 < den < 1e290
            if subtract and i >= n_atoms:
                j = i - n_atoms
                a[j] = math.sqrt(den) if normal else abs(complex(dr, wi))
                if a[j] < near * spacing[j]:
                    close = True
                if owner[j] >= 0:
                    continue
            if normal:
                ir, ii = dr / den, -wi / den  # 1 / (w - d_i)
            else:  # |w - d_i|^2 outside the float range: complex division scales
                inv = 1.0 / complex(dr, wi)
                ir, ii = inv.real, inv.imag
            gr, gi = probs[i] * ir, probs[i] * ii
            bgr += gr
            bgi += gi
            bxr += gr * v
            bxi += gi * v
            bdr -= (gr * ir - gi * ii) * v
            bdi -= (gr * ii + gi * ir) * v
        sxr += bxr
        sxi += bxi
        sgr += bgr
        sgi += bgi
        sdr += bdr
        sdi += bdi
    return complex(sxr, sxi), complex(sgr, sgi), complex(sdr, sdi), close


@numba.njit(cache=True, error_model="numpy")
def m_transform(w, values, probs, n_atoms, code, s, z, u, norm, za, zb, spacing, zeros,
                slopes, near, pair_gap):
    """(x, 1 + x, dx/dw) at each complex w (FP.2): x = sum p_i d_i / (w - d_i),
    1 + x = w sum p_i / (w - d_i), dx/dw = -sum p_i d_i / (w - d_i)^2, plus the pole terms
    of (FP.2b) where w is within ``near`` node spacings of the continuous part (nodes
    ``values[n_atoms:]``, which are ``z`` in z = h / s). ``code`` < 0 (or empty ``z``): no
    subtraction."""
    nw = w.size
    nv = values.size
    x = np.empty(nw, dtype=np.complex128)
    x1 = np.empty(nw, dtype=np.complex128)
    dx = np.empty(nw, dtype=np.complex128)
    subtract = code >= 0 and z.size == nv - n_atoms and z.size > 0
    a = np.empty(nv - n_atoms)
    roots = np.empty(_MAX_ROOTS, dtype=np.complex128)
    d = values[n_atoms:]
    owner = np.full(nv - n_atoms, -1)
    marked = np.empty(2 * _MAX_ROOTS, dtype=np.int64)
    for k in range(nw):
        wk = w[k]
        sx, sg, sdx, close = _node_sums(wk, values, probs, n_atoms, spacing, near, subtract,
                                         owner, a)
        if close:
            n = _roots(code, s, z, za, zb, d, spacing, zeros, slopes, a, wk, near,
                       pair_gap, roots)
            # nodes within _NEAR_NODE of exactly one root: their w - d_i cancels; they
            # leave the node sums and get the regular limit in _pole_terms (z is sorted:
            # only the two nodes around Re z* can be that close)
            nmark = 0
            for j in range(n):
                hi = np.searchsorted(z, roots[j].real)
                for i in (hi - 1, hi):
                    if 0 <= i < z.size and abs(z[i] - roots[j]) < _NEAR_NODE:
                        # next to two roots (a pair closer than 1e-5): kept in the sums
                        owner[i] = j if owner[i] == -1 else -2
                        marked[nmark] = i
                        nmark += 1
            moved = False
            for m in range(nmark):
                if owner[marked[m]] == -2:
                    owner[marked[m]] = -1
                moved = moved or owner[marked[m]] >= 0
            if moved:
                sx, sg, sdx, _ = _node_sums(wk, values, probs, n_atoms, spacing, near,
                                            subtract, owner, a)
            cx, cx1, cdx = _pole_terms(code, s, z, u, probs[n_atoms:], norm, za, zb, wk,
                                       roots, n, owner)
            for m in range(nmark):
                owner[marked[m]] = -1
            sx1 = wk * sg + cx1
            sx += cx
            sdx += cdx
        else:
            sx1 = wk * sg
        x[k] = sx
        x1[k] = sx1
        dx[k] = sdx
    return x, x1, dx
