import json
import math

import numpy as np
import pandas as pd
import pytest

from mibound.experiments import EXPERIMENTS, staircase

from tests._gt_helpers import check_dpi_chain
from tests.conftest import ExplodingCritic


@pytest.fixture(scope="module")
def stair(tmp_path_factory):
    out = tmp_path_factory.mktemp("stair")
    frame = staircase.run(out, quick=True, steps_per_level=40, progress=False,
                          estimators=("infonce", "smile"), levels=(2.0, 10.0))
    return out, frame


def test_staircase_outputs(stair):
    out, frame = stair
    for name in ["staircase.csv", "staircase_summary.csv", "metadata.json", "staircase.png", "staircase.svg"]:
        assert (out / name).stat().st_size > 0
    csv = pd.read_csv(out / "staircase.csv")
    assert {"step", "estimator", "critic", "true_mi", "estimate"} <= set(csv.columns)
    assert len(csv) == 3 * 80  # infonce, smile and the optimal critic, 80 steps each
    assert sorted(csv["true_mi"].unique()) == [2.0, 10.0]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["settings"]["steps_per_level"] == 40 and meta["units"] == "nats"


def test_optimal_critic_infonce_behaviour(stair):
    _, frame = stair
    opt = frame[frame["critic"] == "optimal"]
    at2 = opt[opt["true_mi"] == 2.0]["estimate"].mean()
    at10 = opt[opt["true_mi"] == 10.0]["estimate"]
    assert 1.6 < at2 < 2.05  # close to the truth at 2 nats (the bound's own looseness ~0.2)
    assert at10.max() <= math.log(64) + 1e-6  # never above log K
    assert at10.mean() > math.log(64) - 0.15  # pinned just under it


def test_summary_table(stair):
    out, _ = stair
    s = pd.read_csv(out / "staircase_summary.csv")
    assert set(s.columns) == {"estimator", "critic", "true_mi", "mean", "bias", "variance", "mse"}
    assert len(s) == 3 * 2  # (infonce, smile, optimal) x 2 levels
    # the written table is summarize() of the written steps, over the second half of each level
    csv = pd.read_csv(out / "staircase.csv")
    for _, row in s.iterrows():
        g = csv[(csv["estimator"] == row["estimator"]) & (csv["critic"] == row["critic"])
                & (csv["true_mi"] == row["true_mi"])]
        tail = g[g["step"] % 40 >= 20]["estimate"].to_numpy()
        assert len(tail) == 20
        # staircase.csv holds the float32 estimates in their shortest decimal form (9 digits)
        assert row["mean"] == pytest.approx(tail.mean(), rel=1e-7)
        assert row["variance"] == pytest.approx(tail.var(ddof=1), rel=1e-5)


#: A hand-made staircase: 2 levels of 4 steps (the summary reads steps 2-3 and 6-7 of each run).
_TINY_STAIRCASE = """step,estimator,critic,true_mi,estimate
0,a,sep,2.0,100.0
1,a,sep,2.0,-100.0
2,a,sep,2.0,1.0
3,a,sep,2.0,2.0
4,a,sep,4.0,50.0
5,a,sep,4.0,50.0
6,a,sep,4.0,4.0
7,a,sep,4.0,6.0
0,b,opt,2.0,9.0
1,b,opt,2.0,9.0
2,b,opt,2.0,2.0
3,b,opt,2.0,2.0
4,b,opt,4.0,0.0
5,b,opt,4.0,0.0
6,b,opt,4.0,3.0
7,b,opt,4.0,3.0
"""


def test_summary_of_a_hand_made_staircase():
    """Numbers worked out by hand. a at 2 nats: steps 2-3 are 1, 2 -> mean 1.5, bias -0.5, sample
    variance ((1 - 1.5)^2 + (2 - 1.5)^2) / 1 = 0.5, MSE 0.25 + 0.5 = 0.75; a at 4: 4, 6 -> mean 5,
    bias 1, variance 2, MSE 3; b at 2: exact (all 0); b at 4: 3, 3 -> bias -1, variance 0, MSE 1."""
    import io

    s = staircase.summarize(pd.read_csv(io.StringIO(_TINY_STAIRCASE)), steps_per_level=4)
    assert list(s.columns) == ["estimator", "critic", "true_mi", "mean", "bias", "variance", "mse"]
    assert s[["estimator", "critic", "true_mi"]].values.tolist() == [
        ["a", "sep", 2.0], ["a", "sep", 4.0], ["b", "opt", 2.0], ["b", "opt", 4.0]]
    np.testing.assert_allclose(s[["mean", "bias", "variance", "mse"]].to_numpy(dtype=float), [
        [1.5, -0.5, 0.5, 0.75],
        [5.0, 1.0, 2.0, 3.0],
        [2.0, 0.0, 0.0, 0.0],
        [3.0, -1.0, 0.0, 1.0]], rtol=0, atol=1e-12)


