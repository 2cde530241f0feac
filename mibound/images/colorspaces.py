"""Invertible colour-space transforms of channel-first RGB images, and channel splits.

Every transform maps RGB images ``(n, 3, H, W)`` (any leading shape ``(..., 3, H, W)``) with
values in ``[0, 1]`` to a three-channel image in another colour space and back, in closed form.
One implementation (torch) serves numpy and torch input:

- numpy in -> numpy out, computed in float64;
- torch in -> torch out in the input's dtype and device, **differentiable** (autograd) for the
  smooth spaces (``xyz``, ``ycbcr``, ``yuv``, ``yiq``; ``lab`` away from black; ``hsv`` away from
  its hue seams), so learned views can be compared with fixed splits inside one graph.

Spaces (channels, ranges for RGB in ``[0, 1]``):

========  ===============  =====================================================================
name      channels         definition
========  ===============  =====================================================================
rgb       R, G, B          identity
xyz       X, Y, Z          CIE 1931 XYZ of linearised sRGB (IEC 61966-2-1 gamma), D65
lab       L, a, b          CIE 1976 L*a*b* (D65, 2 deg): L in [0, 100], a, b about [-128, 128]
ycbcr     Y, Cb, Cr        ITU-R BT.601 full range (JPEG) without the 1/2 offset: Y in [0, 1],
                           Cb, Cr in [-1/2, 1/2]
yuv       Y, U, V          BT.601 analogue YUV: U = 0.492 (B - Y), V = 0.877 (R - Y)
yiq       Y, I, Q          NTSC YIQ (FCC 1953 matrix)
hsv       H, S, V          hexcone model; H in [0, 1) (fraction of a turn), S, V in [0, 1]
========  ===============  =====================================================================

The XYZ matrix is scikit-image's (``skimage.color.xyz_from_rgb``), so ``xyz`` equals
``skimage.color.rgb2xyz`` to rounding; the Lab white point is that matrix's own white (so greys
have ``a = b = 0`` exactly), which puts ``lab`` within 0.01 of ``skimage.color.rgb2lab``. The
inverse of the sRGB gamma uses the threshold ``0.04045 / 12.92`` (the image of the forward
threshold), so the round trip takes the same branch both ways. Round trips are exact to float64
rounding (~1e-15) except within ~1e-16 of that threshold, where the standard's two branches do
not quite meet (a 2.3e-9 jump): there the error is below 1e-7.

MI between channel groups is invariant to invertible maps *of each group*, not of the whole
image: ``I(L; ab) != I(R; GB)`` in general, which is why the split's colour space matters
(Tian et al. 2020, §3).

References
----------
IEC 61966-2-1:1999 (sRGB). CIE 15:2004, Colorimetry (XYZ, L*a*b*). ITU-R BT.601-7 (Y'CbCr).
Smith (1978), "Color gamut transform pairs", SIGGRAPH (HSV). Tian, Sun, Poole, Krishnan, Schmid &
Isola (2020), "What Makes for Good Views for Contrastive Learning?", NeurIPS (L vs ab views).
"""

from __future__ import annotations

from typing import Callable, Sequence, Union

import numpy as np
import torch

from mibound.inputs.checks import check_choice

__all__ = ["COLOR_SPACES", "channel_names", "rgb_to", "rgb_from", "channel_split", "color_split"]

ArrayLike = Union[np.ndarray, torch.Tensor]

# ---------------------------------------------------------------------------------------------
# constants
# ---------------------------------------------------------------------------------------------
#: sRGB (linear) -> XYZ, D65; scikit-image's ``xyz_from_rgb``.
_XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],
                          [0.212671, 0.715160, 0.072169],
                          [0.019334, 0.119193, 0.950227]])
#: The white point: the XYZ of RGB white under this matrix, ``(0.950456, 1.0, 1.088754)`` (D65, 2 deg);
#: with it every grey has ``a = b = 0`` exactly (skimage's rounded ``(0.95047, 1, 1.08883)`` tints white by ~0.005).
_D65 = _XYZ_FROM_RGB.sum(axis=1)
_GAMMA_T = 0.04045  # sRGB: linear branch for c <= 0.04045
_GAMMA_T_LIN = _GAMMA_T / 12.92  # its image: the inverse's threshold (same branch both ways)
_LAB_E = (6.0 / 29.0) ** 3
_LAB_K = 3.0 * (6.0 / 29.0) ** 2

_KR, _KB = 0.299, 0.114  # BT.601 luma weights
_Y_ROW = np.array([_KR, 1.0 - _KR - _KB, _KB])
_YCBCR_FROM_RGB = np.stack([_Y_ROW,
                            (np.array([0.0, 0.0, 1.0]) - _Y_ROW) / (2.0 * (1.0 - _KB)),
                            (np.array([1.0, 0.0, 0.0]) - _Y_ROW) / (2.0 * (1.0 - _KR))])
