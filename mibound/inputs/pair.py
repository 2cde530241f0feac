"""The paired sample as every estimator class reads it: validated, named, constant columns dropped.

A column that takes one value carries no information: dropping it leaves the MI unchanged
(``I((x, c); y) = I(x; y)`` for a constant ``c``). :func:`read_pair` validates ``x`` and ``y``
(:func:`mibound.inputs.checks.check_pair`), keeps the names of their columns (a frame's labels, a
named series' name, else ``x[j]`` / ``y[j]`` with the 0-based index in the input) and drops the
constant columns (:func:`mibound.inputs.checks.constant_columns`): this is the one place that
decides which columns an estimator sees, once per fit (every estimator's ``fit(pair, None)`` takes
a :class:`Pair` as it is; ``auto`` hands its members :meth:`Pair.rows`). The :class:`Pair` says
what was dropped in a ``constant_columns`` diagnostic and in the result's ``settings``; a view
with no varying column has MI 0 exactly (:meth:`Pair.zero_result`, diagnostic ``constant_view``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from mibound.inputs.checks import check_pair, column_names, constant_columns
from mibound.inputs.columns import DISCRETE_MAX_VALUES, ColumnReport, column_report
from mibound.results import EstimateResult, InfiniteMI, diagnostic

__all__ = ["Pair", "read_pair", "read_flat_pair"]

_SHOWN = 8
#: The diagnostics a :class:`Pair` sets (:meth:`Pair.annotate` replaces them rather than repeating them).
_PAIR_CODES = ("constant_columns", "constant_view", "duplicates", "deterministic")


def _listed(names: tuple[str, ...]) -> str:
    more = len(names) - _SHOWN
    return ", ".join(names[:_SHOWN]) + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class Pair:
    """A validated paired sample with its constant columns dropped.

    Attributes
    ----------
    x : ndarray, shape (n, dx)
    y : ndarray, shape (n, dy)
        The varying columns (``dx`` or ``dy`` is 0 when a view has none: see :attr:`degenerate`).
    names : (tuple of str, tuple of str)
        The names of the kept columns of ``x`` and of ``y``.
    dropped : (tuple of str, tuple of str)
        The names of the dropped (constant) columns of ``x`` and of ``y``.
    """

    x: np.ndarray
    y: np.ndarray
    names: tuple[tuple[str, ...], tuple[str, ...]]
    dropped: tuple[tuple[str, ...], tuple[str, ...]]

    @property
    def n(self) -> int:
        """Rows."""
        return int(self.x.shape[0])

    @property
    def degenerate(self) -> bool:
        """Whether a view has no varying column (then ``I(x; y) = 0`` exactly)."""
        return self.x.shape[1] == 0 or self.y.shape[1] == 0

    def report(self) -> ColumnReport:
        """:func:`~mibound.inputs.columns.column_report` of the kept columns, under their names."""
        return column_report(self.x, self.y, names=self.names, checked=True)

    def rows(self, idx) -> "Pair":
        """The pair of the rows ``idx``, not checked again; columns constant on these rows join ``dropped``."""
        views = [_drop(a[idx], names, dropped) for a, names, dropped in zip((self.x, self.y), self.names, self.dropped)]
        return Pair(views[0][0], views[1][0], (views[0][1], views[1][1]), (views[0][2], views[1][2]))

    @cached_property
    def shared_columns(self) -> list[tuple[str, str, int, int]]:
        """Columns of ``x`` equal to, or the negative of, a column of ``y``: ``(x name, y name, sign, distinct values)``.

        Candidates are the column pairs whose sums and sums of squares agree (one pass over the data);
        each candidate is then compared value by value, so the answer is exact.
        """
        if self.degenerate:
            return []
        out = []
        fx, fy = [(np.abs(a.sum(axis=0, dtype=np.float64)), np.square(a, dtype=np.float64).sum(axis=0))
                  for a in (self.x, self.y)]
        for i, j in zip(*np.nonzero(np.isclose(fx[0][:, None], fy[0][None, :], rtol=1e-9, atol=1e-9)
                                    & np.isclose(fx[1][:, None], fy[1][None, :], rtol=1e-9, atol=0.0))):
            for sign in (1, -1):
                if np.array_equal(self.x[:, i], sign * self.y[:, j]):
                    out.append((self.names[0][i], self.names[1][j], sign, int(np.unique(self.x[:, i]).size)))
                    break
        return out

    def check_shared_columns(self) -> None:
        """Refuse (:class:`~mibound.results.InfiniteMI`) a continuous column that both views share (up to sign).

        ``I(x; y) >= I(c; c) = H(c)``, infinite for a continuous ``c``; a shared column with at most
        ``DISCRETE_MAX_VALUES`` values has finite entropy, and estimator ``discrete`` measures it.
        """
        shared = [s for s in self.shared_columns if s[3] > DISCRETE_MAX_VALUES]
        if shared:
            what = ", ".join(f"{a} = {'' if sign > 0 else '-'}{b}" for a, b, sign, _ in shared[:_SHOWN])
            raise InfiniteMI(f"I(x; y) is infinite: the views share continuous column(s) ({what}; "
                             f"{len(shared)} in all), and a continuous variable has infinite information about "
                             "itself. Drop the shared columns from one view, or, if their values are categories, "
                             "use estimator='discrete'")

    @cached_property
    def _view_groups(self) -> tuple[np.ndarray, np.ndarray]:
        return _groups(self.x), _groups(self.y)

    @cached_property
    def row_groups(self) -> np.ndarray:
        """``(n,)`` int: the index of each row's distinct ``(x, y)`` pair (copies share one).

        From the two views' own groups (a pair of integers a row), so the views are never copied side by side.
        """
        return _groups(np.c_[self._view_groups])

    @cached_property
    def distinct_rows(self) -> tuple[int, int, int]:
        """Distinct rows of ``x``, of ``y`` and of the joint ``(x, y)``.

        A view whose first column holds ``n`` distinct values has ``n`` distinct rows, and so has the pair: then
        the rows are not grouped (one sort of a column instead of three of whole rows; the usual continuous case).
        """
        if self.n and all(a.shape[1] and np.unique(a[:, 0]).size == self.n for a in (self.x, self.y)):
            return self.n, self.n, self.n
        return tuple(int(g.max()) + 1 if g.size else 0 for g in (*self._view_groups, self.row_groups))

    @cached_property
    def continuous_copies(self) -> bool:
        """Whether some ``(x, y)`` rows are exact copies while some column is continuous (more than
        ``DISCRETE_MAX_VALUES`` values): a copy of a continuous row is not a new sample (in discrete data
        repeated rows are the data). A neural fit keeps the copies of a row in one part of its split."""
        if self.degenerate or self.distinct_rows[2] == self.n:
            return False
        return any(np.unique(a[:, j]).size > DISCRETE_MAX_VALUES for a in (self.x, self.y) for j in range(a.shape[1]))

    @property
    def copies(self) -> bool:
        """:attr:`continuous_copies`, with fewer than half the rows distinct pairs."""
        return self.continuous_copies and 2 * self.distinct_rows[2] < self.n

    def row_diagnostics(self) -> list[dict[str, str]]:
        """``duplicates`` for :attr:`copies`, or when one view repeats with different partners; ``deterministic``
        when a view with repeated rows (most of them distinct pairs) determines the other."""
        if self.degenerate:
            return []
        mx, my, mxy = self.distinct_rows
        out = []
        if self.copies:
            out.append(diagnostic("duplicates", f"only {mxy} of the {self.n} rows are distinct (x, y) pairs: copies "
                                  "of a pair are not independent samples, so a held-out copy of a training row is "
                                  "not held out and neighbour and plug-in estimators read copies as dependence. "
                                  "Drop the copies (np.unique(np.c_[x, y], axis=0)) if they are an artefact, or "
                                  "use estimator='discrete' if the values are categories"))
        for v, m, w in (("x", mx, "y"), ("y", my, "x")):
            if 2 * mxy >= self.n and m < self.n and mxy == m and (my if v == "x" else mx) > 1:
                out.append(diagnostic("deterministic", f"{w} is a function of {v} on these rows ({m} distinct {v} "
                                      f"rows, each with one {w}): I(x; y) = H({w}), the entropy of {w}, which is "
                                      f"infinite if {w} is continuous; use estimator='discrete' if {w} takes few "
                                      "values"))
        if 2 * mxy >= self.n and (2 * mx < self.n or 2 * my < self.n):
            v, m = ("x", mx) if mx <= my else ("y", my)
            out.append(diagnostic("duplicates", f"{v} repeats: {m} distinct rows of {v} among {self.n} with different "
                                  "partners (e.g. the same image paired with several others); the split cannot keep "
                                  f"the copies of a {v} row on one side, so held-out rows share {v} values with "
                                  "training rows"))
        return out

    def diagnostics(self) -> list[dict[str, str]]:
        """``constant_columns`` naming the dropped columns, ``constant_view`` for a view left empty, and
        :meth:`row_diagnostics`."""
        out = []
        if any(self.dropped):
            parts = [f"{len(d)} of {name} ({_listed(d)})" for name, d in zip("xy", self.dropped) if d]
            out.append(diagnostic("constant_columns", f"dropped {' and '.join(parts)}: constant column(s) carry no "
                                  "information, so the MI is unchanged"))
        for name, kept in zip("xy", self.names):
            if not kept:
                out.append(diagnostic("constant_view", f"{name} has no varying column: I(x; y) = 0 exactly, "
                                      "whatever the estimator"))
        return out + self.row_diagnostics()

    def settings(self) -> dict[str, Any]:
        """``column_names`` (kept) and ``dropped_columns`` of ``x`` and ``y``, for a result's ``settings``."""
        return {"column_names": {"x": list(self.names[0]), "y": list(self.names[1])},
                "dropped_columns": {"x": list(self.dropped[0]), "y": list(self.dropped[1])}}

    def annotate(self, result: EstimateResult) -> EstimateResult:
        """Put :meth:`diagnostics` first in ``result.diagnostics`` and :meth:`settings` into its settings."""
        result.diagnostics = self.diagnostics() + [d for d in result.diagnostics
                                                   if d["code"] not in _PAIR_CODES]
        result.settings = {**result.settings, **self.settings()}
        return result

    def zero_result(self, estimator: str, *, seed: int = 0, true_mi: float | None = None, t0: float | None = None,
                    settings: dict[str, Any] | None = None) -> EstimateResult:
        """The result of a :attr:`degenerate` pair: estimate 0 with interval ``(0, 0)``, exact, and why."""
        from mibound.results import _versions

        return self.annotate(EstimateResult(
            estimator=estimator, estimate=0.0, ci=(0.0, 0.0), std=0.0,
            true_mi=None if true_mi is None else float(true_mi), is_bound=False, n_train=0, n_test=self.n,
            seed=int(seed), seconds=0.0 if t0 is None else time.perf_counter() - t0,
            settings={**(settings or {}), "versions": _versions(),
                      "interval": "exact: a view has no varying column, so I(x; y) = 0"}))


