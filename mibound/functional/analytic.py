"""Exact mutual information of jointly Gaussian vectors.

All functions work in float64 and return nats.

References
----------
Cover & Thomas, *Elements of Information Theory*, 2nd ed., eq. (8.56).
Poole et al. (2019), "On Variational Bounds of Mutual Information", ICML (the staircase task).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import digamma, gammaln

from mibound.inputs.checks import check_float, check_int

__all__ = [
    "gaussian_mi",
    "canonical_correlations",
    "mi_from_canonical",
    "mi_from_rho",
    "rho_from_mi",
    "student_t_correction",
]


def _as_covariance(cov, dim_x: int) -> np.ndarray:
    cov = np.asarray(cov, dtype=np.float64)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"cov must be a square 2-D matrix, got shape {cov.shape}")
    if not np.all(np.isfinite(cov)):
        raise ValueError("cov contains NaN or inf")
    d = cov.shape[0]
    if isinstance(dim_x, bool) or not isinstance(dim_x, (int, np.integer)):
        raise TypeError(f"dim_x must be an int, got {type(dim_x).__name__}")
    if not 0 < dim_x < d:
        raise ValueError(f"dim_x must be in [1, {d - 1}] for a {d}x{d} covariance, got {dim_x}")
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(cov).max())):
        raise ValueError("cov must be symmetric")
    return 0.5 * (cov + cov.T)


def _cholesky(a: np.ndarray, what: str) -> np.ndarray:
    try:
        return np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        raise ValueError(
            f"{what} is not positive definite: the Gaussian density (and its MI) is undefined; "
            "add noise to the diagonal or drop linearly dependent dimensions"
        ) from None


def canonical_correlations(cov, dim_x: int) -> np.ndarray:
    """Canonical correlations of a joint Gaussian covariance.

    Parameters
    ----------
    cov : array_like, shape (dx + dy, dx + dy)
        Joint covariance of ``(x, y)``; must be symmetric positive definite.
    dim_x : int
        Number of leading coordinates that belong to ``x``.

    Returns
    -------
    rho : ndarray, shape (min(dx, dy),)
        Canonical correlations in ``[0, 1)``, sorted in decreasing order.
    """
    cov = _as_covariance(cov, dim_x)
    _cholesky(cov, "cov")
    sxx, sxy, syy = cov[:dim_x, :dim_x], cov[:dim_x, dim_x:], cov[dim_x:, dim_x:]
    lx = _cholesky(sxx, "cov[:dim_x, :dim_x]")
    ly = _cholesky(syy, "cov[dim_x:, dim_x:]")
    # Whitened cross-covariance Lx^{-1} Sxy Ly^{-T}; its singular values are the canonical correlations.
    m = np.linalg.solve(lx, sxy)
    m = np.linalg.solve(ly, m.T).T
    rho = np.linalg.svd(m, compute_uv=False)
    return np.clip(rho, 0.0, 1.0 - 1e-16)


def mi_from_canonical(rho) -> float:
    """MI (nats) from canonical correlations: ``-1/2 sum log(1 - rho_i^2)``."""
    rho = np.asarray(rho, dtype=np.float64)
    if np.any(~np.isfinite(rho)) or np.any(np.abs(rho) >= 1):
        raise ValueError("canonical correlations must be finite with |rho| < 1")
    return float(-0.5 * np.sum(np.log1p(-(rho**2))))


def gaussian_mi(cov, dim_x: int) -> float:
    """Exact mutual information ``I(x; y)`` of a zero-mean joint Gaussian.

    ``I = 1/2 (log det S_xx + log det S_yy - log det S)``, computed from Cholesky
    log-determinants in float64. When the result is small (below 1e-3 nats) the
    canonical-correlation form ``-1/2 sum log1p(-rho_i^2)`` is used instead, because the
    difference of log-determinants loses all its digits there.

    Parameters
    ----------
    cov : array_like, shape (dx + dy, dx + dy)
        Joint covariance of ``(x, y)``, symmetric positive definite.
    dim_x : int
        Number of leading coordinates that belong to ``x`` (``dx``).

    Returns
    -------
    float
        Mutual information in nats, ``>= 0``; exactly ``0.0`` when the cross-covariance block
        ``S_xy`` is zero (independent views), whatever the BLAS/LAPACK kernels round.

    Examples
    --------
    >>> round(gaussian_mi([[1.0, 0.5], [0.5, 1.0]], 1), 6)
    0.143841
    """
    cov = _as_covariance(cov, dim_x)
    lc = _cholesky(cov, "cov")
    lx = _cholesky(cov[:dim_x, :dim_x], "cov[:dim_x, :dim_x]")
    ly = _cholesky(cov[dim_x:, dim_x:], "cov[dim_x:, dim_x:]")
    if not np.any(cov[:dim_x, dim_x:]):
        return 0.0  # independent blocks: no rounding of the log-determinants or an SVD involved
    logdet = lambda chol: 2.0 * np.sum(np.log(np.diag(chol)))  # noqa: E731
    mi = 0.5 * (logdet(lx) + logdet(ly) - logdet(lc))
    if mi < 1e-3:
        mi = mi_from_canonical(canonical_correlations(cov, dim_x))
    return float(max(mi, 0.0))


def _check_dim(dim) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"dim must be a positive int, got {type(dim).__name__}")
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    return int(dim)


def mi_from_rho(rho: float, dim: int = 1) -> float:
    """MI (nats) of ``dim`` independent pairs each with correlation ``rho``.

    ``I = -(dim/2) log(1 - rho^2)`` — the correlated Gaussian of Poole et al. (2019),
    ``x ~ N(0, I_d)``, ``y = rho x + sqrt(1 - rho^2) eps``.
    """
    dim = _check_dim(dim)
    rho = float(rho)
    if not math.isfinite(rho) or not -1.0 < rho < 1.0:
        raise ValueError(f"rho must be in (-1, 1), got {rho}")
    return -0.5 * dim * math.log1p(-rho * rho)


def rho_from_mi(mi: float, dim: int = 1) -> float:
    """Inverse of :func:`mi_from_rho`: the per-dimension correlation ``rho >= 0`` giving ``mi`` nats.

    ``rho = sqrt(1 - exp(-2 mi / dim))``. For ``dim = 20`` and ``mi = 2, 4, 6, 8, 10`` this gives
    ``0.426, 0.574, 0.672, 0.742, 0.795``.
    """
    dim = _check_dim(dim)
    mi = float(mi)
    if not math.isfinite(mi) or mi < 0:
        raise ValueError(f"mi must be a finite number of nats >= 0, got {mi}")
    return math.sqrt(-math.expm1(-2.0 * mi / dim))


def student_t_correction(df: float, dim_x: int, dim_y: int) -> float:
    """The tail term ``c(nu, dx, dy) = I_t - I_gauss(Sigma)`` in nats (see module docs); ``> 0``."""
    nu = check_float(df, "df", minimum=0.0, exclusive_min=True)
    dx = check_int(dim_x, "dim_x", minimum=1)
    dy = check_int(dim_y, "dim_y", minimum=1)

    def term(d: int) -> float:  # the d-dependent part of the entropy, without 1/2 log det and log(nu pi)
        a = (nu + d) / 2.0
        return -gammaln(a) + a * digamma(a)

    base = gammaln(nu / 2.0) - (nu / 2.0) * digamma(nu / 2.0)
    # h_d = const_d + base + term(d); I = h_dx + h_dy - h_(dx+dy)
    return float(term(dx) + term(dy) - term(dx + dy) + base)
