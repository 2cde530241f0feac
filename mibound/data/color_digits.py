"""Coloured digits with a coloured nuisance texture: labelled RGB images for learned InfoMin views.

An image (:class:`ColorDigits`) is a grey background plus two colour-coded layers and pixel noise::

    x[:, p] = background + glyph_contrast * g[p] * a + texture_contrast * T[p] * b + noise_sigma * e[:, p]

- ``g`` is a scikit-learn digit glyph (``8 x 8``, values in ``[0, 1]``; the label), painted in the
  colour direction ``a`` (``glyph_color``);
- ``T`` is a fresh Gaussian-random-field texture for every image (unit variance, power-law
  spectrum, the one of :class:`~mibound.data.DigitTextureViews`), painted in the colour direction
  ``b`` (``texture_color``): a nuisance that carries no information on the label;
- ``e`` is white noise, independent across pixels and channels; the result is clipped to ``[0, 1]``.

Split into channel groups, the two views of one image both see the texture whenever ``b`` has a
component in each group. The default ``b`` has one in R and in GB, in L and in ab, in Y and in
CbCr: every fixed colour split shares the whole texture, a shortcut for a contrastive encoder (it
identifies the positive pair without looking at the digit), while a linear colour map that sends
``b`` into one view's channels only, and keeps ``a`` in both, removes it from what the views share.
Used by :mod:`mibound.experiments.infomin_learn` (Tian et al. 2020, sec. 4).
"""

from __future__ import annotations

import numpy as np
import torch

from mibound.data.digits import GLYPH
from mibound.data.images import _sample_fields, grf_spectrum
from mibound.inputs.checks import check_float

__all__ = ["ColorDigits"]


def _direction(v, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(v, dtype=np.float64))
    if t.shape != (3,) or not torch.isfinite(t).all() or float(t.norm()) == 0.0:
        raise ValueError(f"{name} must be 3 finite RGB components, not all zero, got {v!r}")
    return t / t.norm()


class ColorDigits:
    """Labelled ``(3, 8, 8)`` RGB digits with a colour-coded texture (see the module notes).

    Parameters
    ----------
    images : array_like, shape (n, 8, 8) or (n, 64)
        Glyphs with values in ``[0, 1]`` (e.g. ``load_digits().images / 16``).
    labels : array_like of int, shape (n,)
    glyph_color, texture_color : 3 floats
        Colour directions ``a`` and ``b`` (normalised to unit length).
    background : 3 floats in [0, 1], default (0.5, 0.5, 0.5)
    glyph_contrast : float > 0, default 0.4
    texture_contrast : float >= 0, default 0.12
    noise_sigma : float > 0, default 0.02
    texture_alpha : float, default 1.5
        Power-law exponent of the texture spectrum (on a 16 x 16 torus).

    Shapes
    ------
    ``render(idx, generator)`` -> ``(n, 3, 8, 8)`` float tensor; ``draw(n, generator)`` -> images and labels ``(n,)``.
    """

    def __init__(self, images, labels, glyph_color=(0.2, 0.8, 0.55), texture_color=(0.75, 0.15, -0.65),
                 background=(0.5, 0.5, 0.5), glyph_contrast: float = 0.4, texture_contrast: float = 0.12,
                 noise_sigma: float = 0.02, texture_alpha: float = 1.5):
        imgs = np.asarray(images, dtype=np.float64)
        if imgs.ndim == 2 and imgs.shape[1] == GLYPH * GLYPH:
            imgs = imgs.reshape(len(imgs), GLYPH, GLYPH)
        if imgs.ndim != 3 or imgs.shape[1:] != (GLYPH, GLYPH) or len(imgs) < 2:
            raise ValueError(f"images must have shape (n >= 2, 8, 8) or (n, 64), got {np.shape(images)}")
        if imgs.min() < 0 or imgs.max() > 1:
            raise ValueError(f"glyph values must lie in [0, 1] (e.g. load_digits().images / 16), got "
                             f"[{imgs.min():g}, {imgs.max():g}]")
        lab = np.asarray(labels)
        if lab.shape != (len(imgs),) or not np.issubdtype(lab.dtype, np.integer):
            raise ValueError(f"labels must be {len(imgs)} integers, got shape {lab.shape} dtype {lab.dtype}")
        self.glyphs = torch.as_tensor(imgs)
        self.labels = torch.as_tensor(lab.astype(np.int64))
        self.glyph_color = _direction(glyph_color, "glyph_color")
        self.texture_color = _direction(texture_color, "texture_color")
        bg = np.asarray(background, dtype=np.float64)
        if bg.shape != (3,) or np.any(bg < 0) or np.any(bg > 1):
            raise ValueError(f"background must be 3 values in [0, 1], got {background!r}")
        self.background = torch.as_tensor(bg)
        self.glyph_contrast = check_float(glyph_contrast, "glyph_contrast", minimum=0.0, exclusive_min=True)
        self.texture_contrast = check_float(texture_contrast, "texture_contrast", minimum=0.0)
        self.noise_sigma = check_float(noise_sigma, "noise_sigma", minimum=0.0, exclusive_min=True)
        self.texture_alpha = texture_alpha
        self._sqrt_s = torch.as_tensor(np.sqrt(grf_spectrum(2 * GLYPH, alpha=texture_alpha)))
        self.shape = (3, GLYPH, GLYPH)

    def __len__(self) -> int:
        return len(self.glyphs)

    def render(self, idx, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
        """The glyphs ``idx`` in colour, each with a fresh texture and noise: ``(n, 3, 8, 8)`` in ``[0, 1]``."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        n = len(idx)
        tex = _sample_fields(n, self._sqrt_s, generator)[:, :GLYPH, :GLYPH]
        noise = torch.randn(n, 3, GLYPH, GLYPH, generator=generator, dtype=torch.float64)
        x = (self.background[None, :, None, None]
             + self.glyph_contrast * self.glyphs[idx][:, None] * self.glyph_color[None, :, None, None]
             + self.texture_contrast * tex[:, None] * self.texture_color[None, :, None, None]
             + self.noise_sigma * noise)
        return x.clamp(0.0, 1.0).to(dtype)

    def draw(self, n: int, generator: torch.Generator, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` uniformly drawn digits rendered afresh: images ``(n, 3, 8, 8)`` and labels ``(n,)``."""
        idx = torch.randint(0, len(self.glyphs), (n,), generator=generator)
        return self.render(idx, generator, dtype), self.labels[idx]

    def __repr__(self) -> str:
        return (f"ColorDigits(n={len(self)}, glyph_contrast={self.glyph_contrast:g}, "
                f"texture_contrast={self.texture_contrast:g}, noise_sigma={self.noise_sigma:g})")
