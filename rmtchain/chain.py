"""``Chain``: the frozen specification of a random neural chain.

J = D_L W_L ... D_1 W_1 with D_l = diag(phi'(h_l)), h_l = W_l x_{l-1} + b_l, x_l = phi(h_l);
conventions in ../shared/THEORY.md and theory/README.md.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

from ._rng import check_count, check_real, check_sigmas
from .meanfield import solve_q_star
from .nonlinearities import get_phi

__all__ = ["Chain", "WEIGHTS"]

WEIGHTS = ("gaussian", "orthogonal")


@dataclass(frozen=True)
class Chain:
    """Specification of a random chain (a deep random network's input-output Jacobian).

    Parameters
    ----------
    depth : int
        Number of layers L >= 1.
    width : int or sequence of int
        One width for every layer, or the L + 1 widths n_0, ..., n_L (each >= 1).
    weights : {"gaussian", "orthogonal"}
        Entries N(0, sigma_w^2 / n_{l-1}), or sigma_w times a Haar orthogonal matrix
        (a Haar partial isometry when n_l != n_{l-1}).
    phi : str or Nonlinearity
        A registered nonlinearity (``rmtchain.registered_phis()``).
    sigma_w : float
        Weight scale, finite and > 0.
    sigma_b : float
        Bias standard deviation, finite and >= 0.
    q0 : float or None
        Input length ||h_0||^2 / n_0 (> 0). ``None`` puts the input at the mean-field
        fixed point q* when the length map has a stable nonzero fixed point reached from
        q = 1; where every q is a fixed point (linear, relu with sigma_w^2 = 2 and
        sigma_b = 0) or q flows to 0 (tanh with sigma_w <= 1, sigma_b = 0) or to infinity,
        it means q0 = 1 and the layers follow the length map (theory/meanfield.md (MF.2));
        predictions must then use the layer-dependent statistics.

    Attributes
    ----------
    widths : tuple of int
        n_0, ..., n_L.
    q_input : float
        The resolved input length (q0, q*, or 1).

    Notes
    -----
    The input is x_0 = phi(h_0) with h_0 a uniformly random direction of squared length
    q_input * n_0 (THEORY.md, Conventions).
    """

    depth: int
    width: object
    weights: str = "gaussian"
    phi: object = "tanh"
    sigma_w: float = 1.0
    sigma_b: float = 0.0
    q0: float | None = None
    widths: tuple = field(init=False, repr=False)
    q_input: float = field(init=False, repr=False)

    def __post_init__(self):
        depth = check_count("depth", self.depth)
        if isinstance(self.width, numbers.Integral) and not isinstance(self.width, bool):
            widths = (check_count("width", self.width),) * (depth + 1)
        else:
            try:
                widths = tuple(self.width)
            except TypeError:
                raise ValueError(f"width must be an int or a sequence of ints, got {self.width!r}") from None
            if len(widths) != depth + 1:
                raise ValueError(
                    f"width must have depth + 1 = {depth + 1} entries n_0..n_L, got {len(widths)}"
                )
            widths = tuple(check_count("width", w) for w in widths)
        if self.weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {WEIGHTS}, got {self.weights!r}")
        phi = get_phi(self.phi)
        sigma_w, sigma_b = check_sigmas(self.sigma_w, self.sigma_b)
        if self.q0 is None:
            q_star = solve_q_star(phi, sigma_w, sigma_b)
            q_input = 1.0 if q_star is None else q_star
        else:
            q_input = check_real("q0", self.q0)
            if q_input <= 0:
                raise ValueError(f"q0 must be > 0 or None, got {q_input}")
        for name, value in (("depth", depth), ("phi", phi), ("sigma_w", sigma_w),
                            ("sigma_b", sigma_b), ("widths", widths), ("q_input", q_input)):
            object.__setattr__(self, name, value)
        if isinstance(self.width, numbers.Integral):
            object.__setattr__(self, "width", int(self.width))
        else:
            object.__setattr__(self, "width", widths)

    @classmethod
    def critical(cls, depth, width, *, phi, weights="gaussian", q_star):
        """A chain on the critical line chi1 = 1 with mean-field fixed point ``q_star``.

        sigma_w = mu_1(q*)^(-1/2) and sigma_b^2 = q* - sigma_w^2 E[phi(sqrt(q*) z)^2]
        (``rmtchain.meanfield.critical_point``, theory/meanfield.md (MF.3d)); the input sits
        at the fixed point (``q0 = q_star``). Pennington, Schoenholz and Ganguli
        (arXiv:1711.04735) use tanh and hardtanh with q* in {1/64, 1/2}.

        Raises
        ------
        ValueError
            If ``q_star`` is not a finite number > 0, or no sigma_b >= 0 puts ``phi`` on
            the critical line with that q*; and as ``Chain`` does for the other arguments.

        Examples
        --------
        >>> c = Chain.critical(10, 32, phi="relu", weights="orthogonal", q_star=0.5)
        >>> round(c.sigma_w ** 2, 12), c.sigma_b, c.q_input
        (2.0, 0.0, 0.5)
        """
        from .meanfield import critical_point

        sigma_w, sigma_b = critical_point(phi, q_star)
        return cls(depth, width, weights=weights, phi=phi, sigma_w=sigma_w, sigma_b=sigma_b,
                   q0=q_star)

    @property
    def n_in(self):
        """Input width n_0."""
        return self.widths[0]

    @property
    def n_out(self):
        """Output width n_L."""
        return self.widths[-1]

    @property
    def rank_bound(self):
        """min(n_0, n_L): the number of singular values reported per sample."""
        return min(self.widths[0], self.widths[-1])

    def describe(self):
        """A dict of the defining parameters (JSON-serialisable), for provenance."""
        return {
            "depth": self.depth,
            "width": list(self.widths) if not isinstance(self.width, int) else self.width,
            "weights": self.weights,
            "phi": str(self.phi),
            "sigma_w": self.sigma_w,
            "sigma_b": self.sigma_b,
            "q0": self.q0,
            "q_input": self.q_input,
        }
