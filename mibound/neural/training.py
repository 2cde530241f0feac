"""Training one critic: thin functions over the one loop of :mod:`mibound.engine`.

:func:`train` and :func:`evaluate` are :func:`mibound.engine.train` and
:func:`mibound.engine.evaluate` for a single critic and its :class:`~mibound.objectives.Loss`
(a :class:`~mibound.engine.SingleRun`), returning one run's history and values.
"""

from __future__ import annotations

import torch
from torch import nn

from mibound.neural import engine
from mibound.neural.engine import LR_SCHEDULES, Batch, logged_steps, make_optimizer, make_scheduler
from mibound.neural.objectives import NEURAL_ESTIMATORS, Loss

__all__ = ["Loss", "make_optimizer", "make_scheduler", "LR_SCHEDULES", "train", "evaluate", "NEURAL_ESTIMATORS"]

_logged_steps = logged_steps  # the name the speed benchmark and older tests use


def train(critic: nn.Module, loss_fn: Loss, next_batch: Batch, steps: int, *, learning_rate: float = 5e-4,
          log_every: int = 100, progress: bool = True, desc: str | None = None,
          record_every_step: bool = False, lr_schedule: str = "constant") -> dict[str, torch.Tensor]:
    """Train ``critic`` (and the loss's own parameters) with Adam for ``steps`` steps.

    Parameters
    ----------
    critic : nn.Module
        Maps ``(x (K, dx), y (K, dy))`` to scores ``(K, K)``.
    loss_fn : Loss
    next_batch : callable ``step -> (x, y)``
        Returns the training batch for a step (fresh samples, or a slice of a training split).
    steps : int
    learning_rate, log_every, progress, desc, record_every_step, lr_schedule
        As :func:`mibound.engine.train`.

    Returns
    -------
    dict
        ``step`` (int64), ``value`` and ``loss`` (float) tensors of shape ``(L,)``: the reported
        value on the training batch and the surrogate loss, at every step or every ``log_every`` steps.

    Raises
    ------
    TrainingDiverged
        When a loss or reported value is not finite; names the step and the last finite value,
        and holds the history up to it in ``partial``.
    """
    hist = engine.train(engine.SingleRun(critic, loss_fn), next_batch, steps, learning_rate=learning_rate,
                        log_every=log_every, progress=progress, desc=desc, record_every_step=record_every_step,
                        lr_schedule=lr_schedule)
    return {"step": hist["step"], "value": hist["value"][:, 0], "loss": hist["loss"][:, 0]}


def evaluate(critic: nn.Module, loss_fn: Loss, batches) -> torch.Tensor:
    """The reported value on each held-out batch ``(x (K, dx), y (K, dy))``: shape ``(n_batches,)``, float64."""
    return engine.evaluate(engine.SingleRun(critic, loss_fn), batches)[0]
