"""Colour-space transforms: invertible to float precision, against scikit-image, bad input."""

import numpy as np
import pytest
import torch

from mibound.images.colorspaces import COLOR_SPACES, channel_names, channel_split, color_split, rgb_from, rgb_to

SPACES = sorted(COLOR_SPACES)


def _edge_colours() -> np.ndarray:
    """Black, white, greys, primaries, secondaries, the gamma threshold: shape (1, 3, m, 1)."""
    cols = [[0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5], [1e-12, 1e-12, 1e-12], [1, 0, 0], [0, 1, 0], [0, 0, 1],
            [1, 1, 0], [0, 1, 1], [1, 0, 1], [0.04045] * 3, [0.0404, 0.0405, 0.04045], [0.2, 0.2, 0.2 - 1e-9],
            [1.0, 1.0 - 1e-12, 0.0], [0.3, 0.7, 0.7]]
    return np.array(cols, dtype=np.float64).T.reshape(1, 3, len(cols), 1)


def _photo() -> np.ndarray:
    pytest.importorskip("skimage")
    from mibound.images.photographs import load_photographs

    return load_photographs(["chelsea"])[0][None, :, ::2, ::2]  # (1, 3, 150, 226)


@pytest.mark.parametrize("space", SPACES)
def test_round_trip_random_edges_and_photo(space):
    rng = np.random.default_rng(0)
    for img in (rng.random((4, 3, 9, 7)), _edge_colours(), _photo()):
        back = rgb_from(rgb_to(img, space), space)
        assert back.dtype == np.float64 and back.shape == img.shape
        assert np.abs(back - img).max() < 1e-6


@pytest.mark.parametrize("space", SPACES)
def test_torch_matches_numpy_and_is_differentiable(space):
    rng = np.random.default_rng(1)
    img = rng.uniform(0.05, 0.95, size=(3, 3, 5, 5))
    t = torch.tensor(img, requires_grad=True)
    out = rgb_to(t, space)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    np.testing.assert_allclose(out.detach().numpy(), rgb_to(img, space), rtol=0, atol=1e-12)
    (grad,) = torch.autograd.grad(out.square().sum(), t)
    assert torch.isfinite(grad).all()
    # float32 in, float32 out
    assert rgb_to(t.detach().float(), space).dtype == torch.float32


def test_linear_spaces_gradient_is_the_matrix():
    """For a linear space the Jacobian of one pixel is the constant 3x3 matrix."""
    for space in ("ycbcr", "yuv", "yiq"):
        jac = torch.autograd.functional.jacobian(lambda p: rgb_to(p.reshape(1, 3, 1, 1), space).reshape(3),
                                                 torch.tensor([0.2, 0.5, 0.7], dtype=torch.float64))
        jac2 = torch.autograd.functional.jacobian(lambda p: rgb_to(p.reshape(1, 3, 1, 1), space).reshape(3),
                                                  torch.tensor([0.9, 0.1, 0.4], dtype=torch.float64))
        torch.testing.assert_close(jac, jac2)
        assert abs(float(torch.linalg.det(jac))) > 1e-3


def test_greys_are_neutral():
    g = np.linspace(0, 1, 11)
    grey = np.stack([g, g, g]).reshape(1, 3, 11, 1)
    lab = rgb_to(grey, "lab")
    np.testing.assert_allclose(lab[:, 1:], 0.0, atol=1e-10)
    np.testing.assert_allclose(lab[0, 0, [0, -1], 0], [0.0, 100.0], atol=1e-10)
    for space in ("ycbcr", "yuv", "yiq"):
        out = rgb_to(grey, space)
        np.testing.assert_allclose(out[:, 1:], 0.0, atol=1e-12)
        np.testing.assert_allclose(out[:, 0], grey[:, 0], atol=1e-12)
    hsv = rgb_to(grey, "hsv")
    np.testing.assert_allclose(hsv[:, :2], 0.0, atol=0)  # hue and saturation defined as 0
    np.testing.assert_allclose(hsv[:, 2], grey[:, 0], atol=0)


def test_hsv_ranges_and_primaries():
    prim = np.eye(3).reshape(1, 3, 3, 1)  # red, green, blue pixels
    hsv = rgb_to(prim, "hsv")
    np.testing.assert_allclose(hsv[0, 0, :, 0], [0, 1 / 3, 2 / 3], atol=1e-15)
    rng = np.random.default_rng(2)
    out = rgb_to(rng.random((2, 3, 30, 30)), "hsv")
    assert out[:, 0].min() >= 0 and out[:, 0].max() < 1 and out[:, 1:].min() >= 0 and out[:, 1:].max() <= 1


