"""Diagnostics: what a reader of an estimate should know about it, as codes with one-line messages.

Every :class:`~mibound.results.EstimateResult` carries a list ``diagnostics`` of
``{"code": CODE, "message": "..."}`` dicts (JSON-safe, the same key for every estimator). The
codes are the keys of :data:`CODES`; the CLI prints them and ``bench`` writes them to a column.
"""

from __future__ import annotations

__all__ = ["CODES", "diagnostic", "codes_of"]

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
}


def diagnostic(code: str, message: str | None = None) -> dict[str, str]:
    """One diagnostic: ``{"code": code, "message": message}`` (the code's standard text by default)."""
    if code not in CODES:
        raise ValueError(f"unknown diagnostic code {code!r}; known: {', '.join(CODES)}")
    return {"code": code, "message": " ".join((message or CODES[code]).split())}


def codes_of(diagnostics: list[dict[str, str]]) -> list[str]:
    """The codes of a list of diagnostics, in order."""
    return [d["code"] for d in diagnostics]
