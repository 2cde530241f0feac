"""A plug-in's own held-out check: its fitted copula model read as a critic, and what the model predicts for that read.

A Gaussian or Student-t copula fitted to rows is also a *critic*: the log density ratio
``f(x, y) = log c(x, y) / (c(x) c(y))`` of the fitted model. Any fixed critic read as InfoNCE on rows
it was not fitted on gives a lower bound on the MI in expectation (van den Oord et al. 2018; Poole
et al. 2019): with all ``K`` held-out rows as one batch,

``B = log K - mean_i [ logsumexp_j f(x_i, y_j) - f(x_i, y_i) ]  <=  I(x; y)``   (nats; ``B <= log K``).

Where the model is right, ``B`` is what InfoNCE with the *true* density ratio reads at that ``K``.
That value is known without the truth: draw a sample of the same size from the fitted model itself,
refit, and read it the same way (:func:`model_check`'s ``predicted``). A model that describes the
dependence reads about as well on the data as in its own world; a model that claims dependence the
data do not have (Gaussian-copula MI on multivariate views whose margins are far from Gaussian, on
tied or one-hot columns, a t copula that takes tails within a view for shared ones) reads much less
on the data than it predicts. ``auto`` uses this to decide whether a plug-in's value above its floor
may be believed (:mod:`mibound.estimators.auto`). The check is one-sided: reading *more* than
predicted is no objection, and it cannot refute values above ``log K`` (both reads saturate there).

Details
-------
* Margins: the model is fitted on the training rows' normal scores (per-column ranks); held-out rows
  are mapped through the training rows' empirical distribution functions (:func:`ecdf_scores`), so
  the critic is a fixed function of the training rows.
* The Gaussian model is kept to its canonical pairs (CCA of the normal scores) whose squared
  canonical correlation exceeds the largest one independent views would show, the Wachter edge
  ``(sqrt(dx / n) + sqrt(dy / n))^2``: a full cross-precision matrix fitted on ``n`` rows of ``d``
  columns adds noise of order ``dx dy / n`` to every score and loosens the bound (at 50 + 50 columns
  and 2000 rows from 0.95 to 0.31 nats of 1.0), while the truncated critic keeps it.
* The t model is :func:`~mibound.functional.copulas.fit_t_copula`'s ``(R, nu)``.

References
----------
van den Oord, Li & Vinyals (2018), "Representation learning with contrastive predictive coding".
Poole, Ozair, van den Oord, Alemi & Tucker (2019), "On variational bounds of mutual information", ICML.
Wachter (1980), "The limiting empirical measure of multiple discriminant ratios", Ann. Stat. 8(5).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special

from mibound.functional.copulas import fit_t_copula, pseudo_observations
from mibound.inputs.maps import copula_normalize

__all__ = ["ecdf_scores", "canonical_critic", "canonical_scores", "t_copula_scores", "infonce_all_pairs",
           "model_check"]


def ecdf_scores(reference: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``a``'s columns mapped through ``reference``'s empirical distribution functions, in ``(0, 1)``.

    Parameters
    ----------
    reference : ndarray, shape (n, d)
    a : ndarray, shape (m, d)

    Returns
    -------
    ndarray, shape (m, d)
        Mid-rank ``/ (n + 1)`` of each value among the reference column's values, interpolated
        linearly between distinct values and held at ``0.5 / (n + 1)`` and ``1 - 0.5 / (n + 1)``
        beyond them; equal to :func:`~mibound.functional.copulas.pseudo_observations` when ``a`` is
        ``reference``. A constant reference column maps to 0.5.
    """
    n = reference.shape[0]
    out = np.full(a.shape, 0.5)
    for j in range(a.shape[1]):
        values, counts = np.unique(reference[:, j], return_counts=True)
        if len(values) > 1:
            mid = (np.cumsum(counts) - (counts - 1) / 2.0) / (n + 1.0)
            out[:, j] = np.interp(a[:, j], values, mid, left=0.5 / (n + 1), right=1 - 0.5 / (n + 1))
    return out


