"""Lyapunov exponents of the chain: sampled (QR product) and predicted (digamma formulas).

theory/finitewidth.md (FW.9)-(FW.10); Newman (1986); Akemann, Burda, Kieburg
arXiv:1809.05905; Liu, Wang, Wang arXiv:1810.00433.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from ._rng import check_count
from .chain import Chain
from .sampling import sample_spectrum

__all__ = ["LyapunovExponents", "lyapunov_exponents", "sample_lyapunov"]


@dataclass(frozen=True, eq=False)
class LyapunovExponents:
    """Lyapunov exponents lambda_1 >= ... of J (log singular values per layer).

    Attributes
    ----------
    chain : Chain
    exponents : (min(n_0, n_L),) array
        Predicted lambda_i, or the sample mean of log s_i(J) / L.
    stderr : (min(n_0, n_L),) array or None
        Standard error of the sample mean (None for a prediction; inf where fewer than two
        samples or a sample is -inf).
    per_sample : (samples, min(n_0, n_L)) array or None
        log s_i(J) / L per sample.
    exact : bool
        For predictions: True (the formulas are exact limits L -> infinity).
    """

    chain: Chain
    exponents: np.ndarray
    stderr: np.ndarray | None = None
    per_sample: np.ndarray | None = None
    exact: bool = True


def sample_lyapunov(chain, samples, *, rng=None):
    """Finite-L Lyapunov exponents: log s_i(J) / L from ``sample_spectrum``, mean and s.e.

    Parameters
    ----------
    chain : Chain
    samples : int
        >= 1.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    LyapunovExponents
        ``per_sample`` (sample, index), ``exponents`` its mean over samples, ``stderr``
        std(ddof=1)/sqrt(samples). log s_i / L = lambda_i + O(1/sqrt(L)) fluctuation + O(1/L)
        bias (theory/finitewidth.md (FW.9)).

    Examples
    --------
    >>> import rmtchain
    >>> ly = sample_lyapunov(rmtchain.Chain(40, 4, weights="orthogonal", phi="linear",
    ...                      sigma_w=2.0), 2, rng=0)
    >>> bool(np.allclose(ly.exponents, np.log(2.0)))
    True
    """
    if not isinstance(chain, Chain):
        raise ValueError(f"chain must be an rmtchain.Chain, got {type(chain).__name__}")
    samples = check_count("samples", samples)
    per = sample_spectrum(chain, samples, rng=rng).log_singular_values / chain.depth
    mean = per.mean(axis=0)
    finite = np.isfinite(per).all(axis=0)
    stderr = np.full(per.shape[1], np.inf)
    if samples > 1:
        stderr[finite] = per[:, finite].std(axis=0, ddof=1) / math.sqrt(samples)
    return LyapunovExponents(chain, mean, stderr, per, exact=True)


#: relu: exponent i is reported where P(K < i) <= this (K ~ Binomial(n, 1/2) active units), so
#: that conditioning on K >= i changes the sums S_k by no more than about this; -inf beyond
RELU_RANK_TOL = 1e-6

def lyapunov_exponents(chain):
    """Predicted Lyapunov exponents lambda_i = lim_L log s_i(J) / L, i = 1..n.

    Parameters
    ----------
    chain : Chain
        Square widths, zero bias, phi linear or relu (Gaussian or orthogonal weights).

    Returns
    -------
    LyapunovExponents

    Notes
    -----
    theory/finitewidth.md (FW.10): with S_k = sum_{i<=k} 2 lambda_i the growth rate of a
    k-volume, Gaussian: S_k = sum_{j<=k} E[log(sigma_w^2/n) + log 2 + psi((K-j+1)/2) | K >= k];
    Haar: S_k = sum_{j<=k} E[log sigma_w^2 + psi((K-j+1)/2) - psi((n-j+1)/2) | K >= k];
    K = n (linear: lambda_i = (1/2)[log(2 sigma_w^2/n) + psi((n-i+1)/2)], resp. log
    sigma_w for all i) or K ~ Binomial(n, 1/2) (relu). For relu only lambda_1 (given R > 0)
    and the exponents with P(K < i) <= ``RELU_RANK_TOL`` are finite; the others are -inf (s_i is exactly 0 once a
    layer has fewer than i active units, which happens almost surely as L -> infinity).

    Raises
    ------
    ValueError
        If the widths differ, sigma_b > 0, or phi is neither linear nor relu.

    Examples
    --------
    >>> import rmtchain
    >>> lyapunov_exponents(rmtchain.Chain(10, 3, phi="linear")).exponents.round(4)
    array([-0.1845, -0.4913, -1.1845])
    """
    if not isinstance(chain, Chain):
        raise ValueError(f"chain must be an rmtchain.Chain, got {type(chain).__name__}")
    if len(set(chain.widths)) != 1:
        raise ValueError(f"width must be one int (square layers) for Lyapunov exponents, "
                         f"got widths {chain.widths}")
    if chain.sigma_b != 0.0:
        raise ValueError(f"sigma_b must be 0 for Lyapunov exponents, got {chain.sigma_b}")
    nl = chain.phi
    relu = nl.name == "relu" or (nl.name == "leaky_relu" and nl.param == 0.0)
    if not (relu or nl.name == "linear"):
        raise ValueError(f"phi must be 'linear' or 'relu' for Lyapunov exponents, got {nl}")
    n = chain.n_in
    sw2 = chain.sigma_w ** 2
    if relu:
        K = np.arange(n + 1)
        pK = np.exp(special.gammaln(n + 1) - special.gammaln(K + 1) - special.gammaln(n - K + 1)
                    - n * math.log(2.0))
    else:
        K, pK = np.array([n]), np.array([1.0])
    # relu: S_k conditions on K >= k, an event that changes with k; the differences are
    # exponents only while that conditioning is negligible, P(K < i) <= RELU_RANK_TOL. Beyond,
    # s_i is exactly 0 once some layer has fewer than i active units (depth * P(K < i) >~ 1),
    # so lambda_i = -inf as L -> infinity (theory/finitewidth.md (FW.10)).
    top = n
    if relu:
        # i = 1 always: it is the rate of log R given R > 0 (FW.2, FW.3), the same event
        top = max(1, int(np.sum(special.bdtr(np.arange(n), n, 0.5) <= RELU_RANK_TOL)))
    S = np.zeros(top + 1)
    for k in range(1, top + 1):
        ok = K >= k
        w = pK[ok] / pK[ok].sum()
        Kk = K[ok][:, None].astype(float)
        j = np.arange(1, k + 1)[None, :]
        if chain.weights == "gaussian":
            terms = math.log(2.0 * sw2 / n) + special.digamma((Kk - j + 1) / 2.0)
        else:
            full = Kk == n
            terms = math.log(sw2) + np.where(
                full, 0.0, special.digamma((Kk - j + 1) / 2.0) - special.digamma((n - j + 1) / 2.0))
        S[k] = float(w @ terms.sum(axis=1))
    lam = np.full(n, -math.inf)
    lam[:top] = 0.5 * np.diff(S)
    return LyapunovExponents(chain, lam, exact=True)