def test_resume_skips_finished_runs(stair, tmp_path):
    out, _ = stair
    import shutil

    shutil.copy(out / "staircase.csv", tmp_path / "staircase.csv")
    before = pd.read_csv(tmp_path / "staircase.csv")
    frame = staircase.run(tmp_path, quick=True, steps_per_level=40, progress=False,
                          estimators=("infonce", "smile", "nwj"), levels=(2.0, 10.0), resume=True)
    # the finished runs are kept bit for bit, only nwj is new
    kept = frame[frame["estimator"] != "nwj"].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, before)
    assert (frame["estimator"] == "nwj").sum() == 80


def test_registry_and_bad_setting(tmp_path):
    assert "staircase" in EXPERIMENTS
    with pytest.raises(TypeError, match="unknown staircase setting"):
        staircase.run(tmp_path, steps=3)


def test_diverged_run_is_flagged_and_the_rest_goes_on(tmp_path, monkeypatch):
    """Sequential path: a critic that blows up at step 25 keeps its first 25 steps, flagged."""
    real = staircase.make_critic

    def fake(name, dx, dy, **kw):
        return ExplodingCritic(25) if name == "concat" else real(name, dx, dy, **kw)

    monkeypatch.setattr(staircase, "make_critic", fake)
    with pytest.warns(RuntimeWarning, match="diverged"):
        frame = staircase.run(tmp_path, quick=True, steps_per_level=20, progress=False, estimators=("nwj",),
                              critics=("concat", "separable"), levels=(2.0, 4.0), ensemble=False)
    bad = frame[frame["critic"] == "concat"]
    assert len(bad) == 25 and set(bad["status"]) == {"diverged at step 25"}
    assert bad["estimate"].notna().all()  # no NaN rows: the steps after the divergence are absent
    assert set(frame[frame["critic"] == "separable"]["status"]) == {"ok"}


def test_diverged_run_in_an_ensemble_is_flagged(tmp_path, monkeypatch):
    """Ensemble path: the diverged run is cut at its first non-finite step; the others are kept whole."""
    import torch

    real = staircase.train_ensemble

    def fake(critics, losses, batch, steps, **kw):
        assert kw["on_diverge"] == "record"
        hists = real(critics, losses, batch, steps, **kw)
        hists[1]["value"][30:] = float("nan")
        return hists

    monkeypatch.setattr(staircase, "train_ensemble", fake)
    with pytest.warns(RuntimeWarning, match="nwj/separable training diverged: non-finite loss at step 30"):
        frame = staircase.run(tmp_path, quick=True, steps_per_level=20, progress=False,
                              estimators=("infonce", "nwj"), levels=(2.0, 4.0))
    nwj = frame[frame["estimator"] == "nwj"]
    assert len(nwj) == 30 and set(nwj["status"]) == {"diverged at step 30"}
    ok = frame[(frame["estimator"] == "infonce") & (frame["critic"] == "separable")]
    assert len(ok) == 40 and set(ok["status"]) == {"ok"} and torch.isfinite(torch.tensor(ok["estimate"].values)).all()


def test_vary_k_quick_shape_and_laws(tmp_path):
    from mibound.experiments import vary_k

    frame = vary_k.run(tmp_path, true_mis=(1.0, 6.0), ks=(2, 8, 64, 512), trained_ks=(8,), steps=30,
                       eval_pairs=2048, progress=False)
    for name in ["vary_k.csv", "vary_k_summary.csv", "metadata.json", "vary_k.png", "vary_k.svg"]:
        assert (tmp_path / name).stat().st_size > 0
    assert len(frame) == 2 * 4 + 2 * 1
    opt = frame[frame["critic"] == "optimal"]
    # never above the ceiling (up to the CI), and increasing in K at 6 nats
    assert (opt["ci_low"] <= opt["ceiling"] + 1e-9).all()
    at6 = opt[opt["true_mi"] == 6.0].sort_values("K")["estimate"].to_numpy()
    assert np.all(np.diff(at6) > 0)
    summary = pd.read_csv(tmp_path / "vary_k_summary.csv")
    row = summary[(summary["true_mi"] == 1.0) & (summary["critic"] == "optimal")].iloc[0]
    assert row["K_needed"] <= 64  # 1 nat is recovered within 10% by K = 64 with the optimal critic


