"""The one public result type of every estimator."""

from __future__ import annotations

import functools
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["EstimateResult", "PermutationResult", "TrainingDiverged", "InfiniteMI", "NotFittedError", "CODES", "HIGH_DIMENSION",
           "diagnostic", "codes_of", "image_diagnostics", "dimension_diagnostics"]


def _not_fitted_error() -> type:
    from sklearn.exceptions import NotFittedError as _SklearnNotFitted

    class NotFittedError(_SklearnNotFitted, RuntimeError):
        """An estimator's fitted state was read before ``fit``.

        Also scikit-learn's ``NotFittedError`` (hence a ``ValueError`` and an ``AttributeError``:
        ``hasattr(est, "estimate_")`` is ``False`` before ``fit``) and a ``RuntimeError``.
        """

    NotFittedError.__module__ = __name__
    NotFittedError.__qualname__ = "NotFittedError"
    return NotFittedError


def __getattr__(name: str):
    # ``NotFittedError`` derives from scikit-learn's, whose import costs about a second: it is made on
    # first use (the estimators, which need scikit-learn anyway), so reading or writing a result does not
    if name == "NotFittedError":
        cls = globals()["NotFittedError"] = _not_fitted_error()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class InfiniteMI(ValueError):
    """The pair has infinite mutual information (a continuous column shared by both views); no estimator runs."""


class TrainingDiverged(RuntimeError):
    """Training produced a non-finite loss or estimate.

    Attributes
    ----------
    estimator : str
    step : int
        First step (0-based) at which a non-finite value was seen.
    last_finite : float or None
        The last finite reported value before it, if any.
    """

    def __init__(self, estimator: str, step: int, last_finite: float | None, what: str = "loss",
                 partial: dict | None = None):
        self.estimator, self.step, self.last_finite = estimator, step, last_finite
        #: the per-step reported values before the divergence (``step`` and ``value`` arrays), if known
        self.partial = partial
        last = "none" if last_finite is None else f"{last_finite:.4g} nats"
        super().__init__(
            f"{estimator} training diverged: non-finite {what} at step {step} (last finite estimate: {last}); "
            "lower the learning rate, use a bounded estimator (infonce, smile) or standardise the data"
        )


