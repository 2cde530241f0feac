"""The estimator registry: every estimator's name, its class and its kind; the default estimator.

Classes are named by their module path and loaded on first use (:func:`estimator_class`), so this
module imports no torch and sits below every estimator in the layers: ``auto`` builds its members
here, and the API, the CLI and ``bench`` read the names and kinds from here. Adding an estimator is
one class in :mod:`mibound.estimators` and one entry of :data:`_CLASSES`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator, Mapping
from typing import Any

from mibound.inputs.checks import check_choice

__all__ = ["ESTIMATORS", "NEURAL_ESTIMATORS", "DEFAULT_ESTIMATOR", "estimator_class", "make_estimator", "is_neural",
           "takes", "neural_defaults"]

#: The estimator of :func:`mibound.estimate_mi`, ``mibound estimate`` and ``mibound bench`` when none is named.
DEFAULT_ESTIMATOR = "auto"

#: The variational bounds, one critic each: the keys of :data:`mibound.neural.objectives.OBJECTIVES`
#: (``tests/test_registry.py`` checks that the two agree).
NEURAL_ESTIMATORS = ("infonce", "nwj", "dv", "mine", "tuba", "js", "smile", "alpha_infonce")

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


def neural_defaults() -> dict[str, Any]:
    """The default hyper-parameters of the neural estimators (:class:`~mibound.estimators.NeuralEstimator`'s signature)."""
    return {k: v.default for k, v in inspect.signature(estimator_class("infonce")).parameters.items()}


def make_estimator(name: str, **options):
    """Build an estimator by name; unknown options raise ``TypeError`` listing the valid ones."""
    key = check_choice(name, _CLASSES, "estimator")
    cls = estimator_class(key)
    valid = [p for p in _parameters(cls) if p != "estimator"]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(f"unknown option(s) {unknown} for estimator {key!r}; valid options: {valid}")
    return cls(estimator=key, **options) if "estimator" in _parameters(cls) else cls(**options)
