"""mibound.inputs.columns: the one collinearity measure and limit that auto and the flows share."""

import math

import numpy as np
import pytest

from mibound.inputs.columns import MAX_CONDITION, correlation_condition


def test_condition_of_a_known_correlation():
    rho = 0.9  # two columns with correlation rho: eigenvalues 1 +- rho
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200_000, 2))
    a = np.c_[z[:, 0], rho * z[:, 0] + math.sqrt(1 - rho ** 2) * z[:, 1]]
    assert correlation_condition(a) == pytest.approx((1 + rho) / (1 - rho), rel=0.02)


def test_condition_is_scale_free_and_skips_constant_columns():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(500, 3))
    scaled = a * np.array([1e-3, 1.0, 1e4]) + 7.0
    assert correlation_condition(scaled) == pytest.approx(correlation_condition(a), rel=1e-9)
    assert correlation_condition(np.c_[a, np.full(500, 2.0)]) == pytest.approx(correlation_condition(a), rel=1e-9)
    assert correlation_condition(a[:, :1]) == 1.0 and correlation_condition(np.c_[a[:, 0], np.ones(500)]) == 1.0


def test_near_copies_exceed_the_limit_and_independent_columns_do_not():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(2000, 4))
    assert correlation_condition(a) < 2
    near = np.c_[a, a[:, 0] + 1e-3 * rng.normal(size=2000)]
    assert correlation_condition(near) > MAX_CONDITION
    assert correlation_condition(np.c_[a, a[:, 0]]) > MAX_CONDITION  # an exact copy: singular
