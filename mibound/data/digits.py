"""Digit-and-texture view pairs with exact MI: scikit-learn's digits glyphs beside a Gaussian texture.

Each view is a two-channel ``8 x 8`` image (:class:`DigitTextureViews`): channel 0 is a digit
glyph (pixel values in ``[0, 1]``, class known), channel 1 a Gaussian-random-field texture (unit
variance, scaled by ``contrast``; a nuisance). View 2 shows another digit of view 1's class with
probability ``share_digit``, an independent digit otherwise; the two textures are two channels
of :class:`~mibound.data.images.ChannelSplitViews` with correlation ``share_texture``.

Exact MI
--------
``I(v1; v2) = I(C1; C2) + I(T1; T2)``, exactly, because the digit pair and the texture pair are
independent:

- digits: the glyph channel is noise-free and every glyph has one class, so
  ``I(D1; D2) = I(C1; C2)`` (the partner depends on view 1 only through its class and is uniform
  within its own class), with the class-pair law ``P(c, c') = pi_c (p [c = c'] + (1 - p) pi_c')``
  over the glyphs' class frequencies ``pi`` (:func:`class_sharing_mi`; ``= H(C)`` at ``p = 1``);
- textures: jointly Gaussian, ``I(T1; T2)`` from the field's kernel
  (:meth:`ChannelSplitViews.mutual_information`).

Used by the InfoMin experiment (:mod:`mibound.experiments.infomin`, Tian et al. 2020).
"""

from __future__ import annotations

import numpy as np
import torch

from mibound.data.base import Sampler
from mibound.data.images import ChannelSplitViews
from mibound.inputs.checks import check_float

__all__ = ["GLYPH", "DigitTextureViews", "class_sharing_mi"]

GLYPH = 8
"""Side of a glyph: scikit-learn's digits are ``8 x 8``."""


def class_sharing_mi(p: float, class_probs) -> float:
    """Exact ``I(C1; C2)`` (nats) when view 2 keeps view 1's class with probability ``p``.

    ``C1 ~ pi``; with probability ``p`` view 2 draws a digit of class ``C1``, otherwise an
    independent digit, so ``P(c, c') = pi_c (p [c = c'] + (1 - p) pi_c')``. ``0`` at ``p = 0``,
    ``H(pi)`` at ``p = 1``, non-decreasing in ``p`` (MI is convex in the channel).

    Parameters
    ----------
    p : float in [0, 1]
    class_probs : array_like, shape (n_classes,)
        Non-negative, summing to 1.
    """
    p = check_float(p, "share_digit", minimum=0.0, maximum=1.0)
    pi = np.asarray(class_probs, dtype=np.float64)
    if pi.ndim != 1 or pi.size == 0 or np.any(pi < 0) or not np.isclose(pi.sum(), 1.0):
        raise ValueError(f"class_probs must be a non-empty 1-D probability vector, got {class_probs!r}")
    pi = pi[pi > 0]
    cond = p * np.eye(pi.size) + (1 - p) * pi[None, :]  # P(c' | c)
    joint = pi[:, None] * cond
    ratio = np.divide(cond, pi[None, :], out=np.ones_like(cond), where=joint > 0)
    return float(max(0.0, np.sum(joint * np.log(ratio))))


