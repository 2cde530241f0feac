"""Image views in: the layout rule, flattening, and images through the API, the estimators, the ensemble, the CLI and bench."""

import json

import numpy as np
import pytest
import torch

import mibound
from mibound.bench import run_bench
from mibound.cli import main
from mibound.data.images import ChannelSplitViews, GaussianRandomFieldCrops
from mibound.estimators.neural import NeuralEstimator, fit_samplers, resolve_critic
from mibound.inputs.checks import flatten_views, image_shape
from mibound.inputs.maps import fit_column_map
from mibound.registry import make_estimator

FAST = dict(steps=40, batch_size=32, min_steps=0, progress=False)


@pytest.fixture(scope="module")
def split():
    """A 2-nat channel split of 1x6x6 and 2x6x6 views, as images (n, C, H, W)."""
    views = ChannelSplitViews.from_mi(2.0, crop_size=6, channels=3, noise=0.5, image_size=12, torus_size=24)
    x, y = views.sample(1200, seed=0)
    return x, y, views.mutual_information()


# -- the layout rule -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape, expected", [
    ((10, 5), None), ((10,), None), ((10, 8, 8), (1, 8, 8)), ((10, 3, 32, 32), (3, 32, 32)),
    ((10, 1, 8, 8), (1, 8, 8)), ((10, 16, 4, 4), (16, 4, 4)), ((10, 4, 4, 3), (4, 4, 3)),
    ((10, 5, 5, 5), (5, 5, 5)),
])
def test_image_shape_reads_channel_first_input(shape, expected):
    assert image_shape(np.zeros(shape)) == expected


@pytest.mark.parametrize("shape", [(10, 32, 32, 3), (10, 8, 8, 1), (10, 28, 28, 4), (10, 8, 6, 2)])
def test_channel_last_input_is_refused_with_the_fix(shape):
    with pytest.raises(ValueError, match=r"looks channel-last.*transpose\(0, 3, 1, 2\).*np\.moveaxis"):
        image_shape(np.zeros(shape))
    # the override takes the array as it is
    assert image_shape(np.zeros(shape), layout="channels_first") == shape[1:]


@pytest.mark.parametrize("a, match", [
    (np.zeros((4, 2, 3, 4, 5)), "5 dimensions"), (np.zeros((4, 0, 3, 3)), "empty"),
])
def test_bad_image_arrays(a, match):
    with pytest.raises(ValueError, match=match):
        image_shape(a)


def test_bad_layout_name():
    with pytest.raises(ValueError, match="image_layout"):
        image_shape(np.zeros((4, 3, 8, 8)), layout="nhwc")


def test_flatten_views_keeps_rows_and_shapes(tmp_path):
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    y = np.ones((2, 7))
    fx, fy, shapes = flatten_views(x, y)
    assert shapes == ((3, 4, 5), None) and fx.shape == (2, 60) and fy is y
    np.testing.assert_array_equal(fx.reshape(2, 3, 4, 5), x)  # channel-first rows
    tx, _, tshapes = flatten_views(torch.as_tensor(x), y)
    assert tshapes[0] == (3, 4, 5) and isinstance(tx, np.ndarray)
    np.save(tmp_path / "x.npy", x)
    mx, _, _ = flatten_views(np.load(tmp_path / "x.npy", mmap_mode="r"), y)
    assert isinstance(mx, np.memmap) and mx.shape == (2, 60)  # still a memory map, nothing read


def test_per_channel_preprocessing_pools_the_pixels_of_each_channel(rng):
    x = rng.standard_normal((500, 2, 3, 3)) * np.array([1.0, 10.0])[None, :, None, None] + 5.0
    flat = x.reshape(500, -1)
    cmap = fit_column_map(flat, "standardize", shape=(2, 3, 3))
    for c in range(2):
        block = slice(9 * c, 9 * (c + 1))
        np.testing.assert_allclose(cmap.center[block], x[:, c].mean(), rtol=1e-6)
        np.testing.assert_allclose(cmap.scale[block], x[:, c].std(), rtol=1e-5)
    robust = fit_column_map(flat, "robust", shape=(2, 3, 3))
    np.testing.assert_allclose(robust.center[9:], np.median(x[:, 1]), rtol=1e-6)
    with pytest.raises(ValueError, match="does not match"):
        fit_column_map(flat, "robust", shape=(3, 3, 3))


def test_resolve_critic():
    assert resolve_critic("auto", (1, 8, 8), (2, 8, 8)) == "conv"
    assert resolve_critic("auto", (64,), (64,)) == "separable"
    assert resolve_critic("auto", (1, 8, 8), (3,)) == "separable"  # an image against a vector: flattened
    assert resolve_critic("bilinear", (1, 8, 8), (1, 8, 8)) == "bilinear"


