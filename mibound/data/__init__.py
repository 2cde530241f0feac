"""Samplers of paired views with exact mutual information (nats)."""

from .base import Sampler
from .color_digits import ColorDigits
from .digits import DigitTextureViews, class_sharing_mi
from .encoded import EncodedViews
from .gaussian import CorrelatedGaussian
from .gaussian_families import CorrelatedPairs, DenseInteraction, JointGaussian, SparseInteraction
from .images import ChannelSplitViews, GaussianRandomFieldCrops, RenderedLatents, grf_kernel, grf_spectrum, mi_vs_offset
from .student_t import MultivariateStudentT, student_t_correction, student_t_mi
from .transforms import (ELEMENTWISE, Asinh, Cube, HalfCube, MixtureQuantile, NormalCDF, RandomLinear, SineShear,
                         Spiral, Transform, Transformed, Wiggly, make_transform)
from .mixtures import (GaussianMixture, ai_mixture, concentric_mixture, galaxy_mixture, inliers_mixture, waves_mixture,
                       x_mixture)
from .shells import ConcentricShells
from .discrete import BinnedGaussian, DiscreteJoint, NoisyDiscrete, discrete_mi, entropy
from .additive import AdditiveUniformNoise, additive_uniform_mi
from .independent import Independent

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