class DigitTextureViews(Sampler):
    """Two-channel ``8 x 8`` views: a digit glyph (channel 0) and a GRF texture (channel 1).

    View 1 shows a uniformly drawn digit of ``images``; view 2 a digit of the same class with
    probability ``share_digit``, an independent one otherwise. The textures are two channels of
    :class:`~mibound.data.images.ChannelSplitViews` with correlation ``share_texture``, pixel
    noise ``texture_noise``, scaled by ``contrast``.

    Exact MI: ``I(v1; v2) = class_sharing_mi(share_digit, pi) + I(T1; T2)`` (see the module notes).

    Parameters
    ----------
    images : array_like, shape (n, 8, 8) or (n, 64)
        Glyphs; identical glyphs must carry the same label (else the class is not a function of the
        glyph and the formula would not hold).
    labels : array_like of int, shape (n,)
    share_digit : float in [0, 1], default 1.0
    share_texture : float in [0, 1), default 0.0
    contrast : float > 0, default 1.0
        Texture amplitude (the glyph is in ``[0, 1]``); does not change the MI.
    texture_noise : float > 0, default 0.1
    texture_alpha : float, default 1.5
        Power-law exponent of the texture spectrum (on a 16 x 16 torus).

    Shapes
    ------
    ``sample(n)`` -> two ``(n, 2, 8, 8)`` arrays; ``sample_torch(n)`` -> two ``(n, 128)`` tensors.
    """

    def __init__(self, images, labels, share_digit: float = 1.0, share_texture: float = 0.0,
                 contrast: float = 1.0, texture_noise: float = 0.1, texture_alpha: float = 1.5):
        imgs = np.asarray(images, dtype=np.float64)
        if imgs.ndim == 3:
            imgs = imgs.reshape(len(imgs), -1)
        if imgs.ndim != 2 or imgs.shape[1] != GLYPH * GLYPH or len(imgs) < 2:
            raise ValueError(f"images must have shape (n >= 2, 8, 8) or (n, 64), got {np.shape(images)}")
        lab = np.asarray(labels)
        if lab.shape != (len(imgs),) or not np.issubdtype(lab.dtype, np.integer):
            raise ValueError(f"labels must be {len(imgs)} integers, got shape {lab.shape} dtype {lab.dtype}")
        _, first, inverse = np.unique(imgs, axis=0, return_index=True, return_inverse=True)
        if np.any(lab != lab[first][inverse.ravel()]):
            raise ValueError("identical glyphs carry different labels: the class is not a function of the glyph, "
                             "so I(D1; D2) = I(C1; C2) does not hold")
        self.share_digit = check_float(share_digit, "share_digit", minimum=0.0, maximum=1.0)
        self.share_texture = check_float(share_texture, "share_texture", minimum=0.0, maximum=1.0)
        if self.share_texture >= 1.0:
            raise ValueError(f"share_texture must be < 1 (the texture MI is infinite at 1), got {share_texture}")
        self.contrast = check_float(contrast, "contrast", minimum=0.0, exclusive_min=True)
        self.texture_noise = check_float(texture_noise, "texture_noise", minimum=0.0, exclusive_min=True)
        self.texture = ChannelSplitViews(channels=2, rho=self.share_texture, crop_size=GLYPH, image_size=GLYPH,
                                         noise=self.texture_noise, alpha=texture_alpha)
        self.texture_alpha = texture_alpha
        classes, lab_idx = np.unique(lab, return_inverse=True)
        self.classes = classes
        self.labels = torch.as_tensor(lab_idx.ravel())
        counts = np.bincount(lab_idx.ravel(), minlength=len(classes))
        self.class_probs = counts / counts.sum()
        order = np.argsort(lab_idx.ravel(), kind="stable")
        self._order = torch.as_tensor(order)
        self._start = torch.as_tensor(np.concatenate([[0], np.cumsum(counts)[:-1]]))
        self._count = torch.as_tensor(counts)
        self.images = torch.as_tensor(imgs)
        self.shape_x = self.shape_y = (2, GLYPH, GLYPH)
        self.dim_x = self.dim_y = 2 * GLYPH * GLYPH
        self._mi_digit = class_sharing_mi(self.share_digit, self.class_probs)
        self._mi_texture = self.texture.mutual_information()

    def mi_parts(self) -> dict[str, float]:
        """``{"digit": I(C1; C2), "texture": I(T1; T2)}`` in nats (both exact)."""
        return {"digit": self._mi_digit, "texture": self._mi_texture}

    def mutual_information(self) -> float:
        """Exact ``I(v1; v2)`` in nats: the digit-class part plus the Gaussian texture part."""
        return self._mi_digit + self._mi_texture

    def partner_indices(self, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """View 2's digit for view 1's digits ``idx``: same class with probability ``share_digit``."""
        n, n_pool = len(idx), len(self.images)
        c = self.labels[idx]
        within = (torch.rand(n, generator=generator, dtype=torch.float64) * self._count[c]).long()
        same = self._order[self._start[c] + torch.minimum(within, self._count[c] - 1)]
        other = torch.randint(0, n_pool, (n,), generator=generator)
        keep = torch.rand(n, generator=generator, dtype=torch.float64) < self.share_digit
        return torch.where(keep, same, other)

    def render(self, digits: torch.Tensor, textures: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
        """Glyphs ``(n, 64)`` and textures ``(n, 64)`` -> flat two-channel views ``(n, 128)``."""
        return torch.cat([digits, self.contrast * textures], dim=1).to(dtype)

    def single_views(self, idx, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
        """One view of each digit ``idx`` with its own independent texture (the marginal of a view), ``(n, 128)``."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        t, _ = self.texture.sample_torch(len(idx), generator, dtype=torch.float64)
        return self.render(self.images[idx], t, dtype)

    def _sample_torch(self, n, generator, dtype):
        i = torch.randint(0, len(self.images), (n,), generator=generator)
        j = self.partner_indices(i, generator)
        t1, t2 = self.texture.sample_torch(n, generator, dtype=torch.float64)
        return self.render(self.images[i], t1, dtype), self.render(self.images[j], t2, dtype)

    def __repr__(self):
        return (f"DigitTextureViews(n={len(self.images)}, share_digit={self.share_digit:g}, "
                f"share_texture={self.share_texture:g}, contrast={self.contrast:g}, "
                f"texture_noise={self.texture_noise:g}, mi={self.mutual_information():.4g} nats)")
