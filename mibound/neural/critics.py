"""Critics: modules mapping a batch of ``K`` pairs to a ``(K, K)`` score matrix.

``critic(x, y)`` with ``x`` of shape ``(K, dx)`` and ``y`` of shape ``(K, dy)`` returns ``S`` with
``S[i, j] = f(x_i, y_j)``; the diagonal holds the positive pairs. Bounds in
:mod:`mibound.functional.bounds` are functions of ``S``.

The trainable critics' ``forward`` code acts on the last two dimensions only, so the same code
serves an ensemble whose linear layers hold one weight matrix per run
(:mod:`mibound.neural.stacking`): ``x (R, K, dx), y (R, K, dy) -> S (R, K, K)``.

Defaults follow Poole et al. (2019): MLPs with 2 hidden layers of 256 ReLU units and, for
separable critics, a 32-dimensional embedding. :class:`ConvCritic` (``"conv"``) is the critic of
image views: small convolutional towers written as linear maps of ``k x k`` patches, so the same
ensemble stacking applies to it.
"""

from __future__ import annotations

import functools
import math
from functools import partial
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from mibound.inputs.checks import check_choice, check_float, check_int, image_shape

__all__ = [
    "mlp",
    "SeparableCritic",
    "BilinearCritic",
    "ConcatCritic",
    "GaussianOptimalCritic",
    "ConvCritic",
    "image_patches",
    "CRITICS",
    "make_critic",
]