# -- through the API and the estimators -------------------------------------------------------------
@pytest.mark.parametrize("layout", ["4d", "3d"])
def test_estimate_mi_takes_images_and_uses_the_conv_critic(split, layout):
    x, y, _ = split
    if layout == "3d":
        x, y = x[:, 0], y[:, 0]  # (n, H, W): one channel each
    res = mibound.estimate_mi(x, y, estimator="infonce", **FAST)
    assert res.settings["critic"] == "conv"
    assert res.settings["view_shapes"] == [[1, 6, 6], [1 if layout == "3d" else 2, 6, 6]]
    assert np.isfinite(res.estimate) and res.is_bound
    # the same rows flattened, with the conv critic named: the same fit as images with critic="auto"
    flat = mibound.estimate_mi(x.reshape(len(x), -1), y.reshape(len(y), -1), estimator="infonce",
                               critic="separable", **FAST)
    assert flat.settings["critic"] == "separable" and flat.settings["view_shapes"][0] == [36]


def test_torch_images_equal_numpy_images(split):
    x, y, _ = split
    a = mibound.estimate_mi(x, y, estimator="infonce", **FAST).estimate
    b = mibound.estimate_mi(torch.as_tensor(x), torch.as_tensor(y), estimator="infonce", **FAST).estimate
    assert a == pytest.approx(b, abs=1e-5)


