"""MI-preserving per-view transforms: non-Gaussian data with the Gaussian's exact MI.

For injective maps ``g1``, ``g2`` applied to each view separately,
``I(g1(x); g2(y)) = I(x; y)`` (Cover & Thomas, *Elements of Information Theory*, 2nd ed., §8.6;
Kraskov et al. 2004, eq. 44). :class:`Transformed` wraps any sampler with such maps and inherits
its MI. Every transform here is a bijection of ``R^d`` (or onto its image) with an explicit
:meth:`Transform.inverse`, which the tests use to check injectivity numerically.

What breaks exactness (do not add these): quantising (e.g. to uint8), blurring before cropping,
many-to-one renderings.

Caveat in float32: :class:`NormalCDF` saturates to exactly 1.0 above ``x ~ 5.4`` (0 below
``-5.4`` is fine down to ``~ -13``), so extreme samples tie; with unit-variance inputs this hits
about 1 sample in 10^7.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._validation import check_float, check_int, check_seed
from .base import Sampler

__all__ = [
    "Transform",
    "Cube",
    "HalfCube",
    "Asinh",
    "NormalCDF",
    "RandomLinear",
    "Spiral",
    "ELEMENTWISE",
    "make_transform",
    "Transformed",
]


class Transform:
    """An injective map of flat views ``(n, d) -> (n, d)`` on float64 tensors, with its inverse."""

    #: Whether the map acts on each coordinate separately (then it works for any ``d``).
    elementwise: bool = True

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def inverse(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def check_dim(self, dim: int) -> None:
        """Raise ``ValueError`` when the map cannot act on ``dim``-dimensional views."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Cube(Transform):
    """``x -> x^3`` (strictly increasing; inverse ``sign(y) |y|^(1/3)``)."""

    def __call__(self, t):
        return t**3

    def inverse(self, t):
        return torch.sign(t) * t.abs() ** (1.0 / 3.0)


class HalfCube(Transform):
    """``x -> x sqrt|x|`` (strictly increasing; inverse ``sign(y) |y|^(2/3)``)."""

    def __call__(self, t):
        return t * t.abs().sqrt()

    def inverse(self, t):
        return torch.sign(t) * t.abs() ** (2.0 / 3.0)


class Asinh(Transform):
    """``x -> asinh(x)`` (strictly increasing; compresses the tails logarithmically)."""

    def __call__(self, t):
        return torch.asinh(t)

    def inverse(self, t):
        return torch.sinh(t)


class NormalCDF(Transform):
    """``x -> Phi(x)``, the standard normal CDF: Gaussian margins become uniform on ``(0, 1)``."""

    def __call__(self, t):
        return torch.special.ndtr(t)

    def inverse(self, t):
        return torch.special.ndtri(t)


class RandomLinear(Transform):
    """``x -> A x`` with a fixed random invertible ``A`` (``d x d``, float64).

    ``A = Q1 diag(s) Q2`` with Haar-random orthogonal ``Q1``, ``Q2`` and singular values ``s``
    log-uniform in ``[1/condition^(1/2), condition^(1/2)]``, so ``cond(A) <= condition``.

    Parameters
    ----------
    dim : int
    seed : int, default 0
    condition : float, default 10
    """

    elementwise = False

    def __init__(self, dim: int, seed: int = 0, condition: float = 10.0):
        self.dim = check_int(dim, "dim", minimum=1)
        self.seed = check_seed(seed)
        self.condition = check_float(condition, "condition", minimum=1.0)
        rng = np.random.default_rng(self.seed)

        def haar(d):
            q, r = np.linalg.qr(rng.standard_normal((d, d)))
            return q * np.sign(np.diag(r))

        half = 0.5 * math.log(self.condition)
        s = np.exp(rng.uniform(-half, half, self.dim))
        self.matrix = haar(self.dim) @ np.diag(s) @ haar(self.dim)
        self.matrix.setflags(write=False)
        self._matrix_t = torch.tensor(np.array(self.matrix))

    def check_dim(self, dim):
        if dim != self.dim:
            raise ValueError(f"RandomLinear(dim={self.dim}) cannot act on {dim}-dimensional views")

    def __call__(self, t):
        return t @ self._matrix_t.to(t.dtype).T

    def inverse(self, t):
        a = self._matrix_t.to(t.dtype)
        return torch.linalg.solve(a, t.T).T

    def __repr__(self):
        return f"RandomLinear(dim={self.dim}, seed={self.seed}, condition={self.condition:g})"


