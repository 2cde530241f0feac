"""Student-t copula MI (``tcmi``): the heavy-tailed counterpart of the Gaussian copula (``gcmi``).

A Gaussian copula has no tail dependence: on data whose dependence sits in shared extremes (a
multivariate Student-t with zero correlation, whose two views are dependent only through one shared
scale) its normal scores are uncorrelated and ``gcmi`` reads 0. The t copula, the copula of a
multivariate Student-t with correlation ``R`` and ``nu`` degrees of freedom, expresses that dependence
and contains the Gaussian copula as ``nu -> inf``. Its MI is in closed form (MI depends only on the
copula):

``I = I_G(R) + c(nu, dx, dy)``, where ``I_G(R) = 1/2 log(det R_xx det R_yy / det R)`` and ``c`` is
the tail term of :func:`mibound.data.student_t.student_t_correction` (Arellano-Valle, Contreras-Reyes
& Genton 2013), ``c -> 0`` as ``nu -> inf``.

The fit (:func:`fit_t_copula`) is the standard semiparametric one (Demarta & McNeil 2005):

1. pseudo-observations ``u = rank / (n + 1)`` per column (so every strictly increasing map of any
   column leaves the estimate unchanged);
2. ``R`` from Kendall's tau, ``R_ij = sin(pi tau_ij / 2)``, which holds for every elliptical copula
   whatever ``nu`` (projected onto the correlation matrices if it is not positive definite);
3. ``nu`` by maximum likelihood of the t copula density at that ``R`` over ``0.5 <= nu <= 1000``;
   the Gaussian copula (``nu = inf``) is kept when its likelihood is at least as high.

Exact (consistent) for any strictly monotone per-column transform of a multivariate Student-t or
Gaussian, in any dimension; otherwise the MI of the fitted t copula, which is neither a bound nor the
MI of tied or discrete columns (the copula of a discrete variable is not unique).
:func:`t_copula_gain` measures, on held-out rows, how much better than the Gaussian copula the t
copula fitted on other rows describes them: ``auto`` uses it to decide whether ``tcmi`` joins its panel.

References
----------
Demarta & McNeil (2005), "The t copula and related copulas", Int. Stat. Rev. 73(1), 111-129.
Arellano-Valle, Contreras-Reyes & Genton (2013), "Shannon entropy and mutual information for
multivariate skew-elliptical distributions", Scand. J. Stat. 40(1), 42-62.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special, stats

from mibound.functional.analytic import gaussian_mi, student_t_correction
from mibound.inputs.maps import average_ranks

__all__ = ["pseudo_observations", "kendall_tau_matrix", "kendall_seconds", "kendall_correlation", "t_copula_loglik", "gaussian_copula_loglik",
           "fit_t_copula", "tcmi_mi", "t_copula_gain", "scale_dependence", "DF_RANGE"]

#: The degrees of freedom searched by :func:`fit_t_copula` (beyond the upper end the t copula is the
#: Gaussian one to within the sampling noise of a few thousand rows).
DF_RANGE = (0.5, 1000.0)

#: Smallest eigenvalue kept when Kendall's correlation matrix is projected to a positive definite one.
_MIN_EIGENVALUE = 1e-6


def pseudo_observations(a: np.ndarray) -> np.ndarray:
    """Per-column ``rank / (n + 1)`` (average ranks for ties): rows of the empirical copula, in ``(0, 1)``.

    The ranks are :func:`mibound.inputs.maps.average_ranks` (``scipy.stats.rankdata``'s, from one sort a column).
    """
    a = np.asarray(a, dtype=np.float64)
    return average_ranks(a) / (a.shape[0] + 1.0)


def kendall_tau_matrix(a: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of every pair of columns of ``a``, ``(d, d)``, all pairs at once.

    With ``S`` the matrix whose row ``(r, s)`` holds ``sign(a[r] - a[s])`` for every ordered pair of
    rows, ``S^T S`` counts concordant minus discordant pairs off the diagonal and untied pairs on it,
    so ``tau_b = (S^T S)_ij / sqrt((S^T S)_ii (S^T S)_jj)`` (ties handled as in
    :func:`scipy.stats.kendalltau`). The row pairs are formed in blocks of about 2**22 signs (float32
    sums of +-1 are exact below 2**24; blocks are added in float64). The cost is ``n^2 d`` sign
    evaluations and ``n^2 d^2`` products, which beats :func:`scipy.stats.kendalltau` pair by pair
    (about ``0.2 ms + 0.2 us n`` a pair) where ``n`` is small against ``d``; :func:`kendall_seconds`
    chooses. A column without two distinct values has tau 0 with every other column.

    Parameters
    ----------
    a : ndarray, shape (n, d)

    Returns
    -------
    ndarray, shape (d, d)
        Symmetric, unit diagonal.
    """
    a = np.asarray(a, dtype=np.float64)
    n, d = a.shape
    if _pairwise_cost(n, d) < _matrix_cost(n, d):
        tau = np.eye(d)
        for i in range(d):
            for j in range(i + 1, d):
                t = stats.kendalltau(a[:, i], a[:, j]).statistic
                tau[i, j] = tau[j, i] = 0.0 if np.isnan(t) else t
        return tau
    counts = np.zeros((d, d))
    step = max(1, _BLOCK // max(1, n * d))
    for start in range(0, n, step):
        signs = np.sign(a[start:start + step, None, :] - a[None, :, :]).astype(np.float32).reshape(-1, d)
        counts += (signs.T @ signs).astype(np.float64)
    untied = np.sqrt(np.diag(counts))
    scale = np.outer(untied, untied)
    tau = np.divide(counts, scale, out=np.zeros((d, d)), where=scale > 0)
    np.fill_diagonal(tau, 1.0)
    return tau


#: Signs formed at once by :func:`kendall_tau_matrix` (32 MiB of float64 differences).
_BLOCK = 2 ** 22
#: Seconds per Kendall's tau pair by :func:`scipy.stats.kendalltau`, ``fixed + per_row * n`` (measured on
#: this project's 2-core machines: 0.23 ms at n = 200, 1.1 ms at n = 5000), and of the matrix form per sign
#: evaluation and per product (8 ns and 0.01 ns). Only the choice between the two and the time a refusal
#: quotes rest on them.
_PAIR_SECONDS = (2e-4, 1.8e-7)
_SIGN_SECONDS, _PRODUCT_SECONDS = 8e-9, 1e-11


def _pairwise_cost(n: int, d: int) -> float:
    return d * (d - 1) / 2.0 * (_PAIR_SECONDS[0] + _PAIR_SECONDS[1] * n)


def _matrix_cost(n: int, d: int) -> float:
    return n * n * d * _SIGN_SECONDS + n * n * d * d * _PRODUCT_SECONDS


def kendall_seconds(n: int, d: int) -> float:
    """About how long :func:`kendall_tau_matrix` takes on ``n`` rows of ``d`` columns (seconds, the faster method)."""
    return min(_pairwise_cost(n, d), _matrix_cost(n, d))


def kendall_correlation(u: np.ndarray) -> np.ndarray:
    """``R_ij = sin(pi tau_ij / 2)`` from Kendall's tau-b of every pair of columns (:func:`kendall_tau_matrix`), ``(d, d)``.

    The relation holds for every elliptical copula (Lindskog, McNeil & Schmock 2003). A matrix that
    is not positive definite is projected: eigenvalues below ``1e-6`` are raised to it and the
    diagonal is rescaled to 1.
    """
    r = np.sin(np.pi * kendall_tau_matrix(u) / 2.0)
    np.fill_diagonal(r, 1.0)
    w, v = np.linalg.eigh(r)
    if w[0] < _MIN_EIGENVALUE:
        r = (v * np.maximum(w, _MIN_EIGENVALUE)) @ v.T
        s = np.sqrt(np.diag(r))
        r = r / np.outer(s, s)
    return r


def _quadratic(z: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, float]:
    """``z_i^T R^-1 z_i`` per row and ``log det R``."""
    chol = np.linalg.cholesky(r)
    sol = np.linalg.solve(chol, z.T)
    return np.einsum("ij,ij->j", sol, sol), 2.0 * float(np.log(np.diag(chol)).sum())


def t_copula_loglik(u: np.ndarray, r: np.ndarray, df: float) -> np.ndarray:
    """Per-row log density of the t copula with correlation ``r`` and ``df`` degrees of freedom at ``u``, ``(n,)``."""
    return _t_loglik(np.unique(u, return_inverse=True), u.shape, r, df)


def _t_loglik(unique: tuple[np.ndarray, np.ndarray], shape: tuple[int, int], r: np.ndarray, df: float) -> np.ndarray:
    """:func:`t_copula_loglik` from ``np.unique(u, return_inverse=True)``: the quantiles and the marginal
    densities are computed once per distinct value (pseudo-observations repeat one grid in every column)."""
    values, index = unique
    zq = special.stdtrit(df, values)
    z = zq[index].reshape(shape)
    d = shape[1]
    q, logdet = _quadratic(z, r)
    joint = (special.gammaln((df + d) / 2.0) - special.gammaln(df / 2.0) - 0.5 * d * math.log(df * math.pi)
             - 0.5 * logdet - 0.5 * (df + d) * np.log1p(q / df))
    mq = (special.gammaln((df + 1) / 2.0) - special.gammaln(df / 2.0) - 0.5 * math.log(df * math.pi)
          - 0.5 * (df + 1) * np.log1p(zq ** 2 / df))
    return joint - mq[index].reshape(shape).sum(axis=1)


def gaussian_copula_loglik(u: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Per-row log density of the Gaussian copula with correlation ``r`` at ``u``, ``(n,)``."""
    z = special.ndtri(u)
    q, logdet = _quadratic(z, r)
    return -0.5 * logdet - 0.5 * q + 0.5 * np.einsum("ij,ij->i", z, z)


def fit_t_copula(u: np.ndarray) -> tuple[np.ndarray, float]:
    """``(R, df)`` of the t copula fitted to pseudo-observations ``u`` (``df = inf``: the Gaussian copula).

    ``R`` from Kendall's tau (:func:`kendall_correlation`), then ``df`` maximising the mean log
    likelihood over :data:`DF_RANGE` (bounded Brent search on ``log df``).
    """
    r = kendall_correlation(u)
    unique = np.unique(u, return_inverse=True)
    res = optimize.minimize_scalar(lambda s: -float(np.mean(_t_loglik(unique, u.shape, r, math.exp(s)))),
                                   bounds=tuple(math.log(v) for v in DF_RANGE), method="bounded",
                                   options={"xatol": 1e-3})
    if float(np.mean(gaussian_copula_loglik(u, r))) >= -res.fun:
        return r, math.inf
    return r, float(math.exp(res.x))


def _mi(r: np.ndarray, df: float, dx: int) -> float:
    dy = r.shape[0] - dx
    return gaussian_mi(r, dx) + (0.0 if math.isinf(df) else student_t_correction(df, dx, dy))


def tcmi_mi(x: np.ndarray, y: np.ndarray, return_df: bool = False):
    """Student-t copula MI in nats (see the module docstring); ``(mi, df)`` with ``return_df``.

    Parameters
    ----------
    x : ndarray, shape (n, dx)
    y : ndarray, shape (n, dy)
        Varying columns (the estimator classes drop constant ones first).
    return_df : bool, default False

    Returns
    -------
    float, or (float, float)
        The MI of the fitted t copula; with ``return_df`` also its degrees of freedom (``inf``:
        the Gaussian copula fitted better, and the value is the Gaussian MI of Kendall's ``R``).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    r, df = fit_t_copula(pseudo_observations(np.c_[x, y]))
    mi = _mi(r, df, x.shape[1])
    return (mi, df) if return_df else mi


def t_copula_gain(fit_rows: np.ndarray, held_out: np.ndarray) -> tuple[float, float, float]:
    """How much better the t copula than the Gaussian one, both fitted on ``fit_rows``, describes ``held_out``.

    Parameters
    ----------
    fit_rows, held_out : ndarray, shapes (n1, d) and (n2, d)
        Rows of the joint ``(x, y)``; each set is turned into its own pseudo-observations.

    Returns
    -------
    (gain, se, df)
        Mean per-row log-likelihood gain (nats) of the fitted t copula over the Gaussian copula
        with the same ``R`` on ``held_out``, its standard error, and the fitted ``df`` (``inf``:
        the Gaussian copula fitted ``fit_rows`` at least as well, and the gain is 0).
    """
    r, df = fit_t_copula(pseudo_observations(fit_rows))
    if math.isinf(df):
        return 0.0, 0.0, df
    u = pseudo_observations(held_out)
    diff = t_copula_loglik(u, r, df) - gaussian_copula_loglik(u, r)
    return float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(len(diff))), df


def scale_dependence(rows: np.ndarray, dim_x: int) -> tuple[float, float]:
    """Kendall's tau between the two views' squared norms of normal scores, and its standard error under independence.

    A t copula makes the two views dependent through one shared scale: large ``|x|`` come with large
    ``|y|``. This is the dependence that ``tcmi``'s tail term ``c(nu, dx, dy)`` counts. A single
    ``nu`` fitted to all columns also takes tail dependence *within* a view (its columns sharing a
    scale) for it, so a pair of independent heavy-tailed views fits a t copula with a small ``nu``
    and a tail term that is not there. This statistic looks across the views only: per row
    ``a = |z_x|^2`` and ``b = |z_y|^2`` from the per-column normal scores ``z``, and Kendall's tau of
    ``(a, b)``, which is 0 in expectation for independent views (with standard error
    ``sqrt(2 (2n + 5) / (9 n (n - 1)))``) and positive for a shared scale, or for a
    correlation across the views.

    Parameters
    ----------
    rows : ndarray, shape (n, dx + dy)
        Rows of the joint ``(x, y)`` (turned into their own pseudo-observations).
    dim_x : int

    Returns
    -------
    (tau, se)
    """
    z = special.ndtri(pseudo_observations(rows))
    n = z.shape[0]
    a, b = (np.einsum("ij,ij->i", v, v) for v in (z[:, :dim_x], z[:, dim_x:]))
    tau = stats.kendalltau(a, b).statistic
    return (0.0 if np.isnan(tau) else float(tau)), math.sqrt(2.0 * (2 * n + 5) / (9.0 * n * (n - 1)))
