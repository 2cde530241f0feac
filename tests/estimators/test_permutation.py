"""mibound.estimators.permutation: the permutation test of independence."""

import json

import numpy as np
import pytest
from scipy import stats

import mibound
from mibound.cli import main
from mibound.estimators.permutation import permutation_test, permutations
from mibound.neural.critics import SeparableCritic
from mibound.registry import make_estimator


def _dependent(n=1000, mi=1.0, dim=2, seed=0):
    return mibound.CorrelatedGaussian.from_mi(mi, dim=dim).sample(n, seed=seed)


def test_p_values_are_uniform_on_independent_data():
    """Over 200 seeds of independent pairs, the p-values of N = 19 shuffles are uniform on {1/20, ..., 1}."""
    n_seeds, n_perm = 200, 19
    p = []
    for seed in range(n_seeds):
        x, y = _dependent(120, mi=0.5, dim=1, seed=seed)
        y = y[np.random.default_rng(10_000 + seed).permutation(len(y))]  # x and a shuffled y: independent
        p.append(permutation_test(x, y, estimator="gaussian", n_permutations=n_perm, seed=seed,
                                  progress=False, n_subsamples=0).p_value)
    p = np.array(p)
    assert set(np.round(p * (n_perm + 1)).astype(int)) <= set(range(1, n_perm + 2))
    # four bins of 5 values each, 50 expected per bin: the chi-square test (3 dof) passes at 1e-4
    counts = np.histogram(p, bins=[0, 0.26, 0.51, 0.76, 1.01])[0]
    assert stats.chisquare(counts).pvalue > 1e-4, counts
    # and the test is not anti-conservative at 5%: at most 2.5x the 10 expected rejections
    assert (p <= 0.05).sum() <= 25


@pytest.mark.parametrize("name", ["gaussian", "gcmi", "ksg", "discrete"])
def test_strong_dependence_gives_the_smallest_p_value(name):
    x, y = _dependent(800, mi=1.5)
    if name == "discrete":  # one column of three values a view: 9 cells, well in the plug-in's domain
        x, y = np.clip(np.round(x[:, :1]), -1, 1), np.clip(np.round(y[:, :1]), -1, 1)
    t = permutation_test(x, y, estimator=name, n_permutations=19, progress=False)
    assert t.p_value == pytest.approx(1 / 20)
    assert t.estimate == pytest.approx(make_estimator(name).fit(x, y).result_.estimate, rel=1e-9)
    assert t.excess == pytest.approx(t.estimate - t.null.mean()) and t.null.shape == (19,)
    assert abs(t.null_mean) < 0.5 * t.estimate  # discrete: the plug-in's bias on 3x3 cells


def test_neural_runs_train_as_one_ensemble_and_match_single_fits():
    x, y = _dependent(1500, mi=1.0)
    opts = dict(steps=150, patience=None, progress=False, log_every=50)
    t = permutation_test(x, y, estimator="infonce", n_permutations=4, seed=3, **opts)
    assert t.settings["training"] == "stacked ensemble"
    assert t.observed.settings["ensemble_runs"] == 5 and t.p_value == pytest.approx(1 / 5)
    single = make_estimator("infonce", seed=3, **opts).fit(x, y).result_
    assert t.estimate == pytest.approx(single.estimate, abs=0.02)  # float summation order only
    first = permutations(len(x), 4, 3)[0]
    shuffled = make_estimator("infonce", seed=3, **opts).fit(x, y[first]).result_
    assert t.null[0] == pytest.approx(shuffled.estimate, abs=0.02)
    assert t.null_std > 0 and t.excess > 0.5


def test_result_is_json_safe_and_a_constant_view_gives_p_one():
    x, y = _dependent(300)
    t = permutation_test(np.ones((300, 2)), y, estimator="gcmi", n_permutations=9, progress=False)
    assert t.estimate == 0.0 and np.all(t.null == 0) and t.p_value == 1.0
    d = json.loads(json.dumps(permutation_test(x, y, estimator="ksg", n_permutations=3, progress=False).to_dict()))
    assert {"estimate", "null_mean", "null_std", "p_value", "excess", "null", "n_permutations", "observed"} <= set(d)
    assert d["units"] == "nats" and len(d["null"]) == 3 and d["observed"]["estimator"] == "ksg"
    assert "p-value" in str(permutation_test(x, y, estimator="gaussian", n_permutations=2, progress=False))


