"""Encoded views as a sampler: ``(z1, z2) = (f1(v1), f2(v2))`` with exact ``I(z1; z2)`` when it has one.

:class:`EncodedViews` wraps any :class:`~mibound.data.base.Sampler` of views and two
:class:`~mibound.encoders.Encoder` objects. For linear encoders (with Gaussian noise) of
jointly Gaussian views the codes are jointly Gaussian and their MI is exact
(:func:`mibound.encoders.encoded_mi`); otherwise only the data-processing inequality
``I(z1; z2) <= I(v1; v2)`` is known.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from mibound import encoders as _encoders  # the module, not its names: mibound.encoders imports mibound.data too
from mibound.data.base import Sampler

if TYPE_CHECKING:
    from mibound.encoders import Encoder

__all__ = ["EncodedViews"]


class EncodedViews(Sampler):
    """``(z1, z2) = (f1(v1), f2(v2))`` for a sampler of views and two encoders.

    :meth:`mutual_information` is exact for linear encoders on Gaussian views
    (:func:`~mibound.encoders.encoded_mi`) and raises ``ValueError`` otherwise;
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
        if not isinstance(encoder_x, _encoders.Encoder) or not isinstance(encoder_y, _encoders.Encoder):
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
        cov, dx, sx, sy = _encoders._source(self.sampler, None)
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
            self._mi = _encoders.encoded_mi(self.sampler, self.encoder_x, self.encoder_y)
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
