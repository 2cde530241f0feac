import numpy as np
import pytest

import mibound.data.tasks as tasks
from mibound.cli import main
from mibound.data.wide import DigitLabelPairs, WideEmbedding, label_pair_mi
from mibound.functional.analytic import gaussian_mi


def test_noise_free_lift_keeps_the_latent_mi_exactly():
    s = WideEmbedding(2.0, 4, 64, seed=1)
    assert s.mutual_information() == pytest.approx(2.0, rel=1e-12)  # closed form -(k/2) log(1 - rho^2)
    x, y = s.sample(50, seed=0, flat=True)
    assert x.shape == y.shape == (50, 64) and np.isfinite(x).all()
    a, b = s.sample(50, seed=0, flat=True)
    np.testing.assert_array_equal(x, a)  # same seed, same arrays


def test_noisy_lift_mi_matches_a_dense_gaussian_computation():
    # the O(k^3) sufficient-statistic formula against the dense (2D x 2D) covariance of A u + sigma eta,
    # B v + sigma eta' (h and R are injective, so they do not change the MI); float64 linear algebra,
    # agreement to 1e-8 (measured 1e-12 at D = 16)
    s = WideEmbedding(1.5, 3, 16, noise=0.7, seed=4)
    a, b = s.lifts
    k = s.k
    lat = np.block([[np.eye(k), s.rho * np.eye(k)], [s.rho * np.eye(k), np.eye(k)]])
    big = np.block([[a, np.zeros_like(b)], [np.zeros_like(a), b]])
    dense = big @ lat @ big.T + 0.49 * np.eye(32)
    assert s.mutual_information() == pytest.approx(gaussian_mi(dense, 16), abs=1e-8)
    assert s.mutual_information() < 1.5  # noise loses information


def test_wide_embedding_bad_input():
    with pytest.raises(ValueError, match="dim must be at least k"):
        WideEmbedding(1.0, 8, 4)
    with pytest.raises(ValueError, match="k must be at most 32"):
        WideEmbedding(1.0, 40, 64)
    with pytest.raises(ValueError, match="mi"):
        WideEmbedding(0.0, 2, 64)


def test_label_pair_mi_closed_form_and_bad_input():
    pi = np.full(10, 0.1)
    # the issue's value: I(c; c') = log 10 - h(0.95) - 0.05 log 9 = 1.99 nats at beta = 0.05
    h = -(0.95 * np.log(0.95) + 0.05 * np.log(0.05))
    assert label_pair_mi(0.05, pi) == pytest.approx(np.log(10) - h - 0.05 * np.log(9), rel=1e-12)
    assert label_pair_mi(0.9, pi) == pytest.approx(0.0, abs=1e-12)  # beta = (m-1)/m: independent
    with pytest.raises(ValueError, match="probability vector"):
        label_pair_mi(0.1, [1.0])


def test_digit_label_pairs_are_an_upper_bound_task():
    s = DigitLabelPairs(0.05)
    assert s.truth == "upper_bound" and s.dim_x == 64
    assert s.mutual_information() == pytest.approx(1.994, abs=5e-4)
    x, y = s.sample(400, seed=2, flat=True)
    # same-class share: the label of each row is recoverable from the image set
    lab = {tuple(img): c for img, c in zip(s.images, s.labels)}
    same = np.mean([lab[tuple(a.astype(np.float64))] == lab[tuple(b.astype(np.float64))] for a, b in zip(x, y)])
    assert abs(same - 0.95) < 0.04  # binomial sd at n = 400 is 0.011; 0.04 is > 3.5 sd
    with pytest.raises(ValueError, match="beta"):
        DigitLabelPairs(1.0)


def test_the_wide_suite_is_separate_and_exports(tmp_path, capsys):
    assert len(tasks.list()) == 110  # the default suite is unchanged
    wide = tasks.list(suite="wide")
    assert len(wide) >= 12 and not set(t.id for t in wide) & set(tasks.ids())
    assert all(t.family in tasks.WIDE_FAMILIES for t in wide)
    assert {t.dim_x for t in wide} >= {64, 1024}
    assert tasks.suite_of("wide-digits-label-beta0.05") == "wide"
    paths = tasks.export_tasks(tmp_path / "w", n=30, seed=1, tasks=["wide-latent-k2-d64-mi0.5",
                                                                    "wide-digits-label-beta0.6"])
    with np.load(paths[0]) as d:
        assert d["x"].shape == (30, 64) and str(d["true_mi_kind"]) == "exact"
    with np.load(paths[1]) as d:
        assert str(d["true_mi_kind"]) == "upper_bound"
    assert main(["tasks", "list", "--suite", "wide"]) == 0
    out = capsys.readouterr().out
    assert "wide-latent-k4-d1024-mi1" in out and "gaussian-pairs-d5-mi1" not in out
    assert main(["tasks", "export", str(tmp_path / "c"), "--suite", "wide", "--tag", "wide-digits", "--n", "20",
                 "--quiet"]) == 0
    assert len(list((tmp_path / "c").iterdir())) == 3
    with pytest.raises(ValueError, match="suite"):
        tasks.list(suite="nope")
