import math

import numpy as np
import pytest
from scipy.special import digamma

from mibound import CorrelatedGaussian, GaussianEstimator, KSGEstimator, gaussian_mi
from mibound.functional.nonparametric import gaussian_plugin_mi, ksg_mi, logdet_bias

from tests.conftest import random_spd


def brute_ksg(x, y, k):
    n = len(x)
    dx = np.abs(x[:, None, :] - x[None, :, :]).max(-1)
    dy = np.abs(y[:, None, :] - y[None, :, :]).max(-1)
    dz = np.maximum(dx, dy)
    total = 0.0
    for i in range(n):
        eps = np.sort(np.delete(dz[i], i))[k - 1]
        nx = np.sum(np.delete(dx[i], i) < eps)
        ny = np.sum(np.delete(dy[i], i) < eps)
        total += digamma(nx + 1) + digamma(ny + 1)
    return digamma(k) + digamma(n) - total / n


def test_ksg_matches_brute_force(rng):
    x = rng.standard_normal((150, 2))
    y = x[:, :1] + 0.5 * rng.standard_normal((150, 1))
    for k in (1, 3, 5):
        assert ksg_mi(x, y, k=k, standardize=False) == pytest.approx(brute_ksg(x, y, k), rel=1e-12)


@pytest.mark.parametrize("mi,dim", [(0.5, 1), (1.0, 2), (2.0, 3)])
def test_ksg_near_exact_on_low_dimensional_gaussians(mi, dim):
    x, y = CorrelatedGaussian.from_mi(mi, dim).sample(4000, seed=1, dtype=np.float64)
    assert ksg_mi(x, y, k=3) == pytest.approx(mi, abs=0.08 * dim)


def test_ksg_independent_is_near_zero(rng):
    x, y = rng.standard_normal((3000, 2)), rng.standard_normal((3000, 2))
    assert abs(ksg_mi(x, y)) < 0.03


def test_logdet_bias_matches_monte_carlo(rng):
    p, n = 3, 20
    cov = random_spd(rng, p)
    true = np.linalg.slogdet(cov)[1]
    lds = [np.linalg.slogdet(np.cov(rng.multivariate_normal(np.zeros(p), cov, n), rowvar=False))[1]
           for _ in range(4000)]
    assert np.mean(lds) - true == pytest.approx(logdet_bias(p, n), abs=0.02)


def test_plugin_bias_correction_removes_bias(rng):
    """At n=60 in 4+4 dims the raw plug-in is biased up by ~0.3 nats; the corrected one is not."""
    cov = random_spd(rng, 8)
    true = gaussian_mi(cov, 4)
    raw, corr = [], []
    for _ in range(400):
        z = rng.multivariate_normal(np.zeros(8), cov, 60)
        raw.append(gaussian_plugin_mi(z[:, :4], z[:, 4:], bias_correction=False))
        corr.append(gaussian_plugin_mi(z[:, :4], z[:, 4:], bias_correction=True))
    se = np.std(corr) / math.sqrt(len(corr))
    assert np.mean(raw) - true > 0.15
    assert abs(np.mean(corr) - true) < 4 * se + 0.01


def test_plugin_converges_on_large_samples(rng):
    cov = random_spd(rng, 6)
    z = rng.multivariate_normal(np.zeros(6), cov, 100_000)
    assert gaussian_plugin_mi(z[:, :2], z[:, 2:]) == pytest.approx(gaussian_mi(cov, 2), abs=0.01)


def test_estimator_classes_fill_results():
    x, y = CorrelatedGaussian.from_mi(1.0, 2).sample(3000, seed=0)
    g = GaussianEstimator(n_subsamples=50).fit(x, y, true_mi=1.0)
    assert g.result_.ci[0] <= g.result_.estimate <= g.result_.ci[1]
    assert g.result_.ci[0] < 1.0 < g.result_.ci[1] + 0.05
    k = KSGEstimator(k=4).fit(x, y)
    assert k.result_.ci[0] < k.result_.estimate < k.result_.ci[1]
    assert k.get_params() == {"k": 4, "standardize": True, "workers": -1, "ties": "jitter", "transform": None,
                              "seed": 0}
    assert "KSGEstimator(k=4" in repr(k)


def test_plugin_refuses_singular_and_too_few(rng):
    x = rng.standard_normal((50, 2))
    with pytest.raises(ValueError, match="singular"):
        gaussian_plugin_mi(np.c_[x, x[:, :1]], rng.standard_normal((50, 1)))
    with pytest.raises(ValueError, match="needs n > dx \\+ dy \\+ 1"):
        gaussian_plugin_mi(x[:3], x[:3])


def test_ksg_refuses_constant_columns(rng):
    x = np.c_[rng.standard_normal(20), np.ones(20)]
    with pytest.raises(ValueError, match="constant"):
        ksg_mi(x, rng.standard_normal((20, 1)))
    with pytest.raises(ValueError, match="needs more than k"):
        ksg_mi(x[:3, :1], x[:3, :1], k=3)


def test_plugin_interval_covers_truth_in_high_dimension(rng):
    """Half-sampling keeps the interval centred where a with-replacement bootstrap drifts upward."""
    cov = random_spd(rng, 24)
    true = gaussian_mi(cov, 12)
    hits = 0
    reps = 60
    for r in range(reps):
        z = rng.multivariate_normal(np.zeros(24), cov, 300)
        res = GaussianEstimator(n_subsamples=60, seed=r).fit(z[:, :12], z[:, 12:]).result_
        assert res.ci[0] < res.estimate < res.ci[1]
        hits += res.ci[0] <= true <= res.ci[1]
    assert hits / reps >= 0.85
