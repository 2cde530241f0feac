"""What every estimator class shares: scikit-learn parameter handling, the fitted check, result helpers."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats
from sklearn.base import BaseEstimator

from .results import NotFittedError

__all__ = ["_Base", "_mean_ci", "_versions"]


def _versions() -> dict[str, str]:
    import scipy

    from . import __version__

    return {"mibound": __version__, "torch": torch.__version__, "numpy": np.__version__, "scipy": scipy.__version__}


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
        ``batch_size``, ``steps``), trains nothing, or trains density models (:mod:`mibound.flow`:
        its own ``steps``, ``batch_size``, ... but no critic).
    """

    kind = "nonparametric"

    def _check_fitted(self):
        if "result_" not in vars(self):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(x, y) first")

    @property
    def estimate_(self) -> float:
        """The fitted estimate (nats); :class:`~mibound.results.NotFittedError` before ``fit``."""
        self._check_fitted()
        return self.result_.estimate
