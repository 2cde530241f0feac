import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mibound.data.images import ChannelSplitViews
from mibound.experiments import EXPERIMENTS, infomin
from mibound.data import DigitTextureViews, class_sharing_mi
from mibound.experiments.infomin import sweep_setting


def _toy_pool(labels):
    """Glyphs that encode their label in every pixel (plus a per-image offset, so all glyphs differ)."""
    labels = np.asarray(labels)
    imgs = labels[:, None] / 10.0 + 1e-4 * np.arange(len(labels))[:, None] + np.zeros((1, 64))
    return imgs.reshape(-1, 8, 8), labels


def _index_pair_mi(labels, p):
    """Brute force I(I; J) over digit indices: P(j | i) = p [c_j = c_i] / n_{c_i} + (1 - p) / N."""
    labels = np.asarray(labels)
    n = len(labels)
    counts = np.bincount(labels)
    cond = p * (labels[None, :] == labels[:, None]) / counts[labels][:, None] + (1 - p) / n
    joint = cond / n
    ratio = joint / (joint.sum(1)[:, None] * joint.sum(0)[None, :])
    return float(np.sum(np.where(joint > 0, joint * np.log(np.where(joint > 0, ratio, 1.0)), 0.0)))


# ---------------------------------------------------------------------------------------------
# exact MI
# ---------------------------------------------------------------------------------------------
def test_the_sampler_lives_in_mibound_data_and_the_old_path_still_works():
    from mibound.data import digits
    from mibound.experiments.infomin import DigitTextureViews as old_views
    from mibound.experiments.infomin import class_sharing_mi as old_mi

    assert old_views is DigitTextureViews is digits.DigitTextureViews and old_mi is class_sharing_mi
    assert DigitTextureViews.__module__ == "mibound.data.digits"


def test_class_sharing_mi_closed_forms():
    pi = np.array([0.2, 0.3, 0.5])
    assert class_sharing_mi(0.0, pi) == 0.0
    assert class_sharing_mi(1.0, pi) == pytest.approx(-(pi * np.log(pi)).sum(), rel=1e-12)
    assert class_sharing_mi(1.0, np.full(10, 0.1)) == pytest.approx(math.log(10), rel=1e-12)


@pytest.mark.parametrize("p", [0.0, 0.3, 0.8, 1.0])
def test_class_mi_equals_index_pair_mi(p):
    # the partner depends on view 1 only through its class: I(I; J) = I(C_I; C_J)
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    pi = np.bincount(labels) / len(labels)
    assert class_sharing_mi(p, pi) == pytest.approx(_index_pair_mi(labels, p), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.01, 1.0), min_size=2, max_size=12), st.floats(0, 1), st.floats(0, 1))
def test_class_mi_monotone_and_bounded(weights, p, q):
    pi = np.array(weights) / np.sum(weights)
    lo, hi = sorted((p, q))
    a, b = class_sharing_mi(lo, pi), class_sharing_mi(hi, pi)
    assert 0.0 <= a <= b + 1e-12
    assert b <= -(pi * np.log(pi)).sum() + 1e-12


def test_sweep_setting_and_exact_mi_monotone():
    assert sweep_setting(0.0) == (0.0, 0.0)
    assert sweep_setting(0.4) == (0.4, 0.0)
    assert sweep_setting(1.0) == (1.0, 0.0)
    p, rho = sweep_setting(1.5)
    assert p == 1.0 and rho == pytest.approx(0.5)
    images, labels = _toy_pool(np.repeat(np.arange(4), 3))
    grid = np.linspace(0, 1.995, 25)
    mis = [DigitTextureViews(images, labels, *sweep_setting(s)).mutual_information() for s in grid]
    assert mis[0] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.diff(mis) > 0)


@pytest.mark.parametrize("bad", [-0.1, 2.0, 2.5])
def test_sweep_setting_rejects_out_of_range(bad):
    with pytest.raises(ValueError, match="sweep"):
        sweep_setting(bad)


