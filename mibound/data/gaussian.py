"""Correlated-Gaussian pairs (the Poole et al. 2019 staircase task)."""

from __future__ import annotations

import math

import numpy as np
import torch

from mibound.data.base import Sampler
from mibound.functional.analytic import mi_from_rho, rho_from_mi
from mibound.inputs.checks import check_float, check_int

__all__ = ["CorrelatedGaussian"]


class CorrelatedGaussian(Sampler):
    """``x ~ N(0, I_d)``, ``y = rho x + sqrt(1 - rho^2) eps``, ``eps ~ N(0, I_d)``.

    Exact MI ``-(d/2) log(1 - rho^2)`` nats. Build from a target MI with :meth:`from_mi`.

    Parameters
    ----------
    rho : float
        Per-dimension correlation in ``(-1, 1)``.
    dim : int, default 20
    """

    def __init__(self, rho: float, dim: int = 20):
        self.rho = check_float(rho, "rho", minimum=-1.0, maximum=1.0, exclusive_min=True, exclusive_max=True)
        self.dim = check_int(dim, "dim", minimum=1)
        self.dim_x = self.dim_y = self.dim

    @classmethod
    def from_mi(cls, mi: float, dim: int = 20) -> "CorrelatedGaussian":
        """The correlated Gaussian with ``mi`` nats of MI in ``dim`` dimensions."""
        return cls(rho_from_mi(mi, dim), dim)

    def mutual_information(self) -> float:
        return mi_from_rho(self.rho, self.dim)

    def covariance(self) -> np.ndarray:
        """Joint covariance of ``(x, y)``, shape ``(2d, 2d)``, float64."""
        eye = np.eye(self.dim)
        return np.block([[eye, self.rho * eye], [self.rho * eye, eye]])

    def _sample_torch(self, n, generator, dtype):
        x = torch.randn(n, self.dim, generator=generator, dtype=dtype)
        eps = torch.randn(n, self.dim, generator=generator, dtype=dtype)
        y = self.rho * x + math.sqrt(1.0 - self.rho**2) * eps
        return x, y

    def __repr__(self) -> str:
        return f"CorrelatedGaussian(rho={self.rho:.6g}, dim={self.dim}, mi={self.mutual_information():.4g} nats)"
