"""Model selection of a neural fit on validation rows: the rates a fit trains, the one it keeps, and the record.

Every choice here looks at validation values only (:func:`mibound.neural.engine.train` records them);
the reported estimate comes from test rows that no choice has seen.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

__all__ = ["trained_rates", "choose_rates", "chosen_runs", "selection_record"]


def trained_rates(p: dict[str, Any], has_validation: bool) -> list[float]:
    """The learning rates a fit trains one critic each for: all of ``p["learning_rate"]`` when
    validation rows can choose between them, else the first."""
    rates = [p["learning_rate"]] if isinstance(p["learning_rate"], float) else list(p["learning_rate"])
    return rates if has_validation else rates[:1]


def choose_rates(hist: dict[str, Any], rates: Sequence[float], groups: int = 1) -> tuple[list[int], list[dict]]:
    """For each of ``groups`` runs trained at every rate, the run whose selected validation value is best.

    Runs are numbered rate-major: run ``i * groups + g`` is group ``g`` at ``rates[i]``. Without
    validation (``hist`` has no ``selected_value``) there is one rate and the choice is run ``g``.

    Returns
    -------
    chosen : list of ``groups`` run indices
    candidates : list of dicts
        Per rate: ``learning_rate``, ``selected_step`` (1-based, per group when ``groups > 1``)
        and ``validation_value`` (per group when ``groups > 1``).
    """
    if len(rates) == 1 or "selected_value" not in hist:
        return list(range(groups)), []
    value = hist["selected_value"].reshape(len(rates), groups)
    best = torch.nan_to_num(value, nan=-np.inf).argmax(0)
    chosen = [int(b) * groups + g for g, b in enumerate(best)]
    steps = (hist["selected_step"].reshape(len(rates), groups) + 1).tolist()
    candidates = [{"learning_rate": float(r), "selected_step": s[0] if groups == 1 else s,
                   "validation_value": float(v[0]) if groups == 1 else v.tolist()} for r, s, v in zip(rates, steps, value)]
    return chosen, candidates


def chosen_runs(hist: dict[str, Any], runs: Sequence[int]) -> dict[str, Any]:
    """:func:`mibound.neural.engine.train`'s history kept to the columns of ``runs`` (in that order)."""
    idx = torch.as_tensor(list(runs), dtype=torch.long)
    out = dict(hist)
    for key in ("value", "loss", "validation_value"):
        if key in out:
            out[key] = out[key][:, idx]
    for key in ("selected_step", "selected_value"):
        if key in out:
            out[key] = out[key][idx]
    return out


def selection_record(hist: dict[str, Any], has_validation: bool, train_values: np.ndarray, values: np.ndarray,
                     runs: Sequence[int] = (0,), learning_rate: float | list[float] | None = None,
                     candidates: Sequence[dict] = ()) -> dict[str, Any]:
    """``settings["selection"]`` of a fit: steps run, the selected step and the train / validation / test values.

    Over several ``runs`` (cross-fitting), ``selected_step`` lists each run's and the values are their means.
    ``train_values`` and ``values`` are ``(R, B)`` (or ``(B,)`` for one run). ``learning_rate`` is
    the rate of the reported critic (per run when several) and ``candidates`` each trained rate's
    record (:func:`choose_rates`; empty when one rate was trained).
    """
    train_values, values = np.atleast_2d(train_values), np.atleast_2d(values)
    runs = list(runs)
    steps = [int(hist["selected_step"][r]) + 1 for r in runs] if has_validation else None
    held = values[runs]
    return {"steps_run": hist["steps_run"],
            "selected_step": None if steps is None else (steps[0] if len(runs) == 1 else steps),
            "validation_value": None if not has_validation else float(np.mean([hist["selected_value"][r] for r in runs])),
            "train_value": None if train_values.size == 0 else float(train_values[runs].mean()),
            "test_value": float(held.mean()) if np.all(np.isfinite(held)) else None,
            "learning_rate": learning_rate, "candidates": list(candidates)}
