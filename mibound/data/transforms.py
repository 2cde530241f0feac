"""MI-preserving per-view transforms: non-Gaussian data with the Gaussian's exact MI.

For injective maps ``g1``, ``g2`` applied to each view separately,
``I(g1(x); g2(y)) = I(x; y)`` (Cover & Thomas, *Elements of Information Theory*, 2nd ed., §8.6;
Kraskov et al. 2004, eq. 44). :class:`Transformed` wraps any sampler with such maps and inherits
its MI. Every transform here is a bijection of ``R^d`` (or onto its image) with an explicit
:meth:`Transform.inverse`, which the tests use to check injectivity numerically.

What breaks exactness (do not add these): quantising (e.g. to uint8), blurring before cropping,
many-to-one renderings.

Maps without a closed-form inverse (:class:`Wiggly`, :class:`MixtureQuantile`) are evaluated by
bisection on an exact bracket in float64 (to ~1e-15 relative), so they stay injective in practice.

Caveat in float32: :class:`NormalCDF` saturates to exactly 1.0 above ``x ~ 5.4`` (0 below
``-5.4`` is fine down to ``~ -13``), so extreme samples tie; with unit-variance inputs this hits
about 1 sample in 10^7.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import log_ndtr, logsumexp, ndtri

from mibound.data.base import Sampler
from mibound.inputs.checks import check_float, check_int, check_seed

__all__ = [
    "Transform",
    "Cube",
    "HalfCube",
    "Asinh",
    "NormalCDF",
    "RandomLinear",
    "Spiral",
    "Wiggly",
    "MixtureQuantile",
    "SineShear",
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


class Wiggly(Transform):
    """``x -> x + sum_k a_k sin(f_k x + phi_k)``: a strictly increasing map with wiggles (bmi's "wiggly" family).

    Strictly increasing because ``sum_k |a_k| f_k < 1`` (checked), so the derivative is at least
    ``1 - sum_k |a_k| f_k > 0``. The inverse is computed by bisection on the exact bracket
    ``[y - sum |a_k|, y + sum |a_k|]``.

    Parameters
    ----------
    amplitudes, frequencies, phases : sequence of float
        Equal lengths; frequencies ``> 0``. The defaults give a derivative in ``[0.14, 1.86]``.
    """

    def __init__(self, amplitudes=(0.4, 0.2, 0.04), frequencies=(1.0, 1.6, 3.5), phases=(0.0, 1.0, -2.0)):
        a = np.asarray(amplitudes, dtype=np.float64).reshape(-1)
        f = np.asarray(frequencies, dtype=np.float64).reshape(-1)
        p = np.asarray(phases, dtype=np.float64).reshape(-1)
        if not (a.size == f.size == p.size) or a.size == 0:
            raise ValueError(f"amplitudes, frequencies and phases need the same non-zero length, got "
                             f"{a.size}, {f.size}, {p.size}")
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(f)) and np.all(np.isfinite(p))) or np.any(f <= 0):
            raise ValueError("amplitudes and phases must be finite and frequencies finite and > 0")
        slope = float(np.sum(np.abs(a) * f))
        if slope >= 1.0:
            raise ValueError(f"sum |amplitude| * frequency must be < 1 for a strictly increasing map, got {slope:.4g}")
        self.amplitudes, self.frequencies, self.phases = a, f, p
        self._bound = float(np.sum(np.abs(a)))

    def __call__(self, t):
        out = t.clone()
        for a, f, p in zip(self.amplitudes, self.frequencies, self.phases):
            out = out + a * torch.sin(f * t + p)
        return out

    def inverse(self, t):
        lo, hi = t - self._bound, t + self._bound
        for _ in range(64):
            mid = 0.5 * (lo + hi)
            above = self(mid) > t
            hi = torch.where(above, mid, hi)
            lo = torch.where(above, lo, mid)
        return 0.5 * (lo + hi)

    def __repr__(self):
        return (f"Wiggly(amplitudes={self.amplitudes.tolist()}, frequencies={self.frequencies.tolist()}, "
                f"phases={self.phases.tolist()})")


class MixtureQuantile(Transform):
    """``x -> F^{-1}(Phi(x))`` with ``F`` the CDF of a 1-D Gaussian mixture: standard normal margins become multimodal.

    Strictly increasing (a composition of strictly increasing CDFs and a quantile function), so
    it keeps MI; bmi's "bimodal" task applies one of these per view. The forward map is solved by
    bisection on ``log F(t) = log Phi(x)`` (the upper tail on the survival functions) inside the
    exact bracket ``[min_k(mu_k + s_k x), max_k(mu_k + s_k x)]``; the inverse ``Phi^{-1}(F(y))`` is
    explicit.

    Parameters
    ----------
    weights, means, sds : sequence of float
        Mixture weights (positive; normalised), component means and standard deviations (``> 0``).
    """

    def __init__(self, weights=(0.3, 0.7), means=(0.0, 5.0), sds=(1.0, 1.0)):
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        m = np.asarray(means, dtype=np.float64).reshape(-1)
        s = np.asarray(sds, dtype=np.float64).reshape(-1)
        if not (w.size == m.size == s.size) or w.size == 0:
            raise ValueError(f"weights, means and sds need the same non-zero length, got {w.size}, {m.size}, {s.size}")
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(m)) and np.all(np.isfinite(s))):
            raise ValueError("weights, means and sds must be finite")
        if np.any(w <= 0) or np.any(s <= 0):
            raise ValueError("mixture weights and sds must be > 0")
        self.weights, self.means, self.sds = w / w.sum(), m, s
        self._logw = np.log(self.weights)

    # numpy/scipy inside: a handful of components per value, where torch's threaded kernels only add overhead
    def _log_cdf(self, t: np.ndarray, upper: bool) -> np.ndarray:
        z = (t[..., None] - self.means) / self.sds
        return logsumexp(self._logw + log_ndtr(-z if upper else z), axis=-1)

    def _solve_lower(self, x: np.ndarray, means: np.ndarray) -> np.ndarray:
        """``t`` with ``log F(t) = log Phi(x)`` for ``x <= 0`` (mixture with these means): safeguarded Newton."""
        s, logw = self.sds, self._logw
        ends = means + s * x[..., None]
        lo, hi = ends.min(axis=-1), ends.max(axis=-1)
        target = log_ndtr(x)
        t = 0.5 * (lo + hi)
        for _ in range(100):
            z = (t[..., None] - means) / s
            log_f = logsumexp(logw + log_ndtr(z), axis=-1)
            log_pdf = logsumexp(logw - 0.5 * z**2 - np.log(s) - 0.5 * math.log(2 * math.pi), axis=-1)
            g = log_f - target
            hi = np.where(g > 0, t, hi)
            lo = np.where(g > 0, lo, t)
            step = t - g / np.exp(log_pdf - log_f)
            new = np.where((step >= lo) & (step <= hi), step, 0.5 * (lo + hi))
            done = bool(np.all(np.abs(new - t) <= 1e-13 * (1.0 + np.abs(t))))
            t = new
            if done:
                break
        return t

    def __call__(self, t):
        x = t.detach().cpu().numpy().astype(np.float64)
        # the upper tail by symmetry: S(t) for means m is F(-t) for means -m
        neg = -np.abs(x)
        out = np.where(x > 0, -self._solve_lower(neg, -self.means), self._solve_lower(np.minimum(x, 0.0), self.means))
        return torch.as_tensor(out, dtype=t.dtype, device=t.device)

    def inverse(self, t):
        y = t.detach().cpu().numpy().astype(np.float64)
        low, high = self._log_cdf(y, False), self._log_cdf(y, True)
        out = np.where(low < math.log(0.5), ndtri(np.exp(low)), -ndtri(np.exp(high)))
        return torch.as_tensor(out, dtype=t.dtype, device=t.device)

    def __repr__(self):
        return (f"MixtureQuantile(weights={np.round(self.weights, 6).tolist()}, means={self.means.tolist()}, "
                f"sds={self.sds.tolist()})")


class SineShear(Transform):
    """Bend coordinate 0 by a sine of coordinate 1, then scale and shift: a smooth bijection of ``R^d``.

    ``u_0 = x_0 + amplitude * sin(frequency * x_1)``, ``u_i = x_i`` otherwise, then
    ``y = scale * u + shift`` per coordinate. Invertible because ``x_1`` is kept (up to scale):
    ``x_1 = (y_1 - shift_1) / scale_1``, ``x_0 = (y_0 - shift_0) / scale_0 - amplitude sin(frequency x_1)``.
    The map behind bmi's "waves" mixture.

    Parameters
    ----------
    dim : int
        At least 2.
    amplitude, frequency : float
    scale : sequence of ``dim`` non-zero floats, optional (default ones)
    shift : sequence of ``dim`` floats, optional (default zeros)
    """

    elementwise = False

    def __init__(self, dim: int = 2, amplitude: float = 1.0, frequency: float = 1.0, scale=None, shift=None):
        self.dim = check_int(dim, "dim", minimum=2)
        self.amplitude = check_float(amplitude, "amplitude")
        self.frequency = check_float(frequency, "frequency")
        scale = np.ones(self.dim) if scale is None else np.asarray(scale, dtype=np.float64).reshape(-1)
        shift = np.zeros(self.dim) if shift is None else np.asarray(shift, dtype=np.float64).reshape(-1)
        if scale.size != self.dim or shift.size != self.dim:
            raise ValueError(f"scale and shift need {self.dim} entries, got {scale.size} and {shift.size}")
        if not (np.all(np.isfinite(scale)) and np.all(np.isfinite(shift))) or np.any(scale == 0):
            raise ValueError("scale must be finite and non-zero, shift finite")
        self.scale, self.shift = scale, shift

    def check_dim(self, dim):
        if dim != self.dim:
            raise ValueError(f"SineShear(dim={self.dim}) cannot act on {dim}-dimensional views")

    def __call__(self, t):
        u = t.clone()
        u[:, 0] = t[:, 0] + self.amplitude * torch.sin(self.frequency * t[:, 1])
        return u * torch.as_tensor(self.scale, dtype=t.dtype) + torch.as_tensor(self.shift, dtype=t.dtype)

    def inverse(self, t):
        u = (t - torch.as_tensor(self.shift, dtype=t.dtype)) / torch.as_tensor(self.scale, dtype=t.dtype)
        u[:, 0] = u[:, 0] - self.amplitude * torch.sin(self.frequency * u[:, 1])
        return u

    def __repr__(self):
        return (f"SineShear(dim={self.dim}, amplitude={self.amplitude:g}, frequency={self.frequency:g}, "
                f"scale={self.scale.tolist()}, shift={self.shift.tolist()})")


#: Elementwise strictly monotone maps by name.
ELEMENTWISE: dict[str, type[Transform]] = {
    "cube": Cube,
    "half_cube": HalfCube,
    "asinh": Asinh,
    "normal_cdf": NormalCDF,
    "wiggly": Wiggly,
    "bimodal": MixtureQuantile,
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

    def mi_standard_error(self) -> float:
        """The wrapped sampler's (the maps add no error)."""
        return self.sampler.mi_standard_error()

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
