"""mibound: mutual-information estimators and variational bounds for paired views.

All values are in nats. See :func:`estimate_mi` for the one-line API. The names load on first use
(``import mibound`` imports no torch); the modules are the layers of ``pyproject.toml``.
"""

__version__ = "0.1.0"  # the one source: every result and metadata file is stamped with it

_ESTIMATORS = ("AutoEstimator", "NeuralEstimator", "DistributedNeuralEstimator", "GaussianEstimator",
               "GaussianCopulaEstimator", "TCopulaEstimator", "DiscreteEstimator", "KSGEstimator", "FlowEstimator",
               "DoEEstimator", "LatentEstimator")
#: Every exported name and the module that defines it.
_EXPORTS = {
    **dict.fromkeys(("estimate_mi", "estimate_mi_distributed", "permutation_test"), "mibound.api"),
    **dict.fromkeys(_ESTIMATORS, "mibound.estimators"),
    **dict.fromkeys(("EstimateResult", "PermutationResult", "NotFittedError", "TrainingDiverged"),
                    "mibound.results"),
    **dict.fromkeys(("ESTIMATORS", "make_estimator"), "mibound.registry"),
    **dict.fromkeys(("gaussian_mi", "canonical_correlations", "mi_from_rho", "rho_from_mi"), "mibound.functional.analytic"),
    **dict.fromkeys(("CorrelatedGaussian", "Sampler"), "mibound.data"),
    "ContrastiveMonitor": "mibound.monitor",
}
#: Attributes kept for one release but not exported: the critics are :mod:`mibound.neural.critics`.
_KEPT = dict.fromkeys(("SeparableCritic", "BilinearCritic", "ConcatCritic", "ConvCritic", "GaussianOptimalCritic",
                       "make_critic"), "mibound.neural.critics")

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    # exported names and submodules (``mibound.bench``, ``mibound.data.tasks``) load on first use
    import importlib

    module = _EXPORTS.get(name) or _KEPT.get(name)
    if module is not None:
        value = globals()[name] = getattr(importlib.import_module(module), name)
        return value
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module 'mibound' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_KEPT})
