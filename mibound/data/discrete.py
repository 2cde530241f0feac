"""Discrete and mixed discrete-continuous pairs with exact MI.

- :class:`DiscreteJoint`: both views categorical, drawn from one joint probability table ``P``;
  ``I = sum_ij P_ij log(P_ij / (P_i. P_.j))`` exactly. Categories are coded as numbers (``values``)
  or as one-hot vectors without the first category (dummy coding: injective, so the MI is the same,
  and free of the all-columns-sum-to-one collinearity that makes covariance estimators singular).
- :class:`NoisyDiscrete` (mixed): ``x`` discrete, ``y = x + sigma * eps`` per coordinate;
  ``I = h(y) - 1/2 log(2 pi e sigma^2)`` with ``h(y)`` the entropy of a 1-D Gaussian mixture,
  integrated on a fine grid (exponentially accurate for smooth densities; error below 1e-10).
- :class:`BinnedGaussian` (mixed, deterministic discretisation): ``x ~ N(0, I)`` and
  ``y = floor((x + sigma * eps) / width)`` per coordinate. Without noise ``y`` is a function of
  ``x``, so ``I = H(y)``, the entropy of the bin probabilities; with noise ``I = H(y) - H(y | x)``,
  the second term integrated over ``x`` on a fine grid.

Discrete views tie by construction: estimators built for densities (KSG, the Gaussian plug-in) are
not consistent on them, which is what these tasks are there to show.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.integrate import trapezoid
from scipy.special import ndtr

from mibound.data.base import Sampler
from mibound.functional.nonparametric import discrete_mi
from mibound.inputs.checks import check_float, check_int

__all__ = ["DiscreteJoint", "NoisyDiscrete", "BinnedGaussian", "discrete_mi", "entropy"]


def entropy(p) -> float:
    """Shannon entropy ``-sum p log p`` (nats) of a probability vector (zeros allowed)."""
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


def _bin_probabilities(edges: np.ndarray, sd: float) -> np.ndarray:
    """``P(edges[k] <= N(0, sd^2) < edges[k + 1])`` without cancellation in either tail."""
    a, b = edges[:-1] / sd, edges[1:] / sd
    return np.where(a >= 0, ndtr(-a) - ndtr(-b), ndtr(b) - ndtr(a))


class DiscreteJoint(Sampler):
    """Two categorical views from one joint table ``P[i, j] = P(x = i, y = j)``.

    Parameters
    ----------
    table : array_like, shape (kx, ky)
        Non-negative, normalised here; every row and column needs positive mass.
    values_x, values_y : sequence of float, optional
        The number coding each category (distinct; default ``0, 1, ..., k - 1``).
    one_hot : bool, default False
        Code each view as a one-hot vector without the first category (``dim_x = kx - 1``,
        ``dim_y = ky - 1``; category 0 is all zeros) instead of one number.
    """

    def __init__(self, table, values_x=None, values_y=None, one_hot: bool = False):
        p = np.asarray(table, dtype=np.float64)
        discrete_mi(p)  # validates
        p = p / p.sum()
        if np.any(p.sum(axis=1) <= 0) or np.any(p.sum(axis=0) <= 0):
            raise ValueError("every category needs positive probability: the table has an all-zero row or column")
        self.table = p
        self.table.setflags(write=False)
        kx, ky = p.shape
        self.values_x = self._values(values_x, kx, "values_x")
        self.values_y = self._values(values_y, ky, "values_y")
        self.one_hot = bool(one_hot)
        self.dim_x, self.dim_y = (kx - 1, ky - 1) if self.one_hot else (1, 1)

    @staticmethod
    def _values(values, k, name):
        v = np.arange(k, dtype=np.float64) if values is None else np.asarray(values, dtype=np.float64).reshape(-1)
        if v.size != k:
            raise ValueError(f"{name} needs {k} entries (one per category), got {v.size}")
        if not np.all(np.isfinite(v)) or np.unique(v).size != k:
            raise ValueError(f"{name} must be finite and distinct (an injective coding), got {v.tolist()}")
        return v

    @classmethod
    def symmetric_channel(cls, k: int, error: float, **kwargs) -> "DiscreteJoint":
        """``x`` uniform on ``k`` values; ``y = x`` with probability ``1 - error``, else one of the other ``k - 1``.

        ``I = log k - H_b(error) - error log(k - 1)`` (the symmetric channel's capacity).
        """
        k = check_int(k, "k", minimum=2)
        error = check_float(error, "error", minimum=0.0, maximum=1.0, exclusive_max=True)
        table = np.full((k, k), error / (k - 1) / k)
        np.fill_diagonal(table, (1 - error) / k)
        return cls(table, **kwargs)

    def mutual_information(self) -> float:
        """``sum_ij P_ij log(P_ij / (P_i. P_.j))`` nats (exact)."""
        return discrete_mi(self.table)

    def _sample_torch(self, n, generator, dtype):
        kx, ky = self.table.shape
        flat = torch.multinomial(torch.tensor(self.table.reshape(-1)), n, replacement=True, generator=generator)
        i, j = flat // ky, flat % ky
        if self.one_hot:
            x = torch.nn.functional.one_hot(i, kx)[:, 1:].to(dtype)
            y = torch.nn.functional.one_hot(j, ky)[:, 1:].to(dtype)
        else:
            x = torch.tensor(self.values_x)[i][:, None].to(dtype)
            y = torch.tensor(self.values_y)[j][:, None].to(dtype)
        return x, y

    def __repr__(self) -> str:
        kx, ky = self.table.shape
        return (f"DiscreteJoint({kx}x{ky} table, one_hot={self.one_hot}, "
                f"mi={self.mutual_information():.4g} nats)")


class NoisyDiscrete(Sampler):
    """Mixed pair: ``x`` discrete (i.i.d. per coordinate), ``y = x + noise_sd * eps`` (Gaussian).

    Per coordinate ``I = h(y) - 1/2 log(2 pi e noise_sd^2)``, ``h(y)`` of the Gaussian mixture
    ``sum_k p_k N(v_k, noise_sd^2)`` by a fine trapezoid grid; ``dim`` coordinates add up.

    Parameters
    ----------
    values : sequence of float
        The distinct support of each ``x_i``.
    probs : sequence of float, optional
        Their probabilities (default uniform).
    noise_sd : float
    dim : int, default 1
    """

    def __init__(self, values, probs=None, noise_sd: float = 0.5, dim: int = 1):
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if v.size < 2 or not np.all(np.isfinite(v)) or np.unique(v).size != v.size:
            raise ValueError(f"values must hold at least 2 distinct finite numbers, got {v.tolist()}")
        p = np.full(v.size, 1.0 / v.size) if probs is None else np.asarray(probs, dtype=np.float64).reshape(-1)
        if p.size != v.size or not np.all(np.isfinite(p)) or np.any(p <= 0):
            raise ValueError(f"probs must be {v.size} positive numbers (one per value), got {np.ravel(probs).tolist()}")
        self.values, self.probs = v, p / p.sum()
        self.noise_sd = check_float(noise_sd, "noise_sd", minimum=0.0, exclusive_min=True)
        self.dim_x = self.dim_y = check_int(dim, "dim", minimum=1)
        self._mi: float | None = None

    def output_entropy(self) -> float:
        """``h(y_i)`` (nats) of one coordinate: the Gaussian-mixture entropy on a fine grid."""
        s = self.noise_sd
        grid = np.arange(self.values.min() - 12 * s, self.values.max() + 12 * s + s / 40, s / 40)
        z = (grid[:, None] - self.values) / s
        dens = (self.probs * np.exp(-0.5 * z**2)).sum(axis=1) / (s * math.sqrt(2 * math.pi))
        f = np.where(dens > 0, -dens * np.log(np.where(dens > 0, dens, 1.0)), 0.0)
        return float(trapezoid(f, grid))

    def mutual_information(self) -> float:
        """``dim * (h(y_i) - 1/2 log(2 pi e noise_sd^2))`` nats."""
        if self._mi is None:
            per = self.output_entropy() - 0.5 * math.log(2 * math.pi * math.e * self.noise_sd**2)
            self._mi = self.dim_x * max(per, 0.0)
        return self._mi

    def _sample_torch(self, n, generator, dtype):
        idx = torch.multinomial(torch.tensor(self.probs), n * self.dim_x, replacement=True, generator=generator)
        x = torch.tensor(self.values)[idx].reshape(n, self.dim_x)
        y = x + self.noise_sd * torch.randn(n, self.dim_x, generator=generator, dtype=torch.float64)
        return x.to(dtype), y.to(dtype)

    def __repr__(self) -> str:
        return (f"NoisyDiscrete({self.values.size} values, noise_sd={self.noise_sd:g}, dim={self.dim_x}, "
                f"mi={self.mutual_information():.4g} nats)")


class BinnedGaussian(Sampler):
    """Mixed pair: ``x ~ N(0, I_dim)``, ``y = floor((x + noise_sd * eps) / width)`` per coordinate.

    With ``noise_sd = 0`` the bin is a function of ``x``: ``I = H(y) = -sum_k p_k log p_k``,
    ``p_k = Phi((k + 1) w) - Phi(k w)``. With noise, ``I = H(y) - E_x H(y | x)`` (``y``'s bins
    are those of ``N(0, 1 + noise_sd^2)``; the expectation is integrated on a fine grid in ``x``).
    Coordinates are independent, so ``dim`` of them add up.

    Parameters
    ----------
    width : float, default 1.0
        Bin width ``w``.
    noise_sd : float, default 0.0
    dim : int, default 1
    """

    def __init__(self, width: float = 1.0, noise_sd: float = 0.0, dim: int = 1):
        self.width = check_float(width, "width", minimum=0.0, exclusive_min=True)
        self.noise_sd = check_float(noise_sd, "noise_sd", minimum=0.0)
        self.dim_x = self.dim_y = check_int(dim, "dim", minimum=1)
        if 40.0 / self.width > 1e6:
            raise ValueError(f"width {width} is too small: more than a million bins")
        self._mi: float | None = None

    def _edges(self, sd: float) -> np.ndarray:
        k = math.ceil(40.0 * sd / self.width) + 1
        return np.arange(-k, k + 1, dtype=np.float64) * self.width

    def bin_entropy(self) -> float:
        """``H(y_i)`` (nats) of one coordinate's bin."""
        sd = math.sqrt(1.0 + self.noise_sd**2)
        return entropy(_bin_probabilities(self._edges(sd), sd))

    def conditional_entropy(self) -> float:
        """``H(y_i | x_i)`` (nats): 0 without noise, else a grid integral over ``x``."""
        s = self.noise_sd
        if s == 0:
            return 0.0
        step = min(s, self.width, 1.0) / 40
        xs = np.arange(-12.0, 12.0 + step / 2, step)
        edges = np.arange(math.floor((-12.0 - 14 * s) / self.width),
                          math.ceil((12.0 + 14 * s) / self.width) + 1) * self.width
        total = np.zeros_like(xs)
        for lo, hi in zip(edges[:-1], edges[1:]):  # one bin at a time keeps memory at O(grid)
            a, b = (lo - xs) / s, (hi - xs) / s
            q = np.where(a >= 0, ndtr(-a) - ndtr(-b), ndtr(b) - ndtr(a))
            total -= np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0)
        weight = np.exp(-0.5 * xs**2) / math.sqrt(2 * math.pi)
        return float(trapezoid(weight * total, xs))

    def mutual_information(self) -> float:
        """``dim * (H(y_i) - H(y_i | x_i))`` nats."""
        if self._mi is None:
            self._mi = self.dim_x * max(self.bin_entropy() - self.conditional_entropy(), 0.0)
        return self._mi

    def _sample_torch(self, n, generator, dtype):
        x = torch.randn(n, self.dim_x, generator=generator, dtype=torch.float64)
        noisy = x if self.noise_sd == 0 else x + self.noise_sd * torch.randn(n, self.dim_x, generator=generator,
                                                                             dtype=torch.float64)
        y = torch.floor(noisy / self.width)
        return x.to(dtype), y.to(dtype)

    def __repr__(self) -> str:
        return (f"BinnedGaussian(width={self.width:g}, noise_sd={self.noise_sd:g}, dim={self.dim_x}, "
                f"mi={self.mutual_information():.4g} nats)")
