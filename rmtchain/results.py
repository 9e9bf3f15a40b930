"""Frozen result records returned by the public functions; each carries its inputs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from ._rng import check_count

__all__ = ["Moments", "Spectrum"]


@dataclass(frozen=True)
class Moments:
    """Normalised-trace moments m_k = E tr((J J^T)^k) / n_L, k = 1..kmax, over samples.

    Attributes
    ----------
    k : (kmax,) int array
    mean : (kmax,) array
        Sample mean of the per-sample moments.
    stderr : (kmax,) array
        Standard error of the mean (sample std / sqrt(samples)); inf for one sample.
    per_sample : (samples, kmax) array
        The per-sample moments tr((J J^T)^k) / n_L.
    """

    k: np.ndarray
    mean: np.ndarray
    stderr: np.ndarray
    per_sample: np.ndarray


@dataclass(frozen=True)
class Spectrum:
    """Sampled squared singular values of J (``sample_spectrum``).

    Attributes
    ----------
    chain : Chain
        The specification that was sampled.
    log_singular_values : (samples, min(n_0, n_L)) array
        log s_i of J per sample, descending. Finite for every nonzero singular value at any
        depth; an exact zero (rank lost where phi' = 0, or to a layer narrower than
        min(n_0, n_L)) is -inf. With ``method="plain"`` rank lost partway through the
        product is not tracked, and such zeros come out as tiny finite values.
    method : str
        The accumulation that ran ("auto", "plain" or "qr"; theory/sampling.md (S.4)).
    seed : object
        The ``rng`` argument as given (None, an int, or "Generator").
    """

    chain: object
    log_singular_values: np.ndarray
    method: str
    seed: object = None

    @property
    def samples(self):
        """Number of sampled chains."""
        return self.log_singular_values.shape[0]

    @property
    def eigenvalues(self):
        """lambda = s^2, eigenvalues of J J^T, shape (sample, index), descending.

        May under- or overflow float64 for very deep chains; ``log_singular_values`` never does.
        """
        with np.errstate(over="ignore", under="ignore"):
            return np.exp(2.0 * self.log_singular_values)

    def moments(self, kmax):
        """Normalised-trace moments m_1..m_kmax of J J^T (divided by n_L), with standard errors.

        Computed per sample in the log domain (logsumexp of 2 k log s), then averaged.
        """
        kmax = check_count("kmax", kmax)
        k = np.arange(1, kmax + 1)
        n_out = self.chain.n_out
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            # a sample with J = 0 has every log s = -inf: logsumexp gives -inf, m_k = 0
            logm = logsumexp(2.0 * k[None, :, None] * self.log_singular_values[:, None, :], axis=2)
            per = np.exp(logm - np.log(n_out))
        mean = per.mean(axis=0)
        if self.samples > 1:
            stderr = per.std(axis=0, ddof=1) / np.sqrt(self.samples)
        else:
            stderr = np.full(kmax, np.inf)
        return Moments(k=k, mean=mean, stderr=stderr, per_sample=per)
