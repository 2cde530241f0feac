"""Per-column ties and discreteness of a paired sample, and the diagnostics they call for.

Nearest-neighbour estimators (KSG) assume a density: repeated values give zero distances and
biased neighbour counts (``ksg`` returned about -3 nats on boolean columns before it handled
ties). Copula and Gaussian estimators do not fail numerically on ties, but their value is then
not the MI of the discrete variables. :func:`column_report` measures what every estimator needs
to know, once, in ``O(d n log n)``; :meth:`ColumnReport.diagnostics` turns it into
:func:`mibound.results.diagnostic` entries naming the columns.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from mibound.inputs.checks import check_pair
from mibound.results import diagnostic

__all__ = ["ColumnStats", "ColumnReport", "column_report", "column_stats", "DISCRETE_MAX_VALUES",
           "MATERIAL_TIE_FRACTION", "MAX_CONDITION", "correlation_condition"]

#: A column with at most this many distinct values is reported as discrete (``discrete_columns``).
DISCRETE_MAX_VALUES = 20

#: Ties are reported (``ties``) in columns where at least this share of rows repeats a value. Data
#: stored as float32 repeat a few values by chance (about ``n^2 / 2^25`` pairs for ``n`` standard
#: normal draws); those ties are too few to move any estimate and are not reported.
MATERIAL_TIE_FRACTION = 0.01

#: The one limit on how nearly collinear a view's columns may be (:func:`correlation_condition`)
#: before a Gaussian or density model of it is refused: ``auto`` leaves ``gcmi`` out of its panel,
#: ``flow`` and ``doe`` raise. Beyond it some direction of the view has a standard deviation under
#: 1% of the largest: the view lies near a lower-dimensional set (pixels rendered from a few
#: latents, a column that nearly repeats another), where log-determinants and densities measure
#: rounding, not dependence. On the task suite the rendered views measure 6e5-1.3e6; every other
#: view, GRF crops and dense 50-dim Gaussians included, at most 300.
MAX_CONDITION = 1e4

_NAMES_SHOWN = 6


@dataclass(frozen=True)
class ColumnStats:
    """Ties and resolution of one column.

    Attributes
    ----------
    name : str
        ``"x[j]"`` or ``"y[j]"`` (0-based column index).
    n_distinct : int
        Distinct values in the column.
    tie_fraction : float
        Share of the rows whose value in this column also occurs in another row (0 for a column
        without ties, 1 for a column in which every value repeats, e.g. a boolean one).
    resolution : float
        Smallest positive gap between two distinct values (``nan`` for a constant column).
    integer : bool
        Whether every value is a whole number (counts, booleans, categories coded as numbers).
    """

    name: str
    n_distinct: int
    tie_fraction: float
    resolution: float
    integer: bool = False

    @property
    def has_ties(self) -> bool:
        """Whether any value repeats."""
        return self.tie_fraction > 0

    @property
    def material_ties(self) -> bool:
        """Whether at least :data:`MATERIAL_TIE_FRACTION` of the rows repeat a value."""
        return self.tie_fraction >= MATERIAL_TIE_FRACTION

    @property
    def discrete(self) -> bool:
        """Whether the column takes at most :data:`DISCRETE_MAX_VALUES` distinct values."""
        return self.n_distinct <= DISCRETE_MAX_VALUES

    @property
    def constant(self) -> bool:
        """Whether the column takes one value only."""
        return self.n_distinct <= 1

    @property
    def integer_valued(self) -> bool:
        """Whether the column holds whole numbers that repeat materially but is not :attr:`discrete`
        (e.g. counts with more than :data:`DISCRETE_MAX_VALUES` values)."""
        return self.integer and self.material_ties and not self.discrete


def _names(columns, detail) -> str:
    shown = [f"{c.name} ({detail(c)})" for c in columns[:_NAMES_SHOWN]]
    more = len(columns) - _NAMES_SHOWN
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class ColumnReport:
    """What :func:`column_report` found in a paired sample ``(x, y)``.

    Attributes
    ----------
    n : int
        Rows.
    x, y : tuple of ColumnStats
        One entry per column of ``x`` and of ``y``.
    duplicate_rows : float
        Share of the rows ``(x_i, y_i)`` equal in every column to another row (then the joint
        nearest-neighbour distance is 0).
    """

    n: int
    x: tuple[ColumnStats, ...]
    y: tuple[ColumnStats, ...]
    duplicate_rows: float

    @property
    def columns(self) -> tuple[ColumnStats, ...]:
        """The columns of ``x`` then of ``y``."""
        return self.x + self.y

    @property
    def tied(self) -> tuple[ColumnStats, ...]:
        """The columns with material ties (:attr:`ColumnStats.material_ties`)."""
        return tuple(c for c in self.columns if c.material_ties)

    @property
    def discrete(self) -> tuple[ColumnStats, ...]:
        """The columns with at most :data:`DISCRETE_MAX_VALUES` distinct values."""
        return tuple(c for c in self.columns if c.discrete)

    @property
    def integer_valued(self) -> tuple[ColumnStats, ...]:
        """The columns of whole numbers with material ties beyond the discrete ones (:attr:`ColumnStats.integer_valued`)."""
        return tuple(c for c in self.columns if c.integer_valued)

    def diagnostics(self, ties_action: str, discrete_action: str | None = None) -> list[dict[str, str]]:
        """``ties`` and ``discrete_columns`` entries for the columns that call for them (else ``[]``).

        Parameters
        ----------
        ties_action : str
            What the estimator did about the ties (one clause, appended to the message).
        discrete_action : str, optional
            What the estimator's value means for discrete columns (default: ``ties_action``).
        """
        out = []
        tied = self.tied
        if tied:
            rows = (f"; {self.duplicate_rows:.0%} of the rows repeat another row in every column"
                    if self.duplicate_rows > 0 else "")
            out.append(diagnostic("ties", f"{len(tied)} column(s) repeat values: "
                                  f"{_names(tied, lambda c: f'{c.tie_fraction:.0%} of rows tied')}{rows}; "
                                  f"{ties_action}"))
        discrete, counts = self.discrete, self.integer_valued
        if discrete or counts:
            parts = []
            if discrete:
                parts.append(f"{len(discrete)} column(s) take at most {DISCRETE_MAX_VALUES} distinct values: "
                             + _names(discrete, lambda c: f"{c.n_distinct} {'integer ' if c.integer else ''}values"))
            if counts:
                parts.append(f"{len(counts)} column(s) hold repeated whole numbers (counts or codes): "
                             + _names(counts, lambda c: f"{c.n_distinct} values"))
            out.append(diagnostic("discrete_columns", f"{'; '.join(parts)}; {discrete_action or ties_action}"))
        return out

    def to_dict(self) -> dict:
        """JSON-safe: ``n``, ``duplicate_rows`` and a list of column dicts for ``x`` and ``y`` (``nan`` -> ``None``)."""
        def col(c: ColumnStats) -> dict:
            d = asdict(c)
            d["resolution"] = None if math.isnan(c.resolution) else c.resolution
            return d

        return {"n": self.n, "duplicate_rows": self.duplicate_rows, "x": [col(c) for c in self.x],
                "y": [col(c) for c in self.y]}


def column_stats(a: np.ndarray, prefix: str = "x", names=None) -> tuple[ColumnStats, ...]:
    """:class:`ColumnStats` of every column of a 2-D array ``a`` (one sort per column).

    ``names`` (one per column) replace the positional names ``"{prefix}[j]"``.
    """
    a = np.asarray(a)
    if names is not None and len(names) != a.shape[1]:
        raise ValueError(f"got {len(names)} column names for {a.shape[1]} columns of {prefix}")
    n = a.shape[0]
    s = np.sort(np.ascontiguousarray(a.T), axis=1).T  # each column sorted as a contiguous row: 2x faster than axis=0
    gaps = np.diff(s, axis=0)
    equal = gaps == 0
    tied = np.zeros(s.shape, dtype=bool)
    tied[1:] |= equal
    tied[:-1] |= equal
    n_distinct = 1 + (gaps > 0).sum(axis=0)
    with np.errstate(invalid="ignore"):
        resolution = np.where(gaps > 0, gaps, np.inf).min(axis=0, initial=np.inf)
    fraction = tied.mean(axis=0) if n else np.zeros(a.shape[1])
    integer = (s == np.round(s)).all(axis=0) if n else np.zeros(a.shape[1], dtype=bool)
    return tuple(ColumnStats(f"{prefix}[{j}]" if names is None else str(names[j]), int(n_distinct[j]), float(fraction[j]),
                             float(resolution[j]) if np.isfinite(resolution[j]) else math.nan, bool(integer[j]))
                 for j in range(a.shape[1]))


def column_report(x, y, names=None, *, checked: bool = False) -> ColumnReport:
    """Distinct values, tie fractions and resolution of every column of ``x`` and ``y``.

    Parameters
    ----------
    x : array_like, shape (n, dx) or (n,)
    y : array_like, shape (n, dy) or (n,)
        Validated as everywhere in mibound (finite numbers, same ``n``); constant columns are
        allowed here (``n_distinct == 1``).
    names : (sequence of str, sequence of str), optional
        The columns' names in ``x`` and in ``y`` (default ``"x[j]"``, ``"y[j]"``), as the
        diagnostics name them (:class:`mibound.inputs.pair.Pair` passes the input's own names).
    checked : bool, default False
        ``x`` and ``y`` are 2-D float arrays already checked (a :class:`~mibound.inputs.pair.Pair`'s):
        not checked again.

    Returns
    -------
    ColumnReport

    Examples
    --------
    >>> import numpy as np
    >>> r = column_report(np.array([0, 1, 1, 0, 1.0]), np.arange(5.0))
    >>> [(c.name, c.n_distinct, c.tie_fraction) for c in r.columns]
    [('x[0]', 2, 1.0), ('y[0]', 5, 0.0)]
    >>> [d["code"] for d in r.diagnostics("kept as they are")]
    ['ties', 'discrete_columns']
    """
    if not checked:
        x, y = check_pair(x, y, allow_constant=True)
    nx, ny = (None, None) if names is None else names
    sx, sy = column_stats(x, "x", nx), column_stats(y, "y", ny)
    duplicates = 0.0
    # a row can repeat only if every column has ties
    if all(c.has_ties for c in sx + sy):
        _, inverse, counts = np.unique(np.concatenate([x, y], axis=1), axis=0, return_inverse=True,
                                       return_counts=True)
        duplicates = float((counts[inverse.ravel()] > 1).mean())
    return ColumnReport(x.shape[0], sx, sy, duplicates)


def correlation_condition(a: np.ndarray) -> float:
    """Condition number of the correlation matrix of ``a``'s columns (constant columns left out).

    Parameters
    ----------
    a : ndarray, shape (n, d)
        Rows of one view, after whatever per-column map the caller models (normal scores for the
        copula and the flows).

    Returns
    -------
    float
        ``>= 1``; ``1.0`` for fewer than two varying columns, ``inf`` for an exactly singular matrix.
        Compare with :data:`MAX_CONDITION`.
    """
    a = np.asarray(a, dtype=np.float64)
    a = a[:, np.ptp(a, axis=0) > 0] if a.size else a
    if a.ndim != 2 or a.shape[1] < 2:
        return 1.0
    eig = np.linalg.eigvalsh(np.corrcoef(a, rowvar=False))
    return float(eig[-1] / eig[0]) if eig[0] > 0 and np.all(np.isfinite(eig)) else math.inf