_YUV_FROM_RGB = np.stack([_Y_ROW, 0.492 * (np.array([0.0, 0.0, 1.0]) - _Y_ROW),
                          0.877 * (np.array([1.0, 0.0, 0.0]) - _Y_ROW)])
_YIQ_FROM_RGB = np.array([[0.299, 0.587, 0.114],
                          [0.595716, -0.274453, -0.321263],
                          [0.211456, -0.522591, 0.311135]])


# ---------------------------------------------------------------------------------------------
# the transforms, on torch tensors (..., 3, H, W)
# ---------------------------------------------------------------------------------------------
def _mix(m: np.ndarray) -> Callable[[torch.Tensor], torch.Tensor]:
    def apply(t: torch.Tensor) -> torch.Tensor:
        return torch.einsum("ij,...jhw->...ihw", torch.as_tensor(m, dtype=t.dtype, device=t.device), t)

    return apply


def _srgb_to_linear(c: torch.Tensor) -> torch.Tensor:
    power = ((c.clamp_min(_GAMMA_T) + 0.055) / 1.055) ** 2.4  # clamp: no NaN gradient from the other branch
    return torch.where(c > _GAMMA_T, power, c / 12.92)


def _linear_to_srgb(c: torch.Tensor) -> torch.Tensor:
    power = 1.055 * c.clamp_min(_GAMMA_T_LIN) ** (1.0 / 2.4) - 0.055
    return torch.where(c > _GAMMA_T_LIN, power, 12.92 * c)


def _rgb_to_xyz(t):
    return _mix(_XYZ_FROM_RGB)(_srgb_to_linear(t))


def _xyz_to_rgb(t):
    return _linear_to_srgb(_mix(np.linalg.inv(_XYZ_FROM_RGB))(t))


def _lab_f(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > _LAB_E, t.clamp_min(_LAB_E) ** (1.0 / 3.0), t / _LAB_K + 4.0 / 29.0)


def _lab_f_inv(u: torch.Tensor) -> torch.Tensor:
    return torch.where(u > 6.0 / 29.0, u**3, _LAB_K * (u - 4.0 / 29.0))


def _rgb_to_lab(t):
    xyz = _rgb_to_xyz(t) / torch.as_tensor(_D65, dtype=t.dtype, device=t.device)[:, None, None]
    fx, fy, fz = _lab_f(xyz).unbind(-3)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=-3)


def _lab_to_rgb(t):
    big_l, a, b = t.unbind(-3)
    fy = (big_l + 16.0) / 116.0
    f = torch.stack([fy + a / 500.0, fy, fy - b / 200.0], dim=-3)
    xyz = _lab_f_inv(f) * torch.as_tensor(_D65, dtype=t.dtype, device=t.device)[:, None, None]
    return _xyz_to_rgb(xyz)


def _rgb_to_hsv(t):
    r, g, b = t.unbind(-3)
    v, arg = t.max(dim=-3)
    c = v - t.min(dim=-3).values
    safe_c = torch.where(c > 0, c, torch.ones_like(c))
    # hue sector: 0 where R is the max, 2 where G, 4 where B (ties: the first, as in the max above)
    h6 = torch.where(arg == 0, ((g - b) / safe_c) % 6.0,
                     torch.where(arg == 1, (b - r) / safe_c + 2.0, (r - g) / safe_c + 4.0))
    h = torch.where(c > 0, h6 / 6.0, torch.zeros_like(c))
    h = torch.where(h >= 1.0, h - 1.0, h)  # (g - b) / c % 6 can round up to exactly 6
    s = torch.where(v > 0, c / torch.where(v > 0, v, torch.ones_like(v)), torch.zeros_like(v))
    return torch.stack([h, s, v], dim=-3)


def _hsv_to_rgb(t):
    h, s, v = t.unbind(-3)

    # Smith's formula: channel k = V - V S max(0, min(n, 4 - n, 1)) with n = (k + 6 H) mod 6
    def channel(k: float) -> torch.Tensor:
        n = (k + 6.0 * h) % 6.0
        return v - v * s * torch.clamp(torch.minimum(n, 4.0 - n), 0.0, 1.0)

    return torch.stack([channel(5.0), channel(3.0), channel(1.0)], dim=-3)


def _identity(t):
    return t


