"""Plug-in estimators: statistics of all pairs (Gaussian, Gaussian / Student-t copula, discrete table, KSG).

Each is a scikit-learn style class over a pure function of :mod:`mibound.functional` and reads its pair
through :mod:`mibound.inputs`. None is a bound: each is an estimate that can overshoot.
"""

from __future__ import annotations

import math
import time

import numpy as np

from mibound.estimators.base import _Base, half_sample_interval
from mibound.functional.copulas import kendall_seconds, tcmi_mi
from mibound.functional.nonparametric import (
    KSG_TIES,
    KSG_TRANSFORMS,
    SubsetRanks,
    copula_normalize,
    discrete_mi,
    gaussian_mi_se,
    gaussian_plugin_mi,
    joint_covariance,
    ksg_mi,
)
from mibound.inputs.checks import check_choice, check_int, check_seed
from mibound.registry import OutOfDomain
from mibound.results import EstimateResult, _versions, diagnostic, image_diagnostics

#: What the interval of the half-sampled plug-ins covers (``settings["interval"]``).
HALF_SAMPLING = "half-sampling of all rows: the estimate's sampling spread, not its bias"
#: ``gcmi``'s intervals, and what the delta-method one covers.
GCMI_INTERVALS = ("half-sampling", "delta")
DELTA = ("delta method on the normal scores' canonical correlations (a Gaussian copula, large n): the estimate's "
         "sampling spread, not its bias")
#: tcmi refuses a fit predicted (:func:`~mibound.functional.copulas.kendall_seconds`) to take longer (seconds).
TCMI_MAX_SECONDS = 120.0
#: discrete refuses a joint table with fewer rows than this per distinct (x, y) cell (as ``auto`` does).
ROWS_PER_CELL = 5

__all__ = ["GaussianEstimator", "GaussianCopulaEstimator", "TCopulaEstimator", "DiscreteEstimator", "KSGEstimator"]


class _HalfSampled(_Base):
    """A plug-in MI statistic of all pairs with a half-sampling interval (``gaussian`` and ``gcmi``).

    Subclasses set :attr:`name`, :meth:`_statistic` (applied to all pairs and, through
    :meth:`_subset_statistic`, to each half) and :meth:`_diagnostics` (from the
    :class:`~mibound.inputs.columns.ColumnReport` of the data). The interval is described in
    :class:`GaussianEstimator`.
    """

    name = ""

    def __init__(self, bias_correction: bool = True, n_subsamples: int = 100, seed: int = 0):
        self.bias_correction = bias_correction
        self.n_subsamples = n_subsamples
        self.seed = seed

    def _statistic(self, x: np.ndarray, y: np.ndarray) -> float:
        raise NotImplementedError

    def _subset_statistic(self, x: np.ndarray, y: np.ndarray):
        """``idx -> _statistic(x[idx], y[idx])`` (overridden where precomputation makes it cheaper)."""
        return lambda idx: self._statistic(x[idx], y[idx])

    def _statistics(self, x: np.ndarray, y: np.ndarray):
        """``(statistic of all rows, idx -> statistic of the rows idx)``; overridden where both share work."""
        return self._statistic(x, y), self._subset_statistic(x, y)

    def _interval(self, est: float, subset, x: np.ndarray, y: np.ndarray, seed: int):
        """``(ci, sd, what it covers)``: half-sampling (:func:`~mibound.estimators.base.half_sample_interval`)."""
        ci, sd = half_sample_interval(est, subset, x.shape[0], self.n_subsamples, seed, x.shape[1] + y.shape[1] + 1)
        return ci, sd, HALF_SAMPLING if sd else "none (too few rows or n_subsamples=0)"

    def _diagnostics(self, report) -> list[dict[str, str]]:
        return []

    def _check_data(self, pair) -> None:
        """Refuse data outside the estimator's domain that only the values show (the row and dimension limits are
        :func:`mibound.registry.check_domain`'s)."""

    def _bias(self, n: int, dx: int, dy: int) -> float | None:
        """The estimator's known upward bias at independence for ``n`` rows (nats), where one is known."""
        return None

    def fit(self, x, y, true_mi: float | None = None):
        """Estimate ``I(x; y)`` from all pairs; returns ``self`` with ``result_`` set.

        Images ``(n, H, W)`` / ``(n, C, H, W)`` are flattened to ``C*H*W`` columns (the pixel order
        does not change the MI), with the ``flattened_images`` diagnostic and ``high_dimension``
        where it applies (:func:`mibound.results.image_diagnostics`).
        """
        check_int(self.n_subsamples, "n_subsamples", minimum=0)
        seed = check_seed(self.seed)
        t0 = time.perf_counter()
        pair, shapes = self._read_flat(x, y, seed, true_mi, t0)  # images flattened, constant columns dropped
        if pair is None:  # a view without a varying column: I = 0 exactly
            return self
        self._check_data(pair)
        x, y = pair.x, pair.y
        est, subset = self._statistics(x, y)
        ci, sd, covers = self._interval(est, subset, x, y, seed)
        self.result_ = EstimateResult(
            estimator=self.name, estimate=est, ci=ci, std=sd, true_mi=None if true_mi is None else float(true_mi),
            is_bound=False, n_train=0, n_test=x.shape[0], seed=seed, seconds=time.perf_counter() - t0,
            settings={**self.get_params(), "versions": _versions(), "interval": covers},
            diagnostics=self._diagnostics(pair.report())
            + image_diagnostics(shapes, x.shape[0], x.shape[1], y.shape[1], self.name),
        )
        bias = self._bias(*x.shape, y.shape[1])
        if bias is not None:
            self.result_.settings["bias_at_independence"] = bias
            if bias > 0.05:
                self.result_.diagnostics.append(diagnostic(
                    "small_sample_bias", f"{self.name} reads about {bias:.3g} nats on independent views of this shape "
                    f"({x.shape[1]}+{y.shape[1]} columns, {x.shape[0]} rows; settings['bias_at_independence']): "
                    "that much of the estimate may be sample noise, and the interval does not include it"))
        pair.annotate(self.result_)
        return self


