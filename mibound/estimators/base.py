"""What every estimator class shares: scikit-learn parameter handling, the fitted check, result helpers."""

from __future__ import annotations

import contextlib
import math
from typing import Callable

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator

from mibound.registry import check_domain
from mibound.results import NotFittedError

__all__ = ["_Base", "_mean_ci", "half_sample_interval"]


def _mean_ci(values: np.ndarray) -> tuple[float, tuple[float, float], float]:
    """Mean, 95% t-interval of the mean, and standard deviation of per-batch values."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if values.size < 2:
        return mean, (mean, mean), 0.0
    sd = float(values.std(ddof=1))
    half = float(stats.t.ppf(0.975, values.size - 1)) * sd / math.sqrt(values.size)
    return mean, (mean - half, mean + half), sd


class _Base(BaseEstimator):
    """scikit-learn's parameter handling, plus the fitted-state check and the estimator's kind.

    Attributes
    ----------
    kind : {"neural", "nonparametric", "density"}
        Class attribute: whether the estimator trains a critic (and takes ``critic``,
        ``batch_size``, ``steps``), trains nothing, or trains density models (:mod:`mibound.estimators.flow`:
        its own ``steps``, ``batch_size``, ... but no critic).
    """

    kind = "nonparametric"

    def _check_fitted(self):
        if "result_" not in vars(self):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(x, y) first")

    def _read_flat(self, x, y, seed: int, true_mi: float | None, t0: float, settings: dict | None = None):
        """The pair an estimator of vectors reads (:func:`mibound.inputs.pair.read_flat_pair`), and the image shapes.

        Images are flattened and constant columns dropped (said so in the result); a
        :class:`~mibound.inputs.pair.Pair` given as ``x`` (``y=None``) is read as it is. When a view has
        no varying column, ``result_`` is set to the exact 0 (:meth:`~mibound.inputs.pair.Pair.zero_result`)
        and the pair returned is ``None``: the caller returns ``self``.
        """
        from mibound.inputs.pair import read_flat_pair

        pair, shapes = read_flat_pair(x, y)
        self._check_domain(pair)
        if pair.degenerate:
            self.result_ = pair.zero_result(self.name, seed=seed, true_mi=true_mi, t0=t0,
                                            settings=self.get_params() if settings is None else settings)
            return None, shapes
        return pair, shapes

    def _check_domain(self, pair) -> None:
        """Refuse a pair outside this estimator's domain (:func:`mibound.registry.check_domain`; one place for all)."""
        if not pair.degenerate:
            check_domain(getattr(self, "estimator", None) or self.name, pair.n, pair.x.shape[1], pair.y.shape[1])

    @property
    def estimate_(self) -> float:
        """The fitted estimate (nats); :class:`~mibound.results.NotFittedError` before ``fit``."""
        self._check_fitted()
        return self.result_.estimate


def half_sample_interval(estimate: float, statistic: Callable[[np.ndarray], float], n: int, n_subsamples: int,
                         seed: int, min_half: int) -> tuple[tuple[float, float], float]:
    """95% interval of ``estimate`` by half-sampling: ``statistic(idx)`` on ``n_subsamples`` random halves.

    Halves are drawn without replacement (``n // 2`` of the ``n`` rows, ``numpy.random.default_rng(seed)``),
    so their spread matches the standard error at the full size (finite-population correction; see
    :class:`~mibound.estimators.GaussianEstimator`). Halves of at most ``min_half`` rows are not
    drawn, and a half whose statistic raises ``ValueError`` (degenerate) is skipped.

    Returns
    -------
    ci : (float, float)
        ``estimate -+ 1.96 sd``, or ``(estimate, estimate)`` with fewer than two halves.
    sd : float
        Standard deviation of the half-sample statistics (0 without an interval).
    """
    halves = []
    if n_subsamples and n // 2 > min_half:
        rng = np.random.default_rng(seed)
        for _ in range(n_subsamples):
            idx = rng.choice(n, n // 2, replace=False)
            with contextlib.suppress(ValueError):  # a degenerate half is skipped
                halves.append(statistic(idx))
    if len(halves) > 1:
        sd = float(np.std(halves, ddof=1))
        return (estimate - 1.96 * sd, estimate + 1.96 * sd), sd
    return (estimate, estimate), 0.0
