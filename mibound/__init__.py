"""mibound: mutual-information estimators and variational bounds for paired views.

All values are in nats. See :func:`estimate_mi` for the one-line API.
"""

from mibound.results import __version__  # noqa: E402  (one source: the version every result is stamped with)

from mibound.api import estimate_mi
from mibound.data import CorrelatedGaussian, Sampler
from mibound.estimators.neural import NeuralEstimator
from mibound.estimators.permutation import permutation_test
from mibound.estimators.plugin import GaussianCopulaEstimator, GaussianEstimator, KSGEstimator, TCopulaEstimator
from mibound.functional.analytic import canonical_correlations, gaussian_mi, mi_from_rho, rho_from_mi
from mibound.neural.critics import (
    BilinearCritic,
    ConcatCritic,
    ConvCritic,
    GaussianOptimalCritic,
    SeparableCritic,
    make_critic,
)
from mibound.registry import ESTIMATORS, make_estimator
from mibound.results import EstimateResult, PermutationResult, TrainingDiverged

__all__ = [
    "__version__",
    "estimate_mi",
    "permutation_test",
    "PermutationResult",
    "EstimateResult",
    "TrainingDiverged",
    "gaussian_mi",
    "canonical_correlations",
    "mi_from_rho",
    "rho_from_mi",
    "CorrelatedGaussian",
    "Sampler",
    "SeparableCritic",
    "BilinearCritic",
    "ConcatCritic",
    "ConvCritic",
    "GaussianOptimalCritic",
    "make_critic",
    "NeuralEstimator",
    "GaussianEstimator",
    "GaussianCopulaEstimator",
    "TCopulaEstimator",
    "KSGEstimator",
    "ESTIMATORS",
    "make_estimator",
]


def __getattr__(name: str):
    # submodules loaded on first use: ``mibound.tasks.list()``, ``mibound.bench.run_bench``, ``mibound.encoders``
    if name in ("tasks", "bench", "encoders"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'mibound' has no attribute {name!r}")
