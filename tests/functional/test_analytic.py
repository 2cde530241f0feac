import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mibound import canonical_correlations, gaussian_mi, mi_from_rho, rho_from_mi
from mibound.functional.analytic import mi_from_canonical

from tests.conftest import random_spd

# numerics: results depend on floating-point kernels; make test-kernels reruns these under other kernels
pytestmark = pytest.mark.numerics


def _block(rhos):
    d = len(rhos)
    eye = np.eye(d)
    r = np.diag(rhos)
    return np.block([[eye, r], [r, eye]])


def test_per_dimension_sum_matches_closed_form():
    rhos = np.array([0.1, 0.5, 0.9, 0.99])
    expected = -0.5 * np.sum(np.log(1 - rhos**2))
    assert gaussian_mi(_block(rhos), 4) == pytest.approx(expected, rel=1e-12)


def test_poole_staircase_correlations():
    got = [rho_from_mi(m, 20) for m in (2, 4, 6, 8, 10)]
    np.testing.assert_allclose(got, [0.426, 0.574, 0.672, 0.742, 0.795], atol=5e-4)


@given(st.floats(0.0, 50.0), st.integers(1, 64))
@settings(max_examples=60, deadline=None)
def test_rho_mi_roundtrip(mi, dim):
    # beyond ~8 nats per dimension, 1 - rho^2 < 1e-7 and rho itself cannot hold the digits
    assume(mi / dim <= 8.0)
    rho = rho_from_mi(mi, dim)
    assert mi_from_rho(rho, dim) == pytest.approx(mi, rel=1e-7, abs=1e-12)


def test_mi_from_rho_matches_gaussian_mi():
    rho, d = 0.63, 5
    cov = _block([rho] * d)
    assert gaussian_mi(cov, d) == pytest.approx(mi_from_rho(rho, d), rel=1e-12)


@pytest.mark.parametrize("dx,dy", [(1, 1), (2, 3), (5, 2), (4, 4)])
def test_random_spd_matches_canonical_form(rng, dx, dy):
    cov = random_spd(rng, dx + dy)
    rho = canonical_correlations(cov, dx)
    assert rho.shape == (min(dx, dy),)
    assert np.all(np.diff(rho) <= 1e-12)
    assert gaussian_mi(cov, dx) == pytest.approx(mi_from_canonical(rho), rel=1e-9)


def test_invariant_under_per_block_invertible_linear_maps(rng):
    dx, dy = 3, 4
    cov = random_spd(rng, dx + dy)
    a = rng.standard_normal((dx, dx)) + 3 * np.eye(dx)
    b = rng.standard_normal((dy, dy)) + 3 * np.eye(dy)
    t = np.zeros((dx + dy, dx + dy))
    t[:dx, :dx], t[dx:, dx:] = a, b
    assert gaussian_mi(t @ cov @ t.T, dx) == pytest.approx(gaussian_mi(cov, dx), rel=1e-9)


def test_symmetric_in_x_and_y(rng):
    dx, dy = 2, 5
    cov = random_spd(rng, dx + dy)
    perm = np.r_[dx:dx + dy, 0:dx]
    assert gaussian_mi(cov[np.ix_(perm, perm)], dy) == pytest.approx(gaussian_mi(cov, dx), rel=1e-9)


def test_tiny_mi_keeps_its_digits():
    rho = 1e-6
    cov = _block([rho])
    assert gaussian_mi(cov, 1) == pytest.approx(-0.5 * math.log1p(-rho * rho), rel=1e-6)
    assert gaussian_mi(cov, 1) > 0


def test_independent_blocks_give_zero(rng):
    cov = np.zeros((5, 5))
    cov[:2, :2] = random_spd(rng, 2)
    cov[2:, 2:] = random_spd(rng, 3)
    assert gaussian_mi(cov, 2) == 0.0


@pytest.mark.parametrize(
    "cov,dim_x,exc,match",
    [
        (np.eye(3)[:2], 1, ValueError, "square"),
        (np.eye(3), 0, ValueError, "dim_x must be in"),
        (np.eye(3), 3, ValueError, "dim_x must be in"),
        (np.eye(3), 1.5, TypeError, "dim_x must be an int"),
        (np.array([[1.0, 2.0], [2.0, 1.0]]), 1, ValueError, "not positive definite"),
        (np.array([[1.0, 0.1], [0.3, 1.0]]), 1, ValueError, "symmetric"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), 1, ValueError, "NaN"),
    ],
)
def test_bad_covariances(cov, dim_x, exc, match):
    with pytest.raises(exc, match=match):
        gaussian_mi(cov, dim_x)


@pytest.mark.parametrize("call,match", [
    (lambda: mi_from_rho(1.0, 2), "rho must be in"),
    (lambda: mi_from_rho(0.5, 0), "dim must be >= 1"),
    (lambda: rho_from_mi(-1.0, 2), "mi must be"),
    (lambda: rho_from_mi(float("nan"), 2), "mi must be"),
])
def test_bad_scalars(call, match):
    with pytest.raises(ValueError, match=match):
        call()