def test_self_consistency_quick_shape(tmp_path):
    from mibound.experiments import self_consistency

    frame = self_consistency.run(tmp_path, estimators=("infonce",), ts=(0, 4, 8), steps=40, progress=False)
    for name in ["self_consistency.csv", "self_consistency_summary.csv", "metadata.json",
                 "self_consistency.png", "self_consistency.svg"]:
        assert (tmp_path / name).stat().st_size > 0
    assert set(frame["test"]) == {"baseline", "data_processing", "additivity"}
    assert len(frame) == 3 + 2 + 2
    dp = frame[frame["test"] == "data_processing"]
    np.testing.assert_allclose(dp["ratio"], dp["estimate"] / dp["reference"])
    summary = pd.read_csv(tmp_path / "self_consistency_summary.csv")
    assert set(summary["test"]) == {"baseline", "data_processing", "additivity"}
    assert summary["passes"].dtype == bool


def test_digits_views():
    from mibound.experiments.self_consistency import _views, load_digits_images

    images = load_digits_images()
    assert images.shape == (1797, 8, 8) and images.max() == 1.0
    x, y = _views("baseline", images, 0, np.random.default_rng(0))
    assert not y.any()  # t = 0: nothing visible, independence
    x, y = _views("data_processing", images, 5, np.random.default_rng(0))
    assert x.shape == (1797, 128) and np.array_equal(y[:, 64 + 16:64 + 64], np.zeros((1797, 48)))


def test_dpi_chain_quick(tmp_path):
    from mibound.experiments import dpi

    dpi.run(tmp_path, views=("gaussian", "grf_crops"), ks=(16,), seeds=(0, 1), steps=20, eval_pairs=2048,
            progress=False)
    for name in ["dpi.csv", "dpi_gaps.csv", "metadata.json", "dpi.png", "dpi.svg"]:
        assert (tmp_path / name).stat().st_size > 0
    csv = pd.read_csv(tmp_path / "dpi.csv")
    assert {"views", "encoder", "K", "mi_views", "mi_codes", "infonce_optimal", "infonce_trained", "ceiling"} <= set(
        csv.columns)
    assert len(csv) == 2 * (len(dpi.encoders_for("gaussian", dpi.VIEWS["gaussian"]())) + len(
        dpi.encoders_for("grf_crops", dpi.VIEWS["grf_crops"]())))
    assert sorted(csv["seed"].unique()) == [0, 1]
    # two seeds of one setting: same exact terms, different trained critics
    pair = csv[(csv["views"] == "gaussian") & (csv["encoder"] == "identity")]
    assert pair["mi_codes"].nunique() == 1 and pair["infonce_trained"].nunique() == 2
    exact = csv.dropna(subset=["mi_codes"])
    assert len(exact) >= 4
    assert (exact["mi_codes"] <= exact["mi_views"] + 1e-9).all()  # the DPI, exactly
    assert (exact["infonce_optimal"] <= exact["ceiling"] + 1e-9).all()
    assert (exact["infonce_optimal"] <= exact["mi_codes"] + 0.1).all()  # a bound, up to sampling noise
    nonlinear = csv[csv["mi_codes"].isna()]
    assert set(nonlinear["encoder"]) == {"mlp (nonlinear)", "cnn (nonlinear)"}
    assert nonlinear["infonce_optimal"].isna().all() and nonlinear["infonce_trained"].notna().all()
    gaps = pd.read_csv(tmp_path / "dpi_gaps.csv")
    assert (gaps["encoder_loss"].dropna() >= -1e-9).all()
    # the trained column too, row by row: trained <= optimal, I(z1;z2) <= I(v1;v2), up to 4 SEs
    check_dpi_chain(csv, 2048 // 16)
    assert set(csv["critic"]) == {"separable"}  # the recorded setting


def test_dpi_critic_auto_trains_the_conv_critic_on_image_codes(tmp_path):
    from mibound.experiments import dpi

    dpi.run(tmp_path, views=("grf_crops",), ks=(16,), seeds=(0,), steps=10, eval_pairs=256, critic="auto",
            progress=False)
    csv = pd.read_csv(tmp_path / "dpi.csv").set_index("encoder")
    # identity and average pooling keep the codes images; the others are vectors
    assert set(csv.loc[["identity", "avgpool-2x2", "avgpool-4x4"], "critic"]) == {"conv"}
    assert set(csv.loc[["random-linear-8", "cca-top2", "cnn (nonlinear)"], "critic"]) == {"separable"}
    with pytest.raises(ValueError, match="dpi critic"):
        dpi.run(tmp_path / "bad", views=("grf_crops",), critic="mlp", progress=False)


def test_run_table_removes_a_killed_writers_temporary_file(tmp_path):
    from mibound.experiments._common import RunTable

    stale = tmp_path / ".runs.csv.ab12cd.tmp"
    stale.write_text("half a table")
    other = tmp_path / ".other.csv.ab12cd.tmp"
    other.write_text("someone else's")
    RunTable(tmp_path / "runs.csv", key=["seed"], resume=True)
    assert not stale.exists() and other.exists()