#: ``name -> (channel names, rgb -> space, space -> rgb)`` on torch tensors ``(..., 3, H, W)``.
COLOR_SPACES: dict[str, tuple[tuple[str, str, str], Callable, Callable]] = {
    "rgb": (("R", "G", "B"), _identity, _identity),
    "xyz": (("X", "Y", "Z"), _rgb_to_xyz, _xyz_to_rgb),
    "lab": (("L", "a", "b"), _rgb_to_lab, _lab_to_rgb),
    "ycbcr": (("Y", "Cb", "Cr"), _mix(_YCBCR_FROM_RGB), _mix(np.linalg.inv(_YCBCR_FROM_RGB))),
    "yuv": (("Y", "U", "V"), _mix(_YUV_FROM_RGB), _mix(np.linalg.inv(_YUV_FROM_RGB))),
    "yiq": (("Y", "I", "Q"), _mix(_YIQ_FROM_RGB), _mix(np.linalg.inv(_YIQ_FROM_RGB))),
    "hsv": (("H", "S", "V"), _rgb_to_hsv, _hsv_to_rgb),
}


# ---------------------------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------------------------
def _space(space: str) -> str:
    return check_choice(space, COLOR_SPACES, "colour space")


def _as_tensor(images, name: str, channels: int | None) -> tuple[torch.Tensor, bool]:
    """``images`` as a float tensor (float64 for numpy input) and whether to return numpy."""
    if isinstance(images, torch.Tensor):
        if not images.is_floating_point():
            raise TypeError(f"{name} must be a float tensor, got dtype {images.dtype}; convert with "
                            f"{name}.float() / 255 for 8-bit images")
        t, to_numpy = images, False
    else:
        arr = np.asarray(images)
        if arr.dtype.kind in "biu":
            raise TypeError(f"{name} has integer dtype {arr.dtype}; colour transforms take floats in [0, 1]: "
                            f"use {name} / 255.0 for 8-bit images")
        if arr.dtype.kind != "f":
            raise TypeError(f"{name} has dtype {arr.dtype}; expected a float array")
        t, to_numpy = torch.as_tensor(arr.astype(np.float64, copy=False)), True
    if t.ndim < 3:
        raise ValueError(f"{name} has shape {tuple(t.shape)}; expected channel-first images (n, C, H, W)")
    if channels is not None and t.shape[-3] != channels:
        hint = ""
        if t.shape[-1] == channels:
            order = "(0, 3, 1, 2)" if t.ndim == 4 else "(2, 0, 1)" if t.ndim == 3 else "(..., -1, -3, -2)"
            hint = (f"; it looks channel-last (..., H, W, {channels}): move the channels first, e.g. "
                    f"{name}.transpose{order} (numpy) or {name}.permute{order} (torch)")
        raise ValueError(f"{name} has shape {tuple(t.shape)}; expected {channels} channels on axis -3, "
                         f"(n, {channels}, H, W){hint}")
    if not torch.isfinite(t.detach()).all():
        raise ValueError(f"{name} contains NaN or inf values")
    return t, to_numpy


def _out(t: torch.Tensor, to_numpy: bool) -> ArrayLike:
    return t.numpy() if to_numpy else t


def channel_names(space: str) -> tuple[str, str, str]:
    """The channel names of a colour space, e.g. ``("L", "a", "b")`` for ``"lab"``."""
    return COLOR_SPACES[_space(space)][0]


def rgb_to(images: ArrayLike, space: str = "lab") -> ArrayLike:
    """Convert RGB images ``(..., 3, H, W)`` in ``[0, 1]`` to ``space``.

    Parameters
    ----------
    images : ndarray or Tensor, shape (n, 3, H, W) (or any ``(..., 3, H, W)``)
        Channel-first RGB with values in ``[0, 1]`` (divide 8-bit images by 255). Numpy input is
        computed in float64; tensors keep their dtype, device and autograd graph.
    space : str, default "lab"
        One of :data:`COLOR_SPACES` (``rgb``, ``xyz``, ``lab``, ``ycbcr``, ``yuv``, ``yiq``, ``hsv``).

    Returns
    -------
    ndarray or Tensor, same shape as ``images``
        The channels of ``space`` (ranges in the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> white = np.ones((1, 3, 1, 1))
    >>> np.round(rgb_to(white, "lab").ravel(), 6).tolist()
    [100.0, 0.0, 0.0]
    """
    key = _space(space)
    t, to_numpy = _as_tensor(images, "images", 3)
    lo, hi = float(t.detach().min()), float(t.detach().max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"RGB images must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]; "
                         "divide 8-bit images by 255 (or clip)")
    return _out(COLOR_SPACES[key][1](t), to_numpy)


