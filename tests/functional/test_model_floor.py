"""A copula model read as a critic (mibound.functional.model_floor): closed forms, the bound, the self-check."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mibound.data import CorrelatedPairs
from mibound.functional.analytic import gaussian_mi
from mibound.functional.copulas import pseudo_observations
from mibound.functional.model_floor import (
    canonical_critic,
    canonical_scores,
    ecdf_scores,
    infonce_all_pairs,
    model_check,
    t_copula_scores,
)

# closed forms through eigen-decompositions, SVDs and Cholesky factors: rerun under other kernels (make test-kernels)
pytestmark = pytest.mark.numerics


def test_ecdf_scores_of_the_reference_are_its_pseudo_observations():
    rng = np.random.default_rng(0)
    ref = np.c_[rng.normal(size=300), rng.integers(0, 4, 300), np.ones(300)]
    u = ecdf_scores(ref, ref)
    np.testing.assert_allclose(u[:, :2], pseudo_observations(ref[:, :2]), rtol=0, atol=1e-12)
    assert np.all(u[:, 2] == 0.5)  # a constant column carries nothing
    beyond = ecdf_scores(ref, np.array([[-1e9, -1e9, 1.0], [1e9, 1e9, 1.0]]))
    assert np.all(beyond[0, :2] > 0) and np.all(beyond[1, :2] < 1)  # inside (0, 1), so normal scores stay finite


def test_canonical_scores_are_the_gaussian_log_density_ratio_up_to_row_terms():
    """f(x_i, y_j) - log N((x_i, y_j); Sigma) + log N(x_i) + log N(y_j) is a function of x_i alone (constant in j)."""
    x, y = CorrelatedPairs.from_mi(1.5, 3).sample(4000, seed=2, dtype=np.float64)
    critic = canonical_critic(x, y)
    assert len(critic["rho"]) == 3  # every pair of the model is above the Wachter edge
    zx, zy = x[:6], y[:6]
    s = canonical_scores(critic, zx, zy)
    c = np.cov(np.c_[x, y], rowvar=False)
    mean = np.r_[critic["mean_x"], critic["mean_y"]]
    joint = stats.multivariate_normal(mean, c)
    ratio = np.array([[joint.logpdf(np.r_[a, b]) - stats.multivariate_normal(mean[:3], c[:3, :3]).logpdf(a)
                       - stats.multivariate_normal(mean[3:], c[3:, 3:]).logpdf(b) for b in zy] for a in zx])
    rest = ratio - s
    # the sample covariance's canonical form reproduces its density exactly; 1e-8 covers the eigen-solves
    np.testing.assert_allclose(rest - rest[:, :1], 0.0, atol=1e-8)


def test_t_copula_scores_are_the_t_log_density_ratio_up_to_row_terms():
    r = np.array([[1.0, 0.3, 0.5], [0.3, 1.0, 0.2], [0.5, 0.2, 1.0]])
    df = 3.0
    z = stats.multivariate_t(np.zeros(3), r, df=df).rvs(5, random_state=4)
    zx, zy = z[:, :1], z[:, 1:]
    s = t_copula_scores(r, df, zx, zy)
    ratio = np.array([[stats.multivariate_t(np.zeros(3), r, df=df).logpdf(np.r_[a, b])
                       - stats.multivariate_t(np.zeros(1), r[:1, :1], df=df).logpdf(a)
                       - stats.multivariate_t(np.zeros(2), r[1:, 1:], df=df).logpdf(b) for b in zy] for a in zx])
    rest = ratio - s
    np.testing.assert_allclose(rest - rest[:, :1], 0.0, atol=1e-10)  # closed forms: rounding only
    g = t_copula_scores(r, math.inf, zx, zy)  # nu = inf: the Gaussian copula
    gauss = np.array([[stats.multivariate_normal(np.zeros(3), r).logpdf(np.r_[a, b])
                       - stats.multivariate_normal(np.zeros(2), r[1:, 1:]).logpdf(b) for b in zy] for a in zx])
    rest = gauss - g
    np.testing.assert_allclose(rest - rest[:, :1], 0.0, atol=1e-10)


def test_infonce_all_pairs_is_log_k_for_a_perfect_critic_and_zero_for_a_blind_one():
    k = 50
    bound, se = infonce_all_pairs(np.where(np.eye(k) > 0, 100.0, 0.0))
    assert bound == pytest.approx(math.log(k), abs=1e-12) and se < 1e-12
    bound, _ = infonce_all_pairs(np.zeros((k, k)))
    assert bound == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("mi, dim", [(0.5, 1), (1.0, 3), (2.0, 10)])
def test_the_gaussian_models_read_is_a_floor_and_agrees_with_its_prediction(mi, dim):
    """On Gaussian pairs the model is right: its held-out read is below the MI (a lower bound, up to
    noise) and close to what it predicts for itself (measured within 0.11 nats; 0.2 allowed, about 4 se)."""
    x, y = CorrelatedPairs.from_mi(mi, dim).sample(3000, seed=5, dtype=np.float64)
    assert gaussian_mi(np.cov(np.c_[x, y], rowvar=False), dim) == pytest.approx(mi, rel=0.15)
    c = model_check(np.c_[x, y][:2000], np.c_[x, y][2000:], dim, "gaussian", seed=0)
    assert c["observed"] <= mi + 3 * c["observed_se"]
    assert abs(c["observed"] - c["predicted"]) < 0.2
    assert c["ceiling"] == pytest.approx(math.log(1000))


def test_the_checks_read_is_invariant_under_increasing_column_maps():
    x, y = CorrelatedPairs.from_mi(1.0, 2).sample(2000, seed=6, dtype=np.float64)
    a = model_check(np.c_[x, y][:1200], np.c_[x, y][1200:], 2, "gaussian")
    xy = np.c_[np.exp(x), y ** 3]
    b = model_check(xy[:1200], xy[1200:], 2, "gaussian")
    # ranks and interpolated ECDFs of the held-out rows only move where a map bends between training values
    assert b["observed"] == pytest.approx(a["observed"], abs=0.02)
    assert b["predicted"] == pytest.approx(a["predicted"], abs=1e-12)  # the same fitted correlations and seed


def test_the_t_check_on_zero_correlation_student_t():
    """Views dependent only through a shared scale: the t model's read is positive, the Gaussian one's is not."""
    rng = np.random.default_rng(7)
    z = rng.standard_normal((3000, 4)) / np.sqrt(rng.chisquare(2, size=(3000, 1)) / 2)
    t = model_check(z[:2000], z[2000:], 2, "t")
    g = model_check(z[:2000], z[2000:], 2, "gaussian")
    assert t["observed"] > 0.1 and abs(t["observed"] - t["predicted"]) < 0.15
    assert abs(g["observed"]) < 0.05 and g["components"] <= 1


def test_bad_family_is_refused():
    with pytest.raises(ValueError, match="family must be 'gaussian' or 't'"):
        model_check(np.zeros((10, 2)), np.zeros((10, 2)), 1, "normal")


def test_infonce_all_pairs_is_the_torch_bound():
    import torch

    from mibound.functional.bounds import infonce, infonce_rows

    scores = np.random.default_rng(8).normal(size=(40, 40)) * 3
    bound, se = infonce_all_pairs(scores)
    # the same float64 logsumexp in two libraries: rounding only
    assert bound == pytest.approx(float(infonce(torch.from_numpy(scores))), abs=1e-12)
    assert se == pytest.approx(float(infonce_rows(torch.from_numpy(scores)).std() / math.sqrt(40)), abs=1e-12)
