"""Zero-MI pairs: the product of a sampler's margins, to measure an estimator's positive bias.

``Independent(s)`` draws ``x`` from one draw of ``s`` and ``y`` from a second, independent draw,
so ``(x, y) ~ p_x * p_y`` with exactly the margins of ``s`` (heavy tails, discreteness, within-view
correlation and all) and ``I(x; y) = 0`` exactly.
"""

from __future__ import annotations

from mibound.data.base import Sampler

__all__ = ["Independent"]


class Independent(Sampler):
    """``x`` and ``y`` from two independent draws of ``sampler``: its margins, no dependence, ``I = 0``.

    Parameters
    ----------
    sampler : Sampler
        Whose margins to keep (image shapes are kept too).
    """

    def __init__(self, sampler: Sampler):
        if not isinstance(sampler, Sampler):
            raise TypeError(f"sampler must be a mibound Sampler, got {type(sampler).__name__}")
        self.sampler = sampler
        self.dim_x, self.dim_y = sampler.dim_x, sampler.dim_y
        self.shape_x, self.shape_y = sampler.shape_x, sampler.shape_y

    def mutual_information(self) -> float:
        """``0.0`` exactly (the views come from independent draws)."""
        return 0.0

    def _sample_torch(self, n, generator, dtype):
        x, _ = self.sampler._sample_torch(n, generator, dtype)
        _, y = self.sampler._sample_torch(n, generator, dtype)
        return x, y

    def __repr__(self) -> str:
        return f"Independent({type(self.sampler).__name__}, dim_x={self.dim_x}, dim_y={self.dim_y}, mi=0 nats)"
