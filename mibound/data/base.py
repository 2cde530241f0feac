"""The sampler interface: paired views with exact ground-truth MI."""

from __future__ import annotations

import math

import numpy as np
import torch

from mibound.inputs.checks import check_int, check_seed

__all__ = ["Sampler"]


class Sampler:
    """A joint distribution of paired views ``(x, y)`` whose MI is known.

    Subclasses implement :meth:`_sample_torch` (``n`` pairs as *flat* torch tensors
    ``(n, dim_x)``, ``(n, dim_y)`` from a ``torch.Generator``) and :meth:`mutual_information`,
    and set ``dim_x`` / ``dim_y``. Image samplers also set ``shape_x`` / ``shape_y`` (e.g.
    ``(C, H, W)``); :meth:`sample` then returns ``(n, C, H, W)`` arrays, while
    :meth:`sample_torch` stays flat by default so that critics and estimators, which take
    ``(K, d)`` batches, work with every sampler.

    Attributes
    ----------
    dim_x, dim_y : int
        Flattened dimensions of each view.
    shape_x, shape_y : tuple of int or None
        Per-sample shape of each view (``None``: flat, ``(dim,)``).
    """

    dim_x: int
    dim_y: int
    shape_x: tuple[int, ...] | None = None
    shape_y: tuple[int, ...] | None = None

    @property
    def view_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Per-sample shapes of ``x`` and ``y`` (``(dim,)`` for flat views)."""
        sx = tuple(self.shape_x) if self.shape_x is not None else (self.dim_x,)
        sy = tuple(self.shape_y) if self.shape_y is not None else (self.dim_y,)
        if math.prod(sx) != self.dim_x or math.prod(sy) != self.dim_y:
            raise RuntimeError(f"{type(self).__name__}: shape_x {sx} / shape_y {sy} do not match "
                               f"dim_x {self.dim_x} / dim_y {self.dim_y}")
        return sx, sy

    def mutual_information(self) -> float:
        """Exact ``I(x; y)`` in nats, computed in float64 from one joint description."""
        raise NotImplementedError

    def mi_standard_error(self) -> float:
        """Standard error (nats) of :meth:`mutual_information`: ``0.0`` for closed forms and quadratures.

        Samplers whose MI is a seeded Monte-Carlo average (e.g. :class:`~mibound.data.GaussianMixture`)
        return its standard error here; wrappers pass on the one of the sampler they wrap.
        """
        return 0.0

    def _sample_torch(self, n: int, generator: torch.Generator, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def sample_torch(self, n: int, generator: torch.Generator | None = None,
                     dtype: torch.dtype = torch.float32, flat: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` pairs as torch tensors (no host copies).

        Parameters
        ----------
        n : int
        generator : torch.Generator, optional
            Defaults to a generator seeded with 0.
        dtype : torch.dtype, default float32
        flat : bool, default True
            ``True``: shapes ``(n, dim_x)`` and ``(n, dim_y)`` (what critics take);
            ``False``: ``(n, *shape_x)`` and ``(n, *shape_y)`` (e.g. images ``(n, C, H, W)``).
        """
        check_int(n, "n", minimum=1)
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        x, y = self._sample_torch(n, generator, dtype)
        if not flat:
            sx, sy = self.view_shapes
            x, y = x.reshape(n, *sx), y.reshape(n, *sy)
        return x, y

    def sample(self, n: int, seed: int = 0, dtype=np.float32, flat: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``n`` pairs as numpy arrays ``(x, y)``; the same seed gives the same arrays.

        Samples are drawn in float64 and cast to ``dtype`` at the end.

        Parameters
        ----------
        n : int
            Number of pairs.
        seed : int, default 0
        dtype : numpy dtype, default float32
        flat : bool, default False
            Return ``(n, dim)`` arrays even for image views.

        Returns
        -------
        x : ndarray, shape ``(n, *shape_x)`` — ``(n, dim_x)`` for flat views, ``(n, C, H, W)`` for images
        y : ndarray, shape ``(n, *shape_y)``
        """
        gen = torch.Generator().manual_seed(check_seed(seed))
        x, y = self.sample_torch(n, gen, dtype=torch.float64, flat=flat)
        return x.numpy().astype(dtype), y.numpy().astype(dtype)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(dim_x={self.dim_x}, dim_y={self.dim_y}, "
                f"mi={self.mutual_information():.4g} nats)")
