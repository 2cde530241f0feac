"""Non-neural estimators: the Gaussian plug-in (CCA) estimator, Gaussian-copula MI and KSG.

All are pure functions of numpy arrays ``x (n, dx)`` and ``y (n, dy)`` returning nats.

References
----------
Kraskov, Stoegbauer & Grassberger (2004), "Estimating mutual information", Phys. Rev. E 69,
066138 (estimator 1, eq. 8).
Goodman (1963) / Muirhead (1982), Thm. 3.2.15: ``E[log det W] = log det S + p log 2 +
sum_i psi((m - i + 1)/2)`` for ``W ~ Wishart_p(S, m)`` — the plug-in's bias correction.
Ince, Giordano, Kayser, Rousselet, Gross & Schyns (2017), "A statistical framework for
neuroimaging data analysis based on mutual information estimated via a Gaussian copula",
Hum. Brain Mapp. 38, 1541-1573 (GCMI).
"""

from __future__ import annotations

import math
import os

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma, ndtri

from mibound.inputs.checks import check_int, check_pair, check_seed
from mibound.inputs.maps import average_ranks, copula_normalize

__all__ = ["gaussian_plugin_mi", "gaussian_mi_se", "joint_covariance", "logdet_bias", "copula_normalize", "SubsetRanks",
           "gcmi_mi", "ksg_mi", "jitter_ties", "jitter_rng", "KSG_METHODS", "KSG_TIES", "KSG_TRANSFORMS", "discrete_mi"]


def logdet_bias(p: int, n: int) -> float:
    """``E[log det S_hat] - log det S`` for the unbiased sample covariance of ``n`` Gaussian samples.

    ``(n - 1) S_hat ~ Wishart_p(S, n - 1)``, so the bias is
    ``sum_{i=1}^p psi((n - i)/2) + p log(2 / (n - 1))`` (negative: log det is underestimated).
    """
    i = np.arange(1, p + 1)
    return float(np.sum(digamma((n - i) / 2.0)) + p * math.log(2.0 / (n - 1)))


def _logdet(cov: np.ndarray) -> float:
    eig = np.linalg.eigvalsh(cov)
    if eig[0] <= 1e-10 * max(eig[-1], 0.0):
        raise ValueError(
            "the sample covariance is singular: some columns are constant or linearly dependent; "
            "drop them (the plug-in estimator needs n > dx + dy + 1 and full-rank data)"
        )
    return float(np.sum(np.log(eig)))


