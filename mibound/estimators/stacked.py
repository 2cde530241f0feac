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
for row ``i`` (``None``: the rows as they are). All runs share one :class:`~mibound.neural.plan.FitPlan`,
its validation rows, the initial critic and one call of the one driver of critic fits,
:func:`mibound.estimators.neural.fit_critics`, with the stacked strategy of :func:`reordered_runs`
(the runs stacked by :func:`mibound.neural.stacking.shards`); each run fits its input map on
its own training rows, picks its own checkpoint on the validation rows, and training stops once
no run has improved for ``patience`` steps. With several learning rates each run is trained once
per rate and keeps the rate of its best validation value, as a single fit does.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from mibound.neural.plan import FitPlan

__all__ = ["check_named_critic", "fold_orders", "fold_parts", "reordered_runs"]


class _Rows:
    """Rows ``a[order[rows]]`` of an array, read batch by batch: a reordered view without a copy."""

    def __init__(self, a: np.ndarray, order: np.ndarray):
        self.a, self.order = a, order
        self.shape, self.dtype, self.ndim = a.shape, a.dtype, a.ndim

    def __len__(self) -> int:
        return len(self.a)

    def __getitem__(self, rows):
        return self.a[self.order[rows]]


def fold_parts(plan: FitPlan, folds: int) -> list[np.ndarray]:
    """The rows that :func:`fold_orders` holds out together: the plan's test part (fold 0), its validation
    part, then folds ``1 .. folds - 1`` (blocks of the training rows), each an int64 array of rows.

    :func:`mibound.neural.plan.grouped_order` fills each with whole groups of copied rows, so that no copy
    of a fold's row trains the critic read on that fold.
    """
    n_train, n_val, n_test = (plan.sizes[k] for k in ("train", "validation", "test"))
    rows = plan.split_perm()(np.arange(plan.n, dtype=np.int64))
    outside = np.concatenate([rows[:n_train], rows[n_train + n_val:]])
    blocks = [outside[len(outside) - (f + 1) * n_test:len(outside) - f * n_test] for f in range(1, folds)]
    return [plan.part_rows("test"), plan.part_rows("validation"), *blocks]


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
    rows = plan.split_perm()(np.arange(n, dtype=np.int64))  # position -> row: train, validation, test
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


def check_named_critic(est, p: dict[str, Any]) -> None:
    """Raise ``TypeError`` unless ``est``'s critic is given by name (the runs are built and stacked from it)."""
    from mibound.neural.critics import CRITICS

    if not isinstance(est.critic, str) or p["critic"] not in (*CRITICS, "auto"):  # auto: resolved by build
        raise TypeError("several critics train as one stacked ensemble: pass the critic by name "
                        f"(auto, {', '.join(CRITICS)}), not a module")


def reordered_runs(est, x: np.ndarray, y: np.ndarray, orders: Sequence[tuple[Any, Any]], *, p: dict[str, Any],
                   plan: FitPlan, readout: FitPlan, shapes=(None, None)) -> dict[str, Any]:
    """The stacked strategy of :func:`~mibound.estimators.neural.fit_critics`: one run per pair of row orders.

    Run ``r`` reads ``x[order_x[i]]`` and ``y[order_y[i]]`` where the plan asks for row ``i``
    (``None``: row ``i``), through the input map fitted on its own training rows. The runs are
    ``est``'s critic (named, :func:`check_named_critic`) stacked by
    :func:`~mibound.neural.stacking.shards`, their batches stacked to ``(R, K, d)``.

    Parameters
    ----------
    est : NeuralEstimator
    x, y : ndarray, shape (n, dx) and (n, dy)
        Checked float32 rows (images flattened; ``shapes``: their per-sample shapes, or ``None``).
    orders : sequence of R pairs ``(order_x, order_y)``
    p, plan, readout
        ``est.checked_params()`` and the training and readout plans of ``est.plans(p, n)``.

    Returns
    -------
    dict
        ``build``, ``runs``, ``next_batch``, ``test``, ``train`` and ``validation`` of ``fit_critics``.
    """
    from mibound.inputs.maps import fit_column_map
    from mibound.neural.batches import ShardedBatchStream
    from mibound.neural.stacking import shards, stack_batches

    rows = plan.sample_rows("train", 20_000)
    maps: dict[tuple[int, int], tuple[Any, Any]] = {}  # (view, order) -> (rows to read, their batch map)

    def view(a, order, which):
        """The reordered view of ``a`` and its input map fitted on this run's training rows (the rows as
        they are, shared by the runs, are mapped once, here; a reordered view batch by batch, without a copy)."""
        key = (which, id(order))
        if key not in maps:
            if order is None:
                maps[key] = (fit_column_map(a[rows], p["preprocess"], shapes[which])(a), lambda b: b)
            else:
                maps[key] = (_Rows(a, order), fit_column_map(a[order[rows]], p["preprocess"], shapes[which]))
        return maps[key]

    def streams(part_plan, split):
        return [ShardedBatchStream(vx, vy, plan=part_plan, split=split, check_values=False, transform=(mx, my))
                for (vx, mx), (vy, my) in ((view(x, ox, 0), view(y, oy, 1)) for ox, oy in orders)]

    def stacked(part_plan, split):
        runs = streams(part_plan, split)
        return (tuple(torch.stack(t) for t in zip(*(s[b] for s in runs))) for b in range(len(runs[0])))

    train = streams(plan, "train")
    dims = [train[0].dim_x if shapes[0] is None else shapes[0], train[0].dim_y if shapes[1] is None else shapes[1]]
    return dict(build=lambda: [est.build(p, *dims) for _ in orders], runs=shards,
                next_batch=stack_batches([s.batch for s in train]), test=list(stacked(readout, "test")),
                train=stacked(readout, "train"),
                validation=list(stacked(readout, "validation")) if p["validation_fraction"] else None)
