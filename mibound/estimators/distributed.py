"""The neural estimator with its batch spread over the processes of a ``torchrun`` launch.

The collectives (global negatives, gradient averaging) are in :mod:`mibound.neural.distributed`;
the one-call entry point is :func:`mibound.api.estimate_mi_distributed`.
"""

from __future__ import annotations

import torch
from torch import nn

from mibound.estimators.neural import NeuralEstimator
from mibound.inputs.checks import check_choice
from mibound.neural import engine
from mibound.neural.critics import BilinearCritic, SeparableCritic
from mibound.neural.distributed import DEVICES, DistributedRun, _group, _uses_rows, broadcast_state
from mibound.neural.engine import DistContext
from mibound.neural.objectives import Loss
from mibound.registry import DISTRIBUTED_DEFAULTS as _D  # the signature's defaults (one source)

__all__ = ["DistributedNeuralEstimator"]


# ---------------------------------------------------------------------------------------------
# the estimator
# ---------------------------------------------------------------------------------------------
class DistributedNeuralEstimator(NeuralEstimator):
    """A :class:`~mibound.estimators.NeuralEstimator` whose batch is spread over processes.

    Call ``fit`` on every process of a ``torchrun`` launch (or in a plain process, where it runs
    alone), with the same ``x`` and ``y`` everywhere (e.g. memory maps of the same files:
    ``np.load(path, mmap_mode="r")``; each process reads only the rows of its own batches of the
    one :class:`~mibound.neural.plan.FitPlan`). Each process trains on its own shard of the data (or its own sampler stream), the
    global batch holds ``K = world_size * batch_size`` pairs, and every process ends with the
    same critic and the same :class:`~mibound.results.EstimateResult`.

    Parameters
    ----------
    batch_size : int, default 64
        Pairs per process (the local ``k``); the result's ``batch_size`` is the global ``K``.
    device : {"auto", "cpu", "cuda"}, default "auto"
        ``auto`` picks CUDA when available; CUDA processes use ``cuda:LOCAL_RANK``.
    backend : str, optional
        Process-group backend when this estimator creates the group (default ``nccl`` on CUDA,
        ``gloo`` on CPU); a group the caller created is used as it is.
    **others
        As :class:`~mibound.estimators.NeuralEstimator`. ``eval_batches`` counts global held-out
        batches (sampler input); with arrays every held-out batch of the split is evaluated.

    Attributes
    ----------
    result_, critic_, loss_, history_
        As :class:`NeuralEstimator` (``critic_`` and ``loss_`` live on the device).
    rank_, world_size_ : int
        This process's rank and the number of processes of the fit.
    """

    _cross_fits = False  # folds >= 2 cross-fits in one process only

    def __init__(self, estimator: str = _D["estimator"], critic=_D["critic"], batch_size: int = _D["batch_size"],
                 steps: int = _D["steps"], learning_rate: float | tuple[float, ...] = _D["learning_rate"],
                 test_fraction: float = _D["test_fraction"], seed: int = _D["seed"], progress: bool = _D["progress"],
                 critic_options: dict | None = _D["critic_options"], clip: float | None = _D["clip"],
                 ema_rate: float = _D["ema_rate"], eval_batches: int = _D["eval_batches"],
                 log_every: int = _D["log_every"], num_threads: int | None = _D["num_threads"],
                 lr_schedule: str = _D["lr_schedule"], validation_fraction: float = _D["validation_fraction"],
                 patience: int | None = _D["patience"], min_steps: int = _D["min_steps"],
                 eval_batch_size: int | None = _D["eval_batch_size"], preprocess: str = _D["preprocess"],
                 weight_decay: float = _D["weight_decay"], alpha: float = _D["alpha"],
                 image_layout: str = _D["image_layout"], folds: int = _D["folds"], device: str = _D["device"],
                 backend: str | None = _D["backend"]):
        # scikit-learn reads the parameters from this signature, so it repeats NeuralEstimator's
        # (tests/test_registry.py checks both against the registry)
        super().__init__(**{k: v for k, v in locals().items() if k not in ("self", "__class__", "device", "backend")})
        self.device = device
        self.backend = backend

    def _check_device(self) -> None:
        if not isinstance(self.device, torch.device):
            check_choice(self.device, DEVICES, "device")
        if self.backend is not None:
            check_choice(self.backend, ("gloo", "nccl", "mpi", "ucc", "xccl"), "backend")

    def _context(self):
        self._check_device()
        return _group(self.device, self.backend)

    def _runs(self, critic: nn.Module, loss: Loss, ctx: DistContext) -> engine.Runs:
        critic.to(ctx.device)
        loss.to(ctx.device)
        broadcast_state([critic, loss], ctx)
        self.rank_, self.world_size_ = ctx.rank, ctx.world_size
        return DistributedRun(critic, loss, ctx)

    def _settings(self, ctx: DistContext, data: str, critic: nn.Module, loss: Loss, p) -> dict:
        return {"batch_size": p["batch_size"] * ctx.world_size, "local_batch_size": p["batch_size"],
                "world_size": ctx.world_size, "backend": ctx.backend, "device": str(ctx.device),
                "negatives": "embeddings" if _embeddable(critic) else "inputs",
                "loss_layout": "rows" if _uses_rows(loss, None) else "full", "data": data}


def _embeddable(critic: nn.Module) -> bool:
    return isinstance(critic, (SeparableCritic, BilinearCritic))
