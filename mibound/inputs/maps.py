"""Per-column input maps fitted on training rows: standardisation robust to heavy tails.

A strictly increasing map of each column leaves the MI unchanged (MI is invariant under
injective per-view maps), so the estimators may reshape the inputs freely for the critic's sake.
``"robust"`` centres each column on its median, scales it by its interquartile range (``/ 1.349``,
the standard deviation for Gaussian data) and squashes it with ``asinh``, which is the identity
near zero and logarithmic in the tails: a Cauchy column then looks to the critic like a
moderately tailed one, and no single extreme value dominates a score. The statistics come from
training rows only.

Image views (a per-sample ``shape`` ``(C, H, W)``) are mapped per *channel*: the statistics of
each channel pool all its pixels, and every pixel of the channel gets the same map, so the
spatial structure the convolutional critic relies on (the same filter at every position) is
kept; per-pixel maps would give every position its own scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mibound.inputs.checks import check_choice

__all__ = ["PREPROCESS", "ColumnMap", "fit_column_map"]

#: the input maps of :func:`fit_column_map`
PREPROCESS = ("robust", "standardize", "none")


@dataclass(frozen=True)
class ColumnMap:
    """``z = (a - center) / scale``, then ``asinh(z)`` when ``squash``; strictly increasing per column.

    Attributes
    ----------
    center, scale : ndarray, shape (d,), float32
    squash : bool
    """

    center: np.ndarray
    scale: np.ndarray
    squash: bool

    def __call__(self, a: np.ndarray) -> np.ndarray:
        """Map rows ``a`` of shape ``(m, d)``; returns float32 (a new array)."""
        z = (np.asarray(a, dtype=np.float32) - self.center) / self.scale
        return np.arcsinh(z, out=z) if self.squash else z


def fit_column_map(rows: np.ndarray, how: str = "robust", shape: tuple[int, ...] | None = None) -> ColumnMap:
    """Fit a :class:`ColumnMap` on training rows ``(m, d)``.

    Parameters
    ----------
    rows : ndarray, shape (m, d)
    how : {"robust", "standardize", "none"}
        ``robust``: median, IQR / 1.349 and ``asinh``; ``standardize``: mean and standard
        deviation; ``none``: the identity. A column whose spread is zero on these rows (e.g. a
        mostly constant indicator) falls back to its standard deviation, then to 1.
    shape : (C, H, W), optional
        Rows are flat channel-first images of this shape (``d = C*H*W``): fit one map per channel
        from all its pixels and repeat it over the channel's ``H*W`` columns.
    """
    how = check_choice(how, PREPROCESS, "preprocess")
    rows = np.asarray(rows, dtype=np.float64)
    d = rows.shape[1]
    if shape is not None and how != "none":
        c = int(shape[0])
        if c * int(np.prod(shape[1:])) != d:
            raise ValueError(f"image shape {tuple(shape)} does not match {d} columns")
        per_channel = rows.reshape(len(rows), c, -1).transpose(1, 0, 2).reshape(c, -1).T  # (m * H * W, C)
        m = fit_column_map(per_channel, how)
        pixels = d // c
        return ColumnMap(np.repeat(m.center, pixels), np.repeat(m.scale, pixels), m.squash)
    if how == "none":
        return ColumnMap(np.zeros(d, np.float32), np.ones(d, np.float32), False)
    sd = rows.std(axis=0)
    if how == "standardize":
        center, scale = rows.mean(axis=0), sd
    else:
        q25, center, q75 = np.percentile(rows, [25, 50, 75], axis=0)
        scale = (q75 - q25) / 1.349
        scale = np.where(scale > 0, scale, sd)
    scale = np.where(scale > 0, scale, 1.0)
    return ColumnMap(center.astype(np.float32), scale.astype(np.float32), how == "robust")