def test_agrees_with_scikit_image():
    skc = pytest.importorskip("skimage.color")
    img = _photo()
    hwc = img[0].transpose(1, 2, 0)
    chw = lambda a: a.transpose(2, 0, 1)  # noqa: E731
    np.testing.assert_allclose(rgb_to(img, "xyz")[0], chw(skc.rgb2xyz(hwc)), atol=1e-12)
    np.testing.assert_allclose(rgb_to(img, "hsv")[0], chw(skc.rgb2hsv(hwc)), atol=1e-12)
    np.testing.assert_allclose(rgb_to(img, "lab")[0], chw(skc.rgb2lab(hwc)), atol=0.02)  # white point rounding
    np.testing.assert_allclose(rgb_to(img, "yuv")[0], chw(skc.rgb2yuv(hwc)), atol=1e-3)
    np.testing.assert_allclose(rgb_to(img, "yiq")[0], chw(skc.rgb2yiq(hwc)), atol=1e-3)
    ycc = rgb_to(img, "ycbcr")[0] * np.array([219, 224, 224])[:, None, None] + np.array([16, 128, 128])[:, None, None]
    np.testing.assert_allclose(ycc, chw(skc.rgb2ycbcr(hwc)), atol=1e-3)  # skimage: studio range


def test_color_split_groups_by_index_and_name():
    rng = np.random.default_rng(3)
    img = rng.random((5, 3, 4, 6))
    lab = rgb_to(img, "lab")
    v1, v2 = color_split(img, "lab", ((0,), (1, 2)))
    np.testing.assert_array_equal(v1, lab[:, :1])
    np.testing.assert_array_equal(v2, lab[:, 1:])
    w1, w2 = color_split(img, "LAB", (("L",), ("a", "b")))
    np.testing.assert_array_equal(w1, v1)
    np.testing.assert_array_equal(w2, v2)
    r, b = color_split(img, "rgb", ((0,), (2,)))  # need not cover every channel
    assert r.shape == (5, 1, 4, 6) and b.shape == (5, 1, 4, 6)
    assert channel_names("hsv") == ("H", "S", "V")
    t1, t2 = color_split(torch.tensor(img), "ycbcr", (("Cb", "Cr"), ("Y",)))
    assert tuple(t1.shape) == (5, 2, 4, 6) and tuple(t2.shape) == (5, 1, 4, 6)


def test_channel_split_any_channels_any_values():
    x = np.random.default_rng(4).normal(size=(3, 5, 2, 2))
    a, b = channel_split(x, ((4, 0), (1, 2, 3)))
    np.testing.assert_array_equal(a, x[:, [4, 0]])
    np.testing.assert_array_equal(b, x[:, [1, 2, 3]])


def test_bad_input():
    rng = np.random.default_rng(5)
    img = rng.random((2, 3, 4, 4))
    with pytest.raises(ValueError, match="did you mean 'lab'"):
        rgb_to(img, "lba")
    with pytest.raises(ValueError, match="channel-last.*transpose"):
        rgb_to(rng.random((2, 4, 4, 3)), "lab")
    with pytest.raises(ValueError, match=r"\[0, 1\].*255"):
        rgb_to(img * 2, "hsv")
    with pytest.raises(TypeError, match="/ 255"):
        rgb_to((img * 255).astype(np.uint8), "lab")
    with pytest.raises(ValueError, match="NaN"):
        rgb_from(np.full((1, 3, 1, 1), np.nan), "lab")
    with pytest.raises(ValueError, match="overlap"):
        color_split(img, "lab", ((0, 1), (1, 2)))
    with pytest.raises(ValueError, match="unknown channel 'Q'"):
        color_split(img, "lab", (("L",), ("Q",)))
    with pytest.raises(ValueError, match="not an index"):
        color_split(img, "rgb", ((0,), (3,)))
    with pytest.raises(ValueError, match="at least one channel"):
        color_split(img, "rgb", ((0,), ()))
    with pytest.raises(ValueError, match="two channel groups"):
        channel_split(img, ((0,), (1,), (2,)))
    with pytest.raises(ValueError, match=r"\(n, 3, H, W\)"):
        color_split(img[0], "lab")
    with pytest.raises(ValueError, match="need a colour space"):
        channel_split(img, (("L",), (1,)))


def test_photographs_loader():
    pytest.importorskip("skimage")
    from mibound.images.photographs import PHOTOGRAPHS, load_photographs

    photos = load_photographs(PHOTOGRAPHS[:2])
    assert [p.shape[0] for p in photos] == [3, 3]
    assert all(p.min() >= 0 and p.max() <= 1 and p.dtype == np.float64 for p in photos)
    grey = load_photographs(["astronaut"], grey=True)[0]
    assert grey.shape == (1, 512, 512)
    np.testing.assert_allclose(grey[0], rgb_to(load_photographs(["astronaut"])[0][None], "ycbcr")[0, 0])
    with pytest.raises(ValueError, match="did you mean 'coffee'"):
        load_photographs(["cofee"])
