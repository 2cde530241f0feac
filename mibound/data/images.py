"""Image-like views with exact MI: Gaussian-random-field crops, channel splits, rendered latents.

Gaussian random fields (GRF)
----------------------------
A stationary periodic field on a ``T x T`` torus is defined by a spectrum ``S(f) >= 0`` with
``S(f) = S(-f)``. Its covariance is ``c(d) = Re ifft2(S)[d]`` (normalised here to ``c(0) = 1``)
and ``X = ifft2(sqrt(S) * fft2(Z))`` with white noise ``Z`` samples it exactly; one complex ``Z``
gives two independent fields (real and imaginary parts). Pixel covariances follow from ``c``,
so crops of one field are jointly Gaussian with a known covariance and
``I = 1/2 (log det S11 + log det S22 - log det S)`` (:func:`mibound.functional.analytic.gaussian_mi`).

Wrap-around: on a torus ``c(t) = c(T - t)``, so MI between crops would rise again past ``T/2``.
The samplers therefore place an ``image_size`` window on a ``2 * image_size`` torus by default
(MI then falls monotonically with the offset); pass ``torus_size=image_size`` to reproduce the
periodic values.

References
----------
Dietrich & Newsam (1997), "Fast and exact simulation of stationary Gaussian processes through
circulant embedding", SIAM J. Sci. Comput. Tian et al. (2020), "What Makes for Good Views for
Contrastive Learning?" (InfoMin: patch distance and the L-vs-ab channel split), NeurIPS.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
from scipy import optimize
from scipy.special import ndtri

from mibound.data.base import Sampler
from mibound.functional.analytic import _as_covariance, _cholesky, gaussian_mi
from mibound.inputs.checks import check_float, check_int, check_seed

__all__ = [
    "grf_kernel",
    "grf_spectrum",
    "GaussianRandomFieldCrops",
    "mi_vs_offset",
    "ChannelSplitViews",
    "RenderedLatents",
]

_CHUNK = 512  # fields per FFT batch (memory: 512 * 64 * 64 complex128 = 32 MB)
#: ``method="auto"`` samples crops from the Cholesky factor of their joint covariance up to this
#: dimension (fewer random numbers than a whole torus), and by FFT of the whole field above it.
_CHOLESKY_MAX_DIM = 1024


# ---------------------------------------------------------------------------------------------
# spectra and kernels
# ---------------------------------------------------------------------------------------------
def grf_spectrum(size: int, spectrum: str | Callable = "powerlaw", alpha: float = 2.0, f0: float = 1 / 32,
                 length_scale: float = 2.0) -> np.ndarray:
    """The power spectrum ``S`` on a ``size x size`` torus, scaled so that the field has unit variance.

    Parameters
    ----------
    size : int
        Torus side ``T`` (pixels).
    spectrum : {"powerlaw", "squared_exponential"} or callable, default "powerlaw"
        ``"powerlaw"``: ``S(f) = (|f|^2 + f0^2)^(-alpha/2)`` (natural-image-like, ``f`` in cycles
        per pixel); ``"squared_exponential"``: ``S(f) = exp(-2 pi^2 length_scale^2 |f|^2)``
        (covariance ``~ exp(-d^2 / (2 length_scale^2))``; very smooth, nearly deterministic
        fields); a callable ``(fy, fx) -> S`` on ``np.fft.fftfreq`` grids.
    alpha, f0 : float
        Power-law exponent and low-frequency cut-off (``f0 > 0``).
    length_scale : float
        Squared-exponential length scale in pixels.

    Returns
    -------
    ndarray, shape (size, size), float64
        ``S >= 0`` with ``mean(S) = 1`` (so ``c(0) = 1``).
    """
    size = check_int(size, "size", minimum=1)
    f = np.fft.fftfreq(size)
    fy, fx = np.meshgrid(f, f, indexing="ij")
    if callable(spectrum):
        s = np.asarray(spectrum(fy, fx), dtype=np.float64)
        if s.shape != (size, size):
            raise ValueError(f"spectrum callable must return shape {(size, size)}, got {s.shape}")
        if not np.all(np.isfinite(s)) or np.any(s < 0):
            raise ValueError("spectrum must be finite and non-negative")
        # symmetrise: S(f) = S(-f) is what makes the field real
        s = 0.5 * (s + np.roll(s[::-1, ::-1], 1, axis=(0, 1)))
    else:
        if not isinstance(spectrum, str):
            raise TypeError(f"spectrum must be a name or a callable, got {type(spectrum).__name__}")
        key = spectrum.strip().lower()
        if key == "powerlaw":
            alpha = check_float(alpha, "alpha", minimum=0.0)
            f0 = check_float(f0, "f0", minimum=0.0, exclusive_min=True)
            s = (fx**2 + fy**2 + f0**2) ** (-alpha / 2.0)
        elif key in ("squared_exponential", "se", "rbf"):
            ls = check_float(length_scale, "length_scale", minimum=0.0, exclusive_min=True)
            s = np.exp(-2.0 * math.pi**2 * ls**2 * (fx**2 + fy**2))
        else:
            raise ValueError(f"unknown spectrum {spectrum!r}; valid: powerlaw, squared_exponential, or a callable")
    total = s.mean()
    if total <= 0:
        raise ValueError("spectrum is identically zero")
    return s / total


def grf_kernel(size: int, **spectrum_options) -> np.ndarray:
    """Covariance ``c(d) = Re ifft2(S)[d]`` of the unit-variance field, shape ``(size, size)``, ``c[0, 0] = 1``."""
    return np.fft.ifft2(grf_spectrum(size, **spectrum_options)).real


def _offsets(pos_a: np.ndarray, pos_b: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``kernel[(pos_a[i] - pos_b[j]) mod T]``, shape ``(len(pos_a), len(pos_b))``."""
    t = kernel.shape[0]
    d = (pos_a[:, None, :] - pos_b[None, :, :]) % t
    return kernel[d[..., 0], d[..., 1]]