def _inverse_sqrt(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    return (v / np.sqrt(np.maximum(w, 1e-12))) @ v.T


def canonical_critic(zx: np.ndarray, zy: np.ndarray) -> dict[str, np.ndarray]:
    """The Gaussian log density ratio of ``(zx, zy)``, kept to its canonical pairs above the Wachter edge.

    Parameters
    ----------
    zx, zy : ndarray, shapes (n, dx) and (n, dy)
        Normal scores of the two views (rows paired).

    Returns
    -------
    dict
        ``ax`` (dx, k), ``ay`` (dy, k): the canonical directions (unit-variance variates);
        ``rho`` (k,): their correlations; ``mean_x``, ``mean_y``; ``k`` may be 0 (no dependence
        above the edge: a critic that reads 0).
    """
    n, dx = zx.shape
    dy = zy.shape[1]
    c = np.cov(np.c_[zx, zy], rowvar=False)
    wx, wy = _inverse_sqrt(c[:dx, :dx]), _inverse_sqrt(c[dx:, dx:])
    u, rho, vt = np.linalg.svd(wx @ c[:dx, dx:] @ wy, full_matrices=False)
    rho = np.clip(rho, 0.0, 1.0 - 1e-9)
    keep = rho ** 2 > (math.sqrt(dx / n) + math.sqrt(dy / n)) ** 2
    return {"ax": wx @ u[:, keep], "ay": wy @ vt.T[:, keep], "rho": rho[keep], "mean_x": zx.mean(0),
            "mean_y": zy.mean(0)}


def canonical_scores(critic: dict[str, np.ndarray], zx: np.ndarray, zy: np.ndarray) -> np.ndarray:
    """``(K, K)`` scores ``f(x_i, y_j)`` of :func:`canonical_critic`, up to terms in ``x_i`` alone.

    For canonical variates ``a = ax^T (x - mean_x)``, ``b = ay^T (y - mean_y)`` with correlations
    ``rho``: ``f = sum_k [rho_k a_k b_k - rho_k^2 b_k^2 / 2] / (1 - rho_k^2)`` plus terms of ``x`` alone,
    which cancel in InfoNCE's softmax over ``j``.
    """
    a = (zx - critic["mean_x"]) @ critic["ax"]
    b = (zy - critic["mean_y"]) @ critic["ay"]
    rho = critic["rho"]
    g = rho / (1.0 - rho ** 2)
    return (a * g) @ b.T - 0.5 * ((b ** 2) @ (rho * g))[None, :]


def t_copula_scores(r: np.ndarray, df: float, zx: np.ndarray, zy: np.ndarray) -> np.ndarray:
    """``(K, K)`` scores of the t copula ``(R, nu)`` at t scores ``z = t_nu^-1(u)``, up to terms in ``x_i`` alone.

    ``f(x, y) = log t_nu(z; R) - log t_nu(z_x; R_xx) - log t_nu(z_y; R_yy)`` (the univariate margins
    cancel, and so do the normalising constants); ``nu = inf`` gives the Gaussian copula.
    """
    dx = zx.shape[1]
    p = np.linalg.inv(r)
    q = (np.einsum("ij,jk,ik->i", zx, p[:dx, :dx], zx)[:, None] + 2.0 * zx @ p[:dx, dx:] @ zy.T
         + np.einsum("ij,jk,ik->i", zy, p[dx:, dx:], zy)[None, :])
    qy = np.einsum("ij,jk,ik->i", zy, np.linalg.inv(r[dx:, dx:]), zy)
    if math.isinf(df):
        return -0.5 * q + 0.5 * qy[None, :]
    d, dy = r.shape[0], r.shape[0] - dx
    return -0.5 * (df + d) * np.log1p(q / df) + 0.5 * (df + dy) * np.log1p(qy / df)[None, :]


def infonce_all_pairs(scores: np.ndarray) -> tuple[float, float]:
    """InfoNCE of one ``(K, K)`` score matrix (rows ``x_i``, columns ``y_j``, positives on the diagonal).

    The NumPy twin of :func:`mibound.functional.bounds.infonce` (torch), so that the plug-in members'
    checks in ``auto`` load no torch; a test holds the two equal.

    Returns
    -------
    (bound, se)
        ``log K - mean_i [logsumexp_j s_ij - s_ii]`` in nats, and the standard error of its per-row
        terms (which share the batch, so it is a guide, not an exact standard error).
    """
    k = scores.shape[0]
    terms = math.log(k) - (special.logsumexp(scores, axis=1) - np.diag(scores))
    return float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(k))


