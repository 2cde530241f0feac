"""Worker functions run in spawned processes by tests/neural/test_distributed.py (not collected as tests).

Each worker joins a gloo group on 127.0.0.1, does its parts and writes its findings to
``out_dir`` (``step{r}.npz``, ``result{r}.json``, ``params{r}.npy``; no pickle), which the test
reads back after the processes ended.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

from mibound.neural.critics import BilinearCritic, ConcatCritic, SeparableCritic
from mibound.neural.distributed import DistContext, global_loss, sync_gradients
from mibound.neural.objectives import NEURAL_ESTIMATORS, Loss

CRITIC_CASES = {
    "separable": lambda d: SeparableCritic(d, d, hidden_dim=16, layers=1, embed_dim=8),
    "cosine": lambda d: SeparableCritic(d, d, hidden_dim=16, layers=1, embed_dim=8, cosine=True, temperature=0.3),
    "bilinear": lambda d: BilinearCritic(d, d, hidden_dim=16, layers=1, embed_dim=8),
    "concat": lambda d: ConcatCritic(d, d, hidden_dim=16, layers=2),
}


def _join(rank: int, world_size: int, port: int) -> DistContext:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size,
                            timeout=timedelta(seconds=60))
    return DistContext(rank, world_size, torch.device("cpu"), "gloo")


def _global_batch(k_global: int, dim: int):
    gen = torch.Generator().manual_seed(123)
    x = torch.randn(k_global, dim, generator=gen, dtype=torch.float64)
    y = 0.8 * x + 0.6 * torch.randn(k_global, dim, generator=gen, dtype=torch.float64)
    return x, y


def run_all(rank: int, world_size: int, port: int, out_dir: str, k: int, dim: int, config_json: str) -> None:
    """Both parts in one process group (one spawn costs seconds): :func:`one_step`, :func:`short_training`."""
    ctx = _join(rank, world_size, port)
    try:
        one_step(ctx, out_dir, k, dim)
        short_training(ctx, out_dir, config_json)
    finally:
        dist.destroy_process_group()
    # results are on disk; skip the C++ teardown that occasionally aborts a gloo worker at exit
    # (the same workaround as `mibound estimate --distributed`)
    os._exit(0)


def one_step(ctx: DistContext, out_dir: str, k: int, dim: int) -> None:
    """Loss, value and averaged gradients of one step for every (critic, estimator, layout) case.

    Runs in float64 on the global batch built from a fixed seed, process ``r`` taking rows
    ``r k .. (r + 1) k - 1``; saves the flat gradient, the global value and loss per case.
    """
    rank, world_size = ctx.rank, ctx.world_size
    xg, yg = _global_batch(k * world_size, dim)
    x, y = xg[rank * k:(rank + 1) * k], yg[rank * k:(rank + 1) * k]
    out = {}
    for cname, make in CRITIC_CASES.items():
        for est in NEURAL_ESTIMATORS:
            for rows in ((True, False) if est == "infonce" else (False,)):
                torch.manual_seed(7)
                critic = make(dim).double()
                loss_fn = Loss(est, dim).double()
                if est == "mine":  # a non-trivial moving average, the same everywhere
                    loss_fn.log_ema.fill_(0.3)
                params = list(critic.parameters()) + list(loss_fn.parameters())
                loss, value = global_loss(critic, loss_fn, x, y, ctx, rows=rows)
                loss.backward()
                sync_gradients(params, ctx)
                flat = torch.cat([p.grad.reshape(-1) for p in params])
                both = torch.stack([loss.detach(), value])
                dist.all_reduce(both)
                key = f"{cname}|{est}|{'rows' if rows else 'full'}"
                out[key + "|grad"] = flat.numpy()
                out[key + "|loss_value"] = (both / world_size).numpy()
                if est == "mine":
                    out[key + "|ema"] = loss_fn.log_ema.reshape(1).numpy()
        np.savez(os.path.join(out_dir, f"step{rank}.npz"), **out)


def short_training(ctx: DistContext, out_dir: str, config_json: str) -> None:
    """A short run of DistributedNeuralEstimator.fit_sampler in the caller's group; saves the
    result (JSON) and the final critic parameters."""
    from mibound import CorrelatedGaussian
    from mibound.estimators.distributed import DistributedNeuralEstimator

    cfg = json.loads(config_json)
    sampler = CorrelatedGaussian.from_mi(cfg.pop("mi"), cfg.pop("dim"))
    est = DistributedNeuralEstimator(device="cpu", progress=False, **cfg).fit_sampler(sampler)
    params = torch.cat([p.detach().reshape(-1) for p in est.critic_.parameters()]).numpy()
    with open(os.path.join(out_dir, f"result{ctx.rank}.json"), "w") as fh:
        fh.write(est.result_.to_json())
    np.save(os.path.join(out_dir, f"params{ctx.rank}.npy"), params)


def single_process_reference(k_global: int, dim: int) -> dict[str, np.ndarray]:
    """The same cases computed in one process on the whole global batch, with the plain Loss."""
    xg, yg = _global_batch(k_global, dim)
    out = {}
    for cname, make in CRITIC_CASES.items():
        for est in NEURAL_ESTIMATORS:
            torch.manual_seed(7)
            critic = make(dim).double()
            loss_fn = Loss(est, dim).double()
            if est == "mine":
                loss_fn.log_ema.fill_(0.3)
            params = list(critic.parameters()) + list(loss_fn.parameters())
            loss, value = loss_fn(critic(xg, yg), yg)
            loss.backward()
            out[f"{cname}|{est}|grad"] = torch.cat([p.grad.reshape(-1) for p in params]).numpy()
            out[f"{cname}|{est}|loss_value"] = torch.stack([loss.detach(), value]).numpy()
            if est == "mine":
                out[f"{cname}|{est}|ema"] = loss_fn.log_ema.reshape(1).numpy()
    return out

