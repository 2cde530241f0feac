"""The sampler interface: paired views with exact ground-truth MI."""

from __future__ import annotations

import numpy as np
import torch

from .._validation import check_int, check_seed

__all__ = ["Sampler"]


class Sampler:
    """A joint distribution of paired views ``(x, y)`` whose MI is known.

    Subclasses implement :meth:`_sample_torch` (``n`` pairs as torch tensors from a
    ``torch.Generator``) and :meth:`mutual_information`, and set ``dim_x`` / ``dim_y``.

    Attributes
    ----------
    dim_x, dim_y : int
        Flattened dimensions of each view.
    """

    dim_x: int
    dim_y: int

    def mutual_information(self) -> float:
        """Exact ``I(x; y)`` in nats, computed in float64 from one joint description."""
        raise NotImplementedError

    def _sample_torch(self, n: int, generator: torch.Generator, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def sample_torch(self, n: int, generator: torch.Generator | None = None,
                     dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` pairs as torch tensors of shapes ``(n, dim_x)`` and ``(n, dim_y)`` (no host copies)."""
        check_int(n, "n", minimum=1)
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        return self._sample_torch(n, generator, dtype)

    def sample(self, n: int, seed: int = 0, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
        """``n`` pairs as numpy arrays ``(x, y)``; the same seed gives the same arrays.

        Parameters
        ----------
        n : int
            Number of pairs.
        seed : int, default 0
        dtype : numpy dtype, default float32

        Returns
        -------
        x : ndarray, shape (n, dim_x)
        y : ndarray, shape (n, dim_y)
        """
        gen = torch.Generator().manual_seed(check_seed(seed))
        x, y = self.sample_torch(n, gen, dtype=torch.float64)
        return x.numpy().astype(dtype), y.numpy().astype(dtype)