class GaussianEstimator(_HalfSampled):
    """Gaussian plug-in (CCA) estimator with finite-sample bias correction.

    Exact in the limit for Gaussian data; otherwise the MI of the Gaussian with the same
    covariance (not a bound). The 95% interval comes from half-sampling: the estimate is recomputed
    on ``n_subsamples`` random halves drawn *without* replacement (each bias-corrected for its own
    size). For a half drawn without replacement the finite-population correction makes the spread
    of the half-sample estimates match the standard error at the full size,
    ``Var = s^2 (1/m - 1/n) = s^2 / n`` for ``m = n/2`` (Politis, Romano & Wolf 1999, "Subsampling").
    A with-replacement bootstrap would repeat rows, which shrinks the sample covariance's rank and
    shifts the plug-in upward in high dimension, so it is not used.

    Columns with ties or few distinct values are reported in ``result_.diagnostics`` (``ties``,
    ``discrete_columns``; :func:`mibound.inputs.columns.column_report`): the plug-in uses them as they are.

    Parameters
    ----------
    bias_correction : bool, default True
    n_subsamples : int, default 100
        Half-samples for the interval (0: no interval, ``ci = (estimate, estimate)``).
    seed : int, default 0
    """

    name = "gaussian"

    def _statistic(self, x, y) -> float:
        return gaussian_plugin_mi(x, y, bool(self.bias_correction))

    def _diagnostics(self, report) -> list[dict[str, str]]:
        return report.diagnostics(
            "the Gaussian plug-in uses the values as they are",
            "the Gaussian plug-in gives the MI of a Gaussian with their covariance, not the MI of discrete variables")


