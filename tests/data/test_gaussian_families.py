import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mibound.data import (
    CorrelatedGaussian,
    CorrelatedPairs,
    DenseInteraction,
    JointGaussian,
    Sampler,
    SparseInteraction,
)
from mibound.functional.analytic import canonical_correlations, mi_from_canonical

from tests._gt_helpers import assert_plugin_matches, entropy_mi, random_spd

# numerics: results depend on floating-point kernels; make test-kernels reruns these under other kernels
pytestmark = pytest.mark.numerics


def test_joint_gaussian_sampling_factor_is_the_covariance():
    rng = np.random.default_rng(0)
    cov = random_spd(rng, 7)
    s = JointGaussian(cov, 3)
    # the sampler draws L eps: pushing the basis vectors gives L, and L L^T must be Sigma exactly
    np.testing.assert_allclose(s._chol @ s._chol.T, cov, rtol=0, atol=1e-13)
    assert (s.dim_x, s.dim_y) == (3, 4)
    assert s.mutual_information() == pytest.approx(entropy_mi(cov, 3), rel=1e-10)  # an independent route


def test_joint_gaussian_sample_covariance_and_plugin():
    rng = np.random.default_rng(1)
    cov = random_spd(rng, 6)
    s = JointGaussian(cov, 2)
    x, y = s.sample(40_000, seed=3, dtype=np.float64)
    emp = np.cov(np.concatenate([x, y], 1), rowvar=False)
    assert np.abs(emp - cov).max() < 0.05 * np.abs(cov).max()
    assert_plugin_matches(x, y, s.mutual_information(), cov, 2)


def test_sample_is_reproducible_float32_and_flat():
    s = CorrelatedPairs([0.5, -0.3])
    x1, y1 = s.sample(100, seed=5)
    x2, y2 = s.sample(100, seed=5)
    x3, _ = s.sample(100, seed=6)
    assert x1.dtype == np.float32 and x1.shape == (100, 2) and y1.shape == (100, 2)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    xt, yt = s.sample_torch(10, torch.Generator().manual_seed(0))
    assert xt.shape == (10, 2) and xt.dtype == torch.float32


def test_correlated_gaussian_keeps_working_with_the_extended_base():
    s = CorrelatedGaussian.from_mi(2.0, dim=4)
    x, y = s.sample(50, seed=0)
    assert x.shape == (50, 4) and s.view_shapes == ((4,), (4,))
    assert isinstance(s, Sampler)


def test_correlated_pairs_closed_form_and_inverse():
    s = CorrelatedPairs([0.1, 0.5, -0.9])
    assert s.closed_form_mi() == pytest.approx(s.mutual_information(), rel=1e-12)
    assert s.mutual_information() == pytest.approx(-0.5 * sum(math.log(1 - r * r) for r in [0.1, 0.5, 0.9]))
    d = CorrelatedPairs.from_mi(3.0, 6, decay=0.5)
    assert d.mutual_information() == pytest.approx(3.0, rel=1e-12)
    assert np.all(np.diff(np.abs(d.rho)) < 0)  # decaying per-pair MI
    even = CorrelatedPairs.from_mi(10.0, 20)
    np.testing.assert_allclose(even.rho, 0.795, atol=5e-4)  # the Poole staircase value for 10 nats in 20 dims


def test_sparse_interaction_structure_and_mi():
    s = SparseInteraction.from_mi(2.0, 6, 4, 3)
    cov = s.covariance()
    cross = cov[:6, 6:]
    assert np.count_nonzero(cross) == 3 and np.allclose(np.diag(cross)[:3], s.rho)
    assert s.closed_form_mi() == pytest.approx(2.0, rel=1e-12)
    assert s.mutual_information() == pytest.approx(2.0, rel=1e-12)
    assert "n_interacting=3" in repr(s)


@pytest.mark.parametrize("dx,dy,a,b", [(5, 5, 0.0, 0.0), (3, 8, 0.5, 0.2), (10, 2, -0.05, 0.4)])
def test_dense_interaction_closed_form_matches_covariance(dx, dy, a, b):
    s = DenseInteraction.from_mi(1.3, dx, dy, a, b)
    assert s.mutual_information() == pytest.approx(1.3, rel=1e-10)
    assert s.closed_form_mi() == pytest.approx(s.mutual_information(), rel=1e-10)
    rho = canonical_correlations(s.covariance(), dx)
    assert rho[1:].max(initial=0.0) < 1e-7  # a rank-one cross block: one canonical correlation


def test_dense_and_sparse_plugin_on_large_samples():
    for s in (DenseInteraction.from_mi(1.0, 4, 6, 0.3, 0.1), SparseInteraction.from_mi(1.5, 8, 8, 2)):
        x, y = s.sample(30_000, seed=11, dtype=np.float64)
        assert_plugin_matches(x, y, s.mutual_information(), s.covariance(), s.dim_x)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="positive definite"):
        JointGaussian([[1.0, 1.0], [1.0, 1.0]], 1)
    with pytest.raises(ValueError, match="dim_x"):
        JointGaussian(np.eye(3), 3)
    with pytest.raises(ValueError, match=r"in \(-1, 1\)"):
        CorrelatedPairs([0.5, 1.0])
    with pytest.raises(ValueError, match="must be <"):
        DenseInteraction(4, 4, 0.3)  # limit is 0.25 for 4 x 4 independent coordinates
    with pytest.raises(ValueError, match="n_interacting must be <="):
        SparseInteraction(3, 2, 3, 0.5)
    with pytest.raises(TypeError, match="int"):
        SparseInteraction(3.0, 2, 1, 0.5)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), dx=st.integers(1, 4), dy=st.integers(1, 4))
def test_mi_is_the_canonical_form_and_invariant_to_per_view_linear_maps(seed, dx, dy):
    rng = np.random.default_rng(seed)
    cov = random_spd(rng, dx + dy)
    mi = JointGaussian(cov, dx).mutual_information()
    assert mi == pytest.approx(mi_from_canonical(canonical_correlations(cov, dx)), rel=1e-9, abs=1e-12)
    # invertible maps per view: (Bx x, By y) has covariance B Sigma B^T with B block diagonal
    b = np.zeros((dx + dy, dx + dy))
    b[:dx, :dx] = rng.standard_normal((dx, dx)) + 2 * np.eye(dx)
    b[dx:, dx:] = rng.standard_normal((dy, dy)) + 2 * np.eye(dy)
    if min(abs(np.linalg.det(b[:dx, :dx])), abs(np.linalg.det(b[dx:, dx:]))) < 1e-3:
        return
    assert JointGaussian(b @ cov @ b.T, dx).mutual_information() == pytest.approx(mi, rel=1e-7, abs=1e-10)
