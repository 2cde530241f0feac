"""The estimator registry: every estimator's name, its class and its kind; the defaults.

Classes are named by their module path and loaded on first use (:func:`estimator_class`), so this
module imports no torch and sits below the estimators and the neural machinery in the layers:
``auto`` builds its members here, the API, the CLI and ``bench`` read the names and kinds from here,
and every default written in more than one signature is written once, here (:data:`NEURAL_DEFAULTS`,
:data:`DISTRIBUTED_DEFAULTS`, :data:`FLOW_DEFAULTS`; ``tests/test_registry.py`` checks every
signature against them). Adding an estimator is one class in :mod:`mibound.estimators` and one
entry of ``_CLASSES``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from mibound.inputs.checks import check_choice

__all__ = ["ESTIMATORS", "NEURAL_ESTIMATORS", "DEFAULT_ESTIMATOR", "NEURAL_DEFAULTS", "DISTRIBUTED_DEFAULTS",
           "FLOW_DEFAULTS", "LATENT_DEFAULTS", "Domain", "DOMAINS", "OutOfDomain", "check_domain", "domain_table",
           "estimator_class", "make_estimator", "is_neural", "takes"]

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


class OutOfDomain(ValueError):
    """The data lie outside the estimator's domain (:data:`DOMAINS`): the message says why and what to use instead."""


@dataclass(frozen=True)
class Domain:
    """Where an estimator's number means what it says (one row of :data:`DOMAINS`).

    Attributes
    ----------
    reads : {"lower bound", "estimate"}
        What the number is: a lower bound on the MI in expectation (the variational bounds whose
        objective has ``is_bound``; safe to compare by "largest"), or an estimate that can overshoot
        the MI (plug-ins, KSG, flows, SMILE, ``auto``).
    min_rows : int
        Below this many rows the estimator refuses (:class:`OutOfDomain`).
    rows_per_dim : float
        The estimator refuses when ``n < rows_per_dim * (dim_x + dim_y)`` (0: no such rule).
    data : str
        The data kinds it is made for.
    ties : str
        What ties and duplicated rows do to it.
    instead : str
        What to use outside the domain.
    """

    reads: str
    min_rows: int
    rows_per_dim: float
    data: str
    ties: str
    instead: str


_BOUND = Domain("lower bound", 40, 0.0, "continuous, discrete, mixed, images (conv critic)",
                "copies of a continuous row are kept in one part of the split, or one fold of a cross-fit (a "
                "copy in training would inflate the held-out bound); diagnostic duplicates", "auto")
_PLUGIN_TIES = "ties share one rank (diagnostic ties); the value is not the MI of discrete columns"
_AS_THEY_ARE = "ties are used as they are (diagnostic ties); the value is not the MI of discrete columns"

#: Every estimator's domain, checked in one place (:func:`check_domain`, called by every estimator class on
#: the pair it reads) and tabulated in the docs (``docs/estimators.md``). The row limits: the Gaussian
#: plug-ins' bias correction assumes ``n`` well above ``d`` (independent 1024+1024 embeddings at n = 5000
#: read 48.9 nats); tcmi's Kendall matrix likewise, without a bias correction (its upward bias at
#: independence, about ``0.55 dx dy / n`` nats, is reported in ``settings["bias_at_independence"]``); KSG needs
#: distinct neighbours; a critic needs training, validation and test rows. Where a bias grows with the
#: dimension, :data:`mibound.results.HIGH_DIMENSION` sets the ``high_dimension`` diagnostic.
DOMAINS: Mapping[str, Domain] = MappingProxyType({
    **{name: _BOUND for name in NEURAL_ESTIMATORS},
    "smile": Domain("estimate", 40, 0.0, _BOUND.data, _BOUND.ties, "infonce (a lower bound)"),
    "auto": Domain("estimate", 40, 0.0, "continuous, discrete, mixed, images", "handled per member", "-"),
    "gaussian": Domain("estimate", 20, 3.0, "continuous (the MI of a Gaussian with their covariance)",
                       _AS_THEY_ARE, "latent or infonce for wide views; auto"),
    "gcmi": Domain("estimate", 20, 3.0, "continuous; any monotone margins", _PLUGIN_TIES,
                   "latent or infonce for wide views; auto"),
    "tcmi": Domain("estimate", 20, 3.0, "continuous, heavy-tailed elliptical dependence", _PLUGIN_TIES,
                   "gcmi (the same copula idea, bias-corrected; fast at any width)"),
    "ksg": Domain("estimate", 20, 0.0, "continuous, low dimension",
                  "ties: jittered or ranked (transform); more duplicated rows than distinct: refused",
                  "gcmi or infonce above ~20 dimensions; discrete for repeated values"),
    "discrete": Domain("estimate", 20, 0.0, "discrete: at most one joint cell per 5 rows",
                       "made for repeated values", "gcmi or ksg for continuous columns"),
    "latent": Domain("estimate", 100, 0.0, "continuous views of any width (n < d too); images flattened",
                     "the readout's (gcmi: ties share one rank; ksg: jittered)",
                     "gcmi or ksg for narrow views; infonce for a lower bound"),
    "flow": Domain("estimate", 100, 2.0, "continuous", _AS_THEY_ARE, "gcmi or infonce"),
    "doe": Domain("estimate", 100, 2.0, "continuous", _AS_THEY_ARE, "gcmi or infonce"),
})


def domain_table() -> str:
    """:data:`DOMAINS` as a Markdown table (the one in ``docs/estimators.md``; a test keeps the two equal)."""
    rows = ["| estimator | reads | refuses below | data | ties and copies | outside, use |", "|---|---|---|---|---|---|"]
    for name, d in DOMAINS.items():
        rule = f"{d.min_rows} rows" + (f", {d.rows_per_dim:g} rows per dimension" if d.rows_per_dim else "")
        rows.append(f"| `{name}` | {d.reads} | {rule} | {d.data} | {d.ties} | {d.instead} |")
    return "\n".join(rows)


def check_domain(name: str, n: int, dim_x: int, dim_y: int) -> None:
    """Refuse (:class:`OutOfDomain`) when ``n`` rows of ``dim_x + dim_y`` columns lie outside ``name``'s domain.

    Data-dependent limits (ties, duplicated rows, joint table cells) are checked by the estimators
    that they concern, on the :class:`~mibound.inputs.pair.Pair` they read.
    """
    dom = DOMAINS.get(name)
    if dom is None:
        return
    d = dim_x + dim_y
    if n < dom.min_rows:
        raise OutOfDomain(f"{name} needs at least {dom.min_rows} rows, got {n}: with so few rows its value says "
                          f"nothing about the MI (it would come with a zero-width interval). Collect more rows")
    if dom.rows_per_dim and n < dom.rows_per_dim * d:
        raise OutOfDomain(f"{name} needs n >= {dom.rows_per_dim:g} (dim_x + dim_y) = {int(dom.rows_per_dim * d)} "
                          f"rows for {dim_x}+{dim_y} columns, got {n}: the fitted {d}x{d} correlation matrix is "
                          f"mostly noise and the value grows with the dimension, not the MI. Use {dom.instead}")


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