def test_bad_input_is_refused():
    x, y = _dependent(300)
    with pytest.raises(ValueError, match="n_permutations must be >= 1, got 0"):
        permutation_test(x, y, estimator="gcmi", n_permutations=0)
    with pytest.raises(TypeError, match="n_permutations must be an int"):
        permutation_test(x, y, estimator="gcmi", n_permutations=2.5)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['steps'\] for estimator 'gcmi'"):
        permutation_test(x, y, estimator="gcmi", steps=10)
    with pytest.raises(ValueError, match="unknown estimator 'gcm'"):
        permutation_test(x, y, estimator="gcm")
    with pytest.raises(TypeError, match="pass the critic by name"):
        permutation_test(x, y, estimator="infonce", critic=SeparableCritic(2, 2), steps=5, n_permutations=2)
    with pytest.raises(ValueError, match="same number of samples"):
        permutation_test(x, y[:-1], estimator="gcmi")


def test_cli_adds_the_test_keys_to_its_json(tmp_path, capsys):
    x, y = _dependent(600)
    np.savez(tmp_path / "pair.npz", x=x, y=y, true_mi=1.0)
    assert main(["estimate", str(tmp_path / "pair.npz"), "--estimator", "gcmi", "--permutations", "9", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["p_value"] == pytest.approx(0.1) and len(out["null"]) == 9 and out["n_permutations"] == 9
    assert out["excess"] == pytest.approx(out["estimate"] - out["null_mean"]) and out["true_mi"] == 1.0
    assert main(["estimate", str(tmp_path / "pair.npz"), "--estimator", "gcmi", "--permutations", "4"]) == 0
    assert "p-value        0.2" in capsys.readouterr().out
    assert main(["estimate", str(tmp_path / "pair.npz"), "--estimator", "gcmi", "--permutations", "-2"]) == 2
    assert "n_permutations must be >= 1" in capsys.readouterr().err


def test_image_views_are_tested_with_the_conv_critic_and_flattened_for_the_plug_ins():
    s = mibound.data.images.ChannelSplitViews.from_mi(2.0, crop_size=8, channels=2, noise=0.5)
    x, y = s.sample(1200, seed=0)  # (n, 1, 8, 8) each
    neural = permutation_test(x, y, estimator="infonce", n_permutations=3, steps=60, min_steps=30, batch_size=32,
                              progress=False)
    assert neural.observed.settings["critic"] == "conv" and neural.null.shape == (3,)
    plug_in = permutation_test(x, y, estimator="gcmi", n_permutations=3, progress=False)
    assert plug_in.p_value == pytest.approx(1 / 4) and plug_in.estimate > 1.0
    assert "flattened_images" in {d["code"] for d in plug_in.observed.diagnostics}


def test_auto_p_values_are_uniform_on_independent_data_with_one_choice():
    """auto chooses its member once on the observed pairs and reads only it on shuffled test rows:
    over 100 seeds of independent pairs the p-values of N = 19 shuffles stay uniform."""
    n_seeds, n_perm = 100, 19
    p, training = [], set()
    for seed in range(n_seeds):
        x, y = _dependent(200, mi=0.5, dim=1, seed=seed)
        y = y[np.random.default_rng(10_000 + seed).permutation(len(y))]  # independent
        t = permutation_test(x, y, estimator="auto", n_permutations=n_perm, seed=seed, progress=False, neural=False,
                             ksg_max_dim=0)
        p.append(t.p_value)
        training.add(t.settings["training"].split(" chosen")[0])
    p = np.array(p)
    assert training <= {"auto: gcmi", "auto: tcmi"}, training
    # four bins of 5 values each, 25 expected per bin: the chi-square test (3 dof) passes at 1e-4
    counts = np.histogram(p, bins=[0, 0.26, 0.51, 0.76, 1.01])[0]
    assert stats.chisquare(counts).pvalue > 1e-4, counts
    assert (p <= 0.05).sum() <= 15  # 5 expected; 3x is far in the tail of Binomial(100, 0.05)


def test_auto_reads_its_chosen_critic_on_shuffled_test_rows():
    """A dependent pair where auto may choose the critic: the observed estimate is auto's, the null
    its chosen member's values on shuffled test rows (near 0), and the record says so."""
    x, y = _dependent(1200, mi=1.0, dim=2)
    t = permutation_test(x, y, estimator="auto", n_permutations=4, progress=False, steps=200)
    chosen = t.observed.settings["choice"]["estimator"]
    assert t.settings["training"].startswith(f"auto: {chosen} chosen once")
    assert t.p_value == pytest.approx(1 / 5)
    assert np.all(np.abs(t.null) < 0.1)  # shuffled test rows: no dependence left for the fixed member to read
