"""The estimator registry: every estimator's name, its class and its kind; the defaults.

Classes are named by their module path and loaded on first use (:func:`estimator_class`), so this
module imports no torch and sits below the estimators and the neural machinery in the layers:
``auto`` builds its members here, the API, the CLI and ``bench`` read the names and kinds from here,
and every default written in more than one signature is written once, here (:data:`NEURAL_DEFAULTS`,
:data:`DISTRIBUTED_DEFAULTS`, :data:`FLOW_DEFAULTS`; ``tests/test_registry.py`` checks every
signature against them). Adding an estimator is one class in :mod:`mibound.estimators` and one
entry of :data:`_CLASSES`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator, Mapping
from types import MappingProxyType

from mibound.inputs.checks import check_choice

__all__ = ["ESTIMATORS", "NEURAL_ESTIMATORS", "DEFAULT_ESTIMATOR", "NEURAL_DEFAULTS", "DISTRIBUTED_DEFAULTS",
           "FLOW_DEFAULTS", "LATENT_DEFAULTS", "estimator_class", "make_estimator", "is_neural", "takes"]

#: The estimator of :func:`mibound.estimate_mi`, ``mibound estimate`` and ``mibound bench`` when none is named.
DEFAULT_ESTIMATOR = "auto"

#: The variational bounds, one critic each: the keys of :data:`mibound.neural.objectives.OBJECTIVES`
#: (``tests/test_registry.py`` checks that the two agree).
NEURAL_ESTIMATORS = ("infonce", "nwj", "dv", "mine", "tuba", "js", "smile", "alpha_infonce")

#: The hyper-parameters of :class:`~mibound.estimators.NeuralEstimator` and their defaults (its signature
#: reads them), shared by :class:`~mibound.estimators.DistributedNeuralEstimator`, ``auto``'s neural member
#: (``critic``, ``batch_size``, ``steps``, ``image_layout``), :func:`mibound.estimate_mi`,
#: :func:`mibound.estimate_mi_distributed`, the CLI's help and the engine's helpers
#: (:func:`mibound.neural.engine.train`: the first rate, the schedule, ``log_every``).
NEURAL_DEFAULTS: Mapping = MappingProxyType(dict(
    estimator="infonce", critic="auto", batch_size=64, steps=2000, learning_rate=(5e-4, 1e-4), test_fraction=0.2,
    seed=0, progress=True, critic_options=None, clip=5.0, ema_rate=0.01, eval_batches=64, log_every=100,
    num_threads=None, lr_schedule="cosine", validation_fraction=0.1, patience=500, min_steps=300,
    eval_batch_size=None, preprocess="robust", weight_decay=0.0, alpha=0.01, image_layout="auto", folds=1))

#: :class:`~mibound.estimators.DistributedNeuralEstimator`: the neural defaults and where the processes run.
DISTRIBUTED_DEFAULTS: Mapping = MappingProxyType({**NEURAL_DEFAULTS, "device": "auto", "backend": None})

#: ``flow`` and ``doe`` (:class:`~mibound.estimators.FlowEstimator` adds ``n_subsamples=100``).
FLOW_DEFAULTS: Mapping = MappingProxyType(dict(
    steps=300, batch_size=256, learning_rate=3e-3, transforms=1, hidden=32, test_fraction=0.2, seed=0,
    progress=False, num_threads=None, marginals="gaussianize", validation_fraction=0.1))

#: :class:`~mibound.estimators.LatentEstimator` (``latent``): its split is ``auto``'s (40% test, 20% validation).
LATENT_DEFAULTS: Mapping = MappingProxyType(dict(
    latent_dim="auto", max_latent_dim=8, pca_dim=32, encoder="auto", readout="auto", test_fraction=0.4,
    validation_fraction=0.2, seed=0, n_subsamples=100, progress=True, num_threads=1))

#: Every estimator name and the ``module:Class`` that implements it.
_CLASSES: dict[str, str] = {
    "auto": "mibound.estimators.auto:AutoEstimator",
    **{name: "mibound.estimators.neural:NeuralEstimator" for name in NEURAL_ESTIMATORS},
    "gaussian": "mibound.estimators.plugin:GaussianEstimator",
    "gcmi": "mibound.estimators.plugin:GaussianCopulaEstimator",
    "tcmi": "mibound.estimators.plugin:TCopulaEstimator",
    "ksg": "mibound.estimators.plugin:KSGEstimator",
    "discrete": "mibound.estimators.plugin:DiscreteEstimator",
    "flow": "mibound.estimators.flow:FlowEstimator",
    "doe": "mibound.estimators.flow:DoEEstimator",
    "latent": "mibound.estimators.latent:LatentEstimator",
}


def estimator_class(name: str) -> type:
    """The class of the estimator ``name`` (imported on first use)."""
    module, cls = _CLASSES[check_choice(name, _CLASSES, "estimator")].split(":")
    return getattr(importlib.import_module(module), cls)


class _Classes(Mapping):
    """``name -> class`` for every registered estimator; iterating gives the names without importing a class."""

    def __getitem__(self, name: str) -> type:
        if name not in _CLASSES:
            raise KeyError(name)
        return estimator_class(name)

    def __iter__(self) -> Iterator[str]:
        return iter(_CLASSES)

    def __len__(self) -> int:
        return len(_CLASSES)

    def __repr__(self) -> str:
        return f"ESTIMATORS({', '.join(_CLASSES)})"


#: Every estimator name and its class (a read-only mapping; classes load on first access).
ESTIMATORS: Mapping[str, type] = _Classes()


def _parameters(cls: type) -> list[str]:
    return list(inspect.signature(cls).parameters)


def is_neural(name: str) -> bool:
    """Whether the estimator ``name`` trains a critic."""
    return check_choice(name, _CLASSES, "estimator") in NEURAL_ESTIMATORS


def takes(name: str, parameter: str) -> bool:
    """Whether the estimator ``name`` has the hyper-parameter ``parameter`` (e.g. ``n_subsamples``)."""
    return parameter in _parameters(estimator_class(name))


def make_estimator(name: str, **options):
    """Build an estimator by name; unknown options raise ``TypeError`` listing the valid ones."""
    key = check_choice(name, _CLASSES, "estimator")
    cls = estimator_class(key)
    valid = [p for p in _parameters(cls) if p != "estimator"]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(f"unknown option(s) {unknown} for estimator {key!r}; valid options: {valid}")
    return cls(estimator=key, **options) if "estimator" in _parameters(cls) else cls(**options)
