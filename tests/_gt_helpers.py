"""Shared helpers of the ground-truth tests (not a test module)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from mibound.analytic import canonical_correlations
from mibound.nonparametric import gaussian_plugin_mi


def plugin_se(cov: np.ndarray, dim_x: int, n: int) -> float:
    """Standard error of the bias-corrected Gaussian plug-in on ``n`` samples.

    Delta method on the canonical correlations (``sum rho_i^2 / n``) plus the second-order
    fluctuation of the null directions (``dx dy / (2 n^2)``); checked against 40 replicates.
    """
    rho = canonical_correlations(cov, dim_x)
    dy = cov.shape[0] - dim_x
    return float(np.sqrt(np.sum(rho**2) / n + dim_x * dy / (2.0 * n * n)))


def assert_plugin_matches(x: np.ndarray, y: np.ndarray, true_mi: float, cov: np.ndarray, dim_x: int,
                          n_se: float = 4.0) -> None:
    """The bias-corrected plug-in on ``(x, y)`` is within ``n_se`` standard errors of ``true_mi``."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    est = gaussian_plugin_mi(x, y)
    se = plugin_se(cov, dim_x, len(x))
    assert abs(est - true_mi) < n_se * se, f"plug-in {est:.5f} vs exact {true_mi:.5f} (se {se:.5f})"


def random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
    """A random well-conditioned SPD matrix."""
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.3 * np.eye(d)


def entropy_mi(cov: np.ndarray, dim_x: int) -> float:
    """``h(x) + h(y) - h(x, y)`` from scipy's Gaussian entropies: exact MI by a route independent of
    :mod:`mibound.analytic` (scipy's eigen-decomposition log-determinants, not Cholesky or
    canonical correlations). Loses digits below ~1e-6 nats (a difference of entropies)."""
    cov = np.asarray(cov, dtype=np.float64)
    h = lambda c: stats.multivariate_normal(np.zeros(len(c)), c).entropy()  # noqa: E731
    return float(h(cov[:dim_x, :dim_x]) + h(cov[dim_x:, dim_x:]) - h(cov))