class GaussianCopulaEstimator(_HalfSampled):
    """Gaussian-copula MI (GCMI; Ince et al. 2017): the bias-corrected Gaussian plug-in on per-column normal scores.

    Every column is replaced by ``ndtri(rank / (n + 1))`` (ties: average rank), then the Gaussian
    plug-in of :class:`GaussianEstimator` is applied (:func:`~mibound.functional.nonparametric.gcmi_mi`). The
    value is unchanged by any strictly increasing map of any column.

    Exact (consistent) for any strictly monotone per-column transform of jointly Gaussian data,
    whatever the marginals. Otherwise it is the MI of the Gaussian copula with the normal scores'
    correlation: in population a lower bound on the true MI when ``x`` or ``y`` has one column
    (continuous marginals), but *not* a bound when both are multivariate, and not the discrete
    MI for tied or discrete columns (see :func:`~mibound.functional.nonparametric.gcmi_mi` for the precise
    statement and counterexamples). Hence ``is_bound=False``.

    The 95% interval is half-sampling as in :class:`GaussianEstimator` (ranks recomputed within
    each half), or, with ``interval="delta"``, ``estimate -+ 1.96 se`` with the delta-method standard
    error of the Gaussian MI of the normal scores (:func:`~mibound.functional.nonparametric.gaussian_mi_se`):
    one covariance instead of ``n_subsamples`` refits, exact in the large-sample limit for a Gaussian
    copula (the monitor's checkpoints use it). Columns with ties or few distinct values are reported in
    ``result_.diagnostics``.

    Parameters
    ----------
    bias_correction : bool, default True
    n_subsamples : int, default 100
        Half-samples for the interval (0: no interval, ``ci = (estimate, estimate)``); unused with
        ``interval="delta"``.
    seed : int, default 0
    interval : {"half-sampling", "delta"}, default "half-sampling"

    References
    ----------
    Ince, Giordano, Kayser, Rousselet, Gross & Schyns (2017), "A statistical framework for
    neuroimaging data analysis based on mutual information estimated via a Gaussian copula",
    Hum. Brain Mapp. 38, 1541-1573.
    """

    name = "gcmi"

    def __init__(self, bias_correction: bool = True, n_subsamples: int = 100, seed: int = 0,
                 interval: str = "half-sampling"):
        super().__init__(bias_correction, n_subsamples, seed)
        self.interval = interval

    def _subset_statistic(self, x, y):
        # the ranks within each half from one sort of the full sample: identical to gcmi_mi(x[idx], y[idx])
        rx, ry = SubsetRanks(x), SubsetRanks(y)
        return lambda idx: gaussian_plugin_mi(rx.normal_scores(idx), ry.normal_scores(idx), bool(self.bias_correction))

    def _statistics(self, x, y):
        if check_choice(self.interval, GCMI_INTERVALS, "interval") == "delta":  # the normal scores serve the interval
            zx, zy = copula_normalize(x), copula_normalize(y)
            cov = joint_covariance(zx, zy)  # one covariance for the estimate and its standard error
            return gaussian_plugin_mi(zx, zy, bool(self.bias_correction), cov=cov), (zx, zy, cov)
        # one sort per column serves the estimate (all rows: the same normal scores as copula_normalize) and the halves
        subset = self._subset_statistic(x, y)
        return subset(None), subset

    def _interval(self, est, subset, x, y, seed):
        if self.interval != "delta":
            return super()._interval(est, subset, x, y, seed)
        zx, zy, cov = subset
        se = gaussian_mi_se(zx, zy, cov=cov)
        return (est - 1.96 * se, est + 1.96 * se), se, DELTA

    def _diagnostics(self, report) -> list[dict[str, str]]:
        return report.diagnostics(
            "tied values share one normal score (average rank): the copula of a column with ties is not unique "
            "and gcmi is not exact for it",
            "gcmi is neither the MI of discrete variables nor a bound on it")


