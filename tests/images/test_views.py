"""View makers: the GRF samplers' exact views, seeded reproducibility, invariants, bad input."""

import math

import numpy as np
import pytest

from mibound.data.images import ChannelSplitViews, GaussianRandomFieldCrops
from mibound.functional.analytic import gaussian_mi
from mibound.images.views import (
    Augment,
    as_image_list,
    augment_pairs,
    channel_split,
    color_jitter,
    crop_pairs,
    gaussian_blur,
    gaussian_noise,
    random_flip,
    random_resized_crop,
)

N_FIELDS = 20000


def _cov_check(x: np.ndarray, y: np.ndarray, exact: np.ndarray, dim_x: int, mi: float) -> None:
    """Empirical joint covariance of the flattened views against ``exact``, and the Gaussian MI of both."""
    n = len(x)
    z = np.concatenate([x.reshape(n, -1), y.reshape(n, -1)], axis=1)
    emp = z.T @ z / n  # the fields have mean zero
    sd = np.sqrt(np.outer(np.diag(exact), np.diag(exact)) + exact**2) / math.sqrt(n)  # sd of each entry
    assert np.abs(emp - exact).max() < 5.5 * sd.max()  # max over ~1000 entries: about 4 sd
    assert gaussian_mi(exact, dim_x) == pytest.approx(mi, abs=1e-9)  # the layout of (x, y) is the sampler's
    # plug-in MI of the empirical covariance: bias ~ d^2 / (4n) nats, sd ~ sqrt(d / n)
    assert gaussian_mi(emp, dim_x) == pytest.approx(mi, abs=0.08)


@pytest.mark.parametrize("offset", [(0, 2), (0, 4), (3, 1)])
def test_crop_pairs_reproduce_grf_crops(offset):
    sampler = GaussianRandomFieldCrops(image_size=12, crop_size=3, offset=offset, noise=0.1)
    fields = sampler.sample_fields(N_FIELDS, seed=1)
    assert fields.shape == (N_FIELDS, 1, 12, 12)
    x, y = crop_pairs(fields, 3, distance=offset, seed=2)  # one pair per field, anywhere in the window
    x, y = gaussian_noise(x, 0.1, rng=3), gaussian_noise(y, 0.1, rng=4)
    assert x.shape == (N_FIELDS, 1, 3, 3)
    _cov_check(x, y, sampler.covariance(), sampler.dim_x, sampler.mutual_information())


def test_crop_pairs_reproduce_grf_crops_two_channels_and_overlap():
    sampler = GaussianRandomFieldCrops(image_size=10, crop_size=2, offset=(0, 1), noise=0.2, channels=2)
    fields = sampler.sample_fields(N_FIELDS, seed=5)
    x, y = crop_pairs(fields, 2, overlap=0.5, seed=6)  # half overlap of a 2-wide crop: offset (0, 1)
    x, y = gaussian_noise(x, 0.2, rng=7), gaussian_noise(y, 0.2, rng=8)
    _cov_check(x, y, sampler.covariance(), sampler.dim_x, sampler.mutual_information())


def test_channel_split_reproduces_channel_split_views():
    sampler = ChannelSplitViews(channels=3, rho=0.5, rest_correlation=0.3, crop_size=3, noise=0.3, image_size=8)
    fields = sampler.sample_fields(N_FIELDS, seed=9)
    crop, _ = crop_pairs(fields, 3, distance=0, seed=10)  # one crop, anywhere in the window
    x, y = channel_split(crop, ((0,), (1, 2)))
    x, y = gaussian_noise(x, 0.3, rng=11), gaussian_noise(y, 0.3, rng=12)
    assert x.shape == (N_FIELDS, 1, 3, 3) and y.shape == (N_FIELDS, 2, 3, 3)
    _cov_check(x, y, sampler.covariance(), sampler.dim_x, sampler.mutual_information())


def test_exact_crop_mi_decreases_with_distance_like_the_view_maker():
    """The exact MI the view maker's crops carry falls with the distance (no wrap-around)."""
    mis = [GaussianRandomFieldCrops(image_size=16, crop_size=4, offset=(0, d), noise=0.1).mutual_information()
           for d in range(0, 12, 2)]
    assert all(a > b for a, b in zip(mis, mis[1:]))