def test_views_mi_is_digit_plus_texture():
    images, labels = _toy_pool([0, 0, 1, 1, 1, 2])
    v = DigitTextureViews(images, labels, share_digit=0.7, share_texture=0.4, texture_noise=0.2, contrast=3.0)
    tex = ChannelSplitViews(channels=2, rho=0.4, crop_size=8, image_size=8, noise=0.2, alpha=1.5)
    parts = v.mi_parts()
    assert parts["texture"] == pytest.approx(tex.mutual_information(), rel=1e-12)
    assert parts["digit"] == pytest.approx(class_sharing_mi(0.7, [2 / 6, 3 / 6, 1 / 6]), rel=1e-12)
    assert v.mutual_information() == pytest.approx(parts["digit"] + parts["texture"], rel=1e-12)


# ---------------------------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------------------------
def test_views_shapes_and_reproducibility():
    images, labels = _toy_pool(np.repeat(np.arange(3), 4))
    v = DigitTextureViews(images, labels, share_digit=0.5, share_texture=0.5)
    x, y = v.sample(16, seed=3)
    assert x.shape == y.shape == (16, 2, 8, 8)
    x2, _ = v.sample(16, seed=3)
    np.testing.assert_array_equal(x, x2)
    xt, yt = v.sample_torch(5)
    assert xt.shape == yt.shape == (5, 128) and xt.dtype == torch.float32


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_partner_shares_the_class_with_probability_p(p):
    labels = np.repeat(np.arange(5), 20)
    images, labels = _toy_pool(labels)
    v = DigitTextureViews(images, labels, share_digit=p, contrast=2.0)
    x, y = v.sample(2000, seed=1, dtype=np.float64)
    cx = np.round(x[:, 0].mean(axis=(1, 2)), 1)  # the glyph channel encodes the class
    cy = np.round(y[:, 0].mean(axis=(1, 2)), 1)
    agree = float(np.mean(cx == cy))
    if p == 1.0:
        assert agree == 1.0
        assert np.mean(x[:, 0] == y[:, 0]) < 0.5  # another instance of the class, not the same glyph
    else:
        assert abs(agree - 0.2) < 0.04  # chance agreement: sum pi_c^2 = 0.2


def test_textures_follow_share_texture():
    images, labels = _toy_pool(np.repeat(np.arange(2), 3))
    near = DigitTextureViews(images, labels, share_texture=0.99, contrast=2.0)
    free = DigitTextureViews(images, labels, share_texture=0.0, contrast=2.0)
    for v, lo, hi in ((near, 0.9, 1.0), (free, -0.1, 0.1)):
        x, y = v.sample(1000, seed=0, dtype=np.float64)
        r = np.corrcoef(x[:, 1].ravel(), y[:, 1].ravel())[0, 1]
        assert lo < r < hi
        assert x[:, 1].std() == pytest.approx(2.0 * math.sqrt(1 + 0.1**2), rel=0.1)  # contrast x unit field + noise


def test_bad_views_input():
    images, labels = _toy_pool([0, 1, 1])
    with pytest.raises(ValueError, match="share_digit"):
        DigitTextureViews(images, labels, share_digit=1.5)
    with pytest.raises(ValueError, match="share_texture must be < 1"):
        DigitTextureViews(images, labels, share_texture=1.0)
    with pytest.raises(ValueError, match="images must have shape"):
        DigitTextureViews(np.zeros((3, 5, 5)), labels)
    with pytest.raises(ValueError, match="labels must be 3 integers"):
        DigitTextureViews(images, [0, 1])
    dup = np.stack([images[0], images[0], images[2]])
    with pytest.raises(ValueError, match="identical glyphs carry different labels"):
        DigitTextureViews(dup, [0, 1, 1])
    with pytest.raises(ValueError, match="contrast"):
        DigitTextureViews(images, labels, contrast=0.0)


def test_digits_pool_is_valid_for_the_formula():
    images, labels = infomin.load_digits_pool()
    assert images.shape == (1797, 8, 8) and labels.shape == (1797,)
    v = DigitTextureViews(images, labels)  # raises if identical glyphs had different labels
    assert v.mi_parts()["digit"] == pytest.approx(math.log(10), abs=2e-3)  # H(C) of nearly balanced classes


