import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mibound.data import (
    Asinh,
    CorrelatedPairs,
    Cube,
    GaussianRandomFieldCrops,
    HalfCube,
    NormalCDF,
    RandomLinear,
    Spiral,
    Transformed,
    make_transform,
)
from mibound.functional.nonparametric import gaussian_plugin_mi

ELEMENTWISE = [Cube(), HalfCube(), Asinh(), NormalCDF()]


@pytest.mark.parametrize("f", [*ELEMENTWISE, RandomLinear(4, seed=3), Spiral(4, speed=2.0), Spiral(5)],
                         ids=repr)
def test_inverse_recovers_the_input(f):
    t = torch.randn(500, f.dim if hasattr(f, "dim") else 4, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64)
    np.testing.assert_allclose(f.inverse(f(t)).numpy(), t.numpy(), atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-600, 600), min_size=2, max_size=30, unique=True))
def test_elementwise_maps_are_strictly_increasing(values):
    # a 0.01 grid: float64 resolves every step (distinct reals closer than that may round together)
    t = torch.tensor(sorted(values), dtype=torch.float64)[:, None] / 100
    for f in ELEMENTWISE:
        assert torch.all(torch.diff(f(t)[:, 0]) > 0), f


def test_spiral_keeps_the_norm_and_random_linear_is_well_conditioned():
    t = torch.randn(200, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(Spiral(6, 3.0)(t).norm(dim=1).numpy(), t.norm(dim=1).numpy(), rtol=1e-12)
    a = RandomLinear(6, seed=4, condition=10.0).matrix
    assert np.linalg.cond(a) <= 10.0 + 1e-9
    np.testing.assert_array_equal(a, RandomLinear(6, seed=4).matrix)


@pytest.mark.parametrize("fx,fy", [("cube", "asinh"), ("half_cube", "normal_cdf"), ("random_linear", "spiral")])
def test_transformed_data_is_an_injective_image_of_the_base_sample(fx, fy):
    base = CorrelatedPairs.from_mi(1.0, 3)
    s = Transformed(base, fx, fy)
    assert s.mutual_information() == base.mutual_information()
    assert "inherited" in repr(s)
    x, y = s.sample(2000, seed=9, dtype=np.float64)
    x0, y0 = base.sample(2000, seed=9, dtype=np.float64)
    np.testing.assert_allclose(s.fx.inverse(torch.as_tensor(x)).numpy(), x0, atol=1e-8)
    np.testing.assert_allclose(s.fy.inverse(torch.as_tensor(y)).numpy(), y0, atol=1e-8)


def test_gaussian_plugin_is_exactly_invariant_to_invertible_linear_maps():
    base = CorrelatedPairs.from_mi(2.0, 5)
    s = Transformed(base, RandomLinear(5, seed=1), RandomLinear(5, seed=2))
    x, y = s.sample(5000, seed=0, dtype=np.float64)
    x0, y0 = base.sample(5000, seed=0, dtype=np.float64)
    assert gaussian_plugin_mi(x, y) == pytest.approx(gaussian_plugin_mi(x0, y0), rel=1e-9)


def test_elementwise_maps_make_the_data_non_gaussian():
    # the plug-in is not invariant (it is not a bound on warped views); the MI is
    s = Transformed(CorrelatedPairs.from_mi(1.0, 3), "cube", "cube")
    x, y = s.sample(20_000, seed=0, dtype=np.float64)
    assert gaussian_plugin_mi(x, y) < 0.8 * s.mutual_information()


def test_image_samplers_keep_their_shape():
    s = Transformed(GaussianRandomFieldCrops(crop_size=4, offset=2, noise=0.5), "half_cube", "asinh")
    x, y = s.sample(7, seed=0)
    assert x.shape == (7, 1, 4, 4) and y.shape == (7, 1, 4, 4)
    u = NormalCDF()(torch.linspace(-5, 5, 11, dtype=torch.float64))
    assert torch.all((u > 0) & (u < 1))


def test_bad_transforms_are_rejected():
    base = CorrelatedPairs([0.5, 0.5])
    with pytest.raises(ValueError, match="unknown transform 'square'"):
        Transformed(base, "square")
    with pytest.raises(ValueError, match="cannot act on 2-dimensional"):
        Transformed(base, RandomLinear(3))
    with pytest.raises(TypeError, match="a transform must be"):
        make_transform(np.sin, 2)
    with pytest.raises(TypeError, match="Sampler"):
        Transformed("not a sampler")
    with pytest.raises(ValueError, match="dim must be >= 2"):
        Spiral(1)


# --- wiggly, mixture-quantile ("bimodal") and sine-shear maps ------------------------------------------
from scipy import stats  # noqa: E402

from mibound.data import MixtureQuantile, SineShear, Wiggly  # noqa: E402

NEW_MAPS = [Wiggly(), Wiggly((-0.35, 0.15, 0.03), (0.5, 1.3, 4.1), (0.0, 3.5, -2.5)), MixtureQuantile(),
            MixtureQuantile((0.2, 0.5, 0.3), (-1.0, 3.0, 10.0), (0.1, 1.0, 3.0))]


@pytest.mark.parametrize("f", [*NEW_MAPS, SineShear(2, 5.0, 3.0, scale=(0.1, 0.5), shift=(-0.8, 0.0)),
                               SineShear(4, -2.0, 1.5)], ids=repr)
def test_new_maps_invert(f):
    d = getattr(f, "dim", 3)
    t = 3 * torch.randn(2000, d, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    np.testing.assert_allclose(f.inverse(f(t)).numpy(), t.numpy(), atol=1e-9)


def test_new_elementwise_maps_are_strictly_increasing_far_into_the_tails():
    t = torch.linspace(-30, 30, 12_001, dtype=torch.float64)[:, None]
    for f in NEW_MAPS:
        assert torch.all(torch.diff(f(t)[:, 0]) > 0), f
    assert make_transform("wiggly", 2).__class__ is Wiggly and make_transform("bimodal", 1).__class__ is MixtureQuantile


def test_mixture_quantile_maps_a_standard_normal_onto_the_mixture():
    f = MixtureQuantile((0.3, 0.7), (0.0, 5.0), (1.0, 2.0))
    z = torch.randn(20_000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = f(z).numpy()[:, 0]
    cdf = lambda v: 0.3 * stats.norm.cdf(v) + 0.7 * stats.norm.cdf(v, 5.0, 2.0)  # noqa: E731
    assert stats.kstest(out, cdf).pvalue > 1e-3
    # the map is F^-1(Phi(z)) exactly: F(out) = Phi(z)
    np.testing.assert_allclose(cdf(out), stats.norm.cdf(z.numpy()[:, 0]), rtol=1e-10, atol=1e-14)


def test_new_maps_keep_the_mi_and_reject_bad_parameters():
    base = CorrelatedPairs.from_mi(0.5, 1)
    s = Transformed(base, Wiggly(), MixtureQuantile())
    assert s.mutual_information() == base.mutual_information() and s.mi_standard_error() == 0.0
    with pytest.raises(ValueError, match="must be < 1 for a strictly increasing"):
        Wiggly((0.5, 0.5), (1.0, 1.0), (0.0, 0.0))
    with pytest.raises(ValueError, match="same non-zero length"):
        Wiggly((0.1,), (1.0, 2.0), (0.0,))
    with pytest.raises(ValueError, match="frequencies finite and > 0"):
        Wiggly((0.1,), (-1.0,), (0.0,))
    with pytest.raises(ValueError, match="weights and sds must be > 0"):
        MixtureQuantile((0.5, 0.5), (0.0, 1.0), (1.0, 0.0))
    with pytest.raises(ValueError, match="same non-zero length"):
        MixtureQuantile((1.0,), (0.0, 1.0), (1.0,))
    with pytest.raises(ValueError, match="scale and shift need 2 entries"):
        SineShear(2, scale=(1.0,))
    with pytest.raises(ValueError, match="non-zero"):
        SineShear(2, scale=(1.0, 0.0))
    with pytest.raises(ValueError, match="cannot act on 3-dimensional"):
        Transformed(CorrelatedPairs([0.5] * 3), SineShear(2))