def test_crop_geometry_and_positions():
    rng = np.random.default_rng(0)
    imgs = rng.random((50, 2, 20, 30))
    a, b, pos = crop_pairs(imgs, (4, 6), distance=(3, -5), n_pairs=200, seed=1, return_positions=True)
    assert a.shape == b.shape == (200, 2, 4, 6)
    np.testing.assert_array_equal(pos[:, 3] - pos[:, 1], 3)
    np.testing.assert_array_equal(pos[:, 4] - pos[:, 2], -5)
    assert pos[:, 1:].min() >= 0 and (pos[:, [1, 3]] + 4).max() <= 20 and (pos[:, [2, 4]] + 6).max() <= 30
    for k in range(0, 200, 37):
        i, r1, c1, r2, c2 = pos[k]
        np.testing.assert_array_equal(a[k], imgs[i, :, r1:r1 + 4, c1:c1 + 6])
        np.testing.assert_array_equal(b[k], imgs[i, :, r2:r2 + 4, c2:c2 + 6])
    # overlap: shared columns are equal; "any" direction keeps the Euclidean distance up to rounding
    h1, h2 = crop_pairs(imgs, 8, overlap=0.75, seed=2)
    np.testing.assert_array_equal(h1[..., 2:], h2[..., :6])
    _, _, p = crop_pairs(imgs, 4, distance=7.0, direction="any", n_pairs=500, seed=3, return_positions=True)
    dist = np.hypot(p[:, 3] - p[:, 1], p[:, 4] - p[:, 2])
    assert np.abs(dist - 7.0).max() <= math.sqrt(0.5) + 1e-12
    assert (p[:, 3] - p[:, 1]).min() < 0 < (p[:, 3] - p[:, 1]).max()  # both directions occur
    v1, v2 = crop_pairs(imgs[:, 0], 5, distance=2, direction="vertical", seed=4)  # (n, H, W) in -> (n, h, w) out
    assert v1.shape == (50, 5, 5)
    np.testing.assert_array_equal(v1[:, 2:], v2[:, :3])


def test_crop_pairs_on_photographs_of_different_sizes():
    imgs = [np.random.default_rng(i).random((3, 20 + 7 * i, 40 - 3 * i)) for i in range(4)]
    a, b, pos = crop_pairs(imgs, 8, distance=10, n_pairs=300, seed=0, return_positions=True)
    assert a.shape == (300, 3, 8, 8)
    assert set(np.unique(pos[:, 0])) == {0, 1, 2, 3}
    grey = [im[0] for im in imgs]
    g1, _ = crop_pairs(grey, 8, distance=10, n_pairs=300, seed=0)
    np.testing.assert_array_equal(g1, a[:, 0])


def test_seeded_reproducibility():
    imgs = np.random.default_rng(0).random((20, 3, 24, 24))
    aug = Augment(size=12, scale=(0.3, 1.0), blur_p=0.5, noise=0.05)
    for make in (lambda s: crop_pairs(imgs, 6, distance=5, direction="any", n_pairs=40, seed=s),
                 lambda s: augment_pairs(imgs, aug, n_pairs=30, seed=s)):
        a1, b1 = make(7)
        a2, b2 = make(7)
        a3, _ = make(8)
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_array_equal(b1, b2)
        assert not np.array_equal(a1, a3)
    g = np.random.default_rng(3)
    first = crop_pairs(imgs, 6, distance=2, seed=g)[0]
    second = crop_pairs(imgs, 6, distance=2, seed=g)[0]  # a Generator advances
    assert not np.array_equal(first, second)