class Spiral(Transform):
    """A spiral flow: rotate coordinate pairs ``(x_0, x_1), (x_2, x_3), ...`` by ``theta = speed |x|^2 / d``.

    Rotations keep ``|x|``, so the inverse rotates by ``-speed |y|^2 / d``: a smooth bijection
    of ``R^d`` (the spiral diffeomorphism of Czyz et al. 2023 with a block-diagonal generator).
    With an odd ``d`` the last coordinate is left unchanged.

    Parameters
    ----------
    dim : int
        At least 2.
    speed : float, default 1.0
    """

    elementwise = False

    def __init__(self, dim: int, speed: float = 1.0):
        self.dim = check_int(dim, "dim", minimum=2)
        self.speed = check_float(speed, "speed")

    def check_dim(self, dim):
        if dim != self.dim:
            raise ValueError(f"Spiral(dim={self.dim}) cannot act on {dim}-dimensional views")

    def _rotate(self, t, sign):
        theta = sign * self.speed * (t**2).sum(dim=1, keepdim=True) / self.dim
        c, s = torch.cos(theta), torch.sin(theta)
        out = t.clone()
        m = self.dim // 2 * 2
        a, b = t[:, 0:m:2], t[:, 1:m:2]
        out[:, 0:m:2] = c * a - s * b
        out[:, 1:m:2] = s * a + c * b
        return out

    def __call__(self, t):
        return self._rotate(t, 1.0)

    def inverse(self, t):
        return self._rotate(t, -1.0)

    def __repr__(self):
        return f"Spiral(dim={self.dim}, speed={self.speed:g})"


#: Elementwise strictly monotone maps by name.
ELEMENTWISE: dict[str, type[Transform]] = {
    "cube": Cube,
    "half_cube": HalfCube,
    "asinh": Asinh,
    "normal_cdf": NormalCDF,
}


def make_transform(spec, dim: int) -> Transform | None:
    """``None`` (identity), a :class:`Transform`, or a name: an elementwise map, ``"random_linear"``, ``"spiral"``."""
    if spec is None or isinstance(spec, Transform):
        if spec is not None:
            spec.check_dim(dim)
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"a transform must be None, a Transform or a name, got {type(spec).__name__}")
    key = spec.strip().lower()
    if key in ELEMENTWISE:
        return ELEMENTWISE[key]()
    if key == "random_linear":
        return RandomLinear(dim)
    if key == "spiral":
        return Spiral(dim)
    valid = sorted([*ELEMENTWISE, "random_linear", "spiral"])
    raise ValueError(f"unknown transform {spec!r}; valid: {', '.join(valid)}")


class Transformed(Sampler):
    """A sampler with per-view injective maps applied: ``(fx(x), fy(y))``.

    MI is **inherited**: ``I(fx(x); fy(y)) = I(x; y)`` for injective ``fx``, ``fy``. The
    maps act on flattened views in float64 before the cast to the requested dtype; image
    shapes are kept.

    Parameters
    ----------
    sampler : Sampler
    fx, fy : Transform, str or None
        ``None`` is the identity; names as in :func:`make_transform`.
    """

    def __init__(self, sampler: Sampler, fx=None, fy=None):
        if not isinstance(sampler, Sampler):
            raise TypeError(f"sampler must be a mibound Sampler, got {type(sampler).__name__}")
        self.sampler = sampler
        self.dim_x, self.dim_y = sampler.dim_x, sampler.dim_y
        self.shape_x, self.shape_y = sampler.shape_x, sampler.shape_y
        self.fx = make_transform(fx, self.dim_x)
        self.fy = make_transform(fy, self.dim_y)

    def mutual_information(self) -> float:
        """``I(x; y)`` of the wrapped sampler (inherited: the maps are injective per view)."""
        return self.sampler.mutual_information()

    def _sample_torch(self, n, generator, dtype):
        x, y = self.sampler._sample_torch(n, generator, torch.float64)
        if self.fx is not None:
            x = self.fx(x)
        if self.fy is not None:
            y = self.fy(y)
        return x.to(dtype), y.to(dtype)

    def __repr__(self):
        return (f"Transformed({self.sampler!r}, fx={self.fx!r}, fy={self.fy!r}, "
                f"mi={self.mutual_information():.4g} nats, inherited)")
