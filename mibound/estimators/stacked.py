"""Several critics of one :class:`~mibound.estimators.NeuralEstimator` on reorderings of the same rows, as one ensemble.

Two features train R critics that differ only in which rows they see, and read each on rows it has
not seen:

* cross-fitting (``NeuralEstimator(folds=F)``, :func:`fold_orders`): critic ``f`` trains on every
  fold of the non-validation rows but fold ``f`` and is read on fold ``f``, so every such row is
  read once, by a critic that never trained on it, and each critic trains on ``(F - 1) / F`` of
  them rather than on the rows a single test part leaves;
* the permutation test (:func:`mibound.permutation_test`): the observed pairing and ``N``
  shuffles of ``y``.

Both are a list of *row orders*: run ``r`` reads row ``order[i]`` of a view wherever the plan asks
for row ``i`` (``None``: the rows as they are). All runs share one :class:`~mibound.plan.FitPlan`,
its validation rows, the initial critic and the one training loop (:func:`mibound.engine.train`,
stacked by :mod:`mibound.ensemble`); each run fits its input map on its own training rows, picks
its own checkpoint on the validation rows, and training stops once no run has improved for
``patience`` steps. With several learning rates each run is trained once per rate and keeps the
rate of its best validation value (:func:`choose_rates`), as a single fit does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from mibound.neural.plan import FitPlan
from mibound.neural.selection import choose_rates, chosen_runs, trained_rates

__all__ = ["StackedFit", "check_named_critic", "fit_reordered", "fold_orders"]


class _Rows:
    """Rows ``a[order[rows]]`` of an array, read batch by batch: a reordered view without a copy."""

    def __init__(self, a: np.ndarray, order: np.ndarray):
        self.a, self.order = a, order
        self.shape, self.dtype, self.ndim = a.shape, a.dtype, a.ndim

    def __len__(self) -> int:
        return len(self.a)

    def __getitem__(self, rows):
        return self.a[self.order[rows]]


def fold_orders(plan: FitPlan, folds: int) -> list[np.ndarray | None]:
    """The row orders of ``folds``-fold cross-fitting on ``plan``'s rows outside its validation part.

    ``plan`` must have ``folds - 1`` test parts' worth of training rows or more (its
    ``test_fraction`` is ``(1 - validation_fraction) / folds``). The non-validation rows, in the
    plan's own random order, are cut into ``folds`` blocks of ``n_test`` rows from the end (rows
    left over by rounding always train). Run ``f`` swaps block ``f`` into the plan's test part:
    it trains on the other blocks and is read on block ``f``; run 0 is the plan itself (``None``).
    Every run has the same validation rows.

    Returns
    -------
    list of ``folds`` row orders (``None``, then int64 arrays of shape ``(n,)``)
    """
    sizes = plan.sizes
    n, n_train, n_val, n_test = plan.n, sizes["train"], sizes["validation"], sizes["test"]
    if n_train < (folds - 1) * n_test:
        raise ValueError(f"{folds} folds of {n_test} rows need {(folds - 1) * n_test} training rows, the plan has "
                         f"{n_train}")
    rows = plan._split_perm()(np.arange(n, dtype=np.int64))  # position -> row: train, validation, test
    outside = np.concatenate([rows[:n_train], rows[n_train + n_val:]])  # the non-validation rows, test last
    orders: list[np.ndarray | None] = [None]
    for f in range(1, folds):
        swapped = outside.copy()
        block = slice(len(outside) - (f + 1) * n_test, len(outside) - f * n_test)
        swapped[block], swapped[-n_test:] = outside[-n_test:], outside[block]
        target = np.concatenate([swapped[:n_train], rows[n_train:n_train + n_val], swapped[n_train:]])
        order = np.empty(n, np.int64)
        order[rows] = target  # the plan's row rows[pos] reads row target[pos]
        orders.append(order)
    return orders


@dataclass
class StackedFit:
    """What :func:`fit_reordered` trained and read: per run, in the order of the row orders.

    Attributes
    ----------
    critics, losses : lists of R
        The trained critics (each restored to its selected checkpoint) and their losses.
    hist : dict
        :func:`mibound.engine.train`'s history (per-run columns).
    values : ndarray, shape (R, B)
        Held-out readouts: run ``r``'s critic on its own test batches of ``k_eval`` pairs.
    train_values : ndarray, shape (R, B')
        The same readout on (up to four) training batches: the generalisation gap's other half.
    plan, readout : FitPlan
        The training plan and the readout plan (the same split at ``K = k_eval``).
    k_eval : int
    n_train : int
        Training rows of one run.
    has_validation : bool
    threads : int
        torch intra-op threads used.
    learning_rates : list of R floats
        The rate of each run's reported critic (chosen on validation rows among the trained
        rates, :func:`choose_rates`).
    candidates : list of dict
        Each trained rate's record (empty when one rate was trained).
    """

    critics: list
    losses: list
    hist: dict[str, Any]
    values: np.ndarray
    train_values: np.ndarray
    plan: FitPlan
    readout: FitPlan
    k_eval: int
    n_train: int
    has_validation: bool
    threads: int
    learning_rates: list
    candidates: list


def _identity(a):
    return a


def check_named_critic(est, p: dict[str, Any]) -> None:
    """Raise ``TypeError`` unless ``est``'s critic is given by name (the runs are built and stacked from it)."""
    from mibound.neural.critics import CRITICS

    if not isinstance(est.critic, str) or p["critic"] not in (*CRITICS, "auto"):  # auto: resolved by _build
        raise TypeError("several critics train as one stacked ensemble: pass the critic by name "
                        f"(auto, {', '.join(CRITICS)}), not a module")


