"""Samplers of paired views with exact mutual information."""

from .base import Sampler
from .gaussian import CorrelatedGaussian

__all__ = ["Sampler", "CorrelatedGaussian"]
