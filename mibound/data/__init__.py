"""Samplers of paired views with exact mutual information (nats)."""

from mibound.data.additive import AdditiveUniformNoise, additive_uniform_mi
from mibound.data.base import Sampler
from mibound.data.color_digits import ColorDigits
from mibound.data.digits import DigitTextureViews, class_sharing_mi
from mibound.data.discrete import BinnedGaussian, DiscreteJoint, NoisyDiscrete, discrete_mi, entropy
from mibound.data.encoders import EncodedViews
from mibound.data.gaussian import CorrelatedGaussian
from mibound.data.gaussian_families import CorrelatedPairs, DenseInteraction, JointGaussian, SparseInteraction
from mibound.data.images import (
    ChannelSplitViews,
    GaussianRandomFieldCrops,
    RenderedLatents,
    grf_kernel,
    grf_spectrum,
    mi_vs_offset,
)
from mibound.data.independent import Independent
from mibound.data.mixtures import (
    GaussianMixture,
    ai_mixture,
    concentric_mixture,
    galaxy_mixture,
    inliers_mixture,
    waves_mixture,
    x_mixture,
)
from mibound.data.shells import ConcentricShells
from mibound.data.student_t import MultivariateStudentT, student_t_mi
from mibound.data.transforms import (
    ELEMENTWISE,
    Asinh,
    Cube,
    HalfCube,
    MixtureQuantile,
    NormalCDF,
    RandomLinear,
    SineShear,
    Spiral,
    Transform,
    Transformed,
    Wiggly,
    make_transform,
)
from mibound.functional.analytic import student_t_correction

__all__ = [
    "Sampler",
    "CorrelatedGaussian",
    "JointGaussian",
    "CorrelatedPairs",
    "SparseInteraction",
    "DenseInteraction",
    "MultivariateStudentT",
    "student_t_mi",
    "student_t_correction",
    "Transform",
    "Transformed",
    "Cube",
    "HalfCube",
    "Asinh",
    "NormalCDF",
    "RandomLinear",
    "Spiral",
    "Wiggly",
    "MixtureQuantile",
    "SineShear",
    "ELEMENTWISE",
    "make_transform",
    "GaussianRandomFieldCrops",
    "ChannelSplitViews",
    "RenderedLatents",
    "mi_vs_offset",
    "grf_kernel",
    "grf_spectrum",
    "DigitTextureViews",
    "class_sharing_mi",
    "ColorDigits",
    "EncodedViews",
    "GaussianMixture",
    "x_mixture",
    "ai_mixture",
    "galaxy_mixture",
    "waves_mixture",
    "concentric_mixture",
    "inliers_mixture",
    "ConcentricShells",
    "DiscreteJoint",
    "NoisyDiscrete",
    "BinnedGaussian",
    "discrete_mi",
    "entropy",
    "AdditiveUniformNoise",
    "additive_uniform_mi",
    "Independent",
]
