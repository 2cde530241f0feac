"""Gaussian mixtures: multimodal, non-Gaussian pairs whose MI is a seeded Monte-Carlo average.

A :class:`GaussianMixture` owns ONE joint description: weights ``w_k``, means ``mu_k`` and joint
covariances ``Sigma_k`` of ``(x, y)``. The marginal densities are mixtures of the blocks of the same
components, so

``I(x; y) = E[log p(x, y) - log p(x) - log p(y)]``

is a Monte-Carlo average over draws of the sampler itself, with a fixed seed (the same value on
every call, for a given torch random stream) and batches added until the standard error is below ``target_se``
(default 0.003 nats; :meth:`~GaussianMixture.mi_standard_error` states it). Nothing is cached on
disk: the value is computed on the first :meth:`~GaussianMixture.mutual_information` call (about a
second) and kept in memory. The tests recheck it by quadrature, through sufficient statistics where
the dimension is above two.

The named constructors are the mixture tasks of Czyz et al. (2023): :func:`x_mixture`
("X"), :func:`ai_mixture` ("AI"), :func:`galaxy_mixture` (two balls through a spiral),
:func:`waves_mixture` (a row of components bent by a sine), :func:`concentric_mixture`
(nested isotropic Gaussians labelled by y) and :func:`inliers_mixture` (a sparse Gaussian with a
share of its product of marginals mixed in).

References
----------
Czyz, Grabowski, Vogt, Beerenwinkel & Marx (2023), "Beyond Normal: On the Evaluation of Mutual
Information Estimators", NeurIPS. Czyz, Grabowski, Vogt, Beerenwinkel & Marx (2023), "The Mixtures
and the Neural Critics: On the Pointwise Mutual Information Profiles of Fine Distributions" (the
"fine" mixtures with Monte-Carlo ground truth).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.linalg import solve_triangular

from mibound.data.base import Sampler
from mibound.data.transforms import SineShear, Spiral, Transformed
from mibound.functional.analytic import _cholesky
from mibound.inputs.checks import check_float, check_int, check_seed

__all__ = ["GaussianMixture", "x_mixture", "ai_mixture", "galaxy_mixture", "waves_mixture", "concentric_mixture",
           "inliers_mixture"]


class GaussianMixture(Sampler):
    """A finite mixture of joint Gaussians over ``(x, y)``; MI by seeded Monte Carlo with a stated error.

    Parameters
    ----------
    weights : array_like, shape (K,)
        Positive component weights (normalised to sum to 1).
    means : array_like, shape (K, dx + dy)
    covariances : array_like, shape (K, dx + dy, dx + dy)
        Joint covariances, each symmetric positive definite.
    dim_x : int
        Leading coordinates that belong to ``x``.
    mc_seed : int, default 0
        Seed of the Monte-Carlo draws behind :meth:`mutual_information`.
    target_se : float, default 0.003
        Draw batches of ``batch`` samples until the standard error is at most this (nats).
    min_samples, max_samples, batch : int, default 100_000, 4_000_000, 100_000
    """

    def __init__(self, weights, means, covariances, dim_x: int, *, mc_seed: int = 0, target_se: float = 0.003,
                 min_samples: int = 100_000, max_samples: int = 4_000_000, batch: int = 100_000):
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        mu = np.asarray(means, dtype=np.float64)
        cov = np.asarray(covariances, dtype=np.float64)
        k = w.size
        if k == 0 or not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ValueError(f"weights must be a non-empty sequence of finite positive numbers, got {w.tolist()}")
        if mu.ndim != 2 or mu.shape[0] != k:
            raise ValueError(f"means must have shape (K, d) with K = {k} components, got {mu.shape}")
        d = mu.shape[1]
        if cov.shape != (k, d, d):
            raise ValueError(f"covariances must have shape (K, d, d) = ({k}, {d}, {d}), got {cov.shape}")
        if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(cov))):
            raise ValueError("means and covariances must be finite")
        if d < 2:
            raise ValueError(f"the joint dimension must be at least 2 (x and y), got {d}")
        self.dim_x = check_int(dim_x, "dim_x", minimum=1, maximum=d - 1)
        self.dim_y = d - self.dim_x
        for i in range(k):
            if not np.allclose(cov[i], cov[i].T, rtol=1e-10, atol=1e-12):
                raise ValueError(f"covariances[{i}] must be symmetric")
        cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
        self.weights = w / w.sum()
        self.means, self.covariances = mu, cov
        for a in (self.weights, self.means, self.covariances):
            a.setflags(write=False)
        self._chol = np.stack([_cholesky(c, f"covariances[{i}]") for i, c in enumerate(cov)])
        self._torch = (torch.tensor(self.weights), torch.tensor(self._chol), torch.tensor(self.means))
        sx, sy = slice(0, self.dim_x), slice(self.dim_x, d)
        # (slice, inverse Cholesky factors, half log-determinants) for the joint and each margin
        self._blocks = {}
        for name, sl in (("xy", slice(0, d)), ("x", sx), ("y", sy)):
            chol = np.stack([_cholesky(c[sl, sl], f"covariances[{i}] ({name} block)") for i, c in enumerate(cov)])
            inv = np.stack([solve_triangular(c, np.eye(c.shape[0]), lower=True) for c in chol])
            self._blocks[name] = (sl, inv, np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1))
        self.mc_seed = check_seed(mc_seed)
        self.target_se = check_float(target_se, "target_se", minimum=0.0, exclusive_min=True)
        self.batch = check_int(batch, "batch", minimum=1000)
        self.min_samples = check_int(min_samples, "min_samples", minimum=1)
        self.max_samples = check_int(max_samples, "max_samples", minimum=self.min_samples)
        self._mc: tuple[float, float, int] | None = None

    @property
    def n_components(self) -> int:
        return self.weights.size

    # densities ---------------------------------------------------------------------------------
    def log_density(self, z: np.ndarray, block: str = "xy") -> np.ndarray:
        """``log p`` of the joint (``block="xy"``, rows ``[x, y]``) or of a margin (``"x"``, ``"y"``), float64."""
        sl, inv_chol, half_logdet = self._blocks[block]
        z = np.asarray(z, dtype=np.float64)
        d = inv_chol.shape[1]
        if z.ndim != 2 or z.shape[1] != d:
            raise ValueError(f"expected rows of dimension {d} for block {block!r}, got shape {z.shape}")
        terms = np.empty((self.n_components, z.shape[0]))
        for k in range(self.n_components):
            sol = (z - self.means[k, sl]) @ inv_chol[k].T  # L^{-1} (z - mu): whitened residuals
            terms[k] = (math.log(self.weights[k]) - 0.5 * np.einsum("ij,ij->i", sol, sol) - half_logdet[k]
                        - 0.5 * d * math.log(2 * math.pi))
        top = terms.max(axis=0)
        return top + np.log(np.exp(terms - top).sum(axis=0))

    def pointwise_mi(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``log p(x, y) - log p(x) - log p(y)`` per row (its mean over draws is the MI)."""
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        return (self.log_density(np.concatenate([x, y], axis=1), "xy") - self.log_density(x, "x")
                - self.log_density(y, "y"))

    # ground truth -------------------------------------------------------------------------------
    def _monte_carlo(self) -> tuple[float, float, int]:
        if self._mc is None:
            gen = torch.Generator().manual_seed(self.mc_seed)
            total, total_sq, count = 0.0, 0.0, 0
            while True:
                x, y = self._sample_torch(self.batch, gen, torch.float64)
                terms = self.pointwise_mi(x.numpy(), y.numpy())
                total += float(terms.sum())
                total_sq += float(np.square(terms).sum())
                count += terms.size
                mean = total / count
                var = max(total_sq / count - mean**2, 0.0) * count / (count - 1)
                se = math.sqrt(var / count)
                if count >= self.max_samples or (count >= self.min_samples and se <= self.target_se):
                    break
            self._mc = (mean, se, count)
        return self._mc

    def mutual_information(self) -> float:
        """``I(x; y)`` in nats: the seeded Monte-Carlo mean of :meth:`pointwise_mi` (see :meth:`mi_standard_error`)."""
        return self._monte_carlo()[0]

    def mi_standard_error(self) -> float:
        """Standard error (nats) of :meth:`mutual_information` (below ``target_se`` unless ``max_samples`` ran out)."""
        return self._monte_carlo()[1]

    def mc_samples(self) -> int:
        """How many draws the Monte-Carlo value averages."""
        return self._monte_carlo()[2]

    def _sample_torch(self, n, generator, dtype):
        probs, chol, mu = self._torch
        labels = torch.multinomial(probs, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.means.shape[1], generator=generator, dtype=torch.float64)
        # every component's L eps, then each row picks its own (no boolean masks); in chunks to bound memory
        z = torch.empty_like(eps)
        for start in range(0, n, 1 << 16):
            rows = slice(start, min(start + (1 << 16), n))
            every = torch.einsum("kij,nj->kni", chol, eps[rows])
            lab = labels[rows]
            z[rows] = every[lab, torch.arange(lab.numel())] + mu[lab]
        z = z.to(dtype)
        return z[:, :self.dim_x], z[:, self.dim_x:]

    def __repr__(self) -> str:
        mi, se, _ = self._monte_carlo()
        return (f"GaussianMixture(components={self.n_components}, dim_x={self.dim_x}, dim_y={self.dim_y}, "
                f"mi={mi:.4g} nats +- {se:.1g} (Monte Carlo, seed {self.mc_seed}))")