def _jsonable(value: Any) -> Any:
    """Convert numpy/torch scalars, arrays and tuples to JSON-safe Python objects (NaN/inf -> None)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return _jsonable(float(value))
    return str(value)


@dataclass
class EstimateResult:
    """An MI estimate and everything needed to judge it. All values in nats.

    Attributes
    ----------
    estimator : str
        Estimator name (``infonce``, ``nwj``, ``dv``, ``mine``, ``tuba``, ``js``, ``smile``,
        ``gaussian``, ``ksg``).
    estimate : float
        The reported value: for neural estimators the mean of the reported bound over held-out
        evaluation batches after the last training step (never the best value seen).
    ci : tuple of float
        95% confidence interval of ``estimate`` (over held-out batches for neural estimators;
        half-sampling for ``gaussian``; per-sample standard error for ``ksg``).
    std : float
        Standard deviation of the per-batch (or per-resample) values behind ``ci``.
    ceiling : float or None
        The largest value the estimator can report (``log K`` for InfoNCE), else ``None``.
    true_mi : float or None
        Exact MI when the data's ground truth is known.
    is_bound : bool
        Whether the reported quantity is a lower bound on MI in expectation.
    n_train, n_test : int
        Samples used for training and for the reported estimate.
    batch_size : int or None
        ``K``, the candidates per score matrix (``None`` for non-neural estimators).
    seed : int
    seconds : float
        Wall time of ``fit``.
    history : dict of lists
        ``step``, ``train_estimate`` (reported bound on training batches) and ``loss``, every
        ``log_every`` steps.
    settings : dict
        Every hyper-parameter, the torch thread count and library versions.
    diagnostics : list of dict
        ``{"code", "message"}`` entries (codes in :data:`mibound.results.CODES`): what to know
        before trusting ``estimate`` (saturated bound, generalisation gap, unstable readout, ties, ...).
    """

    estimator: str
    estimate: float
    ci: tuple[float, float]
    std: float
    ceiling: float | None = None
    true_mi: float | None = None
    is_bound: bool = False
    n_train: int = 0
    n_test: int = 0
    batch_size: int | None = None
    seed: int = 0
    seconds: float = 0.0
    history: dict[str, list] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    diagnostics: list[dict[str, str]] = field(default_factory=list)

    @property
    def error(self) -> float | None:
        """``estimate - true_mi`` when the truth is known."""
        return None if self.true_mi is None else self.estimate - self.true_mi

    @property
    def gap_to_ceiling(self) -> float | None:
        """``ceiling - estimate``; near zero means the bound is saturated and says little."""
        return None if self.ceiling is None else self.ceiling - self.estimate

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict with the same keys for every estimator (non-finite numbers become ``None``)."""
        d = asdict(self)
        d["error"] = self.error
        d["gap_to_ceiling"] = self.gap_to_ceiling
        d["units"] = "nats"
        return _jsonable(d)

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def summary(self, bits: bool = False) -> str:
        """A short human-readable report (nats, or bits with ``bits=True``)."""
        scale, unit = (1 / math.log(2), "bits") if bits else (1.0, "nats")
        f = lambda v: "n/a" if v is None else f"{v * scale:.4f}"  # noqa: E731
        kind = "lower bound" if self.is_bound else "estimate"
        lines = [
            f"estimator      {self.estimator} ({kind})",
            f"estimate       {f(self.estimate)} {unit}   95% CI [{f(self.ci[0])}, {f(self.ci[1])}]",
        ]
        if self.ceiling is not None:
            chosen = self.settings.get("chosen_settings") or {}  # auto: the chosen member's settings
            # the readout's K (the ceiling is its log), not the training K
            k_read = self.settings.get("eval_batch_size") or chosen.get("eval_batch_size") or self.batch_size
            # both K where they differ: the ceiling belongs to the readout, the training batch is another K
            k_train = self.batch_size if self.batch_size and self.batch_size != k_read else None
            lines.append(f"ceiling        {f(self.ceiling)} {unit} (log K, K={k_read}"
                         + (f": the readout's K, pairs per held-out batch; trained at K={k_train})" if k_train
                            else ")")
                         + ("   <- saturated: the true MI may be far higher" if self.gap_to_ceiling is not None
                            and self.gap_to_ceiling < 0.1 * self.ceiling else ""))
        if self.true_mi is not None:
            lines.append(f"true MI        {f(self.true_mi)} {unit}   error {f(self.error)}")
        choice = self.settings.get("choice")
        if choice:
            lines.append(f"chosen         {choice['estimator']}: {choice['reason']}")
        floor = (self.settings.get("floor") or {}).get("lower_bound")
        if floor and choice and floor["estimator"] != choice["estimator"]:
            lines.append(f"floor          {f(floor['estimate'])} {unit} ({floor['estimator']}, a lower bound on the "
                         "same test rows: the MI is at least this, up to its interval)")
        sel = self.settings.get("selection") or {}
        if sel.get("selected_step") is not None:
            steps = sel["selected_step"]
            where = f"step {steps}" if isinstance(steps, int) else "steps " + ", ".join(map(str, steps))
            rate = sel.get("learning_rate")
            rates = [c["learning_rate"] for c in sel.get("candidates") or []]
            said = "" if rate is None else (", learning rate " + (f"{rate:g}" if isinstance(rate, float)
                                                                   else ", ".join(f"{r:g}" for r in rate)))
            if rates:
                said += f" (the best on validation of {', '.join(f'{r:g}' for r in rates)})"
            lines.append(f"checkpoint     {where} of {sel['steps_run']}, chosen on validation rows{said}")
        covers = self.settings.get("interval") or (self.settings.get("chosen_settings") or {}).get("interval")
        if covers:
            lines.append(f"interval       {covers}")
        for d in self.diagnostics:
            lines.append(f"diagnostic     [{d['code']}] {d['message']}")
        folds = (self.settings.get("cross_fit") or {}).get("folds")
        per = f" per critic, {folds} folds cross-fitted" if folds else ""
        lines.append(f"samples        train {self.n_train}{per}, held-out {self.n_test}; seed {self.seed}; "
                     f"{self.seconds:.2f} s")
        rows = {k: v["rows"] for k, v in (self.settings.get("panel") or {}).items() if v.get("rows")}
        if rows:  # auto: the rows each member of the panel trained on, was chosen on and was read on
            lines.append("panel rows     " + "; ".join(f"{k} train {r['train']}, validation {r['validation']}, "
                                                       f"test {r['test']}" for k, r in rows.items()))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# -- versions ---------------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    """The versions of mibound and the libraries a result depends on (its ``settings["versions"]``).

    Read from the loaded modules, or from the installed packages' metadata: stamping a result imports
    neither torch nor SciPy (a ``gcmi`` estimate on a table never loads torch).
    """
    from mibound import __version__

    return {"mibound": __version__, **{k: _library_version(k) for k in ("torch", "numpy", "scipy")}}


@functools.lru_cache(maxsize=None)
def _installed_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _library_version(name: str) -> str:
    module = sys.modules.get(name)
    return str(module.__version__) if module is not None else _installed_version(name)


# -- the permutation test ---------------------------------------------------------------------
@dataclass
class PermutationResult:
    """The observed estimate, its null distribution from shuffled pairs, and the p-value. Nats.

    Attributes
    ----------
    estimator : str
    estimate : float
        The estimator's value on the observed pairs (``observed.estimate``).
    null : ndarray, shape (n_permutations,)
        Its values on the shuffled pairs.
    p_value : float
        ``(1 + #{null >= estimate}) / (1 + n_permutations)``.
    n_permutations : int
    seed : int
    observed : EstimateResult
        The full result of the observed fit (interval, diagnostics, settings).
    seconds : float
        Wall time of the whole test.
    """

    estimator: str
    estimate: float
    null: np.ndarray
    p_value: float
    n_permutations: int
    seed: int
    observed: EstimateResult
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def null_mean(self) -> float:
        """Mean of the null values."""
        return float(np.mean(self.null))

    @property
    def null_std(self) -> float:
        """Standard deviation of the null values (``ddof=1``; 0 for one permutation)."""
        return float(np.std(self.null, ddof=1)) if self.null.size > 1 else 0.0

    @property
    def excess(self) -> float:
        """``estimate - null_mean``: the estimate above the estimator's value on independent pairs."""
        return self.estimate - self.null_mean

    def keys(self) -> dict[str, Any]:
        """The test's own keys (``null_mean``, ``null_std``, ``p_value``, ``excess``, ``n_permutations``, ``null``)."""
        return _jsonable({"null_mean": self.null_mean, "null_std": self.null_std, "p_value": self.p_value,
                          "excess": self.excess, "n_permutations": self.n_permutations, "null": self.null})

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: ``estimator``, ``estimate``, the test's :meth:`keys`, ``seed``, ``seconds``, ``observed``."""
        return _jsonable({"estimator": self.estimator, "estimate": self.estimate, **self.keys(), "seed": self.seed,
                          "seconds": self.seconds, "settings": self.settings, "observed": self.observed.to_dict(),
                          "units": "nats"})

    def summary(self) -> str:
        """Two lines: the null distribution and the p-value."""
        return (f"permutation    {self.n_permutations} shuffles: null {self.null_mean:.4f} +- {self.null_std:.4f} nats, "
                f"excess {self.excess:.4f}\n"
                f"p-value        {self.p_value:.4g} (smallest possible {1 / (self.n_permutations + 1):.4g}): "
                + ("dependence detected at 1%" if self.p_value <= 0.01 else
                   "dependence detected at 5%" if self.p_value <= 0.05 else "no dependence detected"))

    def __str__(self) -> str:
        return self.observed.summary() + "\n" + self.summary()


# -- diagnostics ------------------------------------------------------------------------------
#: Every diagnostic code and what it means.
CODES: dict[str, str] = {
    "saturated": "the bound sits at its ceiling log K: the true MI may be far higher",
    "generalisation_gap": "the critic scores training pairs much higher than held-out pairs (it memorised them)",
    "unstable_readout": "the per-batch held-out values scatter widely: the mean and its interval are not reliable",
    "heavy_tails": "some columns have heavy tails (extreme values dominate moments)",
    "ties": "some columns have many repeated values (ties), which bias nearest-neighbour estimators",
    "discrete_columns": "some columns take only a few distinct values",
    "constant_columns": "some columns are constant and were dropped (they carry no information)",
    "constant_view": "a view has no varying column: the MI is 0 exactly",
    "disagreement": "candidate estimators disagree beyond their intervals",
    "few_samples": "fewer samples than the dimensions need for this estimator",
    "negative_estimate": "the estimate is below zero: no dependence detected, or an estimator failure",
    "not_selected": "this value was not chosen on validation data",
    "chain_violated": "the chain I(v1;v2) >= I(z1;z2) >= InfoNCE does not hold beyond its intervals: one of its "
                      "numbers is off (an estimate that undershoots or overshoots, or a critic that memorised its batches)",
    "collapse": "the embeddings span (almost) a single direction or none: the encoder collapsed",
    "non_finite_loss": "a training loss was NaN or infinite (the step is recorded without a bound)",
    "estimate_failed": "an estimate could not be computed (the error is in the message); its value is missing",
    "flattened_images": "image views were flattened to vectors of C*H*W pixels (this estimator does not use the pixel grid)",
    "floor": "an estimate of I(f(x); g(y)) for learned maps f, g: a floor on I(x; y) up to its readout's own error",
    "low_rank": "the views look low-rank: their variance lives in few directions (estimated intrinsic dimension)",
    "high_dimension": "the views have many columns for this estimator: expect a large bias (usually an underestimate)",
    "duplicates": "many rows are exact copies of others: held-out rows are not independent of training rows, and "
                  "nearest-neighbour and plug-in estimators read the copies as dependence",
    "deterministic": "one view is a function of the other on these rows: the MI is the entropy of that view "
                     "(infinite for a continuous one)",
    "small_sample_bias": "the estimator's known bias at this sample size is a large part of the estimate",
    "no_training": "the critic was not trained (steps=0): the value is that of an untrained critic",
    "overshoot_risk": "the reported value is an estimate that can overshoot and it failed its own check, with no "
                      "lower bound in the panel to compare it with: it may read above the MI",
}

#: Dimension ``dim_x + dim_y`` above which each non-neural estimator gets ``high_dimension``:
#: KSG's nearest-neighbour bias grows quickly with dimension (Gao, Oh & Viswanath 2018); the
#: Gaussian plug-ins are consistent in any dimension but need ``n`` well above ``d`` (their
#: ``few_samples`` case is ``n < 10 d``); flows and DoE fit densities of every pixel.
HIGH_DIMENSION = {"ksg": 20, "discrete": 10, "flow": 64, "doe": 64}


def diagnostic(code: str, message: str | None = None) -> dict[str, str]:
    """One diagnostic: ``{"code": code, "message": message}`` (the code's standard text by default)."""
    if code not in CODES:
        raise ValueError(f"unknown diagnostic code {code!r}; known: {', '.join(CODES)}")
    return {"code": code, "message": " ".join((message or CODES[code]).split())}


def codes_of(diagnostics: list[dict[str, str]]) -> list[str]:
    """The codes of a list of diagnostics, in order."""
    return [d["code"] for d in diagnostics]


def image_diagnostics(shapes, n: int, dim_x: int, dim_y: int, estimator: str) -> list[dict[str, str]]:
    """What a non-image estimator did with image views: ``flattened_images``, and ``high_dimension`` when it applies.

    Flat views (``shapes == (None, None)``) get :func:`dimension_diagnostics` alone.

    Parameters
    ----------
    shapes : (tuple or None, tuple or None)
        Per-sample shapes ``(C, H, W)`` of the views that were images (from
        :func:`mibound.inputs.checks.flatten_views`); ``(None, None)``: flat views.
    n : int
        Rows.
    dim_x, dim_y : int
        Columns after flattening.
    estimator : str
        The estimator's name (a key of :data:`HIGH_DIMENSION`, or ``gaussian``/``gcmi``).
    """
    if shapes[0] is None and shapes[1] is None:
        return dimension_diagnostics(n, dim_x, dim_y, estimator)
    what = ", ".join(f"{v} {tuple(s)} -> {d} columns" for v, s, d in (("x", shapes[0], dim_x), ("y", shapes[1], dim_y))
                     if s is not None)
    out = [diagnostic("flattened_images", f"{estimator} flattened the image views ({what}): it treats pixels as "
                      "unordered columns; a neural estimator with the conv critic uses the pixel grid")]
    return out + dimension_diagnostics(n, dim_x, dim_y, estimator)


def dimension_diagnostics(n: int, dim_x: int, dim_y: int, estimator: str) -> list[dict[str, str]]:
    """``high_dimension`` when ``dim_x + dim_y`` is above the estimator's :data:`HIGH_DIMENSION` (any data).

    The Gaussian plug-ins (not in :data:`HIGH_DIMENSION`) get it below 10 rows per dimension.
    """
    d = dim_x + dim_y
    limit = HIGH_DIMENSION.get(estimator)
    out = []
    if limit is not None and d > limit:
        out.append(diagnostic("high_dimension", f"{estimator} on {d} columns (above {limit}): its bias grows with "
                              "dimension and is not in the interval; this estimate is likely far below the true MI. "
                              "Prefer a neural estimator, latent or gcmi"))
    elif limit is None and estimator in ("gaussian", "gcmi", "tcmi") and n < 10 * d:
        out.append(diagnostic("high_dimension", f"{estimator} estimates a {d}-dimensional covariance from n = {n} "
                              f"rows (fewer than 10 per dimension): the plug-in's variance and bias are large"))
    return out