@pytest.mark.parametrize("estimator", ["infonce", "auto"])
def test_channel_last_images_are_refused_through_the_api(split, estimator):
    x, y, _ = split
    x_last = np.ascontiguousarray(np.zeros((len(x), 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"x has shape \(1200, 8, 8, 3\), which looks channel-last.*transpose"):
        mibound.estimate_mi(x_last, y, estimator=estimator, steps=10, progress=False)


def test_image_layout_override_reads_the_array_as_channel_first(split):
    _, y, _ = split
    x = np.random.default_rng(0).standard_normal((len(y), 6, 6, 2)).astype(np.float32)  # (C, H, W) = (6, 6, 2)
    res = mibound.estimate_mi(x, y, estimator="infonce", image_layout="channels_first", **FAST)
    assert res.settings["view_shapes"][0] == [6, 6, 2]


def test_conv_critic_on_flat_data_is_refused():
    x, y = mibound.CorrelatedGaussian.from_mi(1.0, 4).sample(400, seed=0)
    with pytest.raises(ValueError, match="the conv critic needs image views"):
        mibound.estimate_mi(x, y, estimator="infonce", critic="conv", **FAST)


def test_memory_mapped_images_give_the_in_memory_fit(split, tmp_path):
    x, y, _ = split
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    est = lambda: NeuralEstimator("infonce", seed=1, **FAST)  # noqa: E731
    mem = est().fit(x, y).result_
    mm = est().fit(np.load(tmp_path / "x.npy", mmap_mode="r"), np.load(tmp_path / "y.npy", mmap_mode="r")).result_
    assert mm.settings["critic"] == "conv" and mm.settings["data"] == "stream"
    assert mm.estimate == pytest.approx(mem.estimate, abs=1e-4)


@pytest.mark.parametrize("name", ["gaussian", "gcmi", "ksg", "discrete"])
def test_non_neural_estimators_flatten_images_and_say_so(split, name):
    x, y, _ = split
    if name == "discrete":  # its domain: a joint table of few cells (rows of pixels thresholded at 3 sd)
        x, y = np.where(np.abs(x) > 3 * x.std(), 1.0, 0.0), np.where(np.abs(y) > 3 * y.std(), 1.0, 0.0)
    res = make_estimator(name).fit(x, y).result_
    codes = [d["code"] for d in res.diagnostics]
    assert "flattened_images" in codes
    if name in ("ksg", "discrete"):  # 36 + 72 columns: far above their dimension limits
        assert "high_dimension" in codes
    flat = make_estimator(name).fit(x.reshape(len(x), -1), y.reshape(len(y), -1)).result_
    assert res.estimate == pytest.approx(flat.estimate, abs=1e-9)  # flattening is all they do
    assert "flattened_images" not in [d["code"] for d in flat.diagnostics]


def test_gaussian_plug_in_on_images_is_near_the_exact_mi(split):
    x, y, mi = split
    res = mibound.estimate_mi(x, y, estimator="gaussian")
    assert res.estimate == pytest.approx(mi, abs=0.3)


def test_gaussian_high_dimension_diagnostic_with_few_rows(split):
    x, y, _ = split
    codes = [d["code"] for d in mibound.estimate_mi(x[:800], y[:800], estimator="gaussian").diagnostics]
    assert "high_dimension" in codes  # 108 columns from 800 rows: fewer than 10 per dimension
    with pytest.raises(ValueError, match=r"gaussian needs n >= 3 \(dim_x \+ dim_y\) = 324 rows for 36\+72 columns, "
                                         r"got 300.*Use latent or infonce"):
        mibound.estimate_mi(x[:300], y[:300], estimator="gaussian")  # fewer than 3 per dimension: refused


def test_auto_on_images_gives_its_neural_member_the_conv_critic(split):
    x, y, _ = split
    res = mibound.estimate_mi(x, y, steps=40, batch_size=32, progress=False)
    assert res.settings["panel"]["infonce"]["critic"] == "conv"
    assert "ksg" not in res.settings["panel"]  # 108 columns
    if res.settings["choice"]["estimator"] != "infonce":
        assert "flattened_images" in [d["code"] for d in res.diagnostics]


# -- samplers and the ensemble -------------------------------------------------------------------------
def test_sampler_views_use_the_conv_critic_in_the_single_and_the_ensemble_path():
    views = GaussianRandomFieldCrops(image_size=12, crop_size=6, offset=(0, 3), noise=0.5, torus_size=24)
    opts = dict(batch_size=32, steps=30, learning_rate=1e-3, eval_batches=4, progress=False)
    one = [NeuralEstimator("infonce", seed=s, **opts).fit_sampler(views).result_ for s in (0, 1)]
    ens = fit_samplers([NeuralEstimator("infonce", seed=s, **opts) for s in (0, 1)], [views, views], progress=False)
    for a, b in zip(one, ens):
        assert a.settings["critic"] == b.result_.settings["critic"] == "conv"
        assert b.result_.estimate == pytest.approx(a.estimate, abs=2e-3)  # the same runs, up to float rounding


# -- the CLI and bench ---------------------------------------------------------------------------------------
def test_cli_estimate_reads_image_npz_and_npy(split, tmp_path, capsys):
    x, y, mi = split
    np.savez(tmp_path / "img.npz", x=x, y=y, true_mi=np.float64(mi))
    assert main(["estimate", str(tmp_path / "img.npz"), "--estimator", "infonce", "--steps", "30",
                 "--batch-size", "32", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["critic"] == "conv" and out["true_mi"] == pytest.approx(mi)
    np.save(tmp_path / "x.npy", x[:, 0])  # (n, H, W)
    np.save(tmp_path / "y.npy", y)
    assert main(["estimate", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--estimator", "infonce",
                 "--steps", "30", "--batch-size", "32", "--mmap", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["view_shapes"] == [[1, 6, 6], [2, 6, 6]]
    assert main(["estimate", str(tmp_path / "img.npz"), "--estimator", "gaussian", "--json"]) == 0
    assert "flattened_images" in [d["code"] for d in json.loads(capsys.readouterr().out)["diagnostics"]]


def test_cli_refuses_channel_last_images_in_one_line(split, tmp_path, capsys):
    _, y, _ = split
    np.savez(tmp_path / "last.npz", x=np.zeros((len(y), 8, 8, 3), np.float32), y=y)
    assert main(["estimate", str(tmp_path / "last.npz"), "--estimator", "infonce", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "looks channel-last" in err and "transpose(0, 3, 1, 2)" in err and err.count("\n") == 1
    # the override reads the same file as (n, C=8, H=8, W=3)
    np.savez(tmp_path / "first.npz", x=np.random.default_rng(0).standard_normal((len(y), 8, 8, 3)), y=y)
    assert main(["estimate", str(tmp_path / "first.npz"), "--estimator", "infonce", "--steps", "20",
                 "--batch-size", "32", "--image-layout", "channels_first", "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["view_shapes"][0] == [8, 8, 3]


def test_bench_runs_image_tasks(split, tmp_path):
    x, y, mi = split
    folder = tmp_path / "tasks"
    folder.mkdir()
    np.savez(folder / "split.npz", x=x, y=y, true_mi=np.float64(mi))
    np.savez(folder / "last.npz", x=np.zeros((len(y), 8, 8, 3), np.float32), y=y, true_mi=np.float64(mi))
    frame = run_bench(folder, ["gaussian", "infonce"], options={"infonce": dict(steps=30, batch_size=32)})
    ok = frame[frame["task"] == "split"]
    assert (ok["status"] == "ok").all() and (ok["dim_x"] == 36).all() and (ok["dim_y"] == 72).all()
    assert "flattened_images" in ok.set_index("estimator").loc["gaussian", "diagnostics"]
    bad = frame[frame["task"] == "last"]
    assert bad["status"].str.contains("channel-last").all()


@pytest.mark.parametrize("name", ["flow", "doe"])
def test_density_estimators_flatten_images_and_say_so(name):
    pytest.importorskip("zuko")
    views = ChannelSplitViews.from_mi(0.5, crop_size=2, channels=2, noise=0.3, image_size=4, torus_size=8)
    x, y = views.sample(800, seed=0)  # (n, 1, 2, 2) each
    res = make_estimator(name, steps=20, progress=False).fit(x, y).result_
    assert "flattened_images" in [d["code"] for d in res.diagnostics]
    assert "high_dimension" not in [d["code"] for d in res.diagnostics]  # 8 columns


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st


@given(c=st.integers(1, 4), h=st.integers(1, 64), w=st.integers(1, 64))
def test_the_layout_rule_never_refuses_channel_first_images_with_few_channels(c, h, w):
    """Every (n, C <= 4, H, W) is read as channel-first: the rule only looks at a small *last* axis."""
    assert image_shape(np.empty((2, c, h, w), np.float32)) == (c, h, w)
