import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mibound.data import CorrelatedPairs, EncodedViews, GaussianRandomFieldCrops, JointGaussian, Transformed
from mibound.data.encoders import (
    AvgPool,
    CenterCrop,
    Compose,
    Identity,
    LinearEncoder,
    MLPEncoder,
    RandomConv,
    SmallCNNEncoder,
    Subsample,
    canonical_noise_encoders,
    canonical_noise_mi,
    cca_encoders,
    encoded_mi,
    noise_for_mi,
    random_linear_encoder,
)
from mibound.functional.analytic import canonical_correlations, gaussian_mi, mi_from_canonical

from tests._gt_helpers import assert_plugin_matches, entropy_mi, random_spd


@pytest.fixture(scope="module")
def crops6():
    """8x8 crops at offset 6 on a 32 torus (the encoder example of docs/ground-truth.md, I = 26.83)."""
    return GaussianRandomFieldCrops(offset=6, torus_size=32)


def test_reference_values_of_the_encoder_example(crops6):
    assert crops6.mutual_information() == pytest.approx(26.83, abs=0.005)
    cca = [encoded_mi(crops6, *cca_encoders(crops6, k)) for k in (8, 4, 2, 1)]
    np.testing.assert_allclose(cca, [16.16, 9.42, 5.35, 2.88], atol=0.006)
    pools = [encoded_mi(crops6, AvgPool(k)) for k in (2, 4, 8)]
    np.testing.assert_allclose(pools, [9.30, 1.04, 0.16], atol=0.006)


def test_random_shared_projection_matches_the_reference_distribution(crops6):
    # the reference numbers were single random draws: 4.14 / 1.35 / 0.44 / 0.14 for k = 32 / 16 / 8 / 4
    for k, ref in [(32, 4.14), (16, 1.35), (8, 0.44), (4, 0.14)]:
        vals = np.array([encoded_mi(crops6, random_linear_encoder(64, k, seed=s)) for s in range(20)])
        assert abs(vals.mean() - ref) < 2 * vals.std() + 1e-3, (k, vals.mean(), vals.std())


def test_linear_encoder_exact_mi_against_plugin():
    s = GaussianRandomFieldCrops(crop_size=4, offset=2, noise=0.3)
    enc = EncodedViews(s, random_linear_encoder(16, 5, seed=1, noise=0.2), Compose(AvgPool(2), Identity(0.1)))
    z1, z2 = enc.sample(40_000, seed=0, dtype=np.float64)
    assert z1.shape == (40_000, 5) and z2.shape == (40_000, 1, 2, 2)
    # the codes' joint covariance built by hand, not from the encoders' linear_form: the random
    # matrix as random_linear_encoder documents it, 2x2 average pooling of a 4x4 crop, noise 0.2 / 0.1
    a1 = np.random.default_rng(1).standard_normal((5, 16)) / 4.0
    a2 = np.zeros((4, 16))
    for out, (r, c) in enumerate([(0, 0), (0, 2), (2, 0), (2, 2)]):
        for dr in (0, 1):
            for dc in (0, 1):
                a2[out, (r + dr) * 4 + c + dc] = 0.25
    cov = s.covariance()
    m = s.dim_x
    joint = np.block([[a1 @ cov[:m, :m] @ a1.T + 0.2**2 * np.eye(5), a1 @ cov[:m, m:] @ a2.T],
                      [a2 @ cov[m:, :m] @ a1.T, a2 @ cov[m:, m:] @ a2.T + 0.1**2 * np.eye(4)]])
    # and its MI from scipy's entropies (not mibound.functional.analytic)
    assert enc.mutual_information() == pytest.approx(entropy_mi(joint, 5), rel=1e-9)
    assert_plugin_matches(z1, z2, enc.mutual_information(), joint, 5)


def test_identity_and_invertible_encoders_keep_all_information():
    rng = np.random.default_rng(0)
    cov = random_spd(rng, 6)
    full = gaussian_mi(cov, 3)
    assert encoded_mi(cov, Identity(), dim_x=3) == pytest.approx(full, rel=1e-10)
    a = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    assert encoded_mi(cov, LinearEncoder(a), LinearEncoder(a.T), dim_x=3) == pytest.approx(full, rel=1e-8)
    # an over-complete noise-free code (rank 3 in 7 dims) is reduced to its support, not rejected
    tall = rng.standard_normal((7, 3))
    assert encoded_mi(cov, LinearEncoder(tall), dim_x=3) == pytest.approx(full, rel=1e-6)
    assert encoded_mi(cov, LinearEncoder(np.zeros((2, 3))), dim_x=3) == 0.0


