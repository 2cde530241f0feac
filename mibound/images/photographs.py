"""The photographs that ship inside scikit-image's wheel (no download), as channel-first floats.

Needs the optional extra: ``pip install 'mibound[images]'`` (scikit-image). These are real
photographs, not samplers: their MI is unknown and can only be *estimated*.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["PHOTOGRAPHS", "load_photographs"]

#: Colour photographs in ``skimage.data`` that load offline (RGB, 8-bit).
PHOTOGRAPHS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina")


def load_photographs(names: Sequence[str] | None = None, grey: bool = False) -> list[np.ndarray]:
    """Load scikit-image's bundled photographs as channel-first float64 arrays in ``[0, 1]``.

    Parameters
    ----------
    names : sequence of str, optional
        Names in :data:`PHOTOGRAPHS` (default: all of them).
    grey : bool, default False
        ``True``: one luma channel ``Y = 0.299 R + 0.587 G + 0.114 B`` (BT.601, the ``Y`` of
        :func:`mibound.images.colorspaces.rgb_to` ``"ycbcr"``).

    Returns
    -------
    list of ndarray, each of shape (3, H, W) (or (1, H, W) with ``grey=True``)
        Photographs of different sizes (8-bit values divided by 255).
    """
    from mibound.images.colorspaces import rgb_to
    from mibound.inputs.checks import check_choice, require

    skimage = require("images", "the photographs")

    names = PHOTOGRAPHS if names is None else names
    if isinstance(names, str):
        names = (names,)
    out = []
    for name in names:
        key = check_choice(name, PHOTOGRAPHS, "photograph")
        img = np.asarray(getattr(skimage.data, key)())
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise RuntimeError(f"skimage.data.{key}() returned {img.shape} {img.dtype}; expected (H, W, 3) uint8")
        chw = img.transpose(2, 0, 1).astype(np.float64) / 255.0
        out.append(rgb_to(chw[None], "ycbcr")[0, :1] if grey else chw)
    return out
