"""Estimators in scikit-learn style: ``fit(x, y)`` returns ``self`` with ``result_`` (an
:class:`~mibound.results.EstimateResult`).

``base`` (parameters, intervals), ``plugin`` (gaussian, gcmi, tcmi, discrete, ksg), ``neural``
(the variational bounds and their one fit driver), ``flow`` (flow and doe), ``latent`` (wide views through learned representations), ``auto`` (the default
panel), ``distributed`` (the batch over ``torchrun`` processes), ``permutation`` (the test of
independence). Names and kinds are registered in :mod:`mibound.registry`.
"""

from mibound.estimators.auto import AutoEstimator
from mibound.estimators.base import half_sample_interval
from mibound.estimators.distributed import DistributedNeuralEstimator
from mibound.estimators.flow import DoEEstimator, FlowEstimator
from mibound.estimators.latent import LatentEstimator
from mibound.estimators.neural import NeuralEstimator, resolve_critic
from mibound.estimators.plugin import (
           DiscreteEstimator,
           GaussianCopulaEstimator,
           GaussianEstimator,
           KSGEstimator,
           TCopulaEstimator,
)

__all__ = ["AutoEstimator", "NeuralEstimator", "DistributedNeuralEstimator", "GaussianEstimator",
           "GaussianCopulaEstimator", "TCopulaEstimator", "DiscreteEstimator", "KSGEstimator", "FlowEstimator",
           "DoEEstimator", "LatentEstimator", "resolve_critic", "half_sample_interval"]