def _read(family: str, fit_rows: np.ndarray, held_out: np.ndarray, dx: int) -> tuple[float, float, int, Any]:
    """Fit the model on ``fit_rows``, read it as InfoNCE on ``held_out``: (bound, se, components, params)."""
    if family == "gaussian":
        z = copula_normalize(fit_rows)
        critic = canonical_critic(z[:, :dx], z[:, dx:])
        ze = special.ndtri(ecdf_scores(fit_rows, held_out))
        b, se = infonce_all_pairs(canonical_scores(critic, ze[:, :dx], ze[:, dx:]))
        return b, se, len(critic["rho"]), critic["rho"]
    r, df = fit_t_copula(pseudo_observations(fit_rows))
    u = ecdf_scores(fit_rows, held_out)
    ze = special.ndtri(u) if math.isinf(df) else special.stdtrit(df, u)
    b, se = infonce_all_pairs(t_copula_scores(r, df, ze[:, :dx], ze[:, dx:]))
    return b, se, r.shape[0], (r, df)


def _sample(family: str, params: Any, n: int, dx: int, dy: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows of the fitted model's own world (in canonical coordinates for the Gaussian one)."""
    if family == "gaussian":
        rho = params
        a, b = rng.standard_normal((n, dx)), rng.standard_normal((n, dy))
        k = len(rho)
        b[:, :k] = rho * a[:, :k] + np.sqrt(1.0 - rho ** 2) * b[:, :k]
        return np.c_[a, b]
    r, df = params
    z = rng.multivariate_normal(np.zeros(len(r)), r, size=n, method="cholesky")
    return z if math.isinf(df) else z / np.sqrt(rng.chisquare(df, size=(n, 1)) / df)


def model_check(fit_rows: np.ndarray, held_out: np.ndarray, dim_x: int, family: str = "gaussian",
                seed: int = 0) -> dict[str, Any]:
    """The held-out InfoNCE read of a copula model fitted on ``fit_rows``, and the read it predicts for itself.

    Parameters
    ----------
    fit_rows, held_out : ndarray, shapes (n1, dx + dy) and (n2, dx + dy)
        Rows of the joint ``(x, y)``; the model is fitted on ``fit_rows`` only.
    dim_x : int
    family : {"gaussian", "t"}
        The copula of ``gcmi`` (truncated to its canonical pairs above the Wachter edge) or of ``tcmi``.
    seed : int
        Seeds the sample from the fitted model.

    Returns
    -------
    dict
        ``observed`` and ``observed_se``: the bound on ``held_out`` (nats, a lower bound on the MI in
        expectation); ``predicted`` and ``predicted_se``: the same read on ``n1 + n2`` rows drawn from
        the fitted model (refitted on ``n1`` of them, read on ``n2``); ``ceiling``: ``log n2``;
        ``components``: canonical pairs kept (Gaussian) or columns (t).
    """
    if family not in ("gaussian", "t"):
        raise ValueError(f"family must be 'gaussian' or 't', got {family!r}")
    fit_rows, held_out = np.asarray(fit_rows, dtype=np.float64), np.asarray(held_out, dtype=np.float64)
    n1, n2 = len(fit_rows), len(held_out)
    observed, observed_se, components, params = _read(family, fit_rows, held_out, dim_x)
    own = _sample(family, params, n1 + n2, dim_x, fit_rows.shape[1] - dim_x, np.random.default_rng(seed))
    predicted, predicted_se, _, _ = _read(family, own[:n1], own[n1:], dim_x)
    return {"observed": observed, "observed_se": observed_se, "predicted": predicted, "predicted_se": predicted_se,
            "ceiling": math.log(n2), "components": components}