def x_mixture(correlation: float = 0.9, **mc) -> GaussianMixture:
    """"X" (1 + 1 dims): an even mixture of two unit Gaussians with correlations ``+c`` and ``-c``.

    Both margins are exactly standard normal and ``x, y`` are uncorrelated, yet dependent.
    """
    c = check_float(correlation, "correlation", minimum=-1.0, maximum=1.0, exclusive_min=True, exclusive_max=True)
    covs = [np.array([[1.0, s * c], [s * c, 1.0]]) for s in (-1.0, 1.0)]
    return GaussianMixture([0.5, 0.5], np.zeros((2, 2)), covs, 1, **mc)


def ai_mixture(**mc) -> GaussianMixture:
    """"AI" (1 + 1 dims): six components drawing the letters A and I in the plane (Czyz et al. 2023)."""
    var_x, var_y, corr = 0.04, 0.2, 0.95
    off = math.sqrt(var_x * var_y) * corr
    means = [[1.0, 0.0], [1.0, 1.0], [1.0, -1.0], [-0.8, -0.2], [-1.2, 0.0], [-0.4, 0.0]]
    covs = [np.diag([0.01, 0.2]), np.diag([0.05, 0.001]), np.diag([0.05, 0.001]), np.diag([0.03, 0.001]),
            np.array([[var_x, off], [off, var_y]]), np.array([[var_x, -off], [-off, var_y]])]
    return GaussianMixture(np.full(6, 1 / 6), means, covs, 1, **mc)