def test_image_encoder_matrices_match_their_forward_maps():
    rng = torch.Generator().manual_seed(0)
    v = torch.randn(5, 2, 8, 8, generator=rng, dtype=torch.float64)
    for enc in (AvgPool(2), Subsample(3, offset=1), CenterCrop(4), RandomConv(3, 3, stride=2, seed=2),
                Compose(AvgPool(2), RandomConv(2, 2))):
        a, noise = enc.linear_form((2, 8, 8))
        out = enc.forward(v)
        assert out.shape[1:] == enc.output_shape((2, 8, 8))
        np.testing.assert_allclose(v.reshape(5, -1).numpy() @ a.T, out.reshape(5, -1).numpy(), atol=1e-12)
        assert not noise.any()
    np.testing.assert_allclose(Compose(AvgPool(2), AvgPool(2)).linear_form((1, 8, 8))[0],
                               AvgPool(4).linear_form((1, 8, 8))[0], atol=1e-15)
    assert Subsample(2).output_shape((1, 5, 5)) == (1, 3, 3)


def test_compose_pushes_inner_noise_through_later_maps():
    s = GaussianRandomFieldCrops(crop_size=4, offset=3, noise=0.5)
    comp = Compose(Identity(0.3), AvgPool(2))
    direct = AvgPool(2, noise=0.15)  # averaging 4 iid N(0, 0.3^2) gives N(0, 0.15^2)
    assert encoded_mi(s, comp) == pytest.approx(encoded_mi(s, direct), rel=1e-10)


def test_canonical_noise_sweep_and_inverse(crops6):
    rho = canonical_correlations(crops6.covariance(), crops6.dim_x)
    full = crops6.mutual_information()
    assert canonical_noise_mi(rho, 0.0) == pytest.approx(full, rel=1e-9)
    taus = [0.0, 0.1, 0.5, 1.0, 3.0]
    values = [encoded_mi(crops6, *canonical_noise_encoders(crops6, t)) for t in taus]
    np.testing.assert_allclose(values, [canonical_noise_mi(rho, t) for t in taus], rtol=1e-7)
    assert all(a > b for a, b in zip(values, values[1:]))
    for target in (20.0, 5.0, 0.3):
        tau = noise_for_mi(crops6, target)
        assert encoded_mi(crops6, *canonical_noise_encoders(crops6, tau)) == pytest.approx(target, rel=1e-7)
    assert noise_for_mi(crops6, full) == 0.0
    total = canonical_noise_mi(rho, 0.0)  # the same MI summed another way: equal up to rounding
    assert [noise_for_mi(crops6, total * (1 + e)) for e in (-1e-12, 0.0, 1e-12)] == [0.0, 0.0, 0.0]
    assert noise_for_mi(crops6, total * (1 - 1e-6)) > 0.0
    with pytest.raises(ValueError, match="exceeds"):
        noise_for_mi(crops6, full + 1)


def test_nonlinear_encoders_have_no_exact_value():
    s = GaussianRandomFieldCrops(crop_size=4, offset=2, noise=0.3)
    mlp = MLPEncoder(16, out_dim=3, hidden=(8,), seed=1)
    cnn = SmallCNNEncoder(1, out_dim=4, seed=1)
    ev = EncodedViews(s, mlp, cnn)
    z1, z2 = ev.sample(6, seed=0)
    assert z1.shape == (6, 3) and z2.shape == (6, 4)
    np.testing.assert_array_equal(z1, EncodedViews(s, MLPEncoder(16, 3, (8,), seed=1), cnn).sample(6, seed=0)[0])
    assert not ev.exact and ev.mi_upper_bound() == s.mutual_information()
    with pytest.raises(ValueError, match="no closed form"):
        ev.mutual_information()
    with pytest.raises(TypeError, match="nonlinear"):
        encoded_mi(s, mlp)
    assert "no closed form" in repr(ev)


