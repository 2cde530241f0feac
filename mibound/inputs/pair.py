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
from typing import Any

import numpy as np

from mibound.inputs.checks import check_pair, column_names, constant_columns
from mibound.inputs.columns import ColumnReport, column_report
from mibound.results import EstimateResult, diagnostic

__all__ = ["Pair", "read_pair", "read_flat_pair"]

_SHOWN = 8


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

    def diagnostics(self) -> list[dict[str, str]]:
        """``constant_columns`` naming the dropped columns, and ``constant_view`` for a view left empty."""
        out = []
        if any(self.dropped):
            parts = [f"{len(d)} of {name} ({_listed(d)})" for name, d in zip("xy", self.dropped) if d]
            out.append(diagnostic("constant_columns", f"dropped {' and '.join(parts)}: constant column(s) carry no "
                                  "information, so the MI is unchanged"))
        for name, kept in zip("xy", self.names):
            if not kept:
                out.append(diagnostic("constant_view", f"{name} has no varying column: I(x; y) = 0 exactly, "
                                      "whatever the estimator"))
        return out

    def settings(self) -> dict[str, Any]:
        """``column_names`` (kept) and ``dropped_columns`` of ``x`` and ``y``, for a result's ``settings``."""
        return {"column_names": {"x": list(self.names[0]), "y": list(self.names[1])},
                "dropped_columns": {"x": list(self.dropped[0]), "y": list(self.dropped[1])}}

    def annotate(self, result: EstimateResult) -> EstimateResult:
        """Put :meth:`diagnostics` first in ``result.diagnostics`` and :meth:`settings` into its settings."""
        result.diagnostics = self.diagnostics() + [d for d in result.diagnostics
                                                   if d["code"] not in ("constant_columns", "constant_view")]
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
            settings={**(settings or {}), "versions": _versions()}))


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
    return Pair(views[0][0], views[1][0], (views[0][1], views[1][1]), (views[0][2], views[1][2]))


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
