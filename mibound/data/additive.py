"""Additive uniform noise: ``x ~ U(0, 1)``, ``y = x + U(-eps, eps)`` per coordinate (bmi's "additive noise").

``h(y | x) = log(2 eps)``, and ``y`` has a trapezoidal density (the convolution of the two
uniforms), whose entropy is elementary: ``eps`` for ``eps <= 1/2`` and ``log(2 eps) + 1/(4 eps)``
for ``eps >= 1/2``. So, per coordinate,

``I = eps - log(2 eps)`` for ``eps <= 1/2``,   ``I = 1 / (4 eps)`` for ``eps >= 1/2``

(equal, 1/2 nat, at ``eps = 1/2``). The joint has no density on a product set: its support is a
band, with sharp edges that smooth estimators blur.
"""

from __future__ import annotations

import math

import torch

from mibound.data.base import Sampler
from mibound.inputs.checks import check_float, check_int

__all__ = ["AdditiveUniformNoise", "additive_uniform_mi"]


def additive_uniform_mi(epsilon: float) -> float:
    """``I(x; x + u)`` in nats for ``x ~ U(0, 1)``, ``u ~ U(-epsilon, epsilon)`` (closed form, see module docs)."""
    eps = check_float(epsilon, "epsilon", minimum=0.0, exclusive_min=True)
    return eps - math.log(2 * eps) if eps <= 0.5 else 1.0 / (4 * eps)


class AdditiveUniformNoise(Sampler):
    """``x ~ U(0, 1)^dim``, ``y = x + U(-epsilon, epsilon)^dim``; ``I = dim * additive_uniform_mi(epsilon)``.

    Parameters
    ----------
    epsilon : float
        Half-width of the noise, ``> 0``.
    dim : int, default 1
    """

    def __init__(self, epsilon: float, dim: int = 1):
        self.epsilon = check_float(epsilon, "epsilon", minimum=0.0, exclusive_min=True)
        self.dim_x = self.dim_y = check_int(dim, "dim", minimum=1)

    def mutual_information(self) -> float:
        return self.dim_x * additive_uniform_mi(self.epsilon)

    def _sample_torch(self, n, generator, dtype):
        x = torch.rand(n, self.dim_x, generator=generator, dtype=torch.float64)
        u = torch.rand(n, self.dim_x, generator=generator, dtype=torch.float64)
        y = x + self.epsilon * (2 * u - 1)
        return x.to(dtype), y.to(dtype)

    def __repr__(self) -> str:
        return (f"AdditiveUniformNoise(epsilon={self.epsilon:g}, dim={self.dim_x}, "
                f"mi={self.mutual_information():.4g} nats)")