def test_encoder_bad_input():
    s = GaussianRandomFieldCrops(crop_size=4, offset=2, noise=0.3)
    with pytest.raises(ValueError, match="cannot encode views of 16"):
        encoded_mi(s, LinearEncoder(np.ones((2, 5))))
    with pytest.raises(ValueError, match="divisible"):
        AvgPool(3).output_shape((1, 4, 4))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        encoded_mi(CorrelatedPairs([0.5, 0.5]), AvgPool(2))
    with pytest.raises(ValueError, match="k must be <="):
        cca_encoders(CorrelatedPairs([0.5, 0.5]), 3)
    with pytest.raises(TypeError, match="not a Gaussian sampler"):
        encoded_mi(Transformed(CorrelatedPairs([0.5]), "cube"), Identity())
    with pytest.raises(ValueError, match="noise must be >="):
        Identity(-1.0)


# ---------------------------------------------------------------------------------------------
# data-processing inequality: property tests
# ---------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 100_000), dx=st.integers(1, 5), dy=st.integers(1, 5), k1=st.integers(1, 6),
       k2=st.integers(1, 6), tau=st.sampled_from([0.0, 0.01, 0.3, 2.0]))
def test_random_linear_encoders_never_increase_mi(seed, dx, dy, k1, k2, tau):
    rng = np.random.default_rng(seed)
    cov = random_spd(rng, dx + dy)
    full = gaussian_mi(cov, dx)
    e1 = LinearEncoder(rng.standard_normal((k1, dx)), tau)
    e2 = LinearEncoder(rng.standard_normal((k2, dy)), tau)
    assert encoded_mi(cov, e1, e2, dim_x=dx) <= full + 1e-7 * max(1.0, full)


@settings(max_examples=8, deadline=None)
@given(offset=st.integers(0, 8), noise=st.floats(0.05, 1.0), alpha=st.floats(1.0, 3.0))
def test_nested_pooling_is_monotone(offset, noise, alpha):
    s = GaussianRandomFieldCrops(image_size=16, crop_size=8, offset=offset, noise=noise, alpha=alpha)
    chain = [s.mutual_information(), encoded_mi(s, AvgPool(2)), encoded_mi(s, Compose(AvgPool(2), AvgPool(2))),
             encoded_mi(s, AvgPool(8))]
    assert all(a >= b - 1e-9 * max(1.0, a) for a, b in zip(chain, chain[1:])), chain


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 100_000), dx=st.integers(1, 5), dy=st.integers(1, 5), k=st.integers(1, 5))
def test_top_k_cca_beats_any_random_rank_k_pair(seed, dx, dy, k):
    k = min(k, dx, dy)
    rng = np.random.default_rng(seed)
    cov = random_spd(rng, dx + dy)
    best = encoded_mi(cov, *cca_encoders(cov, k, dim_x=dx), dim_x=dx)
    rho = canonical_correlations(cov, dx)
    assert best == pytest.approx(mi_from_canonical(rho[:k]), rel=1e-7, abs=1e-10)
    for _ in range(3):
        e1 = LinearEncoder(rng.standard_normal((k, dx)))
        e2 = LinearEncoder(rng.standard_normal((k, dy)))
        assert encoded_mi(cov, e1, e2, dim_x=dx) <= best + 1e-7 * max(1.0, best)


def test_encoded_views_are_reproducible_and_shaped():
    s = JointGaussian(random_spd(np.random.default_rng(3), 4), 2)
    ev = EncodedViews(s, LinearEncoder(np.eye(2), noise=0.5))
    a, _ = ev.sample(10, seed=1)
    b, _ = ev.sample(10, seed=1)
    np.testing.assert_array_equal(a, b)
    assert ev.mutual_information() < s.mutual_information()
    assert "EncodedViews" in repr(ev)


def test_encoded_views_live_in_mibound_data_and_the_old_path_still_works():
    import mibound.encoders  # the one-release alias module: mibound.data.encoders itself
    from mibound.data.encoders import EncodedViews as canonical

    assert mibound.encoders.EncodedViews is canonical is EncodedViews
    assert EncodedViews.__module__ == "mibound.data.encoders"
    assert "EncodedViews" in mibound.encoders.__all__
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        mibound.encoders.Nope