def rgb_from(images: ArrayLike, space: str = "lab") -> ArrayLike:
    """The inverse of :func:`rgb_to`: images ``(..., 3, H, W)`` in ``space`` back to RGB.

    Exact to float rounding on the image of ``[0, 1]^3`` (round trip error ~1e-15 in float64;
    below 1e-7 at the sRGB gamma threshold, see the module docstring). Values outside that image (e.g. out-of-gamut Lab) give RGB outside ``[0, 1]``;
    they are not clipped.
    """
    key = _space(space)
    t, to_numpy = _as_tensor(images, "images", 3)
    return _out(COLOR_SPACES[key][2](t), to_numpy)


# ---------------------------------------------------------------------------------------------
# channel splits
# ---------------------------------------------------------------------------------------------
Group = Sequence[Union[int, str]]


def _group_indices(groups: Sequence[Group], n_channels: int, names: Sequence[str] | None) -> list[list[int]]:
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence) or len(groups) != 2:
        raise ValueError(f"groups must be two channel groups, e.g. ((0,), (1, 2)); got {groups!r}")
    out = []
    for group in groups:
        if isinstance(group, (int, np.integer, str)):
            group = (group,)
        idx = []
        for ch in group:
            if isinstance(ch, str):
                if names is None:
                    raise ValueError(f"channel names such as {ch!r} need a colour space; use channel indices")
                if ch not in names:
                    raise ValueError(f"unknown channel {ch!r}; the channels are {list(names)}")
                ch = list(names).index(ch)
            if isinstance(ch, bool) or not isinstance(ch, (int, np.integer)) or not 0 <= ch < n_channels:
                raise ValueError(f"channel {ch!r} is not an index in [0, {n_channels})")
            idx.append(int(ch))
        if not idx:
            raise ValueError(f"each channel group needs at least one channel; got {groups!r}")
        if len(set(idx)) != len(idx):
            raise ValueError(f"channel group {tuple(idx)} repeats a channel")
        out.append(idx)
    if set(out[0]) & set(out[1]):
        raise ValueError(f"the two channel groups overlap ({sorted(set(out[0]) & set(out[1]))}); views must be "
                         "disjoint channel sets")
    return out


def channel_split(images: ArrayLike, groups: Sequence[Group] = ((0,), (1, 2))) -> tuple[ArrayLike, ArrayLike]:
    """Split channel-first images ``(n, C, H, W)`` into two disjoint channel groups.

    Parameters
    ----------
    images : ndarray or Tensor, shape (n, C, H, W)
        Any number of channels and any values (e.g. Gaussian random fields).
    groups : pair of sequences of int, default ((0,), (1, 2))
        Channel indices of view 1 and view 2; disjoint, each non-empty (they need not cover
        every channel).

    Returns
    -------
    v1, v2 : ndarray or Tensor, shapes (n, len(groups[0]), H, W), (n, len(groups[1]), H, W)
        Copies (numpy) or indexed tensors (torch), in the input's type and dtype.
    """
    if isinstance(images, torch.Tensor):
        t = images
    else:
        t = np.asarray(images)
    if t.ndim != 4:
        raise ValueError(f"images has shape {tuple(t.shape)}; expected channel-first images (n, C, H, W)")
    g1, g2 = _group_indices(groups, t.shape[1], None)
    return t[:, g1], t[:, g2]


def color_split(images: ArrayLike, space: str = "lab",
                groups: Sequence[Group] = ((0,), (1, 2))) -> tuple[ArrayLike, ArrayLike]:
    """Two views of RGB images: disjoint channel groups of a colour space (e.g. L vs ab).

    Parameters
    ----------
    images : ndarray or Tensor, shape (n, 3, H, W)
        Channel-first RGB in ``[0, 1]``.
    space : str, default "lab"
        See :func:`rgb_to`.
    groups : pair of sequences of int or channel names, default ((0,), (1, 2))
        E.g. ``((0,), (1, 2))`` or ``(("L",), ("a", "b"))`` for L vs ab, ``(("H",), ("S", "V"))``.

    Returns
    -------
    v1, v2 : ndarray or Tensor, shapes (n, len(groups[0]), H, W), (n, len(groups[1]), H, W)

    Examples
    --------
    >>> import numpy as np
    >>> rgb = np.random.default_rng(0).random((4, 3, 8, 8))
    >>> l, ab = color_split(rgb, "lab", (("L",), ("a", "b")))
    >>> l.shape, ab.shape
    ((4, 1, 8, 8), (4, 2, 8, 8))
    """
    key = _space(space)
    if np.ndim(images) != 4:
        raise ValueError(f"images has shape {tuple(np.shape(images))}; expected channel-first RGB images (n, 3, H, W)")
    converted = rgb_to(images, key)
    g1, g2 = _group_indices(groups, 3, COLOR_SPACES[key][0])
    return converted[:, g1], converted[:, g2]
