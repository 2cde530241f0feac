"""The contrastive-training monitor as a PyTorch Lightning callback (``pip install 'mibound[lightning]'``).

:class:`MIBoundCallback` is a thin wrapper of :class:`~mibound.monitor.ContrastiveMonitor`: the
``LightningModule`` only returns its loss from ``training_step`` (a tensor, or a dict with
``"loss"``), and optionally the score matrix (``"scores"``, ``(K, K)`` with the positives on the
diagonal) or SimCLR's ``"logits"`` and ``"labels"`` (and ``"temperature"``) or ``"k"``. Every
step the callback logs ``mibound/train_bound`` (``log K - L``) and ``mibound/log_k``; at each
checkpoint ``mibound/heldout_bound``, ``mibound/mi_codes``, ``mibound/mi_views``,
``mibound/effective_rank_z1`` / ``_z2`` (and any metric), through ``LightningModule.log``, so
every logger the trainer has (CSV, TensorBoard, ...) receives them.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from mibound.inputs.checks import require
from mibound.monitor.core import ContrastiveMonitor

require("lightning", "mibound.monitor.lightning.MIBoundCallback")

from lightning.pytorch.callbacks import Callback  # noqa: E402  (after the check that says which extra installs it)

__all__ = ["MIBoundCallback", "LOGGED"]

#: The quantities logged at checkpoints (as ``mibound/<name>``), besides ``train_bound`` and ``log_k`` every step.
LOGGED = ("heldout_bound", "mi_codes", "mi_views", "effective_rank_z1", "effective_rank_z2")


class MIBoundCallback(Callback):
    """Log ``log K - L``, the held-out bound, ``I(z1; z2)``, ``I(v1; v2)`` and the effective rank while training.

    Parameters
    ----------
    probe : (array, array)
        Held-out view pairs (see :class:`~mibound.monitor.ContrastiveMonitor`).
    encoder : callable(pl_module, views) -> embeddings, or str, optional
        How the module embeds a view: default ``pl_module(views)`` (its ``forward``); a string
        names an attribute of the module (``"encoder"`` -> ``pl_module.encoder(views)``).
    k : int, optional
        ``K`` when ``training_step`` returns only the loss; default the batch's length (the first
        tensor of the batch: ``K`` pairs, positives on the diagonal).
    every : int, optional
        Steps between checkpoints; default ``trainer.estimated_stepping_batches // 20`` (20 a run).
    prefix : str, default "mibound/"
    **options
        Passed to :class:`~mibound.monitor.ContrastiveMonitor` (``similarity``, ``temperature``,
        ``probe_k``, ``estimator``, ``mi_views``, ``metrics``, ``out``, ...).

    Attributes
    ----------
    monitor : ContrastiveMonitor
        Built at the start of training (its ``frame()``, ``diagnostics``, ``plot()``).
    """

    def __init__(self, probe, *, encoder: Callable | str | None = None, k: int | None = None,
                 every: int | None = None, prefix: str = "mibound/", **options: Any):
        super().__init__()
        # builds a monitor now so that a bad probe or option raises at construction
        self.monitor = ContrastiveMonitor(probe, every=every, **options)
        self._probe, self._options, self._every = probe, options, every
        self.encoder, self.k, self.prefix = encoder, k, prefix

    def _embed(self, pl_module) -> Callable[[torch.Tensor], torch.Tensor]:
        if self.encoder is None:
            return pl_module
        if isinstance(self.encoder, str):
            return getattr(pl_module, self.encoder)
        return lambda v: self.encoder(pl_module, v)

    def on_train_start(self, trainer, pl_module) -> None:
        every = self._every
        if every is None:
            total = trainer.estimated_stepping_batches
            every = max(1, int(total) // 20) if total is not None and math.isfinite(total) else 100
        self.monitor = ContrastiveMonitor(self._probe, every=every, **self._options)

    def _k(self, batch) -> int | None:
        if self.k is not None:
            return self.k
        first = batch
        while isinstance(first, (tuple, list)) and first:
            first = first[0]
        if isinstance(first, dict) and first:
            first = next(iter(first.values()))
        return int(first.shape[0]) if isinstance(first, torch.Tensor) and first.ndim else None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        out = outputs if isinstance(outputs, dict) else {"loss": outputs}
        if out.get("loss") is None:
            return  # a step skipped by the module (training_step returned None)
        forms = {name: out[name] for name in ("scores", "logits", "labels") if out.get(name) is not None}
        k = out.get("k")
        if k is None and not ({"scores", "logits"} & set(forms)):
            k = self._k(batch)
        if trainer.is_global_zero:
            rec = self.monitor.update(out["loss"], k=k, temperature=out.get("temperature", 1.0),
                                      step=trainer.global_step, encoder=self._embed(pl_module), **forms)
        else:
            rec = None
        k_last = self.monitor.last_k
        log_k = math.log(k_last) if k_last else math.nan
        loss = out["loss"]
        # a tensor stays on its device (Lightning reads it when it logs), so no step waits for a synchronisation
        bound = log_k - loss.detach().float() if isinstance(loss, torch.Tensor) else self.monitor.last_train_bound
        for name, value in {"train_bound": bound, "log_k": log_k}.items():
            pl_module.log(self.prefix + name, value, on_step=True, on_epoch=False, rank_zero_only=True,
                          batch_size=1)
        if rec is not None:
            # checkpoint values go to the loggers at this step only (pl_module.log would repeat them every
            # step until the next one) and to callback_metrics (other callbacks, the progress bar) without a logger
            found = {self.prefix + q: float(rec[q]) for q in (*LOGGED, *self.monitor.metrics) if q in rec}
            for name, value in found.items():
                pl_module.log(name, value, on_step=True, on_epoch=False, rank_zero_only=True, batch_size=1,
                              logger=False)
            for logger in trainer.loggers:
                logger.log_metrics(found, step=trainer.global_step)

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.monitor.encoder = self._embed(pl_module)
            self.monitor.close()
