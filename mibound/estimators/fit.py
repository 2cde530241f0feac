"""The one driver of every critic fit: train at the candidate rates, choose on validation rows, read held-out rows.

Every neural fit of the estimators is one call of :func:`fit_critics`: one critic in memory, on
memory maps or on a sampler, one rank of a distributed job
(:class:`~mibound.estimators.neural.NeuralEstimator`), the folds of cross-fitting and the observed
and shuffled pairings of the permutation test (:func:`mibound.estimators.stacked.fit_reordered`),
several estimators on samplers (:func:`mibound.estimators.neural.fit_samplers`). The paths differ
in a small strategy only: how one rate's critics become the :class:`~mibound.neural.engine.Runs`
that :func:`mibound.neural.engine.train` steps (a :class:`~mibound.neural.engine.SingleRun`, a
:class:`~mibound.neural.distributed.DistributedRun`, stacked
:func:`~mibound.neural.stacking.shards`), and where the batches come from.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from mibound.neural import engine
from mibound.neural.objectives import Loss
from mibound.neural.selection import choose_rates, chosen_runs, selection_record, trained_rates
from mibound.neural.stacking import StackedRuns

__all__ = ["CriticFit", "fit_critics"]

Batches = Iterable["tuple[Any, Any]"]


@dataclass
class CriticFit:
    """What :func:`fit_critics` trained and read, per run ``r = 0 .. R - 1``.

    Attributes
    ----------
    critics, losses : lists of R
        Each run's critic at the chosen rate, restored to its selected checkpoint, and its loss.
    hist : dict
        :func:`mibound.neural.engine.train`'s history kept to the chosen runs (column ``r``: run ``r``).
    values : ndarray, shape (R, B)
        Test readouts: run ``r``'s critic on its held-out batches (a list of R arrays of shape
        ``(B_r,)`` with ``each=True``).
    train_values : ndarray, shape (R, B')
        The same readout on up to four batches of training rows (``B' = 0`` without them).
    has_validation : bool
    learning_rates : list of R floats
        The rate of each run's critic (:func:`~mibound.neural.selection.choose_rates`).
    candidates : list of dict
        Each trained rate's record (empty when one rate was trained).
    threads : int
        torch intra-op threads in force during the fit.
    """

    critics: list
    losses: list
    hist: dict[str, Any]
    values: np.ndarray
    train_values: np.ndarray
    has_validation: bool
    learning_rates: list
    candidates: list
    threads: int

    def selection(self, runs: Sequence[int] = (0,)) -> dict[str, Any]:
        """``settings["selection"]`` of ``runs`` (:func:`~mibound.neural.selection.selection_record`)."""
        rates = self.learning_rates[runs[0]] if len(runs) == 1 else [self.learning_rates[r] for r in runs]
        return selection_record(self.hist, self.has_validation, self.train_values, self.values, runs, rates,
                                self.candidates)

    def validation_history(self) -> dict[str, list] | None:
        """``selection_history_``: the validated steps (1-based) and the runs' mean validation value at each."""
        return None if not self.has_validation else {"step": (self.hist["validation_step"] + 1).tolist(),
                                                     "validation_estimate": self.hist["validation_value"].mean(1).tolist()}


def fit_critics(build: Callable[[], Sequence[tuple[nn.Module, Loss]]],
                runs: Callable[[list[nn.Module], list[Loss]], list[engine.Runs]], next_batch: engine.Batch,
                p: dict[str, Any], *, test: Batches, validation: Sequence | None = None, train: Batches = (),
                each: bool = False, num_threads: int | None = None, progress: bool = True,
                desc: str | None = None) -> CriticFit:
    """Train ``R`` critics at every trained rate in one :func:`~mibound.neural.engine.train`, choose, read.

    With validation batches every rate of ``p["learning_rate"]`` trains one critic per run (same
    initial critic, same batches); each critic keeps the checkpoint of its best validation value,
    and each run keeps the rate whose checkpoint reads best on the validation rows
    (:func:`~mibound.neural.selection.choose_rates`). Only then are the chosen critics read on
    the test rows and on training rows. Without validation only the first rate trains.

    Parameters
    ----------
    build : callable ``() -> R pairs (critic, loss)``
        The seeded initial critics and losses of the runs, called once per trained rate (so
        every rate starts from the same critics). A critic object returned again (a given
        module) trains as a deep copy at the later rates.
    runs : callable ``(critics, losses) -> list of Runs``
        The strategy: one rate's ``R`` critics as what the engine steps (an
        :class:`~mibound.neural.engine.SingleRun` or a distributed run for ``R = 1``, the stacked
        :func:`~mibound.neural.stacking.shards` of an ensemble), runs in order.
    next_batch : callable ``step -> (x, y)``
        Training batches in the shape the runs take (``(K, d)``, or ``(R, K, d)`` stacks).
    p : dict
        Checked parameters: ``learning_rate``, ``steps``, ``log_every``, ``lr_schedule``,
        ``weight_decay``, ``patience``, ``min_steps``.
    test : iterable of ``(x, y)``
        Held-out batches in the shape the runs take; with ``each=True`` a list of ``R`` such
        iterables, run ``r``'s read by its critic alone (runs whose readouts differ in size).
    validation : sequence of ``(x, y)``, optional
        Validation batches in the shape the runs take (read every ``log_every`` steps).
    train : iterable of ``(x, y)``, default none
        Batches of training rows for the generalisation gap; the first four at most are read.
    each : bool, default False
        Read each run alone on its own ``test`` batches.
    num_threads : int, optional
        torch intra-op threads during the fit (``None``: leave torch's setting).
    progress : bool, default True
    desc : str, optional
        The progress bar's label.

    Returns
    -------
    CriticFit
    """
    rates = trained_rates(p, validation is not None)
    built: list[list[tuple[nn.Module, Loss]]] = []
    for _ in rates:
        seen = {id(c) for b in built for c, _ in b}
        built.append([(copy.deepcopy(c) if id(c) in seen else c, l) for c, l in build()])
    parts = [runs([c for c, _ in b], [l for _, l in b]) for b in built]
    flat = [q for rate_parts in parts for q in rate_parts]
    with engine.torch_threads(num_threads) as threads:
        hist = engine.train(flat, next_batch, p["steps"], learning_rate=[r for r, q in zip(rates, parts) for _ in q],
                            log_every=p["log_every"], progress=progress, desc=desc, lr_schedule=p["lr_schedule"],
                            weight_decay=p["weight_decay"], patience=p["patience"], min_steps=p["min_steps"],
                            validate=None if validation is None else (lambda: engine.evaluate(flat, validation).mean(1)))
        chosen, candidates = choose_rates(hist, rates, len(built[0]))
        for b, rate_parts in zip(built, parts):
            for q in rate_parts:
                if isinstance(q, StackedRuns):
                    q.write_back([c for c, _ in b], [l for _, l in b])
        every = [c_l for b in built for c_l in b]
        critics, losses = [every[i][0] for i in chosen], [every[i][1] for i in chosen]
        owner = [j for j, q in enumerate(flat) for _ in range(q.runs)]  # the Runs that steps each run
        needed = sorted({owner[i] for i in chosen})  # only these are read
        cols = [i for i, j in enumerate(owner) if j in needed]

        def read(batches) -> np.ndarray:
            return engine.evaluate([flat[j] for j in needed], batches).numpy()[[cols.index(i) for i in chosen]]

        values = ([engine.evaluate(engine.SingleRun(c, l), t)[0].numpy() for c, l, t in zip(critics, losses, test)]
                  if each else read(test))
        train_values = read(list(itertools.islice(train, 4)))
    return CriticFit(critics, losses, chosen_runs(hist, chosen), values, train_values, validation is not None,
                     [rates[i // len(built[0])] for i in chosen], candidates, threads)
