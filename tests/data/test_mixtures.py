"""Gaussian mixtures: the seeded Monte-Carlo MI against quadratures written independently with scipy."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from scipy.integrate import trapezoid

from mibound.data import (GaussianMixture, Spiral, Transformed, ai_mixture, concentric_mixture, galaxy_mixture,
                          inliers_mixture, waves_mixture, x_mixture)


def _grid_mi_2d(weights, means, covs, xs, ys):
    """I(x; y) of a 2-D Gaussian mixture by a trapezoid grid, densities from scipy.stats."""
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    joint = sum(w * stats.multivariate_normal(m, c).pdf(pts) for w, m, c in zip(weights, means, covs))
    joint = joint.reshape(gx.shape)
    px = sum(w * stats.norm(m[0], math.sqrt(c[0][0])).pdf(xs) for w, m, c in zip(weights, means, covs))
    py = sum(w * stats.norm(m[1], math.sqrt(c[1][1])).pdf(ys) for w, m, c in zip(weights, means, covs))
    ratio = joint / np.outer(px, py)
    f = np.where(joint > 1e-300, joint * np.log(np.where(joint > 1e-300, ratio, 1.0)), 0.0)
    return trapezoid(trapezoid(f, ys, axis=1), xs)


def _close(mc, se, exact, slack=1e-3):
    assert se < 0.01
    assert abs(mc - exact) < 4 * se + slack, f"Monte Carlo {mc:.5f} +- {se:.5f} vs quadrature {exact:.5f}"


def test_x_mixture_matches_quadrature_and_has_normal_margins():
    s = x_mixture(0.9)
    c = 0.9
    exact = _grid_mi_2d([0.5, 0.5], [[0, 0], [0, 0]], [[[1, -c], [-c, 1]], [[1, c], [c, 1]]],
                        np.linspace(-8, 8, 321), np.linspace(-8, 8, 321))
    _close(s.mutual_information(), s.mi_standard_error(), exact)
    x, y = s.sample(20_000, seed=2, dtype=np.float64)
    assert stats.kstest(x[:, 0], "norm").pvalue > 1e-3 and stats.kstest(y[:, 0], "norm").pvalue > 1e-3
    assert abs(np.corrcoef(x[:, 0], y[:, 0])[0, 1]) < 0.03  # uncorrelated, yet dependent


def test_ai_mixture_matches_quadrature():
    s = ai_mixture()
    # the components of the AI distribution, written out again
    v, r = 0.04 * 0.2, 0.95
    means = [[1, 0], [1, 1], [1, -1], [-0.8, -0.2], [-1.2, 0], [-0.4, 0]]
    covs = [np.diag([0.01, 0.2]), np.diag([0.05, 0.001]), np.diag([0.05, 0.001]), np.diag([0.03, 0.001]),
            [[0.04, r * math.sqrt(v)], [r * math.sqrt(v), 0.2]], [[0.04, -r * math.sqrt(v)], [-r * math.sqrt(v), 0.2]]]
    exact = _grid_mi_2d(np.full(6, 1 / 6), means, covs, np.arange(-2.4, 2.4, 0.01), np.arange(-3.0, 3.0, 0.01))
    _close(s.mutual_information(), s.mi_standard_error(), exact)


def test_galaxy_reduces_to_a_two_dimensional_mixture():
    s = galaxy_mixture(0.5, 3.0)
    assert isinstance(s, Transformed) and (s.dim_x, s.dim_y) == (2, 1)
    # x's component along (1, 1)/sqrt(2) is sufficient for the label: I(x; y) = I(s; y)
    h = 1.5
    exact = _grid_mi_2d([0.5, 0.5], [[-h * math.sqrt(2), -h], [h * math.sqrt(2), h]], [np.eye(2)] * 2,
                        np.linspace(-10, 10, 401), np.linspace(-9, 9, 361))
    _close(s.mutual_information(), s.mi_standard_error(), exact)
    x, y = s.sample(500, seed=1, dtype=np.float64)
    x0, y0 = s.sampler.sample(500, seed=1, dtype=np.float64)
    np.testing.assert_allclose(Spiral(2, speed=1.0).inverse(torch.as_tensor(x)).numpy(), x0, atol=1e-9)
    np.testing.assert_array_equal(y, y0)


def test_waves_reduce_to_a_two_dimensional_mixture():
    s = waves_mixture(12, 5.0, 3.0)
    # x_1 is the same N(0, 1) in every component: I(x; y) = I(x_0; y) before the (invertible) bending
    means = [[1.5 * c, 1.5 * (c % 4)] for c in range(12)]
    exact = _grid_mi_2d(np.full(12, 1 / 12), means, [np.diag([0.1, 0.1])] * 12, np.arange(-3, 20, 0.05),
                        np.arange(-3, 7.6, 0.05))
    _close(s.mutual_information(), s.mi_standard_error(), exact)
    x, _ = s.sample(2000, seed=0, dtype=np.float64)
    x0, _ = s.sampler.sample(2000, seed=0, dtype=np.float64)
    np.testing.assert_allclose(s.fx.inverse(torch.as_tensor(x)).numpy(), x0, atol=1e-9)


@pytest.mark.parametrize("dim", [3, 5])
def test_concentric_mixture_matches_a_radial_quadrature(dim):
    s = concentric_mixture(dim, 3)
    # y names the scale i (its components are 100 sds apart), so I(x; y) = I(|x|; i): 1-D quadratures
    r = np.linspace(1e-9, 40, 80_001)
    pr = np.stack([stats.chi(dim, scale=i).pdf(r) for i in (1.0, 2.0, 3.0)])
    mix = pr.mean(axis=0)
    f = np.where(pr > 0, pr * np.log(np.where(pr > 0, pr, 1.0) / mix), 0.0)
    exact = trapezoid(f, r, axis=1).mean()
    assert abs(integrate.quad(lambda t: stats.chi(dim).pdf(t), 0, 40)[0] - 1) < 1e-9
    _close(s.mutual_information(), s.mi_standard_error(), exact)


def test_inliers_mixture_matches_an_independent_monte_carlo_and_a_quadrature():
    s = inliers_mixture(5, 5, 2, 0.8, 0.2)
    # both components have N(0, I) margins: I = E log((1 - f) N_signal(x, y) / (N(x) N(y)) + f)
    rng = np.random.default_rng(11)
    n, f = 200_000, 0.2
    cov = np.eye(10)
    cov[[0, 1], [5, 6]] = cov[[5, 6], [0, 1]] = 0.8
    z = rng.standard_normal((n, 10))
    signal = rng.random(n) >= f
    z[signal] = z[signal] @ np.linalg.cholesky(cov).T
    log_ratio = stats.multivariate_normal(np.zeros(10), cov).logpdf(z) - stats.norm.logpdf(z).sum(axis=1)
    terms = np.logaddexp(np.log1p(-f) + log_ratio, math.log(f))
    se = math.hypot(terms.std() / math.sqrt(n), s.mi_standard_error())
    assert abs(terms.mean() - s.mutual_information()) < 4 * se
    # one pair (1 + 1 dims) against a grid
    one = inliers_mixture(1, 1, 1, 0.8, 0.2)
    exact = _grid_mi_2d([0.8, 0.2], [[0, 0], [0, 0]], [[[1, 0.8], [0.8, 1]], np.eye(2)], np.linspace(-8, 8, 321),
                        np.linspace(-8, 8, 321))
    _close(one.mutual_information(), one.mi_standard_error(), exact)


def test_pointwise_mi_is_the_log_density_ratio_of_scipy_densities():
    rng = np.random.default_rng(0)
    w = np.array([0.2, 0.5, 0.3])
    means = rng.standard_normal((3, 3))
    covs = []
    for _ in range(3):
        a = rng.standard_normal((3, 3))
        covs.append(a @ a.T / 3 + 0.3 * np.eye(3))
    s = GaussianMixture(w, means, covs, 1, min_samples=1000, batch=1000, target_se=1.0)
    z = rng.standard_normal((50, 3))
    joint = np.log(sum(wk * stats.multivariate_normal(m, c).pdf(z) for wk, m, c in zip(w, means, covs)))
    px = np.log(sum(wk * stats.norm(m[0], math.sqrt(c[0, 0])).pdf(z[:, 0]) for wk, m, c in zip(w, means, covs)))
    py = np.log(sum(wk * stats.multivariate_normal(m[1:], c[1:, 1:]).pdf(z[:, 1:]) for wk, m, c in zip(w, means, covs)))
    np.testing.assert_allclose(s.log_density(z), joint, rtol=1e-10)
    np.testing.assert_allclose(s.pointwise_mi(z[:, :1], z[:, 1:]), joint - px - py, rtol=1e-9, atol=1e-12)


def test_monte_carlo_is_seeded_and_stops_at_its_target():
    a, b = x_mixture(0.5), x_mixture(0.5)
    assert a.mutual_information() == b.mutual_information() >= 0
    assert a.mi_standard_error() <= 0.003 and a.mc_samples() >= 100_000
    other = x_mixture(0.5, mc_seed=1)
    assert other.mutual_information() != a.mutual_information()
    assert abs(other.mutual_information() - a.mutual_information()) < 5 * a.mi_standard_error()
    tight = x_mixture(0.5, target_se=0.001, batch=50_000)
    assert tight.mi_standard_error() <= 0.001
    capped = x_mixture(0.5, target_se=1e-9, min_samples=2000, max_samples=4000, batch=2000)
    assert capped.mc_samples() == 4000 and capped.mi_standard_error() > 1e-9
    assert "Monte Carlo" in repr(a) and "+-" in repr(a)


def test_samples_are_deterministic_with_the_right_shapes():
    s = concentric_mixture(3)
    x1, y1 = s.sample(300, seed=4)
    x2, y2 = s.sample(300, seed=4)
    x3, _ = s.sample(300, seed=5)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    assert x1.shape == (300, s.dim_x) == (300, 3) and y1.shape == (300, s.dim_y) == (300, 1)
    # component shares follow the weights
    _, y = s.sample(30_000, seed=0, dtype=np.float64)
    share = np.bincount(np.rint(y[:, 0]).astype(int), minlength=4)[1:] / 30_000
    np.testing.assert_allclose(share, [1 / 3] * 3, atol=0.015)


def test_bad_mixtures_are_rejected():
    eye = np.eye(2)
    with pytest.raises(ValueError, match="finite positive"):
        GaussianMixture([0.5, -0.5], np.zeros((2, 2)), [eye, eye], 1)
    with pytest.raises(ValueError, match="means must have shape"):
        GaussianMixture([0.5, 0.5], np.zeros((3, 2)), [eye, eye], 1)
    with pytest.raises(ValueError, match="covariances must have shape"):
        GaussianMixture([0.5, 0.5], np.zeros((2, 2)), [eye], 1)
    with pytest.raises(ValueError, match="not positive definite"):
        GaussianMixture([1.0], np.zeros((1, 2)), [np.ones((2, 2))], 1)
    with pytest.raises(ValueError, match="symmetric"):
        GaussianMixture([1.0], np.zeros((1, 2)), [[[1.0, 0.5], [0.0, 1.0]]], 1)
    with pytest.raises(ValueError, match="dim_x must be <= 1"):
        GaussianMixture([1.0], np.zeros((1, 2)), [eye], 2)
    with pytest.raises(ValueError, match="at least 2"):
        GaussianMixture([1.0], np.zeros((1, 1)), [np.eye(1)], 1)
    with pytest.raises(ValueError, match="inlier_fraction must be <"):
        inliers_mixture(3, 3, inlier_fraction=1.0)
    with pytest.raises(ValueError, match="n_interacting must be <= 2"):
        inliers_mixture(2, 3, n_interacting=3)
    with pytest.raises(ValueError, match="expected rows of dimension 2"):
        x_mixture().log_density(np.zeros((4, 3)))
