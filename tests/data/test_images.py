import numpy as np
import pytest
import torch

from mibound.data import (
    ChannelSplitViews,
    CorrelatedPairs,
    GaussianRandomFieldCrops,
    JointGaussian,
    RenderedLatents,
    grf_kernel,
    mi_vs_offset,
)
from mibound.data.images import _field_from_noise, _sample_fields
from mibound.estimators.neural import NeuralEstimator

from tests._gt_helpers import assert_plugin_matches, entropy_mi

# ---------------------------------------------------------------------------------------------
# GRF crops
# ---------------------------------------------------------------------------------------------


def test_kernel_is_a_unit_variance_symmetric_covariance():
    c = grf_kernel(16)
    assert c[0, 0] == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_allclose(c, np.roll(c[::-1, ::-1], 1, axis=(0, 1)), atol=1e-15)  # c(d) = c(-d)
    np.testing.assert_allclose(c, c.T, atol=1e-15)
    se = grf_kernel(16, spectrum="squared_exponential", length_scale=2.0)
    assert se[0, 1] == pytest.approx(np.exp(-1 / 8), abs=1e-3)  # ~ exp(-d^2 / (2 l^2))


def test_fft_sampling_map_has_the_kernel_covariance_exactly():
    # push every white-noise basis vector of the torus through the sampler's linear map: M M^T = Sigma
    s = GaussianRandomFieldCrops(image_size=8, crop_size=3, offset=(1, 2), noise=0.2)
    t = s.torus_size
    basis = torch.eye(t * t, dtype=torch.float64).reshape(t * t, t, t)
    cx, cy = s.crops_from_white_noise(basis)
    m = torch.cat([cx, cy], dim=1).numpy().T  # (2 m, T^2)
    expected = s.channel_covariance() - 0.2**2 * np.eye(2 * 9)
    np.testing.assert_allclose(m @ m.T, expected, atol=1e-13)
    # the Cholesky route samples the noisy pair from the same matrix
    chol = s._chol_one.numpy()
    np.testing.assert_allclose(chol @ chol.T, s.channel_covariance(), atol=1e-13)


def test_complex_fft_trick_gives_two_independent_fields():
    # the map is real-linear, so one complex draw Z1 + i Z2 yields map(Z1) + i map(Z2): two independent fields
    s = GaussianRandomFieldCrops(image_size=4, crop_size=2, offset=0, noise=0.1)
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(2, 5, 8, 8, generator=g, dtype=torch.float64)
    both = _field_from_noise(torch.complex(z1, z2), s._sqrt_s)
    np.testing.assert_allclose(both.real.numpy(), _field_from_noise(z1.to(torch.complex128), s._sqrt_s).real.numpy(),
                               atol=1e-13)
    np.testing.assert_allclose(both.imag.numpy(), _field_from_noise(z2.to(torch.complex128), s._sqrt_s).real.numpy(),
                               atol=1e-13)
    fields = _sample_fields(7, s._sqrt_s, g)
    assert fields.shape == (7, 8, 8) and fields.dtype == torch.float64


def test_grf_reference_values_on_a_32_torus():
    mi = mi_vs_offset([0, 2, 4, 6, 8, 12, 16], torus_size=32)
    np.testing.assert_allclose(mi, [103.49, 77.95, 52.39, 26.83, 1.27, 0.05, 0.02], atol=0.006)


def test_grf_reference_values_without_wrap_around_and_monotone():
    mi = mi_vs_offset([8, 12, 16, 24])
    np.testing.assert_allclose(mi, [1.268, 0.052, 0.007, 0.000], atol=6e-4)
    sweep = mi_vs_offset(range(0, 25, 2))
    assert np.all(np.diff(sweep) < 0)


def test_wrap_around_symmetry_on_the_torus():
    a, b = mi_vs_offset([10, 22], torus_size=32)
    assert a == pytest.approx(b, rel=1e-9)


def test_noise_is_added_after_cropping_and_channels_are_independent():
    s = GaussianRandomFieldCrops(crop_size=4, offset=(1, 1), noise=0.3, channels=2)
    cov = s.covariance()
    np.testing.assert_allclose(np.diag(cov), 1.09, rtol=1e-12)
    assert s.mutual_information() == pytest.approx(entropy_mi(cov, s.dim_x), rel=1e-9)  # full 2-channel matrix
    one = GaussianRandomFieldCrops(crop_size=4, offset=(1, 1), noise=0.3)
    assert s.mutual_information() == pytest.approx(2 * one.mutual_information(), rel=1e-12)


@pytest.mark.parametrize("method,n", [("cholesky", 40_000), ("fft", 6_000)])
def test_crops_exact_mi_against_plugin(method, n):
    s = GaussianRandomFieldCrops(image_size=8, crop_size=3, offset=(0, 2), noise=0.4, channels=2, method=method)
    x, y = s.sample(n, seed=2, dtype=np.float64)
    assert x.shape == (n, 2, 3, 3)
    assert_plugin_matches(x, y, s.mutual_information(), s.covariance(), s.dim_x)


def test_crops_sampler_covariance():
    s = GaussianRandomFieldCrops(crop_size=3, offset=(2, -1), noise=0.2)
    x, y = s.sample(30_000, seed=1, dtype=np.float64, flat=True)
    emp = np.cov(np.concatenate([x, y], 1), rowvar=False)
    assert np.abs(emp - s.covariance()).max() < 0.05