def fit_reordered(est, x: np.ndarray, y: np.ndarray, orders: Sequence[tuple[Any, Any]], *, p: dict[str, Any],
                  plan: FitPlan, readout: FitPlan, k_eval: int, shapes=(None, None), progress: bool = True,
                  desc: str = "") -> StackedFit:
    """Train one critic of ``est`` per pair of row orders ``(order_x, order_y)``, as one stacked ensemble.

    With several learning rates (``p["learning_rate"]``) and validation rows, each pair trains one
    critic per rate (one stack per rate, same batches, same initial critic) and keeps the rate
    whose checkpoint reads best on the validation rows (:func:`choose_rates`); the other critics
    are dropped before anything is read on the test rows.

    Parameters
    ----------
    est : NeuralEstimator
        Its critic must be given by name (the runs are built and stacked from it).
    x, y : ndarray, shape (n, dx) and (n, dy)
        Checked float32 rows (images flattened; ``shapes`` keeps their per-sample shapes).
    orders : sequence of R pairs
        Run ``r`` reads ``x[order_x[i]]`` and ``y[order_y[i]]`` where the plan asks for row ``i``
        (``None``: row ``i``).
    p : dict
        ``est._checked_params()``.
    plan, readout, k_eval
        ``est._plans(p, n)``.
    shapes : pair of tuple or None
    progress : bool
    desc : str
        The progress bar's label.

    Returns
    -------
    StackedFit
    """
    from mibound.inputs.maps import fit_column_map
    from mibound.neural import engine
    from mibound.neural.batches import ShardedBatchStream
    from mibound.neural.stacking import shards

    check_named_critic(est, p)
    rows = plan.sample_rows("train", 20_000)
    maps: dict[tuple[int, int], tuple[Any, Any]] = {}  # (view, order) -> (rows to read, their batch map)

    def view(a, order, which):
        """The reordered view of ``a`` and its input map, fitted on this run's training rows.

        The rows as they are (``None``, shared by the runs) are mapped once, here; a reordered view
        is mapped batch by batch (no copy of the data per run).
        """
        key = (which, id(order))
        if key not in maps:
            if order is None:
                maps[key] = (fit_column_map(a[rows], p["preprocess"], shapes[which])(a), _identity)
            else:
                maps[key] = (_Rows(a, order), fit_column_map(a[order[rows]], p["preprocess"], shapes[which]))
        return maps[key]

    def streams(ox, oy, part_plan, split):
        (vx, mx), (vy, my) = view(x, ox, 0), view(y, oy, 1)
        return ShardedBatchStream(vx, vy, plan=part_plan, split=split, check_values=False, transform=(mx, my))

    def stacked(split_streams, count):
        return [tuple(torch.stack(t) for t in zip(*(s[b] for s in split_streams))) for b in range(count)]

    train = [streams(ox, oy, plan, "train") for ox, oy in orders]
    test = [streams(ox, oy, readout, "test") for ox, oy in orders]
    train_readout = [streams(ox, oy, readout, "train") for ox, oy in orders]
    test_batches = stacked(test, len(test[0]))
    train_batches = stacked(train_readout, min(4, len(train_readout[0])))
    val_stacks = None
    if p["validation_fraction"]:
        val = [streams(ox, oy, readout, "validation") for ox, oy in orders]
        val_stacks = stacked(val, len(val[0]))
    dims = [train[0].dim_x if shapes[0] is None else shapes[0], train[0].dim_y if shapes[1] is None else shapes[1]]
    rates = trained_rates(p, val_stacks is not None)
    groups = len(orders)
    built = [[est._build(p, *dims) for _ in orders] for _ in rates]  # the same initial critic in every run
    critics, losses = [[c for c, _ in b] for b in built], [[l for _, l in b] for b in built]
    parts = [shards(c, l) for c, l in zip(critics, losses)]  # one stack per rate, each with its own Adam
    flat = [part for rate_parts in parts for part in rate_parts]
    part_rates = [r for r, rate_parts in zip(rates, parts) for _ in rate_parts]
    stack = lambda step: tuple(torch.stack(t) for t in zip(*(s.batch(step) for s in train)))  # noqa: E731
    with engine.torch_threads(est.num_threads) as threads:
        hist = engine.train(flat, stack, p["steps"], learning_rate=part_rates, log_every=p["log_every"],
                            progress=progress, desc=desc, lr_schedule=p["lr_schedule"],
                            weight_decay=p["weight_decay"],
                            validate=None if val_stacks is None else (lambda: engine.evaluate(flat, val_stacks).mean(1)),
                            patience=p["patience"], min_steps=p["min_steps"])
        chosen, candidates = choose_rates(hist, rates, groups)
        values = engine.evaluate(flat, test_batches).numpy()[chosen]
        train_values = engine.evaluate(flat, train_batches).numpy()[chosen]
    for rate_parts, c, l in zip(parts, critics, losses):
        for part in rate_parts:
            part.write_back(c, l)
    every_critic, every_loss = [c for cs in critics for c in cs], [l for ls in losses for l in ls]
    return StackedFit([every_critic[i] for i in chosen], [every_loss[i] for i in chosen], chosen_runs(hist, chosen),
                      values, train_values, plan, readout, k_eval, train[0].n_used, val_stacks is not None, threads,
                      [rates[i // groups] for i in chosen], candidates)