def _crop_positions(top_left: tuple[int, int], crop: int) -> np.ndarray:
    r, c = np.meshgrid(np.arange(crop), np.arange(crop), indexing="ij")
    return np.stack([r.ravel() + top_left[0], c.ravel() + top_left[1]], axis=1)


def _sample_fields(n: int, sqrt_s: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``n`` independent fields ``(n, T, T)`` float64: real and imaginary parts of ``ifft2(sqrt(S) fft2(Z))``."""
    t = sqrt_s.shape[0]
    chunks, remaining = [], n
    while remaining > 0:
        m = min(_CHUNK, (remaining + 1) // 2)
        z = torch.randn(m, 2, t, t, generator=generator, dtype=torch.float64)
        field = _field_from_noise(torch.complex(z[:, 0], z[:, 1]), sqrt_s)
        both = torch.cat([field.real, field.imag], dim=0)[:remaining]
        chunks.append(both)
        remaining -= both.shape[0]
    return torch.cat(chunks, dim=0)


def _field_from_noise(z: torch.Tensor, sqrt_s: torch.Tensor) -> torch.Tensor:
    """The linear sampling map ``Z -> ifft2(sqrt(S) fft2(Z))`` (real ``Z``: take ``.real`` of the result)."""
    return torch.fft.ifft2(torch.fft.fft2(z) * sqrt_s)


def _check_offset(offset) -> tuple[int, int]:
    if isinstance(offset, (int, np.integer)) and not isinstance(offset, bool):
        return 0, int(offset)
    try:
        dr, dc = offset
    except (TypeError, ValueError):
        raise TypeError(f"offset must be an int (horizontal) or a pair (rows, cols) of ints, got {offset!r}") from None
    return check_int(dr, "offset[0]"), check_int(dc, "offset[1]")


class _FieldMixin:
    """Spectrum settings shared by the GRF samplers."""

    def _init_field(self, image_size, torus_size, spectrum, alpha, f0, length_scale, method):
        if method not in ("auto", "fft", "cholesky"):
            raise ValueError(f"method must be 'auto', 'fft' or 'cholesky', got {method!r}")
        self.method = method
        self.image_size = check_int(image_size, "image_size", minimum=1)
        self.torus_size = 2 * self.image_size if torus_size is None else check_int(torus_size, "torus_size")
        if self.torus_size < self.image_size:
            raise ValueError(f"torus_size ({self.torus_size}) must be >= image_size ({self.image_size})")
        self.spectrum, self.alpha, self.f0, self.length_scale = spectrum, alpha, f0, length_scale
        s = grf_spectrum(self.torus_size, spectrum=spectrum, alpha=alpha, f0=f0, length_scale=length_scale)
        self._kernel = np.fft.ifft2(s).real
        self._sqrt_s = torch.as_tensor(np.sqrt(s), dtype=torch.float64)

    def _use_fft(self, joint_dim: int) -> bool:
        return self.method == "fft" or (self.method == "auto" and joint_dim > _CHOLESKY_MAX_DIM)

    def kernel(self) -> np.ndarray:
        """The field covariance ``c(d)`` on the torus, shape ``(T, T)``, ``c[0, 0] = 1`` (a copy)."""
        return np.array(self._kernel)

    def _spectrum_repr(self) -> str:
        if callable(self.spectrum):
            return "spectrum=<callable>"
        if self.spectrum.strip().lower() == "powerlaw":
            return f"spectrum='powerlaw', alpha={self.alpha:g}, f0={self.f0:.4g}"
        return f"spectrum={self.spectrum!r}, length_scale={self.length_scale:g}"


# ---------------------------------------------------------------------------------------------
# crops of one field
# ---------------------------------------------------------------------------------------------
class GaussianRandomFieldCrops(_FieldMixin, Sampler):
    """Two crops of one stationary Gaussian random field: the InfoMin "patch distance" views.

    ``x = crop(X, p) + noise * e1``, ``y = crop(X, p + offset) + noise * e2`` with independent
    per-view pixel noise added *after* cropping. With ``channels > 1`` each channel is an
    independent copy of the field (the MI is ``channels`` times the one-channel MI).

    Exact MI from the kernel: ``Sigma_ab = c(pos_a - pos_b) + noise^2 delta_ab``, then the
    Gaussian formula in float64. Overlapping crops carry about ``n_overlap * log(1 / noise)``
    nats — far above any ``log K``.

    Parameters
    ----------
    image_size : int, default 32
        Side of the window both crops must fit in.
    crop_size : int, default 8
    offset : int or (int, int), default (0, 4)
        ``(rows, cols)`` displacement of the second crop; an int is a horizontal offset.
    spectrum, alpha, f0, length_scale
        See :func:`grf_spectrum`.
    noise : float, default 0.1
        Per-view pixel noise standard deviation (the field has unit variance).
    channels : int, default 1
    torus_size : int, optional
        Side of the periodic grid the field lives on; default ``2 * image_size`` (no wrap-around).
    method : {"auto", "fft", "cholesky"}, default "auto"
        How to sample (both exact): ``"fft"`` draws whole fields on the torus and crops them;
        ``"cholesky"`` draws the noisy crop pair from the Cholesky factor of its joint covariance;
        ``"auto"`` uses Cholesky up to a joint dimension of 1024 per channel.

    Examples
    --------
    >>> s = GaussianRandomFieldCrops(offset=(0, 8), torus_size=32)
    >>> round(s.mutual_information(), 2)
    1.27
    >>> s.sample(4, seed=0)[0].shape
    (4, 1, 8, 8)
    """

    def __init__(self, image_size: int = 32, crop_size: int = 8, offset=(0, 4), spectrum="powerlaw",
                 alpha: float = 2.0, noise: float = 0.1, channels: int = 1, f0: float = 1 / 32,
                 length_scale: float = 2.0, torus_size: int | None = None, method: str = "auto"):
        self._init_field(image_size, torus_size, spectrum, alpha, f0, length_scale, method)
        self.crop_size = check_int(crop_size, "crop_size", minimum=1)
        self.offset = _check_offset(offset)
        self.noise = check_float(noise, "noise", minimum=0.0)
        self.channels = check_int(channels, "channels", minimum=1)
        dr, dc = self.offset
        if abs(dr) + self.crop_size > self.image_size or abs(dc) + self.crop_size > self.image_size:
            raise ValueError(f"two {self.crop_size}x{self.crop_size} crops at offset {self.offset} do not fit in a "
                             f"{self.image_size}x{self.image_size} image; use a smaller offset or crop, or a "
                             "larger image_size")
        self.top_left_x = (max(0, -dr), max(0, -dc))
        self.top_left_y = (self.top_left_x[0] + dr, self.top_left_x[1] + dc)
        self._pos_x = _crop_positions(self.top_left_x, self.crop_size)
        self._pos_y = _crop_positions(self.top_left_y, self.crop_size)
        self.shape_x = self.shape_y = (self.channels, self.crop_size, self.crop_size)
        self.dim_x = self.dim_y = self.channels * self.crop_size**2
        one = self.channel_covariance()
        try:
            self._mi_one = gaussian_mi(one, self.crop_size**2)
        except ValueError as exc:
            raise ValueError(f"the crop covariance is singular ({exc}); with noise=0 the crops must not overlap "
                             "and the spectrum must be positive: add pixel noise") from None
        self._chol_one = None if self._use_fft(one.shape[0]) else torch.as_tensor(np.linalg.cholesky(one))

    def channel_covariance(self) -> np.ndarray:
        """Joint covariance of one channel's two crops, shape ``(2 m, 2 m)`` with ``m = crop_size^2``."""
        pos = np.concatenate([self._pos_x, self._pos_y])
        cov = _offsets(pos, pos, self._kernel)
        cov[np.diag_indices_from(cov)] += self.noise**2
        return 0.5 * (cov + cov.T)

    def covariance(self) -> np.ndarray:
        """The full joint covariance of ``(x, y)`` flattened as ``(C, H, W)``, shape ``(2 C m, 2 C m)``."""
        m = self.crop_size**2
        one = self.channel_covariance()
        eye = np.eye(self.channels)
        blocks = [[np.kron(eye, one[:m, :m]), np.kron(eye, one[:m, m:])],
                  [np.kron(eye, one[m:, :m]), np.kron(eye, one[m:, m:])]]
        return np.block(blocks)

    def mutual_information(self) -> float:
        """Exact ``I(x; y)`` in nats: ``channels`` times the one-channel Gaussian MI of the crop pair."""
        return self.channels * self._mi_one

    def crops_from_white_noise(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The noise-free linear sampling map: real white noise ``(n, T, T)`` -> crops ``(n, m)``, ``(n, m)``.

        Exposed so that tests can push basis vectors through the sampler and compare ``M M^T``
        with :meth:`channel_covariance`.
        """
        field = _field_from_noise(z.to(torch.complex128), self._sqrt_s).real
        return self._crop(field, self._pos_x), self._crop(field, self._pos_y)

    @staticmethod
    def _crop(field: torch.Tensor, pos: np.ndarray) -> torch.Tensor:
        return field[:, torch.as_tensor(pos[:, 0]), torch.as_tensor(pos[:, 1])]

    def _sample_torch(self, n, generator, dtype):
        if self._chol_one is not None:  # exact: N(0, Sigma) of the noisy crop pair, per channel
            m = self.crop_size**2
            z = torch.randn(n * self.channels, 2 * m, generator=generator, dtype=torch.float64) @ self._chol_one.T
            z = z.reshape(n, self.channels, 2 * m)
            return z[..., :m].reshape(n, self.dim_x).to(dtype), z[..., m:].reshape(n, self.dim_y).to(dtype)
        fields = _sample_fields(n * self.channels, self._sqrt_s, generator)
        x = self._crop(fields, self._pos_x).reshape(n, self.dim_x)
        y = self._crop(fields, self._pos_y).reshape(n, self.dim_y)
        if self.noise > 0:
            x = x + self.noise * torch.randn(x.shape, generator=generator, dtype=torch.float64)
            y = y + self.noise * torch.randn(y.shape, generator=generator, dtype=torch.float64)
        return x.to(dtype), y.to(dtype)

    def sample_fields(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` whole noise-free fields in the ``image_size`` window, shape ``(n, channels, image_size, image_size)``.

        Crops of these windows at the sampler's ``offset`` (anywhere in the window: the field is
        stationary), plus independent ``N(0, noise^2)`` pixel noise per view, have exactly the
        joint law of :meth:`sample`; :func:`mibound.images.views.crop_pairs` is tested against
        :meth:`covariance` this way. float64.
        """
        n = check_int(n, "n", minimum=1)
        gen = torch.Generator().manual_seed(check_seed(seed))
        w = self.image_size
        fields = _sample_fields(n * self.channels, self._sqrt_s, gen)[:, :w, :w]
        return fields.reshape(n, self.channels, w, w).numpy()

    def __repr__(self):
        return (f"GaussianRandomFieldCrops(image_size={self.image_size}, crop_size={self.crop_size}, "
                f"offset={self.offset}, {self._spectrum_repr()}, noise={self.noise:g}, channels={self.channels}, "
                f"torus_size={self.torus_size}, mi={self.mutual_information():.4g} nats)")


def mi_vs_offset(offsets: Sequence, **options) -> np.ndarray:
    """Exact ``I(crop1; crop2)`` (nats) for each offset: the InfoMin patch-distance sweep.

    Parameters
    ----------
    offsets : sequence of int or (int, int)
        Ints are horizontal offsets.
    **options
        Any other :class:`GaussianRandomFieldCrops` parameter.

    Examples
    --------
    >>> np.round(mi_vs_offset([0, 8, 16], torus_size=32), 2).tolist()
    [103.49, 1.27, 0.02]
    """
    return np.array([GaussianRandomFieldCrops(offset=o, **options).mutual_information() for o in offsets])


# ---------------------------------------------------------------------------------------------
# channel split
# ---------------------------------------------------------------------------------------------
class ChannelSplitViews(_FieldMixin, Sampler):
    """One crop of a multi-channel field; view 1 = channel 0, view 2 = the other channels ("L vs ab").

    ``Cov(X_c(s), X_c'(t)) = C_cc' c(s - t)``: a channel covariance ``C`` times the spatial
    kernel. ``C`` defaults to ``[[1, rho, ..., rho], [rho, R]]`` with ``R`` having unit diagonal
    and ``rest_correlation`` off the diagonal. Per-view pixel noise is added after cropping.

    Exact MI: with the crop kernel ``K = sum_j lambda_j u_j u_j^T``, rotating every channel's
    pixels by ``U`` (an invertible map of each view) splits the MI into ``m`` channel-sized
    problems ``sum_j I(lambda_j C + noise^2 I)``; with ``noise = 0`` every term equals
    ``1/2 log(C00 det C_rest / det C)`` (the spectrum cancels). :meth:`covariance` gives the
    dense joint covariance ``C (x) K + noise^2 I`` the tests check this against.

    Parameters
    ----------
    channels : int, default 3
    rho : float, default 0.3
        Correlation of channel 0 with each other channel.
    rest_correlation : float, default 0.3
    channel_cov : array_like, optional
        A full ``(channels, channels)`` correlation/covariance matrix instead of ``rho``.
    crop_size : int, default 8
    noise : float, default 0.0
    image_size, torus_size, spectrum, alpha, f0, length_scale, method
        As for :class:`GaussianRandomFieldCrops` (the crop sits at the top-left corner).

    Examples
    --------
    >>> round(ChannelSplitViews(rho=0.3).mutual_information(), 2)
    4.77
    """

    def __init__(self, channels: int = 3, rho: float = 0.3, rest_correlation: float = 0.3, channel_cov=None,
                 crop_size: int = 8, noise: float = 0.0, image_size: int = 32, spectrum="powerlaw",
                 alpha: float = 2.0, f0: float = 1 / 32, length_scale: float = 2.0, torus_size: int | None = None,
                 method: str = "auto"):
        self._init_field(image_size, torus_size, spectrum, alpha, f0, length_scale, method)
        self.crop_size = check_int(crop_size, "crop_size", minimum=1, maximum=self.image_size)
        self.noise = check_float(noise, "noise", minimum=0.0)
        if channel_cov is None:
            self.channels = check_int(channels, "channels", minimum=2)
            self.rho = check_float(rho, "rho", minimum=-1.0, maximum=1.0)
            self.rest_correlation = check_float(rest_correlation, "rest_correlation", minimum=-1.0, maximum=1.0,
                                                exclusive_max=True)
            limit = self.max_rho(self.channels, self.rest_correlation)
            if abs(self.rho) >= limit:
                raise ValueError(f"|rho| must be < {limit:.6g} for channels={self.channels}, "
                                 f"rest_correlation={self.rest_correlation} (positive definiteness); got {rho}")
            c = np.full((self.channels, self.channels), self.rest_correlation)
            c[0, :] = c[:, 0] = self.rho
            np.fill_diagonal(c, 1.0)
        else:
            c = _as_covariance(channel_cov, 1)
            self.channels = c.shape[0]
            self.rho = self.rest_correlation = None
        _cholesky(c, "channel_cov")
        self._channel_cov = c
        self._channel_chol = torch.as_tensor(np.linalg.cholesky(c), dtype=torch.float64)
        self._pos = _crop_positions((0, 0), self.crop_size)
        m = self.crop_size**2
        self.shape_x = (1, self.crop_size, self.crop_size)
        self.shape_y = (self.channels - 1, self.crop_size, self.crop_size)
        self.dim_x, self.dim_y = m, (self.channels - 1) * m
        self._mi = self._exact_mi()
        self._chol: torch.Tensor | None = None  # built on first use (sampling)

    @staticmethod
    def max_rho(channels: int, rest_correlation: float) -> float:
        """Largest ``|rho|`` keeping ``C`` positive definite: ``sqrt((1 + (k - 1) r) / k)``, ``k = channels - 1``."""
        k = channels - 1
        top = 1 + (k - 1) * rest_correlation
        if top <= 0 or rest_correlation >= 1:
            raise ValueError(f"rest_correlation={rest_correlation} does not give a positive definite block for "
                             f"{k} channels; need -1/({k} - 1) < rest_correlation < 1")
        return math.sqrt(top / k)

    def channel_covariance(self) -> np.ndarray:
        """``C``, shape ``(channels, channels)`` (a copy)."""
        return np.array(self._channel_cov)

    def crop_kernel(self) -> np.ndarray:
        """``K``, the spatial covariance of the crop's pixels, shape ``(m, m)``."""
        return _offsets(self._pos, self._pos, self._kernel)

    def covariance(self) -> np.ndarray:
        """Dense joint covariance ``C (x) K + noise^2 I`` of ``(x, y)`` (channel-major), shape ``(C m, C m)``."""
        cov = np.kron(self._channel_cov, self.crop_kernel())
        cov[np.diag_indices_from(cov)] += self.noise**2
        return 0.5 * (cov + cov.T)

    def _exact_mi(self) -> float:
        c, s2 = self._channel_cov, self.noise**2
        lam = np.linalg.eigvalsh(self.crop_kernel())
        if s2 == 0:
            if lam.min() <= 0:
                raise ValueError("the crop kernel is singular and noise=0: the MI is infinite; add pixel noise")
            return lam.size * gaussian_mi(c, 1)
        eye = np.eye(c.shape[0])
        return float(sum(gaussian_mi(max(lj, 0.0) * c + s2 * eye, 1) for lj in lam))

    def mutual_information(self) -> float:
        return self._mi

    @classmethod
    def correlation_for_mi(cls, mi: float, **options) -> float:
        """The ``rho >= 0`` giving ``mi`` nats (bisection; the MI increases with ``rho``)."""
        mi = check_float(mi, "mi", minimum=0.0)
        if "channel_cov" in options or "rho" in options:
            raise TypeError("correlation_for_mi solves for rho; do not pass rho or channel_cov")
        channels = options.get("channels", 3)
        hi = cls.max_rho(channels, options.get("rest_correlation", 0.3)) * (1 - 1e-9)
        f = lambda r: cls(rho=r, **options).mutual_information() - mi  # noqa: E731
        top = f(hi) + mi
        if mi >= top:
            raise ValueError(f"mi={mi} nats is not reachable with these settings (sup is about {top:.4g} nats)")
        if mi == 0:
            return 0.0
        return float(optimize.brentq(f, 0.0, hi, xtol=1e-14, rtol=1e-12))

    @classmethod
    def from_mi(cls, mi: float, **options) -> "ChannelSplitViews":
        """The channel split with ``mi`` nats, solving for ``rho`` (see :meth:`correlation_for_mi`)."""
        return cls(rho=cls.correlation_for_mi(mi, **options), **options)

    def _sample_torch(self, n, generator, dtype):
        if not self._use_fft(self.dim_x + self.dim_y):  # exact: N(0, C (x) K + noise^2 I)
            if self._chol is None:
                self._chol = torch.as_tensor(_cholesky(self.covariance(), "the channel-split covariance"))
            z = torch.randn(n, self._chol.shape[0], generator=generator, dtype=torch.float64) @ self._chol.T
            return z[:, :self.dim_x].to(dtype), z[:, self.dim_x:].to(dtype)
        cch = self.channels
        fields = _sample_fields(n * cch, self._sqrt_s, generator)
        crops = fields[:, torch.as_tensor(self._pos[:, 0]), torch.as_tensor(self._pos[:, 1])]
        crops = crops.reshape(n, cch, -1)
        mixed = torch.einsum("ck,nkp->ncp", self._channel_chol, crops)
        if self.noise > 0:
            mixed = mixed + self.noise * torch.randn(mixed.shape, generator=generator, dtype=torch.float64)
        x = mixed[:, 0].reshape(n, self.dim_x)
        y = mixed[:, 1:].reshape(n, self.dim_y)
        return x.to(dtype), y.to(dtype)

    def sample_fields(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` whole noise-free multi-channel fields, shape ``(n, channels, image_size, image_size)``.

        ``Cov(X_c(s), X_c'(t)) = C_cc' c(s - t)``: any ``crop_size`` crop of a window, split into
        channel 0 and the rest (:func:`mibound.images.colorspaces.channel_split`), plus independent
        ``N(0, noise^2)`` pixel noise, has exactly the joint law of :meth:`sample`. float64.
        """
        n = check_int(n, "n", minimum=1)
        gen = torch.Generator().manual_seed(check_seed(seed))
        w = self.image_size
        fields = _sample_fields(n * self.channels, self._sqrt_s, gen)[:, :w, :w].reshape(n, self.channels, w, w)
        return torch.einsum("ck,nkhw->nchw", self._channel_chol, fields).numpy()

    def __repr__(self):
        corr = (f"rho={self.rho:.6g}, rest_correlation={self.rest_correlation:g}" if self.rho is not None
                else "channel_cov=<given>")
        return (f"ChannelSplitViews(channels={self.channels}, {corr}, crop_size={self.crop_size}, "
                f"noise={self.noise:g}, {self._spectrum_repr()}, mi={self._mi:.4g} nats)")


# ---------------------------------------------------------------------------------------------
# rendered latents
# ---------------------------------------------------------------------------------------------
class RenderedLatents(Sampler):
    """A Gaussian latent pair with known MI rendered injectively into small images.

    Each view's latent ``u`` (``d`` coordinates) is drawn in channels of 3: channel ``c`` shows
    one Gaussian bump ``a exp(-|s - mu|^2 / (2 w^2))`` whose row, column and amplitude are
    ``mu_r = margin + (H - 1 - 2 margin) Phi(u_3c)``, ``mu_c = ... Phi(u_3c+1)`` and
    ``a = 0.5 + Phi(u_3c+2)`` (``Phi`` the normal CDF); coordinates beyond ``d`` are held at the
    centre / amplitude 1. ``I(img_x; img_y) = I(u_x; u_y)`` because the rendering is injective:

    - each coordinate map is strictly increasing (``Phi``), so ``(mu, a)`` determine ``u``;
    - ``log`` of a bump is a quadratic in the pixel position with known curvature ``-1/(2 w^2)``,
      so three pixels around the peak determine ``mu_r``, ``mu_c`` and ``log a`` exactly
      (:meth:`decode` does this);
    - one bump per channel: bumps never overlap or swap (two identical blobs in one channel could
      swap, a 2-to-1 map that would break exactness).

    The images are noise-free: they lie on a ``d``-dimensional manifold and have no pixel density,
    so never compute a Gaussian log-determinant of raw rendered pixels; use :meth:`sample_latents`
    to check estimators on the latents.

    Parameters
    ----------
    latent : Sampler, optional
        The latent pair (flat views). Default: ``CorrelatedPairs.from_mi(mi, latent_dim)``.
    mi : float, optional
        MI of the default latent (default 1.0 nats).
    latent_dim : int, optional
        Dimension of each default latent (default 3: one channel).
    image_size : int, default 16
    width : float, default 2.0
        Bump width ``w`` in pixels; must keep every pixel above float32 underflow.
    margin : float, default 2.0
        Bump centres stay at least this far (pixels) from the border.
    """

    def __init__(self, latent: Sampler | None = None, *, mi: float | None = None, latent_dim: int | None = None,
                 image_size: int = 16, width: float = 2.0, margin: float = 2.0):
        if latent is None:
            from mibound.data.gaussian_families import CorrelatedPairs

            latent = CorrelatedPairs.from_mi(1.0 if mi is None else mi, 3 if latent_dim is None else latent_dim)
        else:
            if not isinstance(latent, Sampler):
                raise TypeError(f"latent must be a mibound Sampler, got {type(latent).__name__}")
            if mi is not None or latent_dim is not None:
                raise TypeError("pass either a latent sampler or mi/latent_dim, not both")
            if latent.shape_x is not None and len(latent.shape_x) > 1:
                raise ValueError("the latent sampler must have flat views")
        self.latent = latent
        self.image_size = check_int(image_size, "image_size", minimum=5)
        self.width = check_float(width, "width", minimum=0.0, exclusive_min=True)
        self.margin = check_float(margin, "margin", minimum=1.0)
        span = self.image_size - 1 - 2 * self.margin
        if span <= 0:
            raise ValueError(f"margin={margin} leaves no room for the bump centre in a {image_size}-pixel image")
        far = self.image_size - 1 - self.margin  # largest distance along one axis
        if (2 * far**2) / (2 * self.width**2) > 69.0:  # exp(-69) ~ 1e-30 > float32's smallest normal
            raise ValueError(f"width={width} is too small for a {image_size}-pixel image: far pixels would underflow "
                             f"float32 to exactly 0 (need width >= {far / math.sqrt(69.0):.3g})")
        self.channels_x = math.ceil(latent.dim_x / 3)
        self.channels_y = math.ceil(latent.dim_y / 3)
        self.shape_x = (self.channels_x, self.image_size, self.image_size)
        self.shape_y = (self.channels_y, self.image_size, self.image_size)
        self.dim_x = self.channels_x * self.image_size**2
        self.dim_y = self.channels_y * self.image_size**2

    def mutual_information(self) -> float:
        """``I(u_x; u_y)`` of the latent pair (inherited: the rendering is injective)."""
        return self.latent.mutual_information()

    def _params(self, u: torch.Tensor) -> torch.Tensor:
        """Latents ``(n, d)`` -> bump parameters ``(n, channels, 3)`` (row, col, amplitude)."""
        n, d = u.shape
        ch = math.ceil(d / 3)
        p = torch.zeros(n, ch * 3, dtype=torch.float64)  # padding: Phi(0) = 0.5 -> centre, amplitude 1
        p[:, :d] = u
        phi = torch.special.ndtr(p).reshape(n, ch, 3)
        span = self.image_size - 1 - 2 * self.margin
        out = torch.empty_like(phi)
        out[..., :2] = self.margin + span * phi[..., :2]
        out[..., 2] = 0.5 + phi[..., 2]
        return out

    def render(self, u) -> torch.Tensor:
        """Render latents ``(n, d)`` into images ``(n, ceil(d / 3), H, W)`` (float64)."""
        u = torch.as_tensor(u, dtype=torch.float64)
        params = self._params(u)
        grid = torch.arange(self.image_size, dtype=torch.float64)
        dr = (grid[None, None, :] - params[..., 0:1]) ** 2  # (n, ch, H)
        dc = (grid[None, None, :] - params[..., 1:2]) ** 2  # (n, ch, W)
        logb = -(dr[..., :, None] + dc[..., None, :]) / (2 * self.width**2)
        return params[..., 2, None, None] * torch.exp(logb)

    def decode(self, images, latent_dim: int) -> np.ndarray:
        """Invert :meth:`render`: images ``(n, C, H, W)`` -> latents ``(n, latent_dim)`` (float64).

        Uses the peak pixel and its lower / right neighbours: ``mu = r0 + 1/2 + w^2 (log b(r0+1) - log b(r0))``
        and ``log a = log b(r0, c0) + |s0 - mu|^2 / (2 w^2)``; then ``u = Phi^-1``. Exact up to
        rounding for float64 images (demonstrates injectivity).
        """
        img = np.asarray(images, dtype=np.float64)
        n, ch = img.shape[:2]
        h = self.image_size
        flat = img.reshape(n, ch, -1)
        peak = flat.argmax(axis=2)
        r0, c0 = np.minimum(peak // h, h - 2), np.minimum(peak % h, h - 2)
        ii, cc = np.meshgrid(np.arange(n), np.arange(ch), indexing="ij")
        b00 = img[ii, cc, r0, c0]
        w2 = self.width**2
        mu_r = r0 + 0.5 + w2 * (np.log(img[ii, cc, r0 + 1, c0]) - np.log(b00))
        mu_c = c0 + 0.5 + w2 * (np.log(img[ii, cc, r0, c0 + 1]) - np.log(b00))
        log_a = np.log(b00) + ((r0 - mu_r) ** 2 + (c0 - mu_c) ** 2) / (2 * w2)
        span = h - 1 - 2 * self.margin
        u = np.stack([ndtri((mu_r - self.margin) / span), ndtri((mu_c - self.margin) / span),
                      ndtri(np.exp(log_a) - 0.5)], axis=2)
        return u.reshape(n, ch * 3)[:, :latent_dim]

    def sample_latents(self, n: int, seed: int = 0, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
        """The latents behind ``sample(n, seed)`` (the same seed renders exactly these)."""
        return self.latent.sample(n, seed=seed, dtype=dtype, flat=True)

    def _sample_torch(self, n, generator, dtype):
        ux, uy = self.latent._sample_torch(n, generator, torch.float64)
        x = self.render(ux).reshape(n, self.dim_x)
        y = self.render(uy).reshape(n, self.dim_y)
        return x.to(dtype), y.to(dtype)

    def __repr__(self):
        return (f"RenderedLatents({self.latent!r}, image_size={self.image_size}, width={self.width:g}, "
                f"margin={self.margin:g}, mi={self.mutual_information():.4g} nats, inherited from the latents)")

