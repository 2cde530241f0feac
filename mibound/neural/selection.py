"""Model selection of a neural fit on validation rows: the rates a fit trains, the one it keeps, and the record.

Every choice here looks at validation values only (:func:`mibound.neural.engine.train` records them);
the reported estimate comes from test rows that no choice has seen.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

__all__ = ["trained_rates", "choose_rates", "chosen_runs", "selection_record", "RateRace", "RACE_Z", "RACE_STALE_READS"]

#: A candidate is behind the leader when the leader's best validation value exceeds its own by more
#: than this many standard errors of their validation noise (see :class:`RateRace`).
RACE_Z = 2.0
#: A trailing candidate is out of the race once it has not improved for this many validation reads
#: (it is not catching up), or at once when the leader improves at the same read (it is pulling away).
RACE_STALE_READS = 2


def trained_rates(p: dict[str, Any], has_validation: bool) -> list[float]:
    """The learning rates a fit trains one critic each for: all of ``p["learning_rate"]`` when
    validation rows can choose between them, else the first."""
    rates = [p["learning_rate"]] if isinstance(p["learning_rate"], float) else list(p["learning_rate"])
    return rates if has_validation else rates[:1]


def choose_rates(hist: dict[str, Any], rates: Sequence[float], groups: int = 1,
                 race: "RateRace | None" = None) -> tuple[list[int], list[dict]]:
    """For each of ``groups`` runs trained at every rate, the run whose selected validation value is best.

    Runs are numbered rate-major: run ``i * groups + g`` is group ``g`` at ``rates[i]``. Without
    validation (``hist`` has no ``selected_value``) there is one rate and the choice is run ``g``.

    A run that lost the ``race`` (:class:`RateRace`) is never chosen.

    Returns
    -------
    chosen : list of ``groups`` run indices
    candidates : list of dicts
        Per rate: ``learning_rate``, ``selected_step`` (1-based), ``validation_value``,
        ``stopped_step`` (the steps it trained) and ``stopped`` (why it stopped: ``"patience"``,
        ``"steps"``, or the race's reason), each per group when ``groups > 1``.
    """
    if len(rates) == 1 or "selected_value" not in hist:
        return list(range(groups)), []
    value = torch.nan_to_num(hist["selected_value"], nan=-np.inf).clone()
    reasons = list(hist.get("stop_reason", ["steps"] * value.numel()))
    stopped = hist.get("stopped_step", torch.full((value.numel(),), hist["steps_run"])).tolist()
    if race is not None:
        for r, (step, why) in race.dropped.items():
            value[r], stopped[r], reasons[r] = -np.inf, step, why
    best = value.reshape(len(rates), groups).argmax(0)
    chosen = [int(b) * groups + g for g, b in enumerate(best)]
    steps = (hist["selected_step"].reshape(len(rates), groups) + 1).tolist()
    vals = hist["selected_value"].reshape(len(rates), groups)
    one = (lambda a: a[0]) if groups == 1 else (lambda a: list(a))  # noqa: E731
    candidates = [{"learning_rate": float(r), "selected_step": one(s), "validation_value": one(v.tolist()),
                   "stopped_step": one(stopped[i * groups:(i + 1) * groups]),
                   "stopped": one(reasons[i * groups:(i + 1) * groups])}
                  for i, (r, s, v) in enumerate(zip(rates, steps, vals))]
    return chosen, candidates


class RateRace:
    """The race of the candidate learning rates: drop a rate's run once it is out of the running.

    Runs are numbered as in :func:`choose_rates` (run ``i * groups + g``: group ``g`` at rate ``i``);
    the race compares the runs of one group. Called by :func:`mibound.neural.engine.train` after every
    validation (its ``race`` argument) with each run's best validation value so far, the per-batch
    values of this validation and the runs still stepping. Nothing is dropped during the warm-up
    (``warmup`` steps: the estimators' ``min_steps``). After it, in each group the *leader* is the run
    with the best validation value so far; another run is dropped when

    1. it is behind: the leader's best exceeds its best by more than ``RACE_Z`` times their validation
       noise, the larger of the standard error of their paired per-batch differences at this read
       and the standard deviation of the read-to-read changes of their gap over the last four reads
       (how much the gap moves when nothing is learnt), and
    2. it is not catching up: it has not improved for ``RACE_STALE_READS`` reads, or the leader
       improved at this very read.

    Once the leader has finished (early stopping ended it; its best is final), a run behind it stops as
    soon as it has not improved for ``RACE_STALE_READS`` reads, whatever the gap. Replayed on the 36
    tasks below this keeps the same choices and cuts the worst case (a loser training on long after the
    winner stopped) from 3.05 to 1.93 times a single-rate fit's cost (total 1.29 -> 1.26, with the
    candidates stacked; the replay is in the closing note of issue 24).

    The second condition protects the slow rate, which trails early and wins late where the fast rate
    overfits (the fast rate then stops improving, and the slow one is not dropped while it climbs).
    Replayed on the validation trajectories of both rates trained to their own stopping points on 36
    flat tasks of the 110-task suite (n = 5000; the closing note of issue 24), this rule chose the full
    runs' rate on 34 and lost at most 0.041 nats of validation value on the other two, at 1.59 times
    the training steps of a single-rate fit (median; 2.00 without the race); successive halving at 300
    or 400 steps agreed on 23 and 25, at 1.15 and 1.20 (the slow rate, behind at the rung, won later on
    the others). ``benchmarks/bench_race.py`` times it live. Every choice reads validation rows only.
    While more than one rate is in the race, a single fit trains them as one stacked critic
    (:class:`mibound.neural.stacking.CandidateRuns`), so the shared phase costs one batched pass.

    Attributes
    ----------
    dropped : dict
        Run -> ``(step, reason)``: the 1-based step at which the race dropped it, and why, in words.
    """

    def __init__(self, rates: Sequence[float], groups: int, warmup: int):
        self.rates, self.groups, self.warmup = [float(r) for r in rates], int(groups), int(warmup)
        n = len(self.rates) * self.groups
        self.best = torch.full((n,), -np.inf, dtype=torch.float64)
        self.best_read = torch.zeros(n, dtype=torch.long)
        self.reads: list[torch.Tensor] = []
        self.dropped: dict[int, tuple[int, str]] = {}

    def __call__(self, step: int, best: torch.Tensor, values: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
        best, values = best.double(), values.double()
        read = len(self.reads)
        self.reads.append(values.mean(1))
        improved = best > self.best
        self.best_read[improved] = read
        self.best = best.clone()
        out = torch.zeros(best.numel(), dtype=torch.bool)
        for r in self.dropped:
            out[r] = True
        if step + 1 < self.warmup:
            return out
        history = torch.stack(self.reads[-4:])
        for g in range(self.groups):
            members = [i * self.groups + g for i in range(len(self.rates)) if i * self.groups + g not in self.dropped]
            runs = [r for r in members if bool(alive[r])]
            lead = max(members, key=lambda r: float(best[r])) if members else None
            if lead is not None and not bool(alive[lead]):  # the leader has finished (early stopping)
                for r in runs:  # its best is final: a run behind it that is not improving will not catch up
                    if read - int(self.best_read[r]) >= RACE_STALE_READS:
                        self.dropped[r] = (step + 1, f"race: behind rate {self.rates[lead // self.groups]:g}, which "
                                                     f"finished, by {float(best[lead] - best[r]):.4f} nats of "
                                                     "validation value and not improving")
                        out[r] = True
                continue
            if len(runs) < 2:
                continue
            for r in runs:
                if r == lead:
                    continue
                diff = values[lead] - values[r]
                se = float(diff.std() / math.sqrt(diff.numel())) if diff.numel() > 1 else 0.0
                gap_moves = float(torch.diff(history[:, lead] - history[:, r]).std()) if len(history) > 2 else 0.0
                noise = RACE_Z * max(se, gap_moves)
                gap = float(best[lead] - best[r])
                stale = read - int(self.best_read[r]) >= RACE_STALE_READS
                pulling = int(self.best_read[lead]) == read
                if gap > noise and (stale or pulling):
                    why = (f"race: behind rate {self.rates[lead // self.groups]:g} by {gap:.4f} nats of validation "
                           f"value (noise {noise:.4f}) and " + ("not improving" if stale else "the leader improving"))
                    self.dropped[r] = (step + 1, why)
                    out[r] = True
        return out


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
