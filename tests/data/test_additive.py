"""Additive uniform noise and zero-MI (independent) pairs."""

import math

import numpy as np
import pytest
from scipy import integrate

from mibound.data import (AdditiveUniformNoise, CorrelatedPairs, DiscreteJoint, GaussianRandomFieldCrops, Independent,
                          MultivariateStudentT, additive_uniform_mi)


def _trapezoid_density(t, eps):
    """Density of U(0, 1) + U(-eps, eps) written as the convolution integral (scipy quad)."""
    return integrate.quad(lambda u: 1.0 / (2 * eps) if -eps <= t - u <= eps else 0.0, 0, 1,
                          points=[min(max(t - eps, 0), 1), min(max(t + eps, 0), 1)])[0]


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.5, 0.75, 2.0])
def test_closed_form_matches_quadrature_of_the_output_entropy(eps):
    lo, hi = -eps, 1 + eps
    breaks = sorted({lo, hi, eps, 1 - eps, 0.0, 1.0})

    def integrand(t):
        p = _trapezoid_density(t, eps)
        return -p * math.log(p) if p > 0 else 0.0

    h = integrate.quad(integrand, lo, hi, points=breaks[1:-1], limit=200)[0]
    assert additive_uniform_mi(eps) == pytest.approx(h - math.log(2 * eps), abs=1e-7)


def test_sampler_support_mi_and_reproducibility():
    s = AdditiveUniformNoise(0.1, dim=3)
    assert s.mutual_information() == pytest.approx(3 * (0.1 - math.log(0.2)))
    x, y = s.sample(20_000, seed=1, dtype=np.float64)
    assert x.shape == y.shape == (20_000, s.dim_x) == (20_000, 3)
    assert x.min() >= 0 and x.max() <= 1 and np.abs(y - x).max() <= 0.1
    # the noise is uniform and independent of x
    assert abs(np.corrcoef(x[:, 0], y[:, 0] - x[:, 0])[0, 1]) < 0.03
    assert np.histogram(y[:, 0] - x[:, 0], bins=10)[0].min() > 1700
    np.testing.assert_array_equal(s.sample(10, seed=2)[1], s.sample(10, seed=2)[1])
    assert additive_uniform_mi(0.5) == pytest.approx(0.5) and AdditiveUniformNoise(0.5).mutual_information() > 0
    with pytest.raises(ValueError, match="epsilon must be >"):
        AdditiveUniformNoise(0.0)
    with pytest.raises(ValueError, match="dim must be >= 1"):
        AdditiveUniformNoise(0.1, dim=0)


@pytest.mark.parametrize("base", [CorrelatedPairs([0.99, 0.9]), MultivariateStudentT.correlated(0.9, 2, 1.0),
                                  DiscreteJoint.symmetric_channel(3, 0.01)], ids=lambda b: type(b).__name__)
def test_independent_keeps_the_margins_and_removes_the_dependence(base):
    s = Independent(base)
    assert s.mutual_information() == 0.0 and s.mi_standard_error() == 0.0
    assert (s.dim_x, s.dim_y) == (base.dim_x, base.dim_y)
    x, y = s.sample(20_000, seed=3, dtype=np.float64)
    x0, y0 = base.sample(20_000, seed=3, dtype=np.float64)
    np.testing.assert_array_equal(x, x0)  # the first draw's x
    assert not np.array_equal(y, y0)
    # same margins, no dependence left
    np.testing.assert_allclose(np.median(y, axis=0), np.median(y0, axis=0), atol=0.05)
    r = np.corrcoef(x[:, 0], y[:, 0])[0, 1]
    r0 = np.corrcoef(x0[:, 0], y0[:, 0])[0, 1]
    assert abs(r) < 0.03 < r0
    np.testing.assert_array_equal(s.sample(50, seed=4)[1], s.sample(50, seed=4)[1])


def test_independent_keeps_image_shapes_and_rejects_non_samplers():
    s = Independent(GaussianRandomFieldCrops(crop_size=4, offset=2, noise=0.5))
    x, y = s.sample(3, seed=0)
    assert x.shape == y.shape == (3, 1, 4, 4) and "mi=0" in repr(s)
    with pytest.raises(TypeError, match="Sampler"):
        Independent(np.zeros(3))