def _groups(a: np.ndarray) -> np.ndarray:
    """The index of each row of ``a`` among its distinct rows (byte-wise equal rows share one)."""
    a = np.ascontiguousarray(a)
    if a.shape[1] == 0:
        return np.zeros(a.shape[0], dtype=np.int64)
    rows = a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()
    return np.unique(rows, return_inverse=True)[1].ravel().astype(np.int64)


def _drop(a: np.ndarray, labels: tuple[str, ...], dropped: tuple[str, ...] = (), whole: bool = False):
    """``(a without its constant columns, kept labels, dropped + the constant columns' labels)``."""
    const = constant_columns(a)
    if not const.size or (whole and const.size < a.shape[1]):
        return a, tuple(labels), tuple(dropped)
    keep = np.setdiff1d(np.arange(a.shape[1]), const)
    return (np.ascontiguousarray(a[:, keep]), tuple(labels[j] for j in keep),
            tuple(dropped) + tuple(labels[j] for j in const))


def read_pair(x, y, dtype=np.float64, keep: tuple[bool, bool] = (False, False)) -> Pair:
    """Validate ``(x, y)``, keep their column names and drop their constant columns.

    Parameters
    ----------
    x : array_like, shape (n, dx) or (n,), or Pair
        numpy arrays, torch tensors, pandas frames/series or nested lists, as
        :func:`~mibound.inputs.checks.check_pair` takes them. A :class:`Pair` (``y=None``) is
        returned as it is, in ``dtype``: it was checked when it was read.
    y : array_like, shape (n, dy) or (n,), or None
    dtype : numpy dtype, default float64
    keep : (bool, bool), default (False, False)
        Keep every column of ``x`` / ``y``, constant ones too, unless all are constant: flattened
        image views that a critic reads on their pixel grid (:class:`~mibound.neural.critics.ConvCritic`),
        where a constant pixel (a blank border) carries no information and does no harm.

    Returns
    -------
    Pair

    Raises
    ------
    mibound.results.InfiniteMI
        When the views share a continuous column (:meth:`Pair.check_shared_columns`).

    Examples
    --------
    >>> import numpy as np
    >>> p = read_pair(np.c_[np.arange(4.0), np.ones(4)], np.arange(4.0))
    >>> p.x.shape, p.dropped
    ((4, 1), (('x[1]',), ()))
    >>> read_pair(p, None) is p
    True
    """
    if isinstance(x, Pair):
        if y is not None:
            raise TypeError(f"read_pair(pair, y) got a Pair and a {type(y).__name__}; pass the Pair alone: "
                            "read_pair(pair, None)")
        same = x.x.dtype == dtype and x.y.dtype == dtype
        return x if same else Pair(x.x.astype(dtype), x.y.astype(dtype), x.names, x.dropped)
    raw = (x, y)
    x, y = check_pair(x, y, dtype=dtype, allow_constant=True)
    views = []
    for name, data, a, whole in (("x", raw[0], x, keep[0]), ("y", raw[1], y, keep[1])):
        labels = column_names(data, name, a.shape[1])
        if len(labels) != a.shape[1]:  # e.g. a multi-dimensional tensor flattened by as_2d_array
            labels = column_names(None, name, a.shape[1])
        views.append(_drop(a, labels, whole=whole))
    pair = Pair(views[0][0], views[1][0], (views[0][1], views[1][1]), (views[0][2], views[1][2]))
    pair.check_shared_columns()  # infinite MI: refused the same way for every estimator
    return pair


def read_flat_pair(x, y, dtype=np.float64) -> tuple[Pair, tuple]:
    """:func:`read_pair` of views with images flattened to rows of pixels (for estimators that read vectors).

    Images ``(n, H, W)`` / ``(n, C, H, W)`` become ``C*H*W`` columns (the pixel order does not
    change the MI; :func:`mibound.inputs.checks.flatten_views`, whose channel-last rule applies
    here too), then their constant columns are dropped like any others. Returns the :class:`Pair`
    and the per-sample image shapes ``(shape_x, shape_y)`` (``None`` for a flat view), for the
    ``flattened_images`` diagnostic.
    """
    from mibound.inputs.checks import flatten_views

    x, y, shapes = flatten_views(x, y)
    return read_pair(x, y, dtype=dtype), shapes