# ---------------------------------------------------------------------------------------------
# the experiment (tiny quick form)
# ---------------------------------------------------------------------------------------------
TINY = dict(sweep=(0.0, 0.5, 1.0, 1.9), n_seeds=1, steps=40, eval_batches=2, offsets=(0, 4, 8, 12),
            infonce_offsets=(8,), offset_steps=30, test_fraction=0.3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("infomin")
    frame = infomin.run(out, quick=True, progress=False, **TINY)
    return out, frame


def test_outputs_exist(tiny):
    out, _ = tiny
    for name in ["infomin.csv", "infomin_summary.csv", "infomin_reference.csv", "infomin_offsets.csv",
                 "metadata.json", "infomin.png", "infomin.svg"]:
        assert (out / name).stat().st_size > 0, name
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["experiment"] == "infomin" and meta["settings"]["steps"] == 40 and meta["units"] == "nats"
    assert meta["settings"]["peak"]["sweep"] in TINY["sweep"]


def test_table_shape_and_ranges(tiny):
    out, frame = tiny
    csv = pd.read_csv(out / "infomin.csv")
    assert len(csv) == len(TINY["sweep"]) * TINY["n_seeds"]
    assert {"sweep", "share_digit", "share_texture", "mi", "mi_digit", "mi_texture", "mi_kind", "probe_accuracy",
            "infonce", "ceiling", "seed"} <= set(csv.columns)
    assert set(csv["mi_kind"]) == {"exact"}
    csv = csv.sort_values("sweep")
    assert (csv["mi"] >= 0).all() and csv["mi"].iloc[0] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.diff(csv["mi"].to_numpy()) > 0)  # exact MI increases along the sweep
    np.testing.assert_allclose(csv["mi"], csv["mi_digit"] + csv["mi_texture"], rtol=1e-12)
    assert csv["probe_accuracy"].between(0, 1).all()
    assert (csv["infonce"] <= csv["ceiling"] + 1e-6).all()  # InfoNCE never exceeds log K
    assert csv["ceiling"].iloc[0] == pytest.approx(math.log(64))


def test_summary_marks_one_peak(tiny):
    out, frame = tiny
    s = pd.read_csv(out / "infomin_summary.csv")
    assert len(s) == len(TINY["sweep"]) and s["is_peak"].sum() >= 1
    best = s.loc[s["is_peak"], "accuracy_mean"].iloc[0]
    assert best == pytest.approx(s["accuracy_mean"].max())


def test_offsets_table(tiny):
    out, _ = tiny
    off = pd.read_csv(out / "infomin_offsets.csv").sort_values("offset")
    assert off["offset"].tolist() == [0, 4, 8, 12]
    assert (off["mi_kind"] == "exact").all() and (off["mi"] >= 0).all()
    assert np.all(np.diff(off["mi"].to_numpy()) < 0)  # crops share less the further apart they are
    est = off.dropna(subset=["infonce"])
    assert est["offset"].tolist() == [8]
    assert est["infonce"].iloc[0] <= math.log(64) + 1e-6


def test_resume_keeps_finished_runs(tiny, tmp_path):
    out, _ = tiny
    import shutil

    for name in ("infomin.csv", "infomin_reference.csv", "infomin_offsets.csv"):
        shutil.copy(out / name, tmp_path / name)
    before = pd.read_csv(tmp_path / "infomin.csv")
    frame = infomin.run(tmp_path, quick=True, progress=False, resume=True, **TINY)
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), before)
    off = pd.read_csv(tmp_path / "infomin_offsets.csv")
    assert len(off) == 4 and off["infonce"].notna().sum() == 1


def test_registry_and_bad_settings(tmp_path):
    assert EXPERIMENTS["infomin"] is infomin.run
    with pytest.raises(TypeError, match="unknown infomin setting"):
        infomin.run(tmp_path, steps_per_level=3)
    with pytest.raises(ValueError, match="sweep must be < 2"):
        infomin.run(tmp_path, sweep=(0.0, 2.0))
    with pytest.raises(ValueError, match="at least one setting"):
        infomin.run(tmp_path, sweep=())
    with pytest.raises(ValueError, match="offsets must be integers"):
        infomin.run(tmp_path, infonce_offsets=(30,))
    assert not (tmp_path / "infomin.csv").exists()  # rejected before any work
