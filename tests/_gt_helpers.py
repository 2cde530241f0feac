"""Shared helpers of the ground-truth tests (not a test module)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from mibound.functional.analytic import canonical_correlations
from mibound.functional.nonparametric import gaussian_plugin_mi


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
    :mod:`mibound.functional.analytic` (scipy's eigen-decomposition log-determinants, not Cholesky or
    canonical correlations). Loses digits below ~1e-6 nats (a difference of entropies)."""
    cov = np.asarray(cov, dtype=np.float64)
    h = lambda c: stats.multivariate_normal(np.zeros(len(c)), c).entropy()  # noqa: E731
    return float(h(cov[:dim_x, :dim_x]) + h(cov[dim_x:, dim_x:]) - h(cov))


def check_dpi_chain(frame: pd.DataFrame, eval_batches: int) -> None:
    """The DPI chain of ``dpi.csv``, row by row, up to ``tol`` = 4 SEs of a held-out mean over
    ``eval_batches`` batches: ``-tol <= trained <= optimal + sqrt(2) tol``, ``trained <= I(z1;z2) +
    tol``, ``I(z1;z2) <= I(v1;v2)`` (exact), ``trained <= I(v1;v2) + tol`` (nonlinear codes too) and
    ``trained <= log K + tol``.

    SE: the per-batch sd of InfoNCE at K = 16 was at most 0.21 nats for trained critics (every views
    and encoder, 20-200 steps) and 0.27 for the analytic critic (every exact encoder of the three
    views, 128 batches); 0.3 is used, tol = 4 x 0.3 / sqrt(eval_batches) (0.11 nats at 128 batches).
    The analytic critic maximises E[InfoNCE] at every K (it gives the Bayes posterior of which
    candidate is the positive), so a trained critic may not beat it beyond the noise of the two means.
    """
    tol = 4 * 0.3 / math.sqrt(eval_batches)
    t = frame["infonce_trained"]
    assert (t >= -tol).all() and (t <= frame["ceiling"] + tol).all()
    assert (t <= frame["mi_views"] + tol).all()  # every row, nonlinear encoders included
    exact = frame.dropna(subset=["mi_codes"])
    assert len(exact) > 0
    assert (exact["infonce_trained"] <= exact["mi_codes"] + tol).all()
    assert (exact["infonce_trained"] <= exact["infonce_optimal"] + math.sqrt(2) * tol).all()
    assert (exact["mi_codes"] <= exact["mi_views"] + 1e-9).all()
