"""View makers: paired views of images for MI estimation and contrastive learning.

Every function takes images channel-first — an array ``(n, C, H, W)`` or ``(n, H, W)``, or a
list of differently sized photographs, each ``(C, H, W)`` or ``(H, W)`` — and a seed (an int or a
``numpy.random.Generator``); the same seed gives the same views. Pure numpy (torch only inside
the resampling and blur kernels); outputs are numpy arrays in the input's float dtype.

- :func:`crop_pairs`: two crops of one image at a chosen offset / distance / overlap (the InfoMin
  "patch distance" axis).
- :func:`mibound.images.colorspaces.color_split` (re-exported): channel groups of a colour space (L vs ab,
  Y vs CbCr, any partition); :func:`mibound.images.colorspaces.channel_split` for any channels.
- Augmentations, each ``f(images, rng=..., ...) -> images`` on a batch ``(n, C, H, W)``:
  :func:`random_resized_crop`, :func:`random_flip`, :func:`color_jitter`, :func:`gaussian_blur`,
  :func:`gaussian_noise`; :class:`Augment` composes them (SimCLR style) and
  :func:`augment_pairs` draws two independent augmentations of the same images.

On the Gaussian-random-field samplers (:mod:`mibound.data.images`) the view makers reproduce the
exact-MI views: crops of :meth:`~mibound.data.images.GaussianRandomFieldCrops.sample_fields` at the sampler's offset,
plus :func:`gaussian_noise`, have the sampler's joint covariance (tested).

References
----------
Tian, Sun, Poole, Krishnan, Schmid & Isola (2020), "What Makes for Good Views for Contrastive
Learning?", NeurIPS (patch distance, colour splits). Chen, Kornblith, Norouzi & Hinton (2020),
"A Simple Framework for Contrastive Learning of Visual Representations", ICML (the augmentations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import numpy as np
import torch

from mibound.images.colorspaces import channel_split, color_split, rgb_from, rgb_to
from mibound.inputs.checks import check_choice, check_float, check_int

__all__ = ["crop_pairs", "color_split", "channel_split", "random_resized_crop", "random_flip", "color_jitter",
           "gaussian_blur", "gaussian_noise", "Augment", "augment_pairs", "as_image_list"]

Seed = Union[int, np.random.Generator, None]


# ---------------------------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------------------------
def _rng(seed: Seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng(0)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed must be a non-negative int or a numpy.random.Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


def _check_float_array(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected real numbers")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf values")
    return arr


def as_image_list(images, name: str = "images") -> tuple[list[np.ndarray], bool]:
    """Images as a list of channel-first arrays ``(C, H, W)`` and whether the input had no channel axis.

    Accepts an array ``(n, C, H, W)`` / ``(n, H, W)`` (numpy or torch) or a list of ``(C, H, W)`` /
    ``(H, W)`` arrays (all of one rank and one channel count; sizes may differ).
    """
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    if isinstance(images, np.ndarray):
        arr = _check_float_array(images, name)
        if arr.ndim == 3:
            return list(arr[:, None]), True
        if arr.ndim != 4:
            raise ValueError(f"{name} has shape {arr.shape}; expected (n, C, H, W) or (n, H, W), or a list of "
                             "(C, H, W) / (H, W) photographs")
        _check_channel_first(arr.shape[1], arr.shape[-1], name)
        if arr.shape[0] == 0:
            raise ValueError(f"{name} is empty")
        return list(arr), False
    if not isinstance(images, (list, tuple)) or not images:
        raise TypeError(f"{name} must be an array (n, C, H, W) / (n, H, W) or a non-empty list of images, "
                        f"got {type(images).__name__}")
    out, ranks, channels = [], set(), set()
    for i, img in enumerate(images):
        if isinstance(img, torch.Tensor):
            img = img.detach().cpu().numpy()
        a = _check_float_array(np.asarray(img), f"{name}[{i}]")
        if a.ndim == 2:
            a = a[None]
            ranks.add(2)
        elif a.ndim == 3:
            _check_channel_first(a.shape[0], a.shape[-1], f"{name}[{i}]")
            ranks.add(3)
        else:
            raise ValueError(f"{name}[{i}] has shape {a.shape}; expected (C, H, W) or (H, W)")
        channels.add(a.shape[0])
        out.append(a)
    if len(ranks) > 1 or len(channels) > 1:
        raise ValueError(f"{name} mixes images with different channel counts {sorted(channels)}; convert them "
                         "to one layout first (e.g. all grey or all RGB)")
    return out, ranks == {2}


def _check_channel_first(c: int, last: int, name: str) -> None:
    if c > 4 and last in (1, 3, 4):
        raise ValueError(f"{name} looks channel-last (... H, W, {last}) with {c} rows on the channel axis; "
                         "images must be channel-first: use images.transpose(0, 3, 1, 2) for an (n, H, W, C) "
                         "array or img.transpose(2, 0, 1) for one (H, W, C) photograph")


def _size_pair(size, name: str) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        s = check_int(size, name, minimum=1)
        return s, s
    try:
        h, w = size
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an int or a pair (height, width), got {size!r}") from None
    return check_int(h, f"{name}[0]", minimum=1), check_int(w, f"{name}[1]", minimum=1)


def _stack(images: list[np.ndarray], name: str) -> np.ndarray:
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ValueError(f"{name} have different sizes {sorted(shapes)[:3]}...; this step needs one size: "
                         "crop them first (crop_pairs or random_resized_crop)")
    return np.stack(images)


# ---------------------------------------------------------------------------------------------
# crop pairs
# ---------------------------------------------------------------------------------------------
_DIRECTIONS = ("horizontal", "vertical", "any")


def _offsets(distance, direction: str, overlap, crop: tuple[int, int], n: int,
             rng: np.random.Generator) -> np.ndarray:
    """Per-pair ``(rows, cols)`` offsets of the second crop, shape ``(n, 2)`` int."""
    h, w = crop
    if overlap is not None:
        if distance is not None:
            raise TypeError("pass either distance or overlap, not both")
        ov = check_float(overlap, "overlap", minimum=0.0, maximum=1.0)
        key = check_choice(direction, _DIRECTIONS[:2], "overlap direction")
        side = w if key == "horizontal" else h
        d = int(round((1.0 - ov) * side))
        return np.tile([0, d] if key == "horizontal" else [d, 0], (n, 1))
    distance = 0 if distance is None else distance
    if not isinstance(distance, (int, float, np.integer, np.floating)) or isinstance(distance, bool):
        try:
            dr, dc = distance
        except (TypeError, ValueError):
            raise TypeError(f"distance must be a number of pixels or a pair (rows, cols), got {distance!r}") from None
        return np.tile([check_int(dr, "distance[0]"), check_int(dc, "distance[1]")], (n, 1))
    d = check_float(float(distance), "distance", minimum=0.0)
    key = check_choice(direction, _DIRECTIONS, "direction")
    if key == "horizontal":
        return np.tile([0, int(round(d))], (n, 1))
    if key == "vertical":
        return np.tile([int(round(d)), 0], (n, 1))
    theta = rng.uniform(0.0, 2.0 * math.pi, size=n)
    return np.stack([np.rint(d * np.sin(theta)), np.rint(d * np.cos(theta))], axis=1).astype(np.int64)


def crop_pairs(images, crop_size, distance=None, *, direction: str = "horizontal", overlap: float | None = None,
               n_pairs: int | None = None, seed: Seed = 0,
               return_positions: bool = False):
    """Two crops of the same image, the second displaced by a chosen offset: the patch-distance views.

    Parameters
    ----------
    images : array (n, C, H, W) or (n, H, W), or list of (C, H, W) / (H, W) arrays
        Channel-first; a list may hold photographs of different sizes.
    crop_size : int or (int, int)
        Crop height and width in pixels.
    distance : float or (int, int), optional
        Offset of the second crop's top-left corner from the first's. A number is a distance in
        pixels along ``direction``; a pair is an exact ``(rows, cols)`` displacement. Default 0
        (identical crops) unless ``overlap`` is given.
    direction : {"horizontal", "vertical", "any"}, default "horizontal"
        ``"horizontal"``: ``(0, +d)``; ``"vertical"``: ``(+d, 0)``; ``"any"``: a uniform random
        angle per pair, offset ``round(d (sin t, cos t))`` (Euclidean distance ``d`` up to rounding).
    overlap : float in [0, 1], optional
        Instead of ``distance``: the fraction of the crop shared by the two crops (horizontal or
        vertical), i.e. a shift of ``round((1 - overlap) * width)``.
    n_pairs : int, optional
        Number of pairs. Default: one per image (pair ``i`` from image ``i``: independent pairs
        for independent images); otherwise each pair picks an image uniformly at random.
    seed : int or numpy.random.Generator, default 0
    return_positions : bool, default False
        Also return an int array ``(n_pairs, 5)``: ``image, row1, col1, row2, col2`` (top-left
        corners).

    Returns
    -------
    v1, v2 : ndarray, shape (n_pairs, C, h, w) — (n_pairs, h, w) for (n, H, W) / (H, W) input
        The first crop's position is uniform over the positions where both crops fit.
    positions : ndarray (n_pairs, 5), only with ``return_positions=True``

    Raises
    ------
    ValueError
        If the crop is bigger than an image, or two crops at that distance do not fit in it.

    Examples
    --------
    >>> import numpy as np
    >>> imgs = np.random.default_rng(0).random((10, 3, 32, 32))
    >>> a, b = crop_pairs(imgs, 8, distance=4, seed=0)
    >>> a.shape, b.shape
    ((10, 3, 8, 8), (10, 3, 8, 8))
    >>> np.array_equal(a[:, :, :, 4:], b[:, :, :, :4])  # the horizontal overlap
    True
    """
    imgs, squeeze = as_image_list(images)
    h, w = _size_pair(crop_size, "crop_size")
    rng = _rng(seed)
    n_img = len(imgs)
    n = n_img if n_pairs is None else check_int(n_pairs, "n_pairs", minimum=1)
    which = np.arange(n) if n_pairs is None else rng.integers(0, n_img, size=n)
    off = _offsets(distance, direction, overlap, (h, w), n, rng)
    pos = np.empty((n, 5), dtype=np.int64)
    pos[:, 0] = which
    dtype = imgs[0].dtype
    v1 = np.empty((n, imgs[0].shape[0], h, w), dtype=dtype)
    v2 = np.empty_like(v1)
    # group the pairs by image size: one vectorised crop per size (one group for an array input)
    sizes = np.array([im.shape[1:] for im in imgs])
    for size in np.unique(sizes, axis=0):
        members = np.flatnonzero((sizes == size).all(axis=1))
        sel = np.flatnonzero(np.isin(which, members))
        if sel.size == 0:
            continue
        big_h, big_w = int(size[0]), int(size[1])
        if h > big_h or w > big_w:
            raise ValueError(f"crop_size {(h, w)} is bigger than image {members[0]} ({big_h}x{big_w} pixels)")
        dr, dc = off[sel, 0], off[sel, 1]
        lo_r, hi_r = np.maximum(0, -dr), big_h - h - np.maximum(0, dr)
        lo_c, hi_c = np.maximum(0, -dc), big_w - w - np.maximum(0, dc)
        bad = (hi_r < lo_r) | (hi_c < lo_c)
        if bad.any():
            j = sel[np.argmax(bad)]
            raise ValueError(f"distance too large: two {h}x{w} crops at offset {tuple(off[j])} do not fit in image "
                             f"{which[j]} ({big_h}x{big_w} pixels); use a smaller distance or crop_size")
        r1 = lo_r + np.floor(rng.random(len(sel)) * (hi_r - lo_r + 1)).astype(np.int64)
        c1 = lo_c + np.floor(rng.random(len(sel)) * (hi_c - lo_c + 1)).astype(np.int64)
        pos[sel, 1], pos[sel, 2], pos[sel, 3], pos[sel, 4] = r1, c1, r1 + dr, c1 + dc
        if len(members) == n_img and isinstance(images, np.ndarray):  # an array: crop it in place, no copy
            stack = images if images.ndim == 4 else images[:, None]
        else:
            stack = np.stack([imgs[i] for i in members])
        local = np.searchsorted(members, which[sel])
        v1[sel] = _crop(stack, local, r1, c1, h, w)
        v2[sel] = _crop(stack, local, r1 + dr, c1 + dc, h, w)
    if squeeze:
        v1, v2 = v1[:, 0], v2[:, 0]
    return (v1, v2, pos) if return_positions else (v1, v2)


def _crop(stack: np.ndarray, which: np.ndarray, rows: np.ndarray, cols: np.ndarray, h: int, w: int) -> np.ndarray:
    """Crops ``(m, C, h, w)`` of images ``stack[which[j]]`` (``stack``: ``(k, C, H, W)``) at top-left ``(rows[j], cols[j])``."""
    rr = rows[:, None, None] + np.arange(h)[None, :, None]
    cc = cols[:, None, None] + np.arange(w)[None, None, :]
    return np.moveaxis(stack[which[:, None, None], :, rr, cc], -1, 1)  # (m, h, w, C) -> (m, C, h, w)


# ---------------------------------------------------------------------------------------------
# augmentations: f(images (n, C, H, W), rng=..., ...) -> images
# ---------------------------------------------------------------------------------------------
def _batch(images, name: str = "images") -> tuple[np.ndarray, bool]:
    imgs, squeeze = as_image_list(images, name)
    return _stack(imgs, name), squeeze


def _unbatch(x: np.ndarray, squeeze: bool) -> np.ndarray:
    return x[:, 0] if squeeze else x


def _range_pair(value, name: str, lo: float, hi: float | None = None) -> tuple[float, float]:
    try:
        a, b = value
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (low, high), got {value!r}") from None
    a = check_float(a, f"{name}[0]", minimum=lo, maximum=hi)
    b = check_float(b, f"{name}[1]", minimum=lo, maximum=hi)
    if a > b:
        raise ValueError(f"{name} must be (low, high) with low <= high, got {value!r}")
    return a, b


def random_resized_crop(images, size, *, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), rng: Seed = 0):
    """A random box of each image (area fraction in ``scale``, aspect ratio in ``ratio``) resized to ``size``.

    Parameters
    ----------
    images : array (n, C, H, W) or (n, H, W), or a list of images (sizes may differ)
    size : int or (int, int)
        Output height and width.
    scale : (float, float), default (0.08, 1.0)
        Range of the box area as a fraction of the image area.
    ratio : (float, float), default (3/4, 4/3)
        Range of the box aspect ratio ``width / height`` (sampled log-uniformly).
    rng : int or numpy.random.Generator

    Returns
    -------
    ndarray, shape ``(n, C, *size)`` (or ``(n, *size)``)
        Bilinear resampling (``torch.nn.functional.grid_sample``, ``align_corners=False``) of
        the box; a box that would leave the image is shrunk into it.
    """
    imgs, squeeze = as_image_list(images)
    out_h, out_w = _size_pair(size, "size")
    s_lo, s_hi = _range_pair(scale, "scale", 0.0, 1.0)
    if s_hi <= 0:
        raise ValueError(f"scale must include a positive area fraction, got {scale!r}")
    r_lo, r_hi = _range_pair(ratio, "ratio", 0.0)
    if r_lo <= 0:
        raise ValueError(f"ratio must be positive, got {ratio!r}")
    g = _rng(rng)
    out = np.empty((len(imgs), imgs[0].shape[0], out_h, out_w), dtype=np.result_type(imgs[0].dtype, np.float32))
    for i, img in enumerate(imgs):
        big_h, big_w = img.shape[1:]
        area = big_h * big_w * g.uniform(s_lo, s_hi)
        aspect = math.exp(g.uniform(math.log(r_lo), math.log(r_hi)))
        bw = min(big_w, max(1.0, math.sqrt(area * aspect)))
        bh = min(big_h, max(1.0, math.sqrt(area / aspect)))
        top = g.uniform(0.0, big_h - bh)
        left = g.uniform(0.0, big_w - bw)
        out[i] = _resample(img, top, left, bh, bw, out_h, out_w)
    return _unbatch(out, squeeze)


def _resample(img: np.ndarray, top: float, left: float, bh: float, bw: float, out_h: int, out_w: int) -> np.ndarray:
    """Bilinear samples of the box ``[top, top + bh] x [left, left + bw]`` (pixel edges) on an ``out_h x out_w`` grid."""
    big_h, big_w = img.shape[1:]
    t = torch.as_tensor(np.ascontiguousarray(img), dtype=torch.float64)[None]
    ys = top + (np.arange(out_h) + 0.5) * bh / out_h  # output pixel centres, in input pixel-edge units
    xs = left + (np.arange(out_w) + 0.5) * bw / out_w
    gy = torch.as_tensor(2.0 * ys / big_h - 1.0)  # align_corners=False: -1 and 1 are the outer pixel edges
    gx = torch.as_tensor(2.0 * xs / big_w - 1.0)
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1)[None]  # (1, out_h, out_w, 2) as (x, y)
    res = torch.nn.functional.grid_sample(t, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return res[0].numpy()


def random_flip(images, *, p: float = 0.5, vertical: bool = False, rng: Seed = 0):
    """Flip each image left-right (or up-down with ``vertical=True``) with probability ``p``; shape unchanged."""
    x, squeeze = _batch(images)
    p = check_float(p, "p", minimum=0.0, maximum=1.0)
    flip = _rng(rng).random(len(x)) < p
    out = x.copy()
    out[flip] = out[flip][..., ::-1, :] if vertical else out[flip][..., ::-1]
    return _unbatch(out, squeeze)


def color_jitter(images, *, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4,
                 hue: float = 0.1, p: float = 1.0, rng: Seed = 0):
    """Random brightness, contrast, saturation and hue of RGB (or grey) images in ``[0, 1]``, clipped to ``[0, 1]``.

    Per image (with probability ``p``), in this order: brightness ``x * b``; contrast
    ``m + c (x - m)`` about the image's mean luma ``m``; saturation ``Y + s (x - Y)`` about the
    pixel's luma ``Y`` (BT.601); hue ``H + h`` (mod 1) in HSV (:mod:`mibound.images.colorspaces`), with
    ``b, c, s ~ U[1 - strength, 1 + strength]`` and ``h ~ U[-hue, hue]`` (SimCLR's jitter).
    Grey images ``(n, 1, H, W)`` get brightness and contrast only.

    Parameters
    ----------
    images : array (n, 3, H, W) or (n, 1, H, W) / (n, H, W), values in [0, 1]
    brightness, contrast, saturation : float >= 0
    hue : float in [0, 0.5]
        Fraction of a turn.
    p : float, default 1.0
    rng : int or numpy.random.Generator

    Returns
    -------
    ndarray, same shape
    """
    x, squeeze = _batch(images)
    x = x.astype(np.result_type(x.dtype, np.float32), copy=True)
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"color_jitter takes images in [0, 1], got values in [{x.min():.4g}, {x.max():.4g}]; "
                         "divide 8-bit images by 255")
    b_s, c_s, s_s = (check_float(v, k, minimum=0.0) for k, v in
                     (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)))
    hue = check_float(hue, "hue", minimum=0.0, maximum=0.5)
    p = check_float(p, "p", minimum=0.0, maximum=1.0)
    c = x.shape[1]
    if c not in (1, 3):
        raise ValueError(f"color_jitter needs 1 (grey) or 3 (RGB) channels, got {c}")
    g = _rng(rng)
    n = len(x)
    on = g.random(n) < p
    fb, fc, fs = (g.uniform(1 - s, 1 + s, size=n) for s in (b_s, c_s, s_s))
    fh = g.uniform(-hue, hue, size=n)
    sel = np.flatnonzero(on)
    if sel.size == 0:
        return _unbatch(x, squeeze)
    y = x[sel]
    shape = (-1, 1, 1, 1)
    y = np.clip(y * fb[sel].reshape(shape), 0, 1)
    luma = (lambda a: rgb_to(a.astype(np.float64), "ycbcr")[:, :1]) if c == 3 else (lambda a: a)
    m = luma(y).mean(axis=(1, 2, 3), keepdims=True)
    y = np.clip(m + fc[sel].reshape(shape) * (y - m), 0, 1)
    if c == 3:
        grey = luma(y)
        y = np.clip(grey + fs[sel].reshape(shape) * (y - grey), 0, 1)
        hsv = rgb_to(y.astype(np.float64), "hsv")
        hsv[:, 0] = (hsv[:, 0] + fh[sel][:, None, None]) % 1.0
        y = np.clip(rgb_from(hsv, "hsv"), 0, 1)
    x[sel] = y
    return _unbatch(x, squeeze)


def gaussian_blur(images, *, sigma=(0.1, 2.0), p: float = 1.0, rng: Seed = 0):
    """Blur each image (with probability ``p``) by a Gaussian of standard deviation ``~ U[sigma]`` pixels.

    Separable kernel of radius ``ceil(3 sigma)``, reflect padding; shape unchanged. A number
    ``sigma`` is a fixed width.
    """
    x, squeeze = _batch(images)
    lo, hi = (float(sigma), float(sigma)) if isinstance(sigma, (int, float)) else _range_pair(sigma, "sigma", 0.0)
    check_float(lo, "sigma", minimum=0.0)
    p = check_float(p, "p", minimum=0.0, maximum=1.0)
    g = _rng(rng)
    n, c, h, w = x.shape
    on = g.random(n) < p
    sig = g.uniform(lo, hi, size=n)
    out = x.astype(np.result_type(x.dtype, np.float32), copy=True)
    sel = np.flatnonzero(on & (sig > 0))
    if sel.size == 0:
        return _unbatch(out, squeeze)
    radius = int(math.ceil(3 * sig[sel].max()))
    if radius >= min(h, w):
        raise ValueError(f"sigma up to {sig[sel].max():.3g} needs a kernel radius {radius} below the image side "
                         f"{min(h, w)}; use a smaller sigma")
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1)[None, :] / sig[sel][:, None]) ** 2)
    k /= k.sum(axis=1, keepdims=True)
    kern = torch.as_tensor(np.repeat(k, c, axis=0))  # (m * C, 2r + 1): one kernel per image and channel
    t = torch.as_tensor(np.ascontiguousarray(out[sel]), dtype=torch.float64).reshape(1, -1, h, w)
    groups = t.shape[1]
    t = torch.nn.functional.pad(t, (radius, radius, 0, 0), mode="reflect")
    t = torch.nn.functional.conv2d(t, kern[:, None, None, :], groups=groups)
    t = torch.nn.functional.pad(t, (0, 0, radius, radius), mode="reflect")
    t = torch.nn.functional.conv2d(t, kern[:, None, :, None], groups=groups)
    out[sel] = t.reshape(len(sel), c, h, w).numpy()
    return _unbatch(out, squeeze)


def gaussian_noise(images, std: float, *, rng: Seed = 0):
    """Add independent ``N(0, std^2)`` noise to every pixel (no clipping); shape unchanged.

    Added after cropping, this is exactly the per-view pixel noise of the GRF samplers.
    """
    x, squeeze = _batch(images)
    std = check_float(std, "std", minimum=0.0)
    out = x.astype(np.result_type(x.dtype, np.float32), copy=True)
    out += std * _rng(rng).standard_normal(out.shape)
    return _unbatch(out, squeeze)


# ---------------------------------------------------------------------------------------------
# composition
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Augment:
    """A SimCLR-style pipeline of the augmentations above, applied in this order.

    ``random_resized_crop(size, scale, ratio)`` (skipped when ``size`` is None) ->
    ``random_flip(p=flip)`` -> ``color_jitter(jitter..., p=jitter_p)`` (skipped when all
    strengths are 0) -> ``gaussian_blur(blur_sigma, p=blur_p)`` -> ``gaussian_noise(noise)``.

    Parameters
    ----------
    size : int or (int, int), optional
        Output size of the random resized crop (required for photographs of different sizes).
    scale, ratio : (float, float)
        See :func:`random_resized_crop`.
    flip : float, default 0.5
        Probability of a left-right flip.
    brightness, contrast, saturation, hue : float
        Colour-jitter strengths (:func:`color_jitter`); images must then be in ``[0, 1]``.
    jitter_p : float, default 0.8
    blur_sigma : (float, float), default (0.1, 2.0)
    blur_p : float, default 0.0
    noise : float, default 0.0
        Pixel-noise standard deviation.

    Examples
    --------
    >>> import numpy as np
    >>> imgs = np.random.default_rng(0).random((6, 3, 32, 32))
    >>> aug = Augment(size=16, scale=(0.2, 1.0))
    >>> aug(imgs, rng=0).shape
    (6, 3, 16, 16)
    >>> v1, v2 = augment_pairs(imgs, aug, seed=0)
    >>> v1.shape == v2.shape == (6, 3, 16, 16)
    True
    """

    size: int | tuple[int, int] | None = None
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: float = 0.5
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    jitter_p: float = 0.8
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    blur_p: float = 0.0
    noise: float = 0.0

    def __call__(self, images, rng: Seed = 0) -> np.ndarray:
        """One augmentation of each image: ``(n, C, *size)`` (or the input size)."""
        g = _rng(rng)
        x = images
        if self.size is not None:
            x = random_resized_crop(x, self.size, scale=self.scale, ratio=self.ratio, rng=g)
        x = random_flip(x, p=self.flip, rng=g)
        if max(self.brightness, self.contrast, self.saturation, self.hue) > 0 and self.jitter_p > 0:
            x = color_jitter(x, brightness=self.brightness, contrast=self.contrast, saturation=self.saturation,
                             hue=self.hue, p=self.jitter_p, rng=g)
        if self.blur_p > 0:
            x = gaussian_blur(x, sigma=self.blur_sigma, p=self.blur_p, rng=g)
        if self.noise > 0:
            x = gaussian_noise(x, self.noise, rng=g)
        return x


def augment_pairs(images, augment: Augment | None = None, *, n_pairs: int | None = None,
                  seed: Seed = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two independent augmentations of the same images: the contrastive (SimCLR) view pair.

    Parameters
    ----------
    images : array (n, C, H, W) or (n, H, W), or a list of images
    augment : Augment, optional
        Default ``Augment()`` (images must then share one size, or pass ``Augment(size=...)``).
    n_pairs : int, optional
        Default one pair per image; otherwise images drawn uniformly with replacement.
    seed : int or numpy.random.Generator

    Returns
    -------
    v1, v2 : ndarray, shape (n_pairs, C, h, w) (or (n_pairs, h, w))
    """
    augment = Augment() if augment is None else augment
    if not isinstance(augment, Augment):
        raise TypeError(f"augment must be an Augment, got {type(augment).__name__}")
    imgs, squeeze = as_image_list(images)
    g = _rng(seed)
    if n_pairs is not None:
        idx = g.integers(0, len(imgs), size=check_int(n_pairs, "n_pairs", minimum=1))
        imgs = [imgs[i] for i in idx]
    src = [im[0] for im in imgs] if squeeze else imgs
    return augment(src, rng=g), augment(src, rng=g)
