import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("zuko")

from mibound.data.color_digits import ColorDigits
from mibound.experiments import EXPERIMENTS, infomin_learn
from mibound.experiments.infomin import load_digits_pool
from mibound.images.colorflow import ColorFlow, InfoMinRun, grad_reverse, standardize_channels
from mibound.images.colorspaces import color_split, rgb_to
from mibound.neural import engine
from mibound.neural.critics import SeparableCritic, mlp


def _randomised(flow: ColorFlow, scale: float = 0.5, seed: int = 0) -> ColorFlow:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return flow


class _SharedSource:
    """RGB-like images whose three channels share one random field (plus small noise): lots to share."""

    def __init__(self, noise: float = 0.1):
        self.noise = noise

    def draw(self, n, generator, dtype=torch.float32):
        common = torch.randn(n, 1, 8, 8, generator=generator)
        x = common + self.noise * torch.randn(n, 3, 8, 8, generator=generator)
        return x.to(dtype), torch.randint(0, 3, (n,), generator=generator)


# ---------------------------------------------------------------------------------------------
# the colour flow
# ---------------------------------------------------------------------------------------------
def test_color_flow_starts_at_the_identity():
    flow = ColorFlow()
    x = torch.rand(4, 3, 8, 8)
    z, ladj = flow(x)
    torch.testing.assert_close(z, x, atol=1e-6, rtol=0)
    torch.testing.assert_close(ladj, torch.zeros(4), atol=1e-5, rtol=0)


def test_color_flow_is_invertible_to_float_precision():
    flow = _randomised(ColorFlow(blocks=3).double())
    x = torch.rand(6, 3, 5, 7, dtype=torch.float64)
    z, _ = flow(x)
    assert not torch.allclose(z, x)
    torch.testing.assert_close(flow.inverse(z), x, atol=1e-12, rtol=0)
    torch.testing.assert_close(flow(flow.inverse(z))[0], z, atol=1e-12, rtol=0)


def test_color_flow_log_det_is_the_sum_of_the_pixel_jacobians():
    flow = _randomised(ColorFlow().double(), seed=3)
    x = torch.rand(2, 3, 2, 3, dtype=torch.float64)
    _, ladj = flow(x)
    pixels = x.permute(0, 2, 3, 1).reshape(2, -1, 3)
    expected = torch.stack([sum(torch.linalg.slogdet(flow.jacobian(p))[1] for p in img) for img in pixels])
    torch.testing.assert_close(ladj, expected, atol=1e-10, rtol=0)


def test_color_flow_refuses_channel_last_and_bad_settings():
    flow = ColorFlow()
    with pytest.raises(ValueError, match=r"channel last\? use x.permute\(0, 3, 1, 2\)"):
        flow(torch.rand(2, 8, 8, 3))
    with pytest.raises(ValueError, match="channel first"):
        flow(torch.rand(2, 3, 8))
    with pytest.raises(ValueError, match="channels"):
        ColorFlow(channels=1)
    with pytest.raises(ValueError, match="blocks"):
        ColorFlow(blocks=0)


# ---------------------------------------------------------------------------------------------
# gradient reversal and the adversarial strategy
# ---------------------------------------------------------------------------------------------
def test_grad_reverse_is_identity_forward_and_negated_scaled_backward():
    x = torch.randn(5, requires_grad=True)
    y = grad_reverse(x, 0.3)
    torch.testing.assert_close(y, x)
    (g,) = torch.autograd.grad((y * torch.arange(5.0)).sum(), x)
    torch.testing.assert_close(g, -0.3 * torch.arange(5.0))