def test_crops_work_with_the_estimators_flat_batches():
    s = GaussianRandomFieldCrops(crop_size=4, offset=4, noise=0.5)
    xt, _ = s.sample_torch(8)
    assert xt.shape == (8, 16)
    est = NeuralEstimator(steps=3, batch_size=16, eval_batches=2, log_every=1, progress=False).fit_sampler(s)
    assert est.result_.true_mi == pytest.approx(s.mutual_information())


def test_crops_bad_input():
    with pytest.raises(ValueError, match="do not fit"):
        GaussianRandomFieldCrops(image_size=16, crop_size=8, offset=12)
    with pytest.raises(ValueError, match="singular"):
        GaussianRandomFieldCrops(offset=0, noise=0.0)
    with pytest.raises(TypeError, match="offset must be"):
        GaussianRandomFieldCrops(offset="far")
    with pytest.raises(ValueError, match="unknown spectrum"):
        GaussianRandomFieldCrops(spectrum="pink")
    with pytest.raises(ValueError, match="torus_size"):
        GaussianRandomFieldCrops(torus_size=16)


# ---------------------------------------------------------------------------------------------
# channel split
# ---------------------------------------------------------------------------------------------


def test_channel_split_reference_values():
    got = [ChannelSplitViews(rho=r).mutual_information() for r in (0.1, 0.3, 0.5, 0.7)]
    np.testing.assert_allclose(got, [0.50, 4.77, 15.54, 44.86], atol=0.006)
    assert ChannelSplitViews.max_rho(3, 0.3) == pytest.approx(0.806, abs=5e-4)
    with pytest.raises(ValueError, match="rho"):
        ChannelSplitViews(rho=0.81)


def test_channel_split_without_noise_does_not_depend_on_the_spectrum():
    a = ChannelSplitViews(rho=0.4, crop_size=4).mutual_information()
    b = ChannelSplitViews(rho=0.4, crop_size=4, alpha=3.0, f0=0.1).mutual_information()
    c = np.array([[1, .4, .4], [.4, 1, .3], [.4, .3, 1]])
    closed = 16 * 0.5 * np.log(np.linalg.det(c[1:, 1:]) / np.linalg.det(c))
    assert a == pytest.approx(b, rel=1e-10) and a == pytest.approx(closed, rel=1e-10)


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_channel_split_fast_mi_equals_dense_covariance(noise):
    s = ChannelSplitViews(channels=4, rho=0.3, rest_correlation=0.2, crop_size=4, noise=noise)
    assert s.mutual_information() == pytest.approx(entropy_mi(s.covariance(), s.dim_x), rel=1e-8)
    assert s.sample(3, seed=0)[1].shape == (3, 3, 4, 4)


def test_channel_split_inverse():
    rho = ChannelSplitViews.correlation_for_mi(1.5, crop_size=4, noise=0.3)
    s = ChannelSplitViews(rho=rho, crop_size=4, noise=0.3)
    assert s.mutual_information() == pytest.approx(1.5, rel=1e-9)
    assert ChannelSplitViews.from_mi(0.2, crop_size=3).mutual_information() == pytest.approx(0.2, rel=1e-9)
    with pytest.raises(ValueError, match="not reachable"):
        ChannelSplitViews.correlation_for_mi(1e4, crop_size=2, noise=1.0)


@pytest.mark.parametrize("method,n", [("cholesky", 30_000), ("fft", 5_000)])
def test_channel_split_against_plugin(method, n):
    s = ChannelSplitViews(rho=0.4, crop_size=3, noise=0.3, image_size=8, method=method)
    x, y = s.sample(n, seed=4, dtype=np.float64)
    assert_plugin_matches(x, y, s.mutual_information(), s.covariance(), s.dim_x)


# ---------------------------------------------------------------------------------------------
# rendered latents
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3, 5])
def test_rendering_is_injective(d):
    s = RenderedLatents(mi=1.0, latent_dim=d, image_size=12, width=1.5)
    u = torch.randn(300, d, dtype=torch.float64, generator=torch.Generator().manual_seed(d)) * 1.5
    img = s.render(u)
    assert img.shape == (300, -(-d // 3), 12, 12)
    np.testing.assert_allclose(s.decode(img.numpy(), d), u.numpy(), atol=1e-6)


def test_rendered_images_carry_the_latent_mi():
    s = RenderedLatents(mi=1.5, latent_dim=3, image_size=10, width=1.5)
    assert s.mutual_information() == pytest.approx(1.5, rel=1e-12)
    x, y = s.sample(20_000, seed=3, dtype=np.float64)
    assert x.shape == (20_000, 1, 10, 10)
    ux, uy = s.sample_latents(20_000, seed=3)
    np.testing.assert_allclose(s.decode(x, 3), ux, atol=1e-6)  # the images are exactly the rendered latents
    np.testing.assert_allclose(s.decode(y, 3), uy, atol=1e-6)
    assert_plugin_matches(ux, uy, 1.5, s.latent.covariance(), 3)
    x32, _ = s.sample(2000, seed=3)
    assert x32.dtype == np.float32 and x32.min() > 0  # no float32 underflow to exactly 0


def test_rendered_latents_with_a_given_latent_and_errors():
    latent = JointGaussian(np.array([[1, 0, .5], [0, 1, .2], [.5, .2, 1]]), 2)
    s = RenderedLatents(latent, image_size=8, width=1.2)
    assert s.shape_x == (1, 8, 8) and s.shape_y == (1, 8, 8)
    assert s.mutual_information() == latent.mutual_information()
    with pytest.raises(ValueError, match="width=0.5 is too small"):
        RenderedLatents(image_size=16, width=0.5)
    with pytest.raises(TypeError, match="not both"):
        RenderedLatents(CorrelatedPairs([0.5]), mi=1.0)