class TCopulaEstimator(_HalfSampled):
    """Student-t copula MI (``tcmi``): the heavy-tailed counterpart of :class:`GaussianCopulaEstimator`.

    Fits a t copula to the per-column ranks (Kendall's tau for its correlation ``R``, maximum
    likelihood for its degrees of freedom ``nu``; :func:`mibound.functional.copulas.fit_t_copula`) and reports
    its MI in closed form, ``I_G(R) + c(nu, dx, dy)`` (:mod:`mibound.functional.copulas`). Unchanged by any
    strictly increasing map of any column. Exact (consistent) for monotone per-column transforms of
    a multivariate Student-t or Gaussian, in any dimension; this includes the zero-correlation
    Student-t, whose views depend on each other only through a shared scale and where ``gcmi``
    reads 0. On other data it is the MI of the fitted t copula, an estimate and not a bound
    (``is_bound=False``); not the MI of tied or discrete columns (diagnostics say so). When the
    Gaussian copula fits at least as well, ``settings["df"]`` is ``inf`` (``null`` in JSON) and the
    value is the Gaussian MI of Kendall's ``R``.

    The 95% interval is half-sampling as in :class:`GaussianEstimator` (the copula refitted on each
    half; fewer halves by default than ``gcmi`` because each refit is a likelihood search). Kendall's
    tau of every pair of columns costs ``O(d^2 n log n)``, so high-dimensional views are slow.

    Parameters
    ----------
    n_subsamples : int, default 30
        Half-samples for the interval (0: no interval, ``ci = (estimate, estimate)``).
    seed : int, default 0

    References
    ----------
    Demarta & McNeil (2005), "The t copula and related copulas", Int. Stat. Rev. 73(1), 111-129.
    """

    name = "tcmi"

    def __init__(self, n_subsamples: int = 30, seed: int = 0):
        self.n_subsamples = n_subsamples
        self.seed = seed

    def _statistic(self, x, y) -> float:
        mi, self.df_ = tcmi_mi(x, y, return_df=True)
        return mi

    def _subset_statistic(self, x, y):
        return lambda idx: tcmi_mi(x[idx], y[idx])

    def _diagnostics(self, report) -> list[dict[str, str]]:
        return report.diagnostics(
            "tied values share one rank: the copula of a column with ties is not unique and tcmi is not exact "
            "for it",
            "tcmi is neither the MI of discrete variables nor a bound on it")

    def _check_data(self, pair) -> None:
        n, d = pair.n, pair.x.shape[1] + pair.y.shape[1]
        seconds = kendall_seconds(n, d) + self.n_subsamples * kendall_seconds(n // 2, d)
        if seconds > TCMI_MAX_SECONDS:
            raise OutOfDomain(f"tcmi on {n} rows of {d} columns would take about {seconds:.0f} s (Kendall's tau of "
                              f"{d * (d - 1) // 2} column pairs, on all rows and {self.n_subsamples} halves; the limit "
                              f"is {TCMI_MAX_SECONDS:.0f} s): use gcmi (the same copula idea without tails, any width), "
                              "or fewer n_subsamples")

    def _bias(self, n: int, dx: int, dy: int) -> float:
        # Kendall's R_ij = sin(pi tau / 2) has variance about pi^2 / (9 n) at independence, and the Gaussian MI
        # of R is about sum R_ij^2 / 2 over the dx*dy cross pairs (measured: 0.35 nats at 10+10, n = 200; 0.35 at
        # 25+25, n = 1000; the fitted tail adds a little)
        return math.pi ** 2 / 18.0 * dx * dy / n

    def fit(self, x, y, true_mi: float | None = None):
        """Estimate ``I(x; y)``; ``result_.settings["df"]`` is the fitted degrees of freedom (``inf``: Gaussian)."""
        self.df_ = math.inf
        super().fit(x, y, true_mi)
        self.result_.settings["df"] = float(self.df_)
        return self


class DiscreteEstimator(_HalfSampled):
    """Plug-in MI of discrete data from the joint table of distinct rows (:func:`~mibound.functional.nonparametric.discrete_mi`).

    For columns that take few values (booleans, counts, categories coded as numbers): Miller-Madow
    corrected entropies of ``x``, ``y`` and ``(x, y)``. The interval is half-sampling as in
    :class:`GaussianEstimator`. Not for continuous data (a diagnostic says so when a column takes
    more than :data:`mibound.inputs.columns.DISCRETE_MAX_VALUES` values).

    Parameters
    ----------
    bias_correction : bool, default True
        Miller-Madow correction.
    n_subsamples : int, default 100
    seed : int, default 0
    """

    name = "discrete"

    def _statistic(self, x, y) -> float:
        return discrete_mi(x, y, bool(self.bias_correction), checked=True)

    def _check_data(self, pair) -> None:
        cells = pair.distinct_rows[2]
        if cells * ROWS_PER_CELL > pair.n:
            raise OutOfDomain(f"discrete needs at least {ROWS_PER_CELL} rows per cell of the joint table, but the "
                              f"{pair.n} rows fill {cells} distinct (x, y) cells: the plug-in would measure the sample "
                              "size, not the MI. Use gcmi or ksg for continuous columns, fewer or coarser columns, or "
                              "more rows")

    def _diagnostics(self, report) -> list[dict[str, str]]:
        cont = [c.name for c in report.columns if not c.discrete]
        if not cont:
            return []
        return [diagnostic("few_samples", f"columns {', '.join(cont[:6])} take many distinct values: the plug-in "
                           "on the joint table needs far more samples than cells; use gcmi or ksg")]


class KSGEstimator(_Base):
    """Kraskov-Stoegbauer-Grassberger estimator 1 on k-d trees (see :func:`~mibound.functional.nonparametric.ksg_mi`).

    The interval is ``estimate +- 1.96 * sd(terms) / sqrt(n)`` over the per-sample terms; the terms
    are weakly dependent, so read it as approximate (with jittered ties it can be too narrow:
    see :func:`~mibound.functional.nonparametric.ksg_mi`).

    Tied values (discrete columns, repeated rows) are broken by default with noise below each
    column's resolution, which leaves the MI unchanged (``ties="jitter"``; see
    :func:`~mibound.functional.nonparametric.ksg_mi`); without it KSG returns large negative values on such
    data. Columns with material ties or few distinct values are reported in
    ``result_.diagnostics`` (``ties``, ``discrete_columns``), with what was done.

    Parameters
    ----------
    k : int, default 3
    standardize : bool, default True
    workers : int, default -1
    ties : {"jitter", "keep"}, default "jitter"
    transform : {None, "rank", "normal"}, default None
        Per-column rank (uniform) or normal-score transform before the estimate.
    seed : int, default 0
        Seeds the jitter (used only when some column has ties).
    """

    name = "ksg"

    def __init__(self, k: int = 3, standardize: bool = True, workers: int = -1, ties: str = "jitter",
                 transform: str | None = None, seed: int = 0):
        self.k = k
        self.standardize = standardize
        self.workers = workers
        self.ties = ties
        self.transform = transform
        self.seed = seed

    def fit(self, x, y, true_mi: float | None = None) -> "KSGEstimator":
        """Estimate ``I(x; y)`` from all pairs; returns ``self`` with ``result_`` set.

        Images are flattened to ``C*H*W`` columns, with the ``flattened_images`` diagnostic and
        ``high_dimension`` above 20 columns in all (KSG's bias grows quickly with dimension).
        """
        check_int(self.workers, "workers")
        ties = check_choice(self.ties, KSG_TIES, "ties")
        transform = None if self.transform is None else check_choice(self.transform, KSG_TRANSFORMS, "transform")
        seed = check_seed(self.seed)
        t0 = time.perf_counter()
        pair, shapes = self._read_flat(x, y, seed, true_mi, t0)  # images flattened, constant columns dropped
        if pair is None:  # a view without a varying column: I = 0 exactly
            return self
        if pair.copies:
            raise OutOfDomain(f"ksg needs mostly distinct rows, but only {pair.distinct_rows[2]} of the {pair.n} (x, y) "
                              "rows are distinct: copies sit at distance 0 from each other and KSG reads them as "
                              "dependence. Drop the copies if they are an artefact, or use estimator='discrete' if "
                              "the values are categories")
        x, y = pair.x, pair.y
        est, terms = ksg_mi(x, y, k=self.k, standardize=bool(self.standardize), workers=self.workers,
                            return_terms=True, ties=ties, transform=transform, seed=seed)
        sd = float(terms.std(ddof=1)) if terms.size > 1 else 0.0
        half = 1.96 * sd / math.sqrt(terms.size)
        if ties == "jitter":
            action = (f"ksg broke the ties with uniform noise on +-1/4 of each column's smallest gap between "
                      f"distinct values (seed {seed}): values keep their order, so the MI is unchanged")
            discrete = ("ksg estimates the MI of the discrete values themselves (a discretised continuous "
                        "variable carries less MI than the original)")
        else:
            action = ("ksg used them as they are (ties='keep'): zero distances bias the neighbour counts and "
                      "the estimate can be far below the true MI, even negative")
            discrete = action
        self.result_ = EstimateResult(
            estimator=self.name, estimate=est, ci=(est - half, est + half), std=sd,
            true_mi=None if true_mi is None else float(true_mi), is_bound=False, n_train=0,
            n_test=x.shape[0], seed=seed, seconds=time.perf_counter() - t0,
            settings={**self.get_params(), "versions": _versions(),
                      "interval": "1.96 sd / sqrt(n) of the per-row KSG terms (approximate: the terms are weakly "
                                  "dependent): sampling noise, not KSG's bias, which grows with dimension and MI"},
            diagnostics=pair.report().diagnostics(action, discrete)
            + image_diagnostics(shapes, x.shape[0], x.shape[1], y.shape[1], self.name),
        )
        pair.annotate(self.result_)
        return self