def test_standardize_channels_is_zero_mean_unit_variance_per_channel():
    v = 3.0 + 2.0 * torch.randn(50, 2, 4, 4, dtype=torch.float64)
    s = standardize_channels(v)
    torch.testing.assert_close(s.mean((0, 2, 3)), torch.zeros(2, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(s.std((0, 2, 3)), torch.ones(2, dtype=torch.float64), atol=1e-5, rtol=0)


def _runs(heads: bool = False, seed: int = 0) -> InfoMinRun:
    torch.manual_seed(seed)
    flow = _randomised(ColorFlow(), scale=0.2, seed=seed)
    critic = SeparableCritic(64, 128, hidden_dim=32, layers=1, embed_dim=8)
    hd = (mlp(64, [8], 3), mlp(128, [8], 3)) if heads else None
    return InfoMinRun(flow, critic, (3, 8, 8), heads=hd)


def test_one_backward_ascends_infonce_for_the_critic_and_descends_it_for_the_generator():
    runs = _runs()
    x, y = _SharedSource().draw(64, torch.Generator().manual_seed(1))
    x = x.flatten(1)
    critic_p, flow_p = list(runs.critic.parameters()), list(runs.flow.parameters())
    loss, _ = runs.forward(x, y)
    g_loss = torch.autograd.grad(loss.sum(), critic_p + flow_p)
    v1, v2, _ = runs.views(x)
    value = runs.loss.report(runs.critic(v1, v2), v2)  # the same InfoNCE, without the reversal
    g_value = torch.autograd.grad(value, critic_p + flow_p)
    n = len(critic_p)
    for a, b in zip(g_loss[:n], g_value[:n]):  # critic: descending the loss = ascending InfoNCE
        torch.testing.assert_close(a, -b, atol=1e-6, rtol=1e-5)
    for a, b in zip(g_loss[n:], g_value[n:]):  # generator: descending the loss = descending InfoNCE
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    assert max(float(g.abs().max()) for g in g_value[n:]) > 0


def test_warm_up_steps_hold_the_flow_fixed():
    runs = _runs(heads=True)
    runs.warmup_steps = 1
    x, y = _SharedSource().draw(32, torch.Generator().manual_seed(5))
    flow_p = list(runs.flow.parameters())
    first = torch.autograd.grad(runs.forward(x.flatten(1), y)[0].sum(), flow_p, allow_unused=True)
    assert all(g is None for g in first)  # step 1: the critic and heads train, the generator waits
    second = torch.autograd.grad(runs.forward(x.flatten(1), y)[0].sum(), flow_p, allow_unused=True)
    assert all(g is not None for g in second) and runs.steps_taken == 2


def test_label_heads_train_the_generator_towards_the_label():
    runs = _runs(heads=True)
    x, y = _SharedSource().draw(64, torch.Generator().manual_seed(2))
    flow_p = list(runs.flow.parameters())
    loss, value = runs.forward(x.flatten(1), y)
    with_heads = torch.autograd.grad(loss.sum(), flow_p)
    ce = runs.trace[-1][1]
    assert float(ce) > 0
    torch.testing.assert_close(loss, -value + runs.label_weight * ce.reshape(1), atol=1e-5, rtol=0)
    runs.heads = None
    without = torch.autograd.grad(runs.forward(x.flatten(1), y)[0].sum(), flow_p)
    assert any(not torch.allclose(a, b) for a, b in zip(with_heads, without))


def _train_on_fixed_batch(runs: InfoMinRun, x, y, steps: int) -> float:
    with torch.no_grad():
        before = float(runs.report(x, y))
    engine.train(runs, lambda step: (x, y), steps, learning_rate=3e-3, progress=False, log_every=steps)
    with torch.no_grad():
        return float(runs.report(x, y)) - before


def test_the_critics_ascent_is_real_and_the_generator_descends():
    x, y = _SharedSource().draw(64, torch.Generator().manual_seed(3))
    x = x.flatten(1)
    runs = _runs(seed=4)
    runs.flow.requires_grad_(False)  # only the critic steps: InfoNCE must rise
    assert _train_on_fixed_batch(runs, x, y, 40) > 0.5
    runs.flow.requires_grad_(True)
    runs.critic.requires_grad_(False)  # only the generator steps against the trained critic: InfoNCE must fall
    assert _train_on_fixed_batch(runs, x, y, 40) < -0.5


def test_info_min_run_refuses_bad_channel_groups():
    critic = SeparableCritic(64, 128, hidden_dim=8, layers=1, embed_dim=4)
    with pytest.raises(ValueError, match="some but not all"):
        InfoMinRun(ColorFlow(), critic, (3, 8, 8), first=(0, 1, 2))
    with pytest.raises(ValueError, match="some but not all"):
        InfoMinRun(ColorFlow(), critic, (3, 8, 8), first=(3,))
    with pytest.raises(ValueError, match="image_shape"):
        InfoMinRun(ColorFlow(), critic, (1, 8, 8))
    with pytest.raises(ValueError, match="warmup_steps"):
        InfoMinRun(ColorFlow(), critic, (3, 8, 8), warmup_steps=-1)


def test_log_det_stays_finite_and_the_flow_invertible_through_training():
    cfg = {**infomin_learn.QUICK, "gen_steps": 80, "gen_learning_rate": 1e-2, "log_every": 5}
    flow, traj = infomin_learn.train_generator(_SharedSource(), "semi-supervised", cfg, seed=0, n_classes=3)
    assert len(traj) == 16 and np.isfinite(traj[["infonce_train", "log_det", "label_ce"]].to_numpy()).all()
    assert traj["log_det"].abs().max() > 0  # the flow did move away from the identity
    assert not any(p.requires_grad for p in flow.parameters())
    x = torch.rand(3, 3, 8, 8)
    torch.testing.assert_close(flow.inverse(flow(x)[0]), x, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="form"):
        infomin_learn.train_generator(_SharedSource(), "supervised", cfg, seed=0)


# ---------------------------------------------------------------------------------------------
# the data and the fixed splits
# ---------------------------------------------------------------------------------------------
def test_color_digits_images_and_their_texture_direction():
    images, labels = load_digits_pool()
    src = ColorDigits(images[:50], labels[:50], noise_sigma=1e-6, glyph_contrast=1e-6, texture_contrast=0.1)
    x = src.render(np.arange(50), torch.Generator().manual_seed(0), dtype=torch.float64)
    assert x.shape == (50, 3, 8, 8) and float(x.min()) >= 0 and float(x.max()) <= 1
    # with glyph and noise switched off, every pixel lies on the texture's colour line through the background
    d = (x - src.background[None, :, None, None]).permute(0, 2, 3, 1).reshape(-1, 3)
    off_line = d - (d @ src.texture_color)[:, None] * src.texture_color[None]
    assert float(off_line.abs().max()) < 1e-5
    a, la = src.draw(7, torch.Generator().manual_seed(1))
    b, lb = src.draw(7, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert torch.equal(la, lb)


def test_color_digits_refuses_bad_input():
    images, labels = load_digits_pool()
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        ColorDigits(images[:10] * 16, labels[:10])
    with pytest.raises(ValueError, match="labels must be"):
        ColorDigits(images[:10], labels[:9])
    with pytest.raises(ValueError, match="texture_color"):
        ColorDigits(images[:10], labels[:10], texture_color=(0, 0, 0))


def test_fixed_split_views_are_the_colour_split_standardised():
    images, labels = load_digits_pool()
    src = ColorDigits(images[:40], labels[:40])
    x = src.render(np.arange(40), torch.Generator().manual_seed(0))
    pairs = infomin_learn._ViewPairs(src, lambda t: rgb_to(t, "lab"), seed=0)
    v1, v2 = pairs.views(x, dtype=torch.float64)
    l, ab = color_split(x, "lab", (("L",), ("a", "b")))
    mean, std = pairs.stats
    torch.testing.assert_close(v1, ((l.double() - mean[:, :1]) / std[:, :1]).flatten(1))
    torch.testing.assert_close(v2, ((ab.double() - mean[:, 1:]) / std[:, 1:]).flatten(1))
    assert (pairs.dim_x, pairs.dim_y) == (64, 128)
    with pytest.raises(NotImplementedError, match="no exact MI"):
        pairs.mutual_information()


# ---------------------------------------------------------------------------------------------
# the experiment
# ---------------------------------------------------------------------------------------------
_TINY = dict(n_digits=240, gen_steps=20, eval_steps=20, photo_gen_steps=10, photo_eval_steps=10, eval_batches=2)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    pytest.importorskip("skimage")
    out = tmp_path_factory.mktemp("infomin_learn")
    torch.set_num_threads(1)
    frame = EXPERIMENTS["infomin-learn"](out=out, quick=True, progress=False, **_TINY)
    return out, frame


def test_quick_mode_writes_its_files(quick_run):
    out, frame = quick_run
    for name in ("infomin_learn.csv", "infomin_learn_trajectory.csv", "infomin_learn_summary.csv", "metadata.json",
                 "infomin_learn.png", "infomin_learn.svg"):
        assert (out / name).stat().st_size > 0, name
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["experiment"] == "infomin-learn" and meta["units"] == "nats" and meta["settings"]["quick"]
    table = pd.read_csv(out / "infomin_learn.csv")
    views = set(table["views"])
    assert views >= {"learned (unsupervised)", "learned (semi-supervised)", *infomin_learn.FIXED_SPLITS.values()}
    assert set(table["dataset"]) == {"digits", "photographs"}
    photo = table[table["dataset"] == "photographs"]
    assert "learned (semi-supervised)" not in set(photo["views"]) and photo["probe_accuracy"].isna().all()
    digits = table[table["dataset"] == "digits"]
    assert digits["probe_accuracy"].between(0, 1).all()
    assert (table["infonce"] <= table["ceiling"] + 1e-6).all()  # InfoNCE <= log K
    assert np.allclose(table["ceiling"], np.log(table["K"]))
    traj = pd.read_csv(out / "infomin_learn_trajectory.csv")
    assert set(traj["form"]) == set(infomin_learn.FORMS)
    assert np.isfinite(traj[["infonce_train", "log_det", "label_ce"]].to_numpy()).all()
    assert (traj["infonce_train"] <= math.log(infomin_learn.QUICK["gen_batch_size"]) + 1e-5).all()
    assert (traj.loc[traj["form"] == "unsupervised", "label_ce"] == 0).all()
    assert len(list((out / "flows").glob("*.pt"))) == 3


def test_resume_keeps_the_finished_rows(quick_run, monkeypatch):
    out, frame = quick_run

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(infomin_learn, "train_generator", no_training)
    monkeypatch.setattr(infomin_learn, "_evaluate_views", no_training)
    again = EXPERIMENTS["infomin-learn"](out=out, quick=True, progress=False, resume=True, **_TINY)
    pd.testing.assert_frame_equal(again, frame)


def test_bad_settings_are_refused(tmp_path):
    run = EXPERIMENTS["infomin-learn"]
    with pytest.raises(TypeError, match="unknown infomin-learn setting"):
        run(out=tmp_path, no_such_setting=1)
    with pytest.raises(ValueError, match="form"):
        run(out=tmp_path, forms=("supervised",))
    with pytest.raises(ValueError, match="split"):
        run(out=tmp_path, splits=("cmyk",))
    with pytest.raises(ValueError, match="unknown photograph"):
        run(out=tmp_path, photographs=("moon_landing",))
    with pytest.raises(ValueError, match="nothing to run"):
        run(out=tmp_path, forms=(), splits=())
    with pytest.raises(ValueError, match="test_fraction"):
        run(out=tmp_path, test_fraction=1.5)
