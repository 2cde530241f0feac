"""Samplers of paired views with exact mutual information (nats)."""

from .base import Sampler
from .digits import DigitTextureViews, class_sharing_mi
from .encoded import EncodedViews
from .gaussian import CorrelatedGaussian
from .gaussian_families import CorrelatedPairs, DenseInteraction, JointGaussian, SparseInteraction
from .images import ChannelSplitViews, GaussianRandomFieldCrops, RenderedLatents, grf_kernel, grf_spectrum, mi_vs_offset
from .student_t import MultivariateStudentT, student_t_correction, student_t_mi
from .transforms import (ELEMENTWISE, Asinh, Cube, HalfCube, NormalCDF, RandomLinear, Spiral, Transform, Transformed,
                         make_transform)

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
    "EncodedViews",
]
