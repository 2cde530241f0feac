"""The neural estimator with its batch spread over the processes of a ``torchrun`` launch.

The collectives (global negatives, gradient averaging) are in :mod:`mibound.neural.distributed`;
this module holds the estimator class and its one-call entry point.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from mibound.data.base import Sampler
from mibound.estimators.neural import NeuralEstimator
from mibound.inputs.checks import check_choice
from mibound.neural import engine
from mibound.neural.critics import BilinearCritic, SeparableCritic
from mibound.neural.distributed import DEVICES, DistributedRun, _group, _uses_rows, broadcast_state
from mibound.neural.engine import DistContext
from mibound.neural.objectives import Loss
from mibound.results import EstimateResult

__all__ = ["DistributedNeuralEstimator", "estimate_mi_distributed"]


# ---------------------------------------------------------------------------------------------
# the estimator
# ---------------------------------------------------------------------------------------------
class DistributedNeuralEstimator(NeuralEstimator):
    """A :class:`~mibound.estimators.NeuralEstimator` whose batch is spread over processes.

    Call ``fit`` on every process of a ``torchrun`` launch (or in a plain process, where it runs
    alone), with the same ``x`` and ``y`` everywhere (e.g. memory maps of the same files:
    ``np.load(path, mmap_mode="r")``; each process reads only the rows of its own batches of the
    one :class:`~mibound.plan.FitPlan`). Each process trains on its own shard of the data (or its own sampler stream), the
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

    def __init__(self, estimator: str = "infonce", critic="auto", batch_size: int = 64, steps: int = 2000,
                 learning_rate: float | tuple[float, ...] = (5e-4, 1e-4), test_fraction: float = 0.2, seed: int = 0, progress: bool = True,
                 critic_options: dict | None = None, clip: float | None = 5.0, ema_rate: float = 0.01,
                 eval_batches: int = 64, log_every: int = 100, num_threads: int | None = None,
                 lr_schedule: str = "cosine", validation_fraction: float = 0.1, patience: int | None = 500,
                 min_steps: int = 300, eval_batch_size: int | None = None, preprocess: str = "robust",
                 weight_decay: float = 0.0, alpha: float = 0.01, image_layout: str = "auto", folds: int = 1,
                 device: str = "auto", backend: str | None = None):
        # scikit-learn reads the parameters from this signature, so it repeats NeuralEstimator's
        # (tests/test_engine.py checks that the defaults agree)
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


def estimate_mi_distributed(x=None, y=None, estimator: str = "infonce", critic=None, batch_size: int | None = None,
                            steps: int | None = None, seed: int = 0, progress: bool = True, true_mi: float | None = None,
                            *, sampler: Sampler | None = None, device: str = "auto", backend: str | None = None,
                            **estimator_options) -> EstimateResult:
    """Estimate ``I(x; y)`` in nats with the batch spread over the processes of a ``torchrun`` launch.

    Call it on every process (it joins the process group, or creates it from torchrun's
    environment and destroys it at the end; without torchrun it runs in this one process).

    Parameters
    ----------
    x, y : array_like or numpy.memmap, shapes (n, dx) and (n, dy)
        The same data on every process; each process reads only its shard. Give either these or
        ``sampler``.
    estimator : str, default "infonce"
        A neural estimator (``infonce``, ``nwj``, ``dv``, ``mine``, ``tuba``, ``js``, ``smile``).
    critic : str or nn.Module, optional
        Default ``"separable"``.
    batch_size : int, optional
        Pairs per process (default 64); the global batch is ``K = world_size * batch_size``.
    steps : int, optional
        Default 2000.
    seed : int, default 0
        Same on every process: it seeds the critic, the split and (with the rank) the data streams.
    progress : bool, default True
        Progress bar on rank 0.
    true_mi : float, optional
    sampler : Sampler, optional
        Fresh samples every step instead of ``x, y``.
    device : {"auto", "cpu", "cuda"}, default "auto"
    backend : str, optional
    **estimator_options
        Further :class:`DistributedNeuralEstimator` parameters (``learning_rate``, ``critic_options``, ...).

    Returns
    -------
    EstimateResult
        The same on every process; ``batch_size`` and ``ceiling`` refer to the global ``K``;
        ``settings`` records ``world_size``, ``local_batch_size``, ``backend`` and ``device``.

    Examples
    --------
    A script ``run.py`` launched by ``torchrun --nproc_per_node=2 run.py``::

        import os
        import mibound
        from mibound.distributed import estimate_mi_distributed

        res = estimate_mi_distributed(sampler=mibound.CorrelatedGaussian.from_mi(10, 20),
                                      batch_size=64, steps=2000, device="cpu")
        if int(os.environ.get("RANK", "0")) == 0:  # every process holds the same result
            print(res.summary())
    """
    valid = [q for q in inspect.signature(DistributedNeuralEstimator).parameters
             if q not in ("estimator", "critic", "batch_size", "steps", "seed", "progress", "device", "backend")]
    unknown = sorted(set(estimator_options) - set(valid))
    if unknown:
        raise TypeError(f"unknown option(s) {unknown} for estimate_mi_distributed; valid options: {valid}")
    if (sampler is None) == (x is None and y is None):
        raise ValueError("give either x and y, or sampler=, not both or neither")
    given = {k: v for k, v in (("critic", critic), ("batch_size", batch_size), ("steps", steps)) if v is not None}
    est = DistributedNeuralEstimator(estimator=estimator, seed=seed, progress=progress, device=device, backend=backend,
                                     **given, **estimator_options)
    if sampler is not None:
        return est.fit_sampler(sampler, true_mi=true_mi).result_
    if x is None or y is None:
        raise ValueError("give both x and y")
    return est.fit(x, y, true_mi=true_mi).result_