def test_augmentations_invariants():
    rng = np.random.default_rng(1)
    x = rng.random((8, 3, 16, 16))
    # identity settings are the identity
    np.testing.assert_allclose(random_resized_crop(x, 16, scale=(1, 1), ratio=(1, 1)), x, atol=1e-12)
    np.testing.assert_array_equal(random_flip(x, p=0.0), x)
    np.testing.assert_array_equal(random_flip(x, p=1.0), x[..., ::-1])
    np.testing.assert_array_equal(random_flip(x, p=1.0, vertical=True), x[..., ::-1, :])
    np.testing.assert_allclose(color_jitter(x, brightness=0, contrast=0, saturation=0, hue=0), x, atol=1e-12)
    np.testing.assert_allclose(gaussian_blur(x, sigma=0.0), x)
    np.testing.assert_array_equal(gaussian_noise(x, 0.0), x)
    # blur keeps the mean of a constant image and lowers the variance of noise
    const = np.full((2, 1, 10, 10), 0.3)
    np.testing.assert_allclose(gaussian_blur(const, sigma=(0.5, 2.0), rng=1), const, atol=1e-12)
    assert gaussian_blur(x, sigma=1.5).std() < 0.5 * x.std()
    # jitter stays in [0, 1]; saturation 0 makes greys
    j = color_jitter(x, brightness=0.8, contrast=0.8, saturation=0.8, hue=0.5, rng=2)
    assert j.min() >= 0 and j.max() <= 1 and j.shape == x.shape
    grey = color_jitter(x, brightness=0, contrast=0, saturation=(0.0), hue=0, rng=3)
    assert grey.shape == x.shape
    # noise has the stated sd
    assert gaussian_noise(np.zeros((50, 1, 20, 20)), 0.3, rng=4).std() == pytest.approx(0.3, rel=0.05)
    # a half-size box of a 2x upsampled image
    up = np.repeat(np.repeat(x, 2, axis=2), 2, axis=3)
    out = random_resized_crop(up, 16, scale=(1, 1), ratio=(1, 1))
    np.testing.assert_allclose(out, x, atol=1e-12)


def test_channel_first_and_bad_input():
    rng = np.random.default_rng(2)
    imgs = rng.random((4, 3, 16, 16))
    with pytest.raises(ValueError, match="channel-last.*transpose"):
        crop_pairs(rng.random((4, 16, 16, 3)), 4)
    with pytest.raises(ValueError, match=r"channel-last.*transpose\(2, 0, 1\)"):
        crop_pairs([rng.random((16, 16, 3))], 4)
    with pytest.raises(ValueError, match="bigger than image"):
        crop_pairs(imgs, 17)
    with pytest.raises(ValueError, match="distance too large"):
        crop_pairs(imgs, 8, distance=9)
    with pytest.raises(ValueError, match="distance too large"):
        crop_pairs(imgs, 8, distance=(9, 0))
    with pytest.raises(ValueError, match="expected \\(n, C, H, W\\)"):
        crop_pairs(rng.random((4, 3, 16, 16, 2)), 4)
    with pytest.raises(TypeError, match="either distance or overlap"):
        crop_pairs(imgs, 4, distance=2, overlap=0.5)
    with pytest.raises(ValueError, match="overlap must be <= 1"):
        crop_pairs(imgs, 4, overlap=1.5)
    with pytest.raises(ValueError, match="did you mean 'vertical'"):
        crop_pairs(imgs, 4, distance=2, direction="verticle")
    with pytest.raises(ValueError, match="different channel counts"):
        crop_pairs([rng.random((3, 10, 10)), rng.random((1, 10, 10))], 4)
    with pytest.raises(ValueError, match="NaN"):
        crop_pairs(np.full((2, 1, 5, 5), np.nan), 2)
    with pytest.raises(TypeError, match="seed must be"):
        crop_pairs(imgs, 4, seed=-1)
    with pytest.raises(ValueError, match="different sizes"):
        random_flip([rng.random((3, 10, 10)), rng.random((3, 12, 10))])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        color_jitter(imgs * 3)
    with pytest.raises(ValueError, match="1 \\(grey\\) or 3"):
        color_jitter(rng.random((2, 2, 8, 8)))
    with pytest.raises(ValueError, match="smaller sigma"):
        gaussian_blur(imgs, sigma=(1.0, 6.0))
    with pytest.raises(ValueError, match="low <= high"):
        random_resized_crop(imgs, 8, scale=(0.9, 0.2))
    with pytest.raises(TypeError, match="must be an Augment"):
        augment_pairs(imgs, augment="simclr")
    with pytest.raises(TypeError, match="non-empty list"):
        as_image_list([])
