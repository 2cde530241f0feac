"""Estimators in scikit-learn style: ``fit(x, y)`` returns ``self`` with ``result_`` (an
:class:`~mibound.results.EstimateResult`).

``base`` (parameters, intervals), ``plugin`` (gaussian, gcmi, tcmi, discrete, ksg), ``neural``
(the variational bounds and their one fit driver), ``flow`` (flow and doe), ``latent`` (wide views through learned representations), ``auto`` (the default
panel), ``distributed`` (the batch over ``torchrun`` processes), ``permutation`` (the test of
independence). Names and kinds are registered in :mod:`mibound.registry`.
"""

import importlib

#: Every exported name and the module that defines it: the classes load on first use, so that a
#: non-neural estimator (``gcmi`` on a table) never imports torch (issue 24).
_EXPORTS = {
    "AutoEstimator": "auto", "half_sample_interval": "base", "DistributedNeuralEstimator": "distributed",
    "DoEEstimator": "flow", "FlowEstimator": "flow", "LatentEstimator": "latent", "NeuralEstimator": "neural",
    "resolve_critic": "neural",
    **dict.fromkeys(("DiscreteEstimator", "GaussianCopulaEstimator", "GaussianEstimator", "KSGEstimator",
                     "TCopulaEstimator"), "plugin"),
}

__all__ = ["AutoEstimator", "NeuralEstimator", "DistributedNeuralEstimator", "GaussianEstimator",
           "GaussianCopulaEstimator", "TCopulaEstimator", "DiscreteEstimator", "KSGEstimator", "FlowEstimator",
           "DoEEstimator", "LatentEstimator", "resolve_critic", "half_sample_interval"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = globals()[name] = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
