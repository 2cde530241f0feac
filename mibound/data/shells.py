"""Concentric shells: the views share (noisily) a radius, their directions are independent.

``x = r_x u_x`` and ``y = r_y u_y`` with ``u_x``, ``u_y`` uniform on the unit spheres
``S^(dx-1)``, ``S^(dy-1)`` (a random sign in one dimension), independent of each other and of the
radii, and log-radii ``(log r_x, log r_y)`` bivariate normal with standard deviation ``log_sd`` and
correlation ``rho`` (a shared log-radius plus independent per-view noise). The radius is a
sufficient statistic of each view for the other (``x -> (|x|, x / |x|)`` is a bijection off the
origin, and the directions are independent of everything else), so

``I(x; y) = I(log r_x; log r_y) = -1/2 log(1 - rho^2)``

whatever the dimensions. The data are as far from Gaussian as it gets in one respect: ``x`` and
``y`` are uncorrelated (``E[x y^T] = 0``), so a Gaussian/CCA estimator sees nothing.
"""

from __future__ import annotations

import math

import torch

from mibound.data.base import Sampler
from mibound.functional.analytic import mi_from_rho, rho_from_mi
from mibound.inputs.checks import check_float, check_int

__all__ = ["ConcentricShells"]


class ConcentricShells(Sampler):
    """Spherical views whose log-radii are correlated Gaussians; exact MI ``-1/2 log(1 - rho^2)``.

    Parameters
    ----------
    dim_x, dim_y : int
    rho : float
        Correlation of the log-radii, in ``(-1, 1)``.
    log_sd : float, default 0.5
        Standard deviation of each log-radius (the radii have median 1).
    """

    def __init__(self, dim_x: int, dim_y: int, rho: float, log_sd: float = 0.5):
        self.dim_x = check_int(dim_x, "dim_x", minimum=1)
        self.dim_y = check_int(dim_y, "dim_y", minimum=1)
        self.rho = check_float(rho, "rho", minimum=-1.0, maximum=1.0, exclusive_min=True, exclusive_max=True)
        self.log_sd = check_float(log_sd, "log_sd", minimum=0.0, exclusive_min=True)

    @classmethod
    def from_mi(cls, mi: float, dim_x: int, dim_y: int, log_sd: float = 0.5) -> "ConcentricShells":
        """Shells carrying ``mi`` nats (``rho = sqrt(1 - exp(-2 mi))``)."""
        return cls(dim_x, dim_y, rho_from_mi(mi, 1), log_sd)

    def mutual_information(self) -> float:
        """``-1/2 log(1 - rho^2)`` nats (the log-radii's Gaussian MI; the directions add nothing)."""
        return mi_from_rho(self.rho, 1)

    @staticmethod
    def _directions(n, d, generator):
        g = torch.randn(n, d, generator=generator, dtype=torch.float64)
        if d == 1:
            return torch.sign(g) + (g == 0)  # a fair sign; an exact 0 (probability 0) counts as +1
        return g / g.norm(dim=1, keepdim=True)

    def _sample_torch(self, n, generator, dtype):
        e = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        log_rx = self.log_sd * e[:, 0]
        log_ry = self.log_sd * (self.rho * e[:, 0] + math.sqrt(1.0 - self.rho**2) * e[:, 1])
        x = torch.exp(log_rx)[:, None] * self._directions(n, self.dim_x, generator)
        y = torch.exp(log_ry)[:, None] * self._directions(n, self.dim_y, generator)
        return x.to(dtype), y.to(dtype)

    def __repr__(self) -> str:
        return (f"ConcentricShells(dim_x={self.dim_x}, dim_y={self.dim_y}, rho={self.rho:.6g}, log_sd={self.log_sd:g}, "
                f"mi={self.mutual_information():.4g} nats)")
