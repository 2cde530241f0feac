"""Diagnostics: what a reader of an estimate should know about it, as codes with one-line messages.

Every :class:`~mibound.results.EstimateResult` carries a list ``diagnostics`` of
``{"code": CODE, "message": "..."}`` dicts (JSON-safe, the same key for every estimator). The
codes are the keys of :data:`CODES`; the CLI prints them and ``bench`` writes them to a column.
"""

from __future__ import annotations

__all__ = ["CODES", "HIGH_DIMENSION", "diagnostic", "codes_of", "image_diagnostics"]

#: Every diagnostic code and what it means.
CODES: dict[str, str] = {
    "saturated": "the bound sits at its ceiling log K: the true MI may be far higher",
    "generalisation_gap": "the critic scores training pairs much higher than held-out pairs (it memorised them)",
    "unstable_readout": "the per-batch held-out values scatter widely: the mean and its interval are not reliable",
    "heavy_tails": "some columns have heavy tails (extreme values dominate moments)",
    "ties": "some columns have many repeated values (ties), which bias nearest-neighbour estimators",
    "discrete_columns": "some columns take only a few distinct values",
    "constant_columns": "some columns are constant and were dropped (they carry no information)",
    "constant_view": "a view has no varying column: the MI is 0 exactly",
    "disagreement": "candidate estimators disagree beyond their intervals",
    "few_samples": "fewer samples than the dimensions need for this estimator",
    "negative_estimate": "the estimate is below zero: no dependence detected, or an estimator failure",
    "not_selected": "this value was not chosen on validation data",
    "flattened_images": "image views were flattened to vectors of C*H*W pixels (this estimator does not use the pixel grid)",
    "high_dimension": "the views have many columns for this estimator: expect a large bias (usually an underestimate)",
}

#: Dimension ``dim_x + dim_y`` above which each non-neural estimator gets ``high_dimension``:
#: KSG's nearest-neighbour bias grows quickly with dimension (Gao, Oh & Viswanath 2018); the
#: Gaussian plug-ins are consistent in any dimension but need ``n`` well above ``d`` (their
#: ``few_samples`` case is ``n < 10 d``); flows and DoE fit densities of every pixel.
HIGH_DIMENSION = {"ksg": 20, "discrete": 10, "flow": 64, "doe": 64}


def diagnostic(code: str, message: str | None = None) -> dict[str, str]:
    """One diagnostic: ``{"code": code, "message": message}`` (the code's standard text by default)."""
    if code not in CODES:
        raise ValueError(f"unknown diagnostic code {code!r}; known: {', '.join(CODES)}")
    return {"code": code, "message": " ".join((message or CODES[code]).split())}


def codes_of(diagnostics: list[dict[str, str]]) -> list[str]:
    """The codes of a list of diagnostics, in order."""
    return [d["code"] for d in diagnostics]


def image_diagnostics(shapes, n: int, dim_x: int, dim_y: int, estimator: str) -> list[dict[str, str]]:
    """What a non-image estimator did with image views: ``flattened_images``, and ``high_dimension`` when it applies.

    Parameters
    ----------
    shapes : (tuple or None, tuple or None)
        Per-sample shapes ``(C, H, W)`` of the views that were images (from
        :func:`mibound._validation.flatten_views`); ``(None, None)`` gives no diagnostics.
    n : int
        Rows.
    dim_x, dim_y : int
        Columns after flattening.
    estimator : str
        The estimator's name (a key of :data:`HIGH_DIMENSION`, or ``gaussian``/``gcmi``).
    """
    if shapes[0] is None and shapes[1] is None:
        return []
    what = ", ".join(f"{v} {tuple(s)} -> {d} columns" for v, s, d in (("x", shapes[0], dim_x), ("y", shapes[1], dim_y))
                     if s is not None)
    out = [diagnostic("flattened_images", f"{estimator} flattened the image views ({what}): it treats pixels as "
                      "unordered columns; a neural estimator with the conv critic uses the pixel grid")]
    d = dim_x + dim_y
    limit = HIGH_DIMENSION.get(estimator)
    if limit is not None and d > limit:
        out.append(diagnostic("high_dimension", f"{estimator} on {d} columns (above {limit}): its bias grows with "
                              "dimension and this estimate is likely far below the true MI; prefer a neural "
                              "estimator (conv critic) or gcmi"))
    elif limit is None and n < 10 * d:
        out.append(diagnostic("high_dimension", f"{estimator} estimates a {d}-dimensional covariance from n = {n} "
                              f"rows (fewer than 10 per dimension): the plug-in's variance and bias are large"))
    return out