def mlp(dim_in: int, hidden: Sequence[int], dim_out: int, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """A plain MLP ``dim_in -> hidden... -> dim_out`` (no activation after the last layer)."""
    layers: list[nn.Module] = []
    d = dim_in
    for h in hidden:
        layers += [nn.Linear(d, h), activation()]
        d = h
    layers.append(nn.Linear(d, dim_out))
    return nn.Sequential(*layers)


def _autocast_on(t: torch.Tensor) -> bool:
    try:
        return torch.is_autocast_enabled(t.device.type)
    except TypeError:  # torch < 2.4
        return t.device.type == "cpu" and torch.is_autocast_cpu_enabled()


def _full_precision(fn, *tensors: torch.Tensor) -> torch.Tensor:
    """``fn(*tensors)`` in float32 even inside a bfloat16 autocast region.

    Mixed precision (:func:`mibound.neural.stacking.train_ensemble` with ``compute_dtype=torch.bfloat16``)
    runs the hidden layers in bfloat16; the scores themselves, which every bound exponentiates,
    stay float32. Outside autocast this is just ``fn(*tensors)``.
    """
    if not _autocast_on(tensors[0]):
        return fn(*tensors)
    with torch.autocast(tensors[0].device.type, enabled=False):
        return fn(*(t.float() for t in tensors))


def _hidden(hidden_dim: int, layers: int) -> list[int]:
    check_int(hidden_dim, "hidden_dim", minimum=1)
    check_int(layers, "layers", minimum=0)
    return [hidden_dim] * layers


class SeparableCritic(nn.Module):
    """Separable critic ``f(x, y) = g(x) . h(y) / temperature``.

    Parameters
    ----------
    dim_x, dim_y : int
        Input dimensions.
    hidden_dim : int, default 256
    layers : int, default 2
        Hidden layers of each MLP.
    embed_dim : int, default 32
    cosine : bool, default False
        Normalise the embeddings to unit length (cosine similarity), as in SimCLR.
    temperature : float, default 1.0
        Divides the scores; with ``cosine=True`` the scores lie in ``[-1/T, 1/T]``.

    Shapes
    ------
    ``forward(x: (K, dx), y: (K, dy)) -> (K, K)``.
    """

    def __init__(self, dim_x: int, dim_y: int, hidden_dim: int = 256, layers: int = 2,
                 embed_dim: int = 32, cosine: bool = False, temperature: float = 1.0):
        super().__init__()
        hid = _hidden(hidden_dim, layers)
        check_int(embed_dim, "embed_dim", minimum=1)
        self.temperature = check_float(temperature, "temperature", minimum=0.0, exclusive_min=True)
        self.cosine = bool(cosine)
        self.g = mlp(check_int(dim_x, "dim_x", minimum=1), hid, embed_dim)
        self.h = mlp(check_int(dim_y, "dim_y", minimum=1), hid, embed_dim)

    def embed(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings ``(g(x), h(y))`` of shapes ``(K, e)`` and ``(K, e)``, normalised if cosine."""
        gx, hy = self.g(x), self.h(y)
        if self.cosine:
            gx = nn.functional.normalize(gx, dim=-1)
            hy = nn.functional.normalize(hy, dim=-1)
        return gx, hy

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        gx, hy = self.embed(x, y)
        s = _full_precision(lambda a, b: a @ b.transpose(-2, -1), gx, hy)
        return s if self.temperature == 1.0 else s / self.temperature


class BilinearCritic(nn.Module):
    """Bilinear critic ``f(x, y) = g(x)^T W h(y)``.

    With ``layers=0`` the maps ``g`` and ``h`` are linear, so ``f`` is a bilinear form in
    ``(x, y)``. ``W`` starts at the identity.

    Shapes
    ------
    ``forward(x: (K, dx), y: (K, dy)) -> (K, K)``.
    """

    def __init__(self, dim_x: int, dim_y: int, hidden_dim: int = 256, layers: int = 2, embed_dim: int = 32):
        super().__init__()
        hid = _hidden(hidden_dim, layers)
        check_int(embed_dim, "embed_dim", minimum=1)
        self.g = mlp(check_int(dim_x, "dim_x", minimum=1), hid, embed_dim)
        self.h = mlp(check_int(dim_y, "dim_y", minimum=1), hid, embed_dim)
        self.W = nn.Parameter(torch.eye(embed_dim))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return _full_precision(lambda a, w, b: a @ w @ b.transpose(-2, -1), self.g(x), self.W, self.h(y))


class ConcatCritic(nn.Module):
    """Joint critic ``f(x, y) = MLP([x, y])`` evaluated on all ``K^2`` pairs.

    The first layer is split, ``W [x; y] + b = W_x x + (W_y y + b)``, so it costs ``O(K)`` matrix
    products instead of ``O(K^2)``; what remains per pair is the ReLU of a broadcast sum and the
    hidden layers, which are large matrix products (``K^2 x H`` by ``H x H``), so the critic runs
    at the machine's matrix-product rate. ReLUs act in place on fresh activations (no copies).

    Memory: when the ``K^2`` activations of the whole batch fit in :attr:`pair_memory_bytes`
    (256 MiB; ``K <= 256`` at ``hidden_dim=256``) they are computed in one piece. Beyond that,
    or when ``chunk_size`` is given, the pairs are computed in chunks of rows of ``x``, and under
    autograd each chunk's activations are recomputed in the backward pass instead of being kept
    (activation checkpointing), so memory stays ``O(chunk * K * H)``: ``K = 1024`` trains in a few
    hundred MiB at the price of one extra forward pass of the pair MLP.

    Parameters
    ----------
    dim_x, dim_y : int
    hidden_dim : int, default 256
    layers : int, default 2
        Hidden layers (the split first layer counts as one).
    chunk_size : int or None, default None
        Rows of ``x`` per chunk; ``None`` chooses from :attr:`pair_memory_bytes`.

    Shapes
    ------
    ``forward(x: (..., K, dx), y: (..., K, dy)) -> (..., K, K)``.
    """

    pair_memory_bytes: int = 256 * 2**20
    """Budget for the live pair activations of one forward/backward piece (bytes)."""

    def __init__(self, dim_x: int, dim_y: int, hidden_dim: int = 256, layers: int = 2,
                 chunk_size: int | None = None):
        super().__init__()
        check_int(dim_x, "dim_x", minimum=1)
        check_int(dim_y, "dim_y", minimum=1)
        check_int(layers, "layers", minimum=1)
        check_int(hidden_dim, "hidden_dim", minimum=1)
        if chunk_size is not None:
            check_int(chunk_size, "chunk_size", minimum=1)
        self.chunk_size = chunk_size
        self.hidden_dim = hidden_dim
        self.layers = layers
        self.first_x = nn.Linear(dim_x, hidden_dim, bias=False)
        self.first_y = nn.Linear(dim_y, hidden_dim)
        self.rest = nn.Sequential(nn.ReLU(), mlp(hidden_dim, [hidden_dim] * (layers - 1), 1,
                                                 activation=partial(nn.ReLU, inplace=True)))

    def _rows_per_chunk(self, k: int, batch: int, itemsize: int) -> int:
        if self.chunk_size is not None:
            return self.chunk_size
        # live (r, K, H) tensors per row of x in the backward pass: activations, their gradients, temporaries
        per_row = batch * k * self.hidden_dim * itemsize * 2 * (self.layers + 1)
        return max(1, min(k, self.pair_memory_bytes // per_row))

    def _pairs(self, ax: torch.Tensor, by: torch.Tensor) -> torch.Tensor:
        """Scores of rows ``ax (..., r, H)`` against all ``by (..., K, H)``: ``(..., r, K)``."""
        h = torch.relu_(ax.unsqueeze(-2) + by.unsqueeze(-3))  # (..., r, K, H), fresh: ReLU in place
        # The pair MLP sees one matrix of r*K rows, so every Linear output is a fresh tensor (not a
        # view) and the in-place ReLUs after it need no copies in the backward pass.
        layers = self.rest[1]
        z = h.flatten(-3, -2)
        for layer in layers[:-1]:
            z = layer(z)
        s = _full_precision(layers[-1], z)  # (..., r*K, 1); float32 scores even under autocast
        return s.view(*h.shape[:-1])

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ax = self.first_x(x)  # (..., K, H)
        by = self.first_y(y)  # (..., K, H)
        k = ax.shape[-2]
        rows = self._rows_per_chunk(k, ax[..., 0, 0].numel(), ax.element_size())
        if rows >= k:
            return self._pairs(ax, by)
        recompute = torch.is_grad_enabled() and (ax.requires_grad or by.requires_grad)
        out = []
        for i in range(0, k, rows):
            a = ax[..., i:i + rows, :]
            out.append(checkpoint(self._pairs, a, by, use_reentrant=False) if recompute else self._pairs(a, by))
        return torch.cat(out, dim=-2)


class GaussianOptimalCritic(nn.Module):
    """The optimal critic ``f(x, y) = log p(y | x) - log p(y)`` of a zero-mean joint Gaussian.

    Needs no training: with it a bound's gap to the true MI is the bound's own looseness at this
    ``K`` (Poole et al. 2019, sec. 3). For NWJ the optimal critic is this plus one; add
    ``offset=1``.

    Parameters
    ----------
    cov : array_like, shape (dx + dy, dx + dy)
        Joint covariance of ``(x, y)``.
    dim_x : int
    offset : float, default 0.0
        Constant added to every score.

    Shapes
    ------
    ``forward(x: (K, dx), y: (K, dy)) -> (K, K)``, computed in float64 and cast to ``x.dtype``.
    """

    def __init__(self, cov, dim_x: int, offset: float = 0.0):
        super().__init__()
        from mibound.functional.analytic import _as_covariance, _cholesky

        cov = _as_covariance(cov, dim_x)
        _cholesky(cov, "cov")
        sxx, sxy, syy = cov[:dim_x, :dim_x], cov[:dim_x, dim_x:], cov[dim_x:, dim_x:]
        b = np.linalg.solve(sxx, sxy).T  # E[y|x] = B x,  B = Syx Sxx^{-1}
        cond = syy - b @ sxy  # Cov[y|x]
        p_cond = np.linalg.inv(cond)
        p_marg = np.linalg.inv(syy)
        const = 0.5 * (np.linalg.slogdet(syy)[1] - np.linalg.slogdet(cond)[1]) + float(offset)
        self.dim_x, self.dim_y = dim_x, cov.shape[0] - dim_x
        self.register_buffer("B", torch.as_tensor(b))
        self.register_buffer("P_cond", torch.as_tensor(p_cond))
        self.register_buffer("P_marg", torch.as_tensor(p_marg))
        self.register_buffer("const", torch.tensor(const, dtype=torch.float64))

    @classmethod
    def correlated(cls, rho: float, dim: int, offset: float = 0.0) -> "GaussianOptimalCritic":
        """Optimal critic for ``x ~ N(0, I_d)``, ``y = rho x + sqrt(1 - rho^2) eps``."""
        eye = np.eye(dim)
        cov = np.block([[eye, rho * eye], [rho * eye, eye]])
        return cls(cov, dim, offset=offset)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        xd, yd = x.to(torch.float64), y.to(torch.float64)
        m = xd @ self.B.T  # (K, dy) conditional means
        pm = m @ self.P_cond
        py = yd @ self.P_cond
        # (y_j - m_i)^T P (y_j - m_i) = y_j P y_j - 2 m_i P y_j + m_i P m_i
        quad_cond = (py * yd).sum(1)[None, :] - 2.0 * pm @ yd.T + (pm * m).sum(1)[:, None]
        quad_marg = ((yd @ self.P_marg) * yd).sum(1)[None, :]
        s = self.const - 0.5 * quad_cond + 0.5 * quad_marg
        return s.to(x.dtype)


def image_patches(x: torch.Tensor, shape: tuple[int, int, int], kernel_size: int, stride: int = 1) -> torch.Tensor:
    """The zero-padded ``k x k`` patches of flat images: ``(..., C*H*W) -> (..., H'*W', C*k*k)``.

    A convolution (padding ``k // 2``) is then a linear map of the last dimension
    (``nn.Linear(C*k*k, C_out)``), which is what lets :func:`mibound.neural.stacking.stack_modules` stack
    convolutional critics like MLPs. The patches are one ``index_select`` of the padded pixels
    (its backward is one ``index_add``: on CPU about twice as fast as ``unfold`` and its
    ``fold``); the feature order ``(C, k_row, k_col)`` is that of
    :func:`torch.nn.functional.unfold` and of a ``Conv2d`` weight ``(C_out, C, k, k)``.

    Parameters
    ----------
    x : Tensor, shape (..., C * H * W)
        Images flattened channel-first (``C``-major), as ``a.reshape(n, -1)`` of ``(n, C, H, W)``.
    shape : (C, H, W)
    kernel_size : int, odd
    stride : int, default 1

    Returns
    -------
    Tensor, shape (..., H' * W', C * k * k)
        ``H' = (H - 1) // stride + 1`` (``H`` at stride 1), likewise ``W'``.
    """
    c, h, w = shape
    k, lead = kernel_size, x.shape[:-1]
    index, positions = _patch_index(tuple(shape), k, stride, x.device)
    padded = nn.functional.pad(x.reshape(-1, c, h, w), (k // 2,) * 4).flatten(1)  # (N, C*(H+k-1)*(W+k-1))
    return padded.index_select(1, index).view(*lead, positions, c * k * k)


@functools.lru_cache(maxsize=64)
def _patch_index(shape: tuple[int, int, int], k: int, stride: int, device: torch.device) -> tuple[torch.Tensor, int]:
    """Positions in the padded flat image of every patch feature, in output order, and the patch count."""
    c, h, w = shape
    padded = torch.arange(c * (h + k - 1) * (w + k - 1), dtype=torch.float64).view(1, c, h + k - 1, w + k - 1)
    windows = padded.unfold(2, k, stride).unfold(3, k, stride)  # (1, C, H', W', k, k)
    index = windows.permute(0, 2, 3, 1, 4, 5).reshape(-1).long().to(device)
    return index, windows.shape[2] * windows.shape[3]


def _out_side(side: int, stride: int) -> int:
    return (side - 1) // stride + 1


class _ConvTrunk(nn.Module):
    """Convolutions (``k x k``, padding ``k // 2``, ReLU) as linear maps of patches; the first has ``stride``.

    ``forward(x: (..., K, C*H*W)) -> (..., K, H'*W', channels[-1])`` with ``H' = (H - 1) // stride + 1``.
    """

    def __init__(self, shape: tuple[int, int, int], channels: Sequence[int], kernel_size: int, stride: int):
        super().__init__()
        self.shape, self.kernel_size, self.stride, self.channels = shape, kernel_size, stride, tuple(channels)
        self.layers = nn.ModuleList(nn.Linear(c_in * kernel_size**2, c_out)
                                    for c_in, c_out in zip((shape[0], *channels[:-1]), channels))
        self.out_shape = (channels[-1], _out_side(shape[1], stride), _out_side(shape[2], stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h, w = self.out_shape
        k = x.shape[-2]
        z, shape, stride = x, self.shape, self.stride
        for i, (layer, c_out) in enumerate(zip(self.layers, self.channels)):
            if i:  # back to flat channel-first images for the next layer's patches
                z = z.unflatten(-2, (k, h * w)).transpose(-2, -1).flatten(-2)
            # one matrix of K*H'*W' patch rows per run: the linear map's output is a fresh tensor
            # (not a view), so the ReLU acts in place without copies in the backward pass
            z = torch.relu_(layer(image_patches(z, shape, self.kernel_size, stride).flatten(-3, -2)))
            shape, stride = (c_out, h, w), 1
        return z.unflatten(-2, (k, h * w))  # (..., K, H'*W', c_out)


class ConvCritic(nn.Module):
    """Convolutional separable critic for image views: ``f(x, y) = g(x) . h(y) / temperature``.

    Each tower is ``len(channels)`` convolutions (``k x k``, zero padding ``k // 2``, ReLU; the
    first with ``stride``) followed by a linear head from the feature map to an ``embed_dim``
    embedding. When the two views have the same shape and ``shared=True`` the convolutional trunk
    is *shared* (one set of filters, trained by both views); each view keeps its own linear head,
    so the critic can still tell the views apart (two crops at an offset are not exchangeable:
    with fully shared towers and a dot product the score is symmetric in ``(x, y)``, and on the DPI
    experiment's GRF crops it stayed 2 nats below a per-view head). ``bilinear=True`` scores
    ``g(x)^T W h(y)`` instead.

    A convolution is written as a linear map of the ``k x k`` patches (:func:`image_patches`), so
    every trainable layer is an ``nn.Linear`` and the ensemble (:mod:`mibound.neural.stacking`) stacks
    ``R`` conv critics exactly as it stacks MLP critics. The forward acts on the last dimension
    of flat images, so batches stay ``(K, C*H*W)`` (or ``(R, K, C*H*W)`` stacks) everywhere in the
    library; images ``(K, C, H, W)`` are accepted too and flattened.

    On the DPI experiment's raw 8x8 views (K = 128, 600 steps, learning rate 1e-3) it reads 3.89
    nats on the channel split (the MLP critic 2.75, the optimal critic 4.57) and 3.81 on the GRF
    crops (MLP 3.21, optimal 4.32) in about the MLP critic's wall time (ratios 0.93-0.94 and
    0.84-1.05 over two runs; ``benchmarks/bench_conv_critic.py``). The defaults (20 channels at stride 2, embedding 64) were
    chosen on those two views for that time budget: 16 channels at stride 1 read 3.9 and 4.1 nats
    but took 1.4-1.7 times as long.

    Parameters
    ----------
    dim_x, dim_y : tuple of int
        Per-sample image shapes ``(C, H, W)`` or ``(H, W)`` (one channel) of the two views, e.g.
        a sampler's ``view_shapes``. Flat ints are refused (the critic needs the pixel grid).
    channels : sequence of int, default (20,)
        Output channels of each convolution.
    kernel_size : int, default 3
        Odd.
    stride : int, default 2
        Stride of the first convolution (2 quarters the feature map and the head).
    embed_dim : int, default 64
    shared : bool, default True
        Share the convolutional trunk when the views have the same shape.
    bilinear : bool, default False
        Score ``g(x)^T W h(y)`` with a learned ``W`` (identity at the start).
    temperature : float, default 1.0

    Shapes
    ------
    ``forward(x: (..., K, C_x*H_x*W_x), y: (..., K, C_y*H_y*W_y)) -> (..., K, K)``.

    References
    ----------
    LeCun, Bottou, Bengio & Haffner (1998), "Gradient-based learning applied to document
    recognition"; the separable score as in Oord, Li & Vinyals (2018), "Representation learning
    with contrastive predictive coding" (CPC).
    """

    def __init__(self, dim_x, dim_y, channels: Sequence[int] = (20,), kernel_size: int = 3, stride: int = 2,
                 embed_dim: int = 64, shared: bool = True, bilinear: bool = False, temperature: float = 1.0):
        super().__init__()
        self.shape_x, self.shape_y = (image_shape(d, name, "channels_first", sample=True, need="the conv critic")
                                      for d, name in ((dim_x, "dim_x"), (dim_y, "dim_y")))
        channels = [check_int(c, "channels", minimum=1) for c in (channels if isinstance(channels, Sequence)
                                                                   else [channels])]
        if not channels:
            raise ValueError("channels must name at least one convolution, e.g. (16,)")
        k = check_int(kernel_size, "kernel_size", minimum=1)
        if k % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same padding), got {kernel_size}")
        stride = check_int(stride, "stride", minimum=1)
        check_int(embed_dim, "embed_dim", minimum=1)
        self.temperature = check_float(temperature, "temperature", minimum=0.0, exclusive_min=True)
        self.trunk_x = _ConvTrunk(self.shape_x, channels, k, stride)
        self.shared = bool(shared) and self.shape_x == self.shape_y
        self.trunk_y = None if self.shared else _ConvTrunk(self.shape_y, channels, k, stride)
        self.head_x = nn.Linear(math.prod(self.trunk_x.out_shape), embed_dim)
        self.head_y = nn.Linear(math.prod((self.trunk_y or self.trunk_x).out_shape), embed_dim)
        self.W = nn.Parameter(torch.eye(embed_dim)) if bilinear else None

    def _flat(self, a: torch.Tensor, shape: tuple[int, int, int], name: str) -> torch.Tensor:
        d = math.prod(shape)
        if a.shape[-1] == d:
            return a
        if a.ndim >= 3 and tuple(a.shape[-3:]) == shape:
            return a.flatten(-3)
        raise ValueError(f"{name} has shape {tuple(a.shape)}; the conv critic expects (..., {d}) flat images "
                         f"or (..., {', '.join(map(str, shape))})")

    def embed(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings ``(g(x), h(y))``, each of shape ``(..., K, embed_dim)``."""
        fx = self.trunk_x(self._flat(x, self.shape_x, "x"))
        fy = (self.trunk_x if self.trunk_y is None else self.trunk_y)(self._flat(y, self.shape_y, "y"))
        return self.head_x(fx.flatten(-2)), self.head_y(fy.flatten(-2))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        gx, hy = self.embed(x, y)
        if self.W is None:
            s = _full_precision(lambda a, b: a @ b.transpose(-2, -1), gx, hy)
        else:
            s = _full_precision(lambda a, w, b: a @ w @ b.transpose(-2, -1), gx, self.W, hy)
        return s if self.temperature == 1.0 else s / self.temperature


CRITICS = {
    "separable": SeparableCritic,
    "bilinear": BilinearCritic,
    "concat": ConcatCritic,
    "conv": ConvCritic,
}

#: The critics of :data:`CRITICS` that take image shapes (the others take flat dimensions).
IMAGE_CRITICS = ("conv",)


def make_critic(name: str, dim_x, dim_y, **options) -> nn.Module:
    """Build a trainable critic by name (``separable``, ``bilinear``, ``concat``, ``conv``).

    Parameters
    ----------
    name : str
    dim_x, dim_y : int or tuple of int
        Flat dimensions, or per-sample shapes such as ``(C, H, W)``: the conv critic needs shapes
        (it refuses ints), the MLP critics take the product of a shape.
    **options
        The critic's constructor options. Unknown ones raise ``TypeError`` naming the valid options.
    """
    key = check_choice(name, CRITICS, "critic")
    cls = CRITICS[key]
    if key not in IMAGE_CRITICS:
        dim_x, dim_y = (d if isinstance(d, (int, np.integer)) else math.prod(d) for d in (dim_x, dim_y))
    try:
        return cls(dim_x, dim_y, **options)
    except TypeError as exc:
        import inspect

        valid = [p for p in inspect.signature(cls).parameters if p not in ("dim_x", "dim_y")]
        raise TypeError(f"bad option for critic {key!r}: {exc}. Valid options: {valid}") from None