def galaxy_mixture(speed: float = 0.5, distance: float = 3.0, **mc) -> Transformed:
    """"Galaxy" (2 + 1 dims): two unit balls at ``+-(distance / 2)(1, 1, 1)``, x swirled by a spiral.

    x is rotated by the angle ``speed * |x|^2`` (:class:`~mibound.data.Spiral` with ``2 * speed``),
    a diffeomorphism of the plane, so the MI is that of the two-ball mixture.
    """
    speed = check_float(speed, "speed")
    distance = check_float(distance, "distance", minimum=0.0, exclusive_min=True)
    half = distance / 2
    base = GaussianMixture([0.5, 0.5], [[-half] * 3, [half] * 3], [np.eye(3)] * 2, 2, **mc)
    return Transformed(base, Spiral(2, speed=2 * speed), None)


def waves_mixture(n_components: int = 12, amplitude: float = 5.0, frequency: float = 3.0, **mc) -> Transformed:
    """"Waves" (2 + 1 dims): components along a line, x bent by a sine wave (Czyz et al. 2023).

    Component ``c``: mean ``1.5 (c, 0, c mod 4)``, covariance ``diag(0.1, 1, 0.1)``; then
    ``x -> (0.1 (x_0 + amplitude sin(frequency x_1)) - 0.8, 0.5 x_1)``, a bijection
    (:class:`~mibound.data.SineShear`), so the MI is the mixture's.
    """
    n_components = check_int(n_components, "n_components", minimum=2)
    means = [[1.5 * c, 0.0, 1.5 * (c % 4)] for c in range(n_components)]
    base = GaussianMixture(np.full(n_components, 1 / n_components), means,
                           [np.diag([0.1, 1.0, 0.1])] * n_components, 2, **mc)
    return Transformed(base, SineShear(2, amplitude, frequency, scale=(0.1, 0.5), shift=(-0.8, 0.0)), None)


def concentric_mixture(dim_x: int, n_components: int = 3, label_sd: float = 0.01, **mc) -> GaussianMixture:
    """Nested isotropic Gaussians (``dim_x`` + 1 dims): ``x | i ~ N(0, i^2 I)``, ``y | i ~ N(i, label_sd^2)``.

    y names the shell's scale almost surely, so the MI is close to ``I(x; i)``, which depends on
    ``|x|`` only.
    """
    dim_x = check_int(dim_x, "dim_x", minimum=1)
    n_components = check_int(n_components, "n_components", minimum=2)
    label_sd = check_float(label_sd, "label_sd", minimum=0.0, exclusive_min=True)
    means, covs = [], []
    for i in range(1, n_components + 1):
        means.append([0.0] * dim_x + [float(i)])
        covs.append(np.diag([float(i * i)] * dim_x + [label_sd**2]))
    return GaussianMixture(np.full(n_components, 1 / n_components), means, covs, dim_x, **mc)


def inliers_mixture(dim_x: int, dim_y: int, n_interacting: int = 2, rho: float = 0.8, inlier_fraction: float = 0.2,
                    **mc) -> GaussianMixture:
    """A sparse Gaussian (``n_interacting`` pairs with correlation ``rho``) with ``inlier_fraction`` of
    its product of marginals mixed in: samples that look typical but carry no dependence.

    Both components have the same standard-normal margins.
    """
    dim_x = check_int(dim_x, "dim_x", minimum=1)
    dim_y = check_int(dim_y, "dim_y", minimum=1)
    n_interacting = check_int(n_interacting, "n_interacting", minimum=1, maximum=min(dim_x, dim_y))
    rho = check_float(rho, "rho", minimum=-1.0, maximum=1.0, exclusive_min=True, exclusive_max=True)
    f = check_float(inlier_fraction, "inlier_fraction", minimum=0.0, maximum=1.0, exclusive_min=True,
                    exclusive_max=True)
    d = dim_x + dim_y
    signal = np.eye(d)
    idx = np.arange(n_interacting)
    signal[idx, dim_x + idx] = signal[dim_x + idx, idx] = rho
    return GaussianMixture([1 - f, f], np.zeros((2, d)), [signal, np.eye(d)], dim_x, **mc)