def joint_covariance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The ``(dx + dy, dx + dy)`` sample covariance (``n - 1`` in the denominator) of the columns of ``x`` and ``y``."""
    return np.cov(np.concatenate([x, y], axis=1), rowvar=False).reshape(x.shape[1] + y.shape[1], -1)


def gaussian_plugin_mi(x: np.ndarray, y: np.ndarray, bias_correction: bool = True, *,
                       cov: np.ndarray | None = None) -> float:
    """Gaussian plug-in (CCA) MI estimate ``1/2 (log det S_xx + log det S_yy - log det S)``.

    Exact in the large-sample limit for jointly Gaussian data; for other data it is the MI of the
    Gaussian with the same covariance, which is *not* a bound on the true MI. With
    ``bias_correction`` each log-determinant is corrected by its Wishart expectation
    (:func:`logdet_bias`), which removes the plug-in's upward finite-sample bias for Gaussian data.

    Parameters
    ----------
    x : ndarray, shape (n, dx)
    y : ndarray, shape (n, dy)
    bias_correction : bool, default True
    cov : ndarray, shape (dx + dy, dx + dy), optional
        :func:`joint_covariance` of ``(x, y)`` when it is already computed (gcmi's delta interval shares it).

    Returns
    -------
    float
        Nats; can be slightly negative with bias correction when the true MI is near zero.
    """
    n, dx = x.shape
    dy = y.shape[1]
    if n <= dx + dy + 1:
        raise ValueError(f"the Gaussian plug-in needs n > dx + dy + 1 = {dx + dy + 1} samples, got {n}")
    cov = joint_covariance(x, y) if cov is None else cov
    ld_x, ld_y, ld = _logdet(cov[:dx, :dx]), _logdet(cov[dx:, dx:]), _logdet(cov)
    if bias_correction:
        ld_x -= logdet_bias(dx, n)
        ld_y -= logdet_bias(dy, n)
        ld -= logdet_bias(dx + dy, n)
    return 0.5 * (ld_x + ld_y - ld)


class SubsetRanks:
    """Normal scores of any subset of rows of ``a`` from one sort: what half-sampling gcmi needs.

    ``SubsetRanks(a).normal_scores(idx)`` equals ``copula_normalize(a[idx])`` exactly (the same
    average ranks, hence the same floats) for any distinct row indices ``idx``, in ``O(n d)``
    per subset instead of a sort: the ranks within a subset are running counts of its members
    in the full sample's sorted order, averaged over each group of tied values, and their normal
    scores are looked up in a table per subset size.

    Parameters
    ----------
    a : ndarray, shape (n, d)
    """

    def __init__(self, a: np.ndarray):
        a = np.asarray(a)
        if a.ndim != 2:
            raise ValueError(f"SubsetRanks expects a 2-D array (n, d), got shape {a.shape}")
        n, d = a.shape
        at = np.ascontiguousarray(a.T)  # one contiguous row per column
        order = np.argsort(at, axis=1)  # the order within a group of ties does not matter: ranks average over it
        s = np.take_along_axis(at, order, axis=1)
        new = np.ones((d, n), dtype=bool)
        new[:, 1:] = s[:, 1:] != s[:, :-1]
        last = np.ones((d, n), dtype=bool)
        last[:, :-1] = new[:, 1:]
        pos = np.arange(n)
        offset = (np.arange(d) * n)[:, None]
        # flat indices into (d, n) arrays: sorted position -> row, and each position's first / last tied position
        self._order = (order + offset).ravel()
        self._first = (np.maximum.accumulate(np.where(new, pos, 0), axis=1) + offset).ravel()
        self._last = (np.minimum.accumulate(np.where(last, pos, n - 1)[:, ::-1], axis=1)[:, ::-1] + offset).ravel()
        self._rows = order.ravel()
        self._tables: dict[int, np.ndarray] = {}
        self.n, self.d = n, d

    def normal_scores(self, idx=None) -> np.ndarray:
        """``copula_normalize(a[idx])`` (``idx=None``: all rows), rows in the order of ``idx``."""
        n, d = self.n, self.d
        idx = np.arange(n) if idx is None else np.asarray(idx)
        member = np.zeros(n, dtype=np.int64)
        member[idx] = 1
        inside = member[self._rows].reshape(d, n)  # membership in sorted order, per column
        count = np.cumsum(inside, axis=1).ravel()
        before = count - inside.ravel()
        twice = np.empty(d * n, dtype=np.int64)  # twice the average rank: an integer in [2, 2m]
        twice[self._order] = before[self._first] + 1 + count[self._last]
        m = idx.size
        if m not in self._tables:  # the normal score of every possible rank of a subset of m rows
            self._tables[m] = ndtri(np.arange(2 * m + 1) * 0.5 / (m + 1))
        return self._tables[m][twice.reshape(d, n)[:, idx].T]


def gaussian_mi_se(x: np.ndarray, y: np.ndarray, *, cov: np.ndarray | None = None) -> float:
    """Delta-method standard error of the Gaussian MI of ``(x, y)`` (nats), from its canonical correlations.

    With ``I = -1/2 sum_i log(1 - r_i^2)`` over the canonical correlations ``r_i`` and, for Gaussian data,
    ``Var(r_i) = (1 - r_i^2)^2 / n`` asymptotically, ``Var(I) = sum_i r_i^2 / n``; the second-order term
    ``dx dy / (2 n^2)`` (the spread of the plug-in at independence, where the first vanishes) is added.
    Measured against the spread of 30 independent replicates of ``gcmi`` (n = 2000-2048, d = 2-32 a view,
    MI 0-4 nats): within 15% where the MI is above 0, and up to twice it (conservative) at independence.

    Parameters
    ----------
    x : ndarray, shape (n, dx)
    y : ndarray, shape (n, dy)
        Typically normal scores (:func:`~mibound.inputs.maps.copula_normalize`).
    cov : ndarray, shape (dx + dy, dx + dy), optional
        :func:`joint_covariance` of ``(x, y)`` when it is already computed.

    Returns
    -------
    float
    """
    n, dx = x.shape
    dy = y.shape[1]
    c = joint_covariance(x, y) if cov is None else cov
    lx, ly = np.linalg.cholesky(c[:dx, :dx]), np.linalg.cholesky(c[dx:, dx:])
    whitened = np.linalg.solve(lx, np.linalg.solve(ly, c[dx:, :dx]).T)  # Lx^-1 Sxy Ly^-T
    r = np.linalg.svd(whitened, compute_uv=False)
    return float(np.sqrt(np.sum(r ** 2) / n + dx * dy / (2.0 * n * n)))


def gcmi_mi(x, y, bias_correction: bool = True) -> float:
    """Gaussian-copula MI (Ince et al. 2017): the Gaussian plug-in on the columns' normal scores.

    Each column of ``x`` and ``y`` is replaced by its normal scores (:func:`copula_normalize`),
    then :func:`gaussian_plugin_mi` (with its Wishart bias correction) is applied. MI is invariant
    under strictly monotone maps of single columns, and so is this estimate: it is *identical*
    for ``x`` and ``exp(x)``, ``x**3`` or ``arcsinh(x)`` column by column.

    What it estimates: the MI of the Gaussian copula with the normal scores' correlation.

    - **Exact** (consistent) when the data are a strictly monotone per-column transform of jointly
      Gaussian data (a Gaussian copula with any continuous marginals), in any dimension.
    - **A lower bound** in population when ``x`` or ``y`` has a single column and the marginals
      are continuous. Ince et al. give the lower-bound property from the maximum entropy of the
      Gaussian at fixed covariance; precisely, with ``u, v`` the normal scores,
      ``I(x;y) - I_G = E_u KL(p(v|u) || g(v|u)) - D(v)`` where ``g`` is the Gaussian with the
      same joint covariance and ``D(v) >= 0`` is the negentropy of ``v``. For one column of ``y``,
      ``v`` is exactly standard normal and ``D(v) = 0``, so ``I_G <= I(x;y)`` (symmetrically for
      one column of ``x``; also whenever the copula within ``x`` or within ``y`` is Gaussian).
    - **Not a bound** when both ``x`` and ``y`` have several columns with a non-Gaussian
      copula inside them: for ``x = (z, s z)`` with a random sign ``s`` and ``y = x + 0.3 n``
      (Gaussian ``z, n``; every marginal Gaussian) GCMI tends to ``log(1 + 1/0.09) = 2.49``
      nats while the true MI is 2.02 nats.
    - **Not the discrete MI**, nor a bound on it, for columns with ties: tied values share one
      normal score (average rank) and the copula of a discrete variable is not unique. Two
      booleans that agree 90% of the time have 0.37 nats; GCMI gives ``-1/2 log(1 - 0.8^2) =
      0.51``.

    A finite-sample estimate, not a bound: it can be slightly negative for independent data.

    Parameters
    ----------
    x : array_like, shape (n, dx) or (n,)
    y : array_like, shape (n, dy) or (n,)
    bias_correction : bool, default True
        Correct each log-determinant by its Wishart expectation (:func:`logdet_bias`), as Ince et
        al. do.

    Returns
    -------
    float
        Nats.
    """
    x, y = check_pair(x, y)
    return gaussian_plugin_mi(copula_normalize(x), copula_normalize(y), bias_correction)


def _standardize(a: np.ndarray) -> np.ndarray:
    sd = a.std(axis=0)
    if np.any(sd == 0):
        cols = np.flatnonzero(sd == 0).tolist()
        raise ValueError(f"columns {cols} are constant; KSG needs varying columns (drop them)")
    return (a - a.mean(axis=0)) / sd


KSG_METHODS = ("auto", "tree", "bitset")
#: How :func:`ksg_mi` treats tied values: ``"jitter"`` (break them, the default) or ``"keep"``.
KSG_TIES = ("jitter", "keep")
#: Per-column transforms :func:`ksg_mi` can apply first (``None``: none).
KSG_TRANSFORMS = ("rank", "normal")


#: Mixed into the jitter's seed, so that its stream is never the one that drew the data: data drawn with
#: ``numpy.random.default_rng(0)`` and noise drawn from the same stream are dependent, and KSG then
#: measures that dependence (two booleans with 0.37 nats gave 0.68).
_JITTER_SALT = 0x6B7367746965  # "ksgtie"


def jitter_rng(seed: int) -> np.random.Generator:
    """The generator of :func:`jitter_ties` for ``seed``: ``default_rng([seed, salt])``, not ``default_rng(seed)``."""
    return np.random.default_rng([check_seed(seed), _JITTER_SALT])


def jitter_ties(a: np.ndarray, seed: "int | np.random.Generator" = 0,
                prefix: str = "x") -> tuple[np.ndarray, list[str]]:
    """Break the ties of every column that has them with noise below the column's resolution.

    A column with repeated values gets independent uniform noise on ``+-r/4``, ``r`` its smallest
    positive gap between distinct values (at least a few float64 ulps of its magnitude). Distinct
    values stay in order and at least ``r/2`` apart, so the jittered column is an invertible
    function of the value and the noise: ``I(x; y)`` of the jittered data equals that of the data,
    exactly, whatever their distribution. Columns without ties are returned unchanged (and the
    array itself when no column has ties).

    Parameters
    ----------
    a : ndarray, shape (n, d)
    seed : int or numpy.random.Generator, default 0
        Seeds the noise (an int through :func:`jitter_rng`), drawn column by column.
    prefix : str, default "x"
        Column names in the returned list (``"x[0]"``, ...).

    Returns
    -------
    (ndarray of shape (n, d); list of str)
        The data (float64 when jittered) and the names of the jittered columns.
    """
    from mibound.inputs.columns import column_stats

    a = np.asarray(a)
    tied = [(j, c) for j, c in enumerate(column_stats(a, prefix))
            if c.has_ties and not math.isnan(c.resolution)]  # constant columns are refused later
    if not tied:
        return a, []
    rng = seed if isinstance(seed, np.random.Generator) else jitter_rng(seed)
    a = np.array(a, dtype=np.float64)
    for j, c in tied:
        half = max(c.resolution / 4.0, 4.0 * float(np.spacing(np.abs(a[:, j]).max())))
        a[:, j] += rng.uniform(-half, half, size=a.shape[0])
    return a, [c.name for _, c in tied]


def _transform(a: np.ndarray, transform: str) -> np.ndarray:
    if transform == "normal":
        return copula_normalize(a)
    return (average_ranks(a) - 0.5) / a.shape[0]


def ksg_mi(x: np.ndarray, y: np.ndarray, k: int = 3, standardize: bool = True, workers: int = -1,
           return_terms: bool = False, method: str = "auto", table_bytes: int = 512 * 2**20,
           ties: str = "jitter", transform: str | None = None, seed: int = 0):
    """Kraskov-Stoegbauer-Grassberger estimator 1 (max-norm), multivariate ``x`` and ``y``.

    ``I = psi(k) + psi(n) - mean_i [psi(n_x(i) + 1) + psi(n_y(i) + 1)]`` where ``eps_i`` is the
    max-norm distance from sample ``i`` to its ``k``-th neighbour in the joint space and
    ``n_x(i)`` counts the other samples strictly within ``eps_i`` in the ``x`` space. No
    ``n x n`` distance matrix is ever formed.

    Two exact implementations give identical results (the same ``eps_i`` and counts, hence the
    same float):

    - ``"tree"``: k-d trees (``scipy.spatial.cKDTree``) for the joint k-NN and the ball counts;
      ``O(n log n)`` in few dimensions, close to brute force beyond about 8.
    - ``"bitset"``: an approximate k-d tree query bounds each ``eps_i`` from above, then the
      boxes are intersected as rank-space bitsets (:mod:`mibound.functional.boxcount`), ``O(D n^2 / 64)``
      word operations with a small constant; the points near each box edge are decided by the
      same floating-point test a k-d tree makes. Far faster in 10 + 10 dimensions (``n = 10^5``
      in well under a minute on 2 cores); memory for its tables is ``table_bytes``.

    **Ties.** KSG assumes a density. Repeated values make ``eps_i = 0`` (no point is strictly
    within it) and the estimate collapses: two boolean columns gave about -6 nats at ``n = 5000``,
    ten distinct rows repeated -3 nats. With ``ties="jitter"`` (the default) every column with
    repeated values first gets uniform noise on ``+-1/4`` of its smallest gap between distinct
    values (:func:`jitter_ties`, seeded by ``seed`` through :func:`jitter_rng`). That changes no
    MI: distinct values keep their order, so each jittered column is an invertible function of
    the value and independent noise. KSG then estimates the MI of the discrete (or mixed)
    variables themselves: within each tie group the noise is a uniform density, and the counts
    reproduce the discrete ``sum p(x, y) log(p(x, y) / p(x) p(y))`` (two booleans that agree 90%
    of the time, ``n = 5000``: 0.376 nats, sd 0.007 over seeds, against an exact 0.368). The
    noise adds variance of the order of the sampling error, which the interval of
    :class:`~mibound.estimators.KSGEstimator` (from the per-sample terms) covers only in part
    (over 40 data sets of ``n = 3000``: booleans, sd of the estimate 0.016 nats, interval's 0.016;
    ten repeated rows, 0.013 against 0.009).
    Columns without ties are untouched, so data without ties give bit-identical results with
    either setting; float32 data repeat a few values by chance and those columns get noise far
    below their resolution.

    Why jitter and not the mixture estimator of Gao, Kannan, Oh & Viswanath (2017, "Estimating
    mutual information for discrete-continuous mixtures", NeurIPS), which counts the points at
    distance 0 as neighbours: on purely discrete data both agree, but on mixtures we measured the
    jittered KSG closer to the truth (``n = 5000``, ``k = 3``: a Gaussian pair with 30% of one
    column set to 0, true MI 0.358 nats: jitter 0.334, jitter with ``transform="rank"`` 0.360,
    Gao et al. 0.229; the same pair rounded to half a standard deviation, discrete MI about 0.48:
    jitter 0.478, Gao et al. 0.453), and jitter keeps KSG-1 itself (and both exact
    implementations) on continuous data.

    Parameters
    ----------
    x : ndarray, shape (n, dx)
    y : ndarray, shape (n, dy)
    k : int, default 3
    standardize : bool, default True
        Scale every column to zero mean and unit variance first (KSG is not scale invariant).
    workers : int, default -1
        Threads (-1: all cores).
    return_terms : bool, default False
        Also return the per-sample terms whose mean the estimate is (for a standard error).
    method : {"auto", "tree", "bitset"}, default "auto"
        ``"auto"`` uses ``"bitset"`` when ``dx + dy >= 8`` and ``n >= 5000``, else ``"tree"``.
    table_bytes : int, default 512 MiB
        Memory budget of the bitset tables.
    ties : {"jitter", "keep"}, default "jitter"
        ``"keep"``: use tied values as they are (the estimate can then be far below zero).
    transform : {None, "rank", "normal"}, default None
        Replace every column by its ranks scaled to ``(0, 1)`` (``"rank"``: uniform marginals) or
        by its normal scores (``"normal"``, :func:`copula_normalize`) before the estimate, after
        tie handling (so jittered ties get distinct ranks). MI is invariant under such
        per-column reparametrisations (Kraskov et al. 2004, Sec. II) but the KSG estimate is
        not; with a transform it depends on the data only through the ranks of each column,
        which tames heavy tails and very skewed marginals.
    seed : int, default 0
        Seeds the jitter (only used when some column has ties), through :func:`jitter_rng`.

    Returns
    -------
    float, or (float, ndarray of shape (n,))
        Nats.
    """
    n = x.shape[0]
    check_int(k, "k", minimum=1)
    if n <= k:
        raise ValueError(f"KSG with k={k} needs more than k samples, got n={n}")
    if method not in KSG_METHODS:
        raise ValueError(f"method must be one of {KSG_METHODS}, got {method!r}")
    if ties not in KSG_TIES:
        raise ValueError(f"ties must be one of {KSG_TIES}, got {ties!r}")
    if transform is not None and transform not in KSG_TRANSFORMS:
        raise ValueError(f"transform must be None or one of {KSG_TRANSFORMS}, got {transform!r}")
    check_int(table_bytes, "table_bytes", minimum=1)
    rng = jitter_rng(seed)
    if ties == "jitter":
        x, _ = jitter_ties(x, rng, "x")
        y, _ = jitter_ties(y, rng, "y")
    if transform is not None:
        x, y = _transform(x, transform), _transform(y, transform)
    if standardize:
        x, y = _standardize(x), _standardize(y)
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if method == "auto":
        method = "bitset" if (x.shape[1] + y.shape[1] >= 8 and n >= 5000) else "tree"
    xy = np.concatenate([x, y], axis=1)
    if method == "tree":
        dist, _ = cKDTree(xy).query(xy, k=k + 1, p=np.inf, workers=workers)
        eps = dist[:, -1]
        # strictly within eps: shrink the radius by one ulp; subtract the point itself
        r = np.nextafter(eps, 0)
        nx = cKDTree(x).query_ball_point(x, r, p=np.inf, workers=workers, return_length=True) - 1
        ny = cKDTree(y).query_ball_point(y, r, p=np.inf, workers=workers, return_length=True) - 1
    else:
        from mibound.functional.boxcount import ksg_counts_bitset

        threads = (os.cpu_count() or 1) if workers == -1 else max(1, int(workers))
        # any k+1 distinct points bound the (k+1)-th distance from above; eps=2 is a cheap search
        upper = cKDTree(xy).query(xy, k=k + 1, p=np.inf, eps=2.0, workers=workers)[0][:, -1]
        _, nx, ny = ksg_counts_bitset(x, y, k, upper, workers=threads, table_bytes=table_bytes)
    terms = digamma(k) + digamma(n) - digamma(nx + 1) - digamma(ny + 1)
    mi = float(terms.mean())
    return (mi, terms) if return_terms else mi


def discrete_mi(x, y=None, bias_correction: bool = True, *, checked: bool = False) -> float:
    """MI in nats of a joint table ``discrete_mi(table)`` (exact), or plug-in of discrete samples ``discrete_mi(x, y)``.

    ``sum_ij P_ij log(P_ij / (P_i. P_.j))`` of a probability (or count) table, or of the table of
    the distinct rows of ``x`` and ``y`` (only its occupied cells are formed); ``bias_correction``
    adds the Miller-Madow terms ``(m - 1) / (2 n)`` of each entropy (``m``: occupied cells), which
    removes the plug-in's ``O(1/n)`` upward bias (Miller 1955; Paninski 2003). Right for columns
    that take few values; meaningless for continuous ones (every row its own cell). ``checked``:
    ``x`` and ``y`` are a :class:`~mibound.inputs.pair.Pair`'s arrays, not checked again.
    """
    if y is None:
        p = np.asarray(x, dtype=np.float64)
        if p.ndim != 2 or p.size == 0:
            raise ValueError(f"the joint table must be a non-empty 2-D array, got shape {p.shape}")
        if not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
            raise ValueError("the joint table must hold finite non-negative numbers with a positive sum")
        i, j = np.nonzero(p)
        cells, rows, cols, n, correction = p[i, j], p.sum(axis=1)[i], p.sum(axis=0)[j], p.sum(), 0.0
    else:
        if not checked:
            x, y = check_pair(x, y)
        ix = np.unique(x, axis=0, return_inverse=True)[1].ravel()
        iy = np.unique(y, axis=0, return_inverse=True)[1].ravel()
        (i, j), cells = np.unique(np.stack([ix, iy]), axis=1, return_counts=True)
        cx, cy, n = np.bincount(ix), np.bincount(iy), ix.size
        rows, cols = cx[i], cy[j]
        correction = ((cx.size - 1) + (cy.size - 1) - (cells.size - 1)) / (2 * n) if bias_correction else 0.0
    mi = float(np.sum(cells / n * np.log(cells * n / (rows * cols))))
    return max(mi, 0.0) + correction
