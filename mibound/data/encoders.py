"""Encoders ``z = f(v)`` with exact ``I(z1; z2)`` on Gaussian views — the data-processing inequality.

For jointly Gaussian views ``(v1, v2)`` with covariance ``Sigma`` and linear encoders with
independent Gaussian noise, ``z_i = A_i v_i + n_i`` with ``n_i ~ N(0, N_i)``, the codes are
jointly Gaussian with blocks ``A1 S11 A1^T + N1``, ``A1 S12 A2^T``, ``A2 S22 A2^T + N2``, so
``I(z1; z2)`` is exact (:func:`encoded_mi`). The DPI says ``I(z1; z2) <= I(v1; v2)`` for every
encoder; the most a rank-``k`` linear pair can keep is ``-1/2 sum_{i<=k} log(1 - rho_i^2)``
(top-``k`` CCA, :func:`cca_encoders`), and adding noise ``tau`` to all canonical variates
sweeps continuously from ``I(v1; v2)`` down to 0 (:func:`canonical_noise_encoders`,
:func:`noise_for_mi`).

Every encoder maps a batch ``(n, *input_shape)`` to ``(n, *output_shape)``; linear ones also give
their matrix on flattened inputs (:meth:`Encoder.linear_form`). Image encoders (average pooling,
strided subsampling, fixed random convolution, centre crop) take ``(C, H, W)`` inputs. The
nonlinear :class:`MLPEncoder` and :class:`SmallCNNEncoder` have no exact ``I(z1; z2)``.

References
----------
Hotelling (1936), "Relations between two sets of variates", Biometrika (CCA).
Tian et al. (2020), "What Makes for Good Views for Contrastive Learning?", NeurIPS.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from scipy import optimize
from torch import nn
from torch.nn import functional as F

from mibound.data.base import Sampler
from mibound.functional.analytic import _as_covariance, _cholesky, gaussian_mi, mi_from_canonical
from mibound.inputs.checks import check_float, check_int, check_seed, image_shape

__all__ = [
    "Encoder",
    "Identity",
    "LinearEncoder",
    "AvgPool",
    "Subsample",
    "RandomConv",
    "CenterCrop",
    "Compose",
    "MLPEncoder",
    "SmallCNNEncoder",
    "random_linear_encoder",
    "cca_encoders",
    "canonical_noise_encoders",
    "canonical_noise_mi",
    "noise_for_mi",
    "encoded_mi",
    "EncodedViews",
]


# ---------------------------------------------------------------------------------------------
# base classes
# ---------------------------------------------------------------------------------------------
class Encoder:
    """Maps views ``(n, *input_shape)`` to codes ``(n, *output_shape)``, optionally adding noise.

    Subclasses implement :meth:`output_shape` and :meth:`forward` (the noise-free map on float64
    tensors). ``noise`` is the standard deviation ``tau`` of independent Gaussian noise added to
    every output coordinate by ``__call__``.
    """

    #: Whether ``forward`` is linear (then :meth:`linear_form` gives the exact matrix).
    linear: bool = True
    noise: float = 0.0

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        raise NotImplementedError

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """Noise-free map: ``(n, *input_shape) -> (n, *output_shape)`` (float64 in, float64 out)."""
        raise NotImplementedError

    def __call__(self, v, generator: torch.Generator | None = None):
        """Encode a batch (numpy in -> numpy out, torch in -> torch out), adding the encoder's noise.

        ``v`` has shape ``(n, *input_shape)``; the generator draws the noise (default seed 0).
        """
        is_numpy = not isinstance(v, torch.Tensor)
        t = torch.as_tensor(np.asarray(v) if is_numpy else v)
        dtype = t.dtype if t.is_floating_point() else torch.float64
        z = self.forward(t.to(torch.float64))
        if self.noise > 0:
            if generator is None:
                generator = torch.Generator().manual_seed(0)
            z = z + self.noise * torch.randn(z.shape, generator=generator, dtype=torch.float64)
        z = z.to(dtype)
        return z.numpy() if is_numpy else z

    def linear_form(self, input_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """``(A, N)``: the encoder is ``z = A v + n``, ``n ~ N(0, N)``, on flattened ``v`` (float64).

        The default pushes the basis vectors of the input through :meth:`forward` (exact for any
        linear map) and adds ``noise^2 I``.
        """
        if not self.linear:
            raise TypeError(f"{type(self).__name__} is nonlinear: I(z1; z2) has no closed form "
                            "(the data-processing inequality still bounds it by I(v1; v2))")
        input_shape = tuple(input_shape)
        d = math.prod(input_shape)
        basis = torch.eye(d, dtype=torch.float64).reshape(d, *input_shape)
        a = self.forward(basis).reshape(d, -1).T.numpy().copy()
        return a, self.noise**2 * np.eye(a.shape[0])

    def _noise_repr(self) -> str:
        return f", noise={self.noise:g}" if self.noise else ""


def _check_noise(noise) -> float:
    return check_float(noise, "noise", minimum=0.0)


def _image_shape(input_shape, who: str) -> tuple[int, int, int]:
    """``(C, H, W)`` of a per-sample shape (``(H, W)`` is one channel): :func:`~mibound.inputs.checks.image_shape`."""
    return image_shape(input_shape, "input_shape", "channels_first", sample=True, need=who)


def _images(v: torch.Tensor, who: str) -> torch.Tensor:
    """A batch as ``(n, C, H, W)`` images (``(n, H, W)`` gets its one channel)."""
    return v.reshape(len(v), *image_shape(v, "v", "channels_first", need=who))


class Identity(Encoder):
    """``z = v (+ noise)``."""

    def __init__(self, noise: float = 0.0):
        self.noise = _check_noise(noise)

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, v):
        return v

    def __repr__(self):
        return f"Identity({self._noise_repr().lstrip(', ')})"


class LinearEncoder(Encoder):
    """``z = A v + noise * e`` on flattened views.

    Parameters
    ----------
    matrix : array_like, shape (k, d)
    noise : float, default 0
    """

    def __init__(self, matrix, noise: float = 0.0):
        a = np.asarray(matrix, dtype=np.float64)
        if a.ndim != 2 or a.size == 0:
            raise ValueError(f"matrix must be a non-empty 2-D array (k, d), got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError("matrix contains NaN or inf")
        self.matrix = a
        self.matrix.setflags(write=False)
        self._matrix_t = torch.tensor(np.array(a))
        self.noise = _check_noise(noise)

    def _check(self, input_shape):
        d = math.prod(tuple(input_shape))
        if d != self.matrix.shape[1]:
            raise ValueError(f"LinearEncoder with a {self.matrix.shape} matrix cannot encode views of "
                             f"{d} dimensions (per-sample shape {tuple(input_shape)})")

    def output_shape(self, input_shape):
        self._check(input_shape)
        return (self.matrix.shape[0],)

    def forward(self, v):
        self._check(v.shape[1:])
        return v.reshape(v.shape[0], -1) @ self._matrix_t.T

    def linear_form(self, input_shape):
        self._check(input_shape)
        return np.array(self.matrix), self.noise**2 * np.eye(self.matrix.shape[0])

    def __repr__(self):
        k, d = self.matrix.shape
        return f"LinearEncoder({d} -> {k}{self._noise_repr()})"


def random_linear_encoder(dim_in: int, dim_out: int, seed: int = 0, noise: float = 0.0) -> LinearEncoder:
    """A ``dim_out x dim_in`` matrix with iid ``N(0, 1/dim_in)`` entries (a uniformly random subspace)."""
    dim_in = check_int(dim_in, "dim_in", minimum=1)
    dim_out = check_int(dim_out, "dim_out", minimum=1)
    rng = np.random.default_rng(check_seed(seed))
    return LinearEncoder(rng.standard_normal((dim_out, dim_in)) / math.sqrt(dim_in), noise)


class AvgPool(Encoder):
    """Average pooling over ``size x size`` blocks (stride ``size``); ``size = H`` is the global mean."""

    def __init__(self, size: int, noise: float = 0.0):
        self.size = check_int(size, "size", minimum=1)
        self.noise = _check_noise(noise)

    def output_shape(self, input_shape):
        c, h, w = _image_shape(input_shape, "AvgPool")
        if h % self.size or w % self.size:
            raise ValueError(f"AvgPool({self.size}) needs H and W divisible by {self.size}, got {h}x{w}")
        return c, h // self.size, w // self.size

    def forward(self, v):
        v = _images(v, "AvgPool")
        self.output_shape(v.shape[1:])
        return F.avg_pool2d(v, self.size)

    def __repr__(self):
        return f"AvgPool({self.size}{self._noise_repr()})"


class Subsample(Encoder):
    """Strided subsampling ``v[:, :, offset::stride, offset::stride]`` (keeps every ``stride``-th pixel)."""

    def __init__(self, stride: int, offset: int = 0, noise: float = 0.0):
        self.stride = check_int(stride, "stride", minimum=1)
        self.offset = check_int(offset, "offset", minimum=0, maximum=self.stride - 1)
        self.noise = _check_noise(noise)

    def output_shape(self, input_shape):
        c, h, w = _image_shape(input_shape, "Subsample")
        return c, len(range(self.offset, h, self.stride)), len(range(self.offset, w, self.stride))

    def forward(self, v):
        return _images(v, "Subsample")[:, :, self.offset::self.stride, self.offset::self.stride]

    def __repr__(self):
        return f"Subsample({self.stride}, offset={self.offset}{self._noise_repr()})"


class CenterCrop(Encoder):
    """The central ``size x size`` pixels."""

    def __init__(self, size: int, noise: float = 0.0):
        self.size = check_int(size, "size", minimum=1)
        self.noise = _check_noise(noise)

    def _corner(self, h, w):
        if self.size > min(h, w):
            raise ValueError(f"CenterCrop({self.size}) does not fit a {h}x{w} image")
        return (h - self.size) // 2, (w - self.size) // 2

    def output_shape(self, input_shape):
        c, h, w = _image_shape(input_shape, "CenterCrop")
        self._corner(h, w)
        return c, self.size, self.size

    def forward(self, v):
        v = _images(v, "CenterCrop")
        r, q = self._corner(*v.shape[2:])
        return v[:, :, r:r + self.size, q:q + self.size]

    def __repr__(self):
        return f"CenterCrop({self.size}{self._noise_repr()})"


class RandomConv(Encoder):
    """A fixed random convolution (no bias, ``valid`` padding): ``out_channels`` filters of ``kernel_size^2``.

    Weights are iid ``N(0, 1/(C k^2))`` from ``seed``; the same seed gives the same filters, so a
    *shared* encoder is ``RandomConv(..., seed=s)`` on both views.
    """

    def __init__(self, out_channels: int = 4, kernel_size: int = 3, stride: int = 1, seed: int = 0,
                 noise: float = 0.0):
        self.out_channels = check_int(out_channels, "out_channels", minimum=1)
        self.kernel_size = check_int(kernel_size, "kernel_size", minimum=1)
        self.stride = check_int(stride, "stride", minimum=1)
        self.seed = check_seed(seed)
        self.noise = _check_noise(noise)
        self._weights: dict[int, torch.Tensor] = {}

    def weight(self, in_channels: int) -> torch.Tensor:
        """The filters ``(out_channels, in_channels, k, k)`` (float64), fixed by ``seed``."""
        if in_channels not in self._weights:
            g = torch.Generator().manual_seed(self.seed)
            w = torch.randn(self.out_channels, in_channels, self.kernel_size, self.kernel_size, generator=g,
                            dtype=torch.float64)
            self._weights[in_channels] = w / math.sqrt(in_channels * self.kernel_size**2)
        return self._weights[in_channels]

    def output_shape(self, input_shape):
        c, h, w = _image_shape(input_shape, "RandomConv")
        if self.kernel_size > min(h, w):
            raise ValueError(f"RandomConv kernel {self.kernel_size} is larger than the {h}x{w} image")
        return (self.out_channels, (h - self.kernel_size) // self.stride + 1,
                (w - self.kernel_size) // self.stride + 1)

    def forward(self, v):
        v = _images(v, "RandomConv")
        self.output_shape(v.shape[1:])
        return F.conv2d(v, self.weight(v.shape[1]), stride=self.stride)

    def __repr__(self):
        return (f"RandomConv(out_channels={self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"seed={self.seed}{self._noise_repr()})")


class Compose(Encoder):
    """Apply encoders in order (e.g. ``Compose(AvgPool(2), AvgPool(2))`` equals ``AvgPool(4)``).

    Noise of an inner encoder is pushed through the later linear maps exactly:
    ``N = A2 N1 A2^T + N2``.
    """

    def __init__(self, *encoders: Encoder):
        if not encoders or not all(isinstance(e, Encoder) for e in encoders):
            raise TypeError("Compose takes one or more Encoder instances")
        self.encoders = tuple(encoders)
        self.linear = all(e.linear for e in encoders)
        self.noise = 0.0  # noise lives in the parts

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        for e in self.encoders:
            shape = tuple(e.output_shape(shape))
        return shape

    def forward(self, v):
        for e in self.encoders:
            v = e.forward(v)
        return v

    def __call__(self, v, generator=None):
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        for e in self.encoders:
            v = e(v, generator)
        return v

    def linear_form(self, input_shape):
        if not self.linear:
            return super().linear_form(input_shape)
        shape = tuple(input_shape)
        d = math.prod(shape)
        a, noise = np.eye(d), np.zeros((d, d))
        for e in self.encoders:
            ai, ni = e.linear_form(shape)
            a, noise = ai @ a, ai @ noise @ ai.T + ni
            shape = tuple(e.output_shape(shape))
        return a, noise

    def __repr__(self):
        return f"Compose({', '.join(map(repr, self.encoders))})"


# ---------------------------------------------------------------------------------------------
# nonlinear encoders (no exact MI)
# ---------------------------------------------------------------------------------------------
class _TorchEncoder(Encoder):
    linear = False

    def __init__(self, module: nn.Module, out_dim: int, noise: float):
        self.module = module.double().eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.out_dim = out_dim
        self.noise = _check_noise(noise)

    def output_shape(self, input_shape):
        return (self.out_dim,)

    def forward(self, v):
        with torch.no_grad():
            return self.module(v)


class MLPEncoder(_TorchEncoder):
    """A fixed random MLP ``d -> hidden -> ... -> out_dim`` (ReLU), weights from ``seed``; no exact MI.

    Parameters
    ----------
    dim_in : int
        Flattened input dimension (images are flattened first).
    out_dim : int, default 16
    hidden : sequence of int, default (64,)
    seed : int, default 0
    noise : float, default 0
    """

    def __init__(self, dim_in: int, out_dim: int = 16, hidden: Sequence[int] = (64,), seed: int = 0,
                 noise: float = 0.0):
        self.dim_in = check_int(dim_in, "dim_in", minimum=1)
        out_dim = check_int(out_dim, "out_dim", minimum=1)
        self.hidden = tuple(check_int(h, "hidden", minimum=1) for h in hidden)
        self.seed = check_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            layers: list[nn.Module] = [nn.Flatten()]
            sizes = [self.dim_in, *self.hidden]
            for a, b in zip(sizes[:-1], sizes[1:]):
                layers += [nn.Linear(a, b), nn.ReLU()]
            layers.append(nn.Linear(sizes[-1], out_dim))
            module = nn.Sequential(*layers)
        super().__init__(module, out_dim, noise)

    def output_shape(self, input_shape):
        if math.prod(tuple(input_shape)) != self.dim_in:
            raise ValueError(f"MLPEncoder(dim_in={self.dim_in}) cannot encode per-sample shape {tuple(input_shape)}")
        return (self.out_dim,)

    def __repr__(self):
        return f"MLPEncoder({self.dim_in} -> {list(self.hidden)} -> {self.out_dim}, seed={self.seed}{self._noise_repr()})"


class SmallCNNEncoder(_TorchEncoder):
    """A fixed random small CNN for ``(C, H, W)`` views: conv3x3(16) - ReLU - conv3x3/2(32) - ReLU - mean - linear.

    No exact MI. Weights from ``seed``.
    """

    def __init__(self, in_channels: int, out_dim: int = 16, seed: int = 0, noise: float = 0.0):
        self.in_channels = check_int(in_channels, "in_channels", minimum=1)
        out_dim = check_int(out_dim, "out_dim", minimum=1)
        self.seed = check_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            module = nn.Sequential(
                nn.Conv2d(self.in_channels, 16, 3, padding=1), nn.ReLU(),
                nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, out_dim),
            )
        super().__init__(module, out_dim, noise)

    def output_shape(self, input_shape):
        c, _, _ = _image_shape(input_shape, "SmallCNNEncoder")
        if c != self.in_channels:
            raise ValueError(f"SmallCNNEncoder(in_channels={self.in_channels}) got {c} channels")
        return (self.out_dim,)

    def __repr__(self):
        return f"SmallCNNEncoder(in_channels={self.in_channels}, out_dim={self.out_dim}, seed={self.seed})"


# ---------------------------------------------------------------------------------------------
# exact MI of encoded Gaussian views
# ---------------------------------------------------------------------------------------------
def _source(source, dim_x) -> tuple[np.ndarray, int, tuple, tuple]:
    """``(cov, dim_x, shape_x, shape_y)`` from a Gaussian sampler or a covariance matrix."""
    if isinstance(source, Sampler):
        if not hasattr(source, "covariance"):
            raise TypeError(f"{type(source).__name__} is not a Gaussian sampler (it has no covariance()); exact "
                            "I(z1; z2) needs jointly Gaussian views")
        if dim_x is not None and dim_x != source.dim_x:
            raise ValueError(f"dim_x={dim_x} contradicts the sampler's dim_x={source.dim_x}")
        sx, sy = source.view_shapes
        return np.asarray(source.covariance(), dtype=np.float64), source.dim_x, sx, sy
    if dim_x is None:
        raise TypeError("pass dim_x with a covariance matrix")
    cov = _as_covariance(source, dim_x)
    return cov, int(dim_x), (int(dim_x),), (cov.shape[0] - int(dim_x),)


def _support(m: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """Orthonormal basis ``(k, r)`` of the range of the PSD matrix ``m``."""
    w, u = np.linalg.eigh(0.5 * (m + m.T))
    keep = w > rtol * max(w.max(), 0.0) if w.size else np.zeros(0, bool)
    return u[:, keep]


def encoded_mi(source, encoder_x: Encoder, encoder_y: Encoder | None = None, dim_x: int | None = None) -> float:
    """Exact ``I(z1; z2)`` (nats) for linear encoders of jointly Gaussian views.

    ``z1 = A1 v1 + n1``, ``z2 = A2 v2 + n2``; the codes' joint covariance has blocks
    ``A1 S11 A1^T + N1``, ``A1 S12 A2^T``, ``A2 S22 A2^T + N2``. Codes confined to a subspace
    (a noise-free encoder of rank below its output size) are first mapped one-to-one onto that
    subspace, which leaves the MI unchanged.

    Parameters
    ----------
    source : Sampler with ``covariance()``, or array_like (joint covariance)
        Gaussian views; a sampler also gives the views' shapes (images).
    encoder_x : Encoder
    encoder_y : Encoder, optional
        Defaults to ``encoder_x`` (a shared encoder).
    dim_x : int, optional
        Needed with a covariance matrix.

    Returns
    -------
    float
        Nats, ``<= I(v1; v2)`` (the data-processing inequality).
    """
    encoder_y = encoder_x if encoder_y is None else encoder_y
    cov, dx, sx, sy = _source(source, dim_x)
    a1, n1 = encoder_x.linear_form(sx)
    a2, n2 = encoder_y.linear_form(sy)
    s11, s12, s22 = cov[:dx, :dx], cov[:dx, dx:], cov[dx:, dx:]
    m1 = a1 @ s11 @ a1.T + n1
    m2 = a2 @ s22 @ a2.T + n2
    p1, p2 = _support(m1).T, _support(m2).T
    if p1.shape[0] == 0 or p2.shape[0] == 0:
        return 0.0  # a constant code carries no information
    b11 = p1 @ m1 @ p1.T
    b22 = p2 @ m2 @ p2.T
    b12 = p1 @ a1 @ s12 @ a2.T @ p2.T
    joint = np.block([[b11, b12], [b12.T, b22]])
    return gaussian_mi(joint, b11.shape[0])


def _canonical(source, dim_x) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple, tuple]:
    """Canonical correlations and directions: ``a = U^T Lx^-1 v1``, ``b = V^T Ly^-1 v2``."""
    cov, dx, sx, sy = _source(source, dim_x)
    lx = _cholesky(cov[:dx, :dx], "cov[:dim_x, :dim_x]")
    ly = _cholesky(cov[dx:, dx:], "cov[dim_x:, dim_x:]")
    _cholesky(cov, "cov")
    m = np.linalg.solve(lx, cov[:dx, dx:])
    m = np.linalg.solve(ly, m.T).T
    u, rho, vt = np.linalg.svd(m, full_matrices=False)
    wx = np.linalg.solve(lx.T, u).T  # rows: canonical directions for v1 (wx S11 wx^T = I)
    wy = np.linalg.solve(ly.T, vt.T).T
    return np.clip(rho, 0.0, 1.0 - 1e-16), wx, wy, sx, sy


def cca_encoders(source, k: int, dim_x: int | None = None, noise: float = 0.0) -> tuple[LinearEncoder, LinearEncoder]:
    """The top-``k`` CCA encoder pair: the ``k`` leading canonical variates of each view.

    Keeps ``-1/2 sum_{i<=k} log(1 - rho_i^2)`` nats (with ``noise = 0``), the most that any pair
    of rank-``k`` linear encoders can keep.

    Parameters
    ----------
    source : Sampler with ``covariance()``, or array_like (joint covariance)
    k : int
        ``1 <= k <= min(dim_x, dim_y)``.
    dim_x : int, optional
        Needed with a covariance matrix.
    noise : float, default 0
    """
    rho, wx, wy, _, _ = _canonical(source, dim_x)
    k = check_int(k, "k", minimum=1, maximum=rho.size)
    return LinearEncoder(wx[:k], noise), LinearEncoder(wy[:k], noise)


def canonical_noise_mi(canonical_correlations, noise: float) -> float:
    """``-1/2 sum log(1 - rho_i^2 / (1 + tau^2)^2)``: MI kept by all canonical variates plus noise ``tau``."""
    tau = _check_noise(noise)
    rho = np.asarray(canonical_correlations, dtype=np.float64)
    return mi_from_canonical(rho / (1.0 + tau**2))


def canonical_noise_encoders(source, noise: float, dim_x: int | None = None) -> tuple[LinearEncoder, LinearEncoder]:
    """All canonical variates (unit variance) plus noise ``tau`` on each: ``I = canonical_noise_mi(rho, tau)``.

    A continuous sweep from ``I(v1; v2)`` (``tau = 0``) down to 0 (``tau -> inf``); invert it with
    :func:`noise_for_mi`.
    """
    _, wx, wy, _, _ = _canonical(source, dim_x)
    return LinearEncoder(wx, noise), LinearEncoder(wy, noise)


_FULL_MI_RTOL = 1e-10
"""Relative tolerance within which :func:`noise_for_mi` treats a target as the full ``I(v1; v2)``."""


def noise_for_mi(source, mi: float, dim_x: int | None = None) -> float:
    """The noise ``tau >= 0`` for which :func:`canonical_noise_encoders` keep exactly ``mi`` nats (bisection).

    Parameters
    ----------
    source : Sampler with ``covariance()``, or array_like (joint covariance)
    mi : float
        Target in ``(0, I(v1; v2)]`` nats.
    dim_x : int, optional
        Needed with a covariance matrix.

    Returns
    -------
    float
        ``tau``. Exactly ``0.0`` when ``mi`` equals ``I(v1; v2)`` to a relative ``1e-10``: the
        full MI needs no noise, and the same MI computed another way (the log-determinants of
        :func:`~mibound.functional.analytic.gaussian_mi`, a sampler's ``mutual_information()``) differs
        from the canonical-correlation sum used here in the last digits, by an amount that
        depends on the CPU's BLAS kernels.

    Raises
    ------
    ValueError
        When ``mi`` exceeds ``I(v1; v2)`` by more than that tolerance.
    """
    rho, _, _, _, _ = _canonical(source, dim_x)
    total = mi_from_canonical(rho)
    mi = check_float(mi, "mi", minimum=0.0, exclusive_min=True)
    if mi > total * (1 + _FULL_MI_RTOL):
        raise ValueError(f"mi={mi} nats exceeds I(v1; v2) = {total:.6g} nats: no encoder can keep more")
    if mi >= total * (1 - _FULL_MI_RTOL):
        return 0.0
    f = lambda tau: canonical_noise_mi(rho, tau) - mi  # noqa: E731  (decreasing in tau)
    hi = 1.0
    while f(hi) > 0:
        hi *= 2.0
        if hi > 1e12:
            raise ValueError(f"mi={mi} nats is too small to reach with finite noise")
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-15, rtol=1e-13))


# -- encoded views as a sampler -----------------------------------------------------------------
class EncodedViews(Sampler):
    """``(z1, z2) = (f1(v1), f2(v2))`` for a sampler of views and two encoders.

    :meth:`mutual_information` is exact for linear encoders on Gaussian views
    (:func:`~mibound.data.encoders.encoded_mi`) and raises ``ValueError`` otherwise;
    :meth:`mi_upper_bound` is always ``I(v1; v2)`` (the DPI).

    Parameters
    ----------
    sampler : Sampler
    encoder_x : Encoder
    encoder_y : Encoder, optional
        Defaults to ``encoder_x`` (shared).
    """

    def __init__(self, sampler: Sampler, encoder_x: Encoder, encoder_y: Encoder | None = None):
        if not isinstance(sampler, Sampler):
            raise TypeError(f"sampler must be a mibound Sampler, got {type(sampler).__name__}")
        encoder_y = encoder_x if encoder_y is None else encoder_y
        if not isinstance(encoder_x, Encoder) or not isinstance(encoder_y, Encoder):
            raise TypeError("encoders must be mibound.encoders.Encoder instances")
        self.sampler, self.encoder_x, self.encoder_y = sampler, encoder_x, encoder_y
        self._in_x, self._in_y = sampler.view_shapes
        out_x = tuple(encoder_x.output_shape(self._in_x))
        out_y = tuple(encoder_y.output_shape(self._in_y))
        self.dim_x, self.dim_y = math.prod(out_x), math.prod(out_y)
        self.shape_x = out_x if len(out_x) > 1 else None
        self.shape_y = out_y if len(out_y) > 1 else None
        self._mi: float | None = None

    @property
    def exact(self) -> bool:
        """Whether :meth:`mutual_information` has a closed form here."""
        return (self.encoder_x.linear and self.encoder_y.linear and hasattr(self.sampler, "covariance")
                and getattr(self.sampler, "exact", True))

    def covariance(self) -> np.ndarray:
        """Joint covariance of the flattened codes ``(z1, z2)``, float64 (linear encoders of Gaussian views).

        Blocks ``A1 S11 A1^T + N1``, ``A1 S12 A2^T``, ``A2 S22 A2^T + N2``. Singular when a
        noise-free encoder has rank below its output size.
        """
        if not self.exact:
            raise ValueError(f"the codes of {self.encoder_x!r} / {self.encoder_y!r} on "
                             f"{type(self.sampler).__name__} are not jointly Gaussian: no covariance")
        cov, dx, sx, sy = _source(self.sampler, None)
        a1, n1 = self.encoder_x.linear_form(sx)
        a2, n2 = self.encoder_y.linear_form(sy)
        c12 = a1 @ cov[:dx, dx:] @ a2.T
        return np.block([[a1 @ cov[:dx, :dx] @ a1.T + n1, c12], [c12.T, a2 @ cov[dx:, dx:] @ a2.T + n2]])

    def mutual_information(self) -> float:
        if not self.exact:
            raise ValueError(f"I(z1; z2) has no closed form for {self.encoder_x!r} / {self.encoder_y!r} on "
                             f"{type(self.sampler).__name__}; only linear encoders of Gaussian views are exact "
                             "(use mi_upper_bound() for the DPI bound)")
        if self._mi is None:
            self._mi = encoded_mi(self.sampler, self.encoder_x, self.encoder_y)
        return self._mi

    def mi_upper_bound(self) -> float:
        """``I(v1; v2) >= I(z1; z2)``."""
        return self.sampler.mutual_information()

    def _sample_torch(self, n, generator, dtype):
        v1, v2 = self.sampler._sample_torch(n, generator, torch.float64)
        z1 = self.encoder_x(v1.reshape(n, *self._in_x), generator)
        z2 = self.encoder_y(v2.reshape(n, *self._in_y), generator)
        return z1.reshape(n, -1).to(dtype), z2.reshape(n, -1).to(dtype)

    def __repr__(self):
        mi = f"{self.mutual_information():.4g} nats" if self.exact else "no closed form"
        return f"EncodedViews({self.sampler!r}, {self.encoder_x!r}, {self.encoder_y!r}, mi={mi})"